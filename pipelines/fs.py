"""File I/O through Beam's FileSystems, so every path may be local, shared or remote.

Workers and the driver read and write outputs only through these helpers,
never ``pathlib``: a Datanet whose ``output.dir`` is a folder that several
machines mount, or any scheme Beam's filesystems take, works unchanged.
Guarantees: ``write_bytes`` makes a file appear whole (temporary name, then
rename); ``sha256`` streams, so memory does not grow with the file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

RAW = CompressionTypes.UNCOMPRESSED
CHUNK = 1 << 20


def join(base: str, *parts: str) -> str:
    """join joins path parts with the separator of ``base``'s filesystem."""
    return FileSystems.join(base, *parts) if parts else base


def open_read(path: str) -> BinaryIO:
    """open_read opens a file for reading, bytes as stored (no decompression by extension)."""
    return FileSystems.open(path, compression_type=RAW)


def read_bytes(path: str) -> bytes:
    """read_bytes reads a whole (small) file: manifests, keys, JSON."""
    with open_read(path) as f:
        return f.read()


def write_bytes(path: str, data: bytes, private: bool = False) -> None:
    """write_bytes writes ``data`` so that readers see either nothing or the whole file.

    ``private`` (quarantine rows hold raw input, PII included): on a local
    filesystem the file is mode 0600, made so before any byte is written, in
    a folder of mode 0700. Remote filesystems are governed by their own ACLs.
    """
    tmp = f"{path}.tmp-{os.getpid()}"
    with FileSystems.create(tmp, compression_type=RAW) as f:
        if private and "://" not in path:
            os.chmod(tmp, 0o600)
            os.chmod(os.path.dirname(os.path.abspath(path)), 0o700)
        f.write(data)
    FileSystems.rename([tmp], [path])


def exists(path: str) -> bool:
    """exists says whether a file exists."""
    return bool(FileSystems.exists(path))


def delete_tree(path: str) -> None:
    """delete_tree removes a file or folder if it exists."""
    if FileSystems.exists(path):
        FileSystems.delete([path])


def list_files(pattern: str) -> list[str]:
    """list_files returns the paths matching a glob, sorted."""
    found = FileSystems.match([pattern])[0].metadata_list
    return sorted(m.path for m in found)


def chunks(f: BinaryIO, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """chunks yields the bytes of ``f`` in [start, end) in pieces of at most 1 MiB."""
    f.seek(start)
    left = None if end is None else end - start
    while left is None or left > 0:
        piece = f.read(CHUNK if left is None else min(CHUNK, left))
        if not piece:
            return
        if left is not None:
            left -= len(piece)
        yield piece


def sha256(path: str) -> str:
    """sha256 is the hex SHA-256 of a file's bytes, streamed."""
    h = hashlib.sha256()
    with open_read(path) as f:
        for piece in chunks(f):
            h.update(piece)
    return h.hexdigest()


def fsync_local(path: str) -> None:
    """fsync_local flushes a local file to disk; remote filesystems are durable on close."""
    if "://" in path:
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
