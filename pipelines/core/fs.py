"""File I/O that works for local, shared and remote paths (Beam's FileSystems for a scheme).

Workers and the driver read and write outputs only through these helpers,
never ``pathlib``: a Datanet whose ``output.dir`` is a folder that several
machines mount, or any scheme Beam's filesystems take, works unchanged.
Guarantees: ``write_bytes`` makes a file appear whole (temporary name, then
rename); ``sha256`` streams, so memory does not grow with the file.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
from collections.abc import Iterator
from typing import Any, BinaryIO

CHUNK = 1 << 20


def _remote(path: str) -> bool:
    return "://" in path


def _beam() -> Any:
    """Beam's FileSystems and the no-compression flag, loaded only for a path with a scheme."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    return FileSystems, CompressionTypes.UNCOMPRESSED


def join(base: str, *parts: str) -> str:
    """join joins path parts with the separator of ``base``'s filesystem."""
    if not parts:
        return base
    if _remote(base):
        return str(_beam()[0].join(base, *parts))
    return os.path.join(base, *parts)


def open_read(path: str) -> BinaryIO:
    """open_read opens a file for reading, bytes as stored (no decompression by extension)."""
    if _remote(path):
        filesystems, raw = _beam()
        return filesystems.open(path, compression_type=raw)
    return open(path, "rb")


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
    if _remote(path):
        filesystems, raw = _beam()
        with filesystems.create(tmp, compression_type=raw) as f:
            f.write(data)
        filesystems.rename([tmp], [path])
        return
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    with open(tmp, "wb") as f:
        if private:
            os.chmod(tmp, 0o600)
            os.chmod(os.path.dirname(os.path.abspath(path)), 0o700)
        f.write(data)
    os.rename(tmp, path)


def exists(path: str) -> bool:
    """exists says whether a file exists."""
    if _remote(path):
        return bool(_beam()[0].exists(path))
    return os.path.exists(path)


def delete_tree(path: str) -> None:
    """delete_tree removes a file or folder if it exists."""
    if _remote(path):
        filesystems = _beam()[0]
        if filesystems.exists(path):
            filesystems.delete([path])
    elif os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


def list_files(pattern: str) -> list[str]:
    """list_files returns the files matching a one-level glob (``folder/*.json``), sorted."""
    if _remote(pattern):
        found = _beam()[0].match([pattern])[0].metadata_list
        return sorted(m.path for m in found)
    return sorted(p for p in glob.glob(pattern, include_hidden=True) if os.path.isfile(p))


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
