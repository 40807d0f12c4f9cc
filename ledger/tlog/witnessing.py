"""The log side of tlog-witness: gather cosignatures and publish a witnessed checkpoint.

``publish_witnessed(ledger_dir, witnesses, quorum)`` is the single entry
point (call it after each commit, and again later to retry). For every
witness it POSTs the ledger's latest signed checkpoint to
``<url>/add-checkpoint`` with a consistency proof from the size that witness
last cosigned (kept in ``<ledger>/witnesses.json``; on a 409 the size in the
answer is used, once), and verifies the returned cosignature/v1 line with
the witness's vkey.

Guarantees: the ledger's entries, tree and signed checkpoints are never
changed. Only when at least ``quorum`` witnesses returned a valid
cosignature is ``<ledger>/published-checkpoint`` (the checkpoint plus those
cosignature lines) replaced atomically, and, if ``tiles_dir`` is given, the
tiles and their ``checkpoint`` rewritten from it. Otherwise
``WitnessQuorumError`` names each witness that failed and why; the ledger
stays committed-but-unwitnessed and the call can simply be repeated.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ledger import tree
from ledger.log import Ledger
from ledger.storage import LedgerError, write_atomic
from ledger.tlog.tiles import PUBLISHED, note_size, write_tiles
from ledger.verify import ProofError, parse_witness_key, split_note, verify_cosignature

WITNESS_SIZES = "witnesses.json"
TIMEOUT = 10.0


@dataclass(frozen=True)
class Witness:
    """One witness the log asks to cosign: a name, its base URL (submission prefix) and vkey (type 0x04)."""

    name: str
    url: str
    vkey: str


class WitnessQuorumError(LedgerError):
    """Fewer than ``quorum`` witnesses cosigned; ``failures`` maps each failed witness to the reason."""

    def __init__(self, cosigned: int, quorum: int, failures: Mapping[str, str]) -> None:
        detail = "; ".join(f"{name}: {why}" for name, why in failures.items())
        super().__init__(
            f"checkpoint not published: {cosigned} of the required {quorum} witnesses cosigned ({detail}); "
            "the ledger is committed but unwitnessed, run 'datanet ledger witness' to retry"
        )
        self.cosigned = cosigned
        self.quorum = quorum
        self.failures = dict(failures)


class WitnessFailure(Exception):
    """One witness did not return a valid cosignature (message: why, in one line)."""


def request_body(old_size: int, proof: Sequence[bytes], note: str) -> bytes:
    """request_body renders an add-checkpoint body: ``old N``, proof lines, a blank line, the checkpoint."""
    lines = [f"old {old_size}"] + [base64.b64encode(h).decode() for h in proof]
    return ("\n".join(lines) + "\n\n" + note).encode()


def _post(url: str, body: bytes, timeout: float) -> tuple[int, bytes]:
    """POST ``body``; returns (status, body) for any HTTP answer, raises WitnessFailure if unreachable."""
    req = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise WitnessFailure(f"unreachable at {url} ({reason})") from None


def _proof(led: Ledger, old: int, size: int) -> list[bytes]:
    if old > size:
        raise WitnessFailure(f"witness has cosigned size {old}, beyond this checkpoint (size {size})")
    return [] if old in (0, size) else tree.consistency_proof(led.store.node, old, size)


def _parse_size(body: bytes) -> int:
    text = body.decode("ascii", "replace")
    if not text.endswith("\n") or not text[:-1].isdigit():
        raise WitnessFailure(f"409 without a tree size ({text.strip()[:80]!r})")
    return int(text[:-1])


def cosign_one(led: Ledger, note: str, witness: Witness, old: int, timeout: float = TIMEOUT) -> tuple[str, int]:
    """cosign_one asks one witness to cosign ``note``; returns its verified cosignature line and the size.

    Starts from ``old`` (the size it last cosigned, as far as we know) and
    retries once from the size a 409 names. Raises WitnessFailure.
    """
    size = note_size(note)
    url = witness.url.rstrip("/") + "/add-checkpoint"
    for attempt in range(2):
        status, body = _post(url, request_body(old, _proof(led, old, size), note), timeout)
        if status == 409 and attempt == 0:
            old = _parse_size(body)
            continue
        if status != 200:
            raise WitnessFailure(f"HTTP {status}: {body.decode('utf-8', 'replace').strip()[:200]}")
        return _verified_line(note, body.decode("utf-8", "replace"), witness), size
    raise WitnessFailure("still 409 after retrying from the size it named")


def _verified_line(note: str, answer: str, witness: Witness) -> str:
    """The line of ``answer`` holding the witness's valid cosignature on ``note``."""
    try:
        key = parse_witness_key(witness.vkey)
    except ProofError as exc:
        raise WitnessFailure(f"bad witness vkey: {exc}") from None
    for line in answer.splitlines():
        if line.startswith(f"\u2014 {key.name} "):
            try:
                verify_cosignature(note + line + "\n", key)
                return line + "\n"
            except ProofError:
                continue
    raise WitnessFailure("answer carries no valid cosignature by its vkey")


def _read_sizes(path: Path) -> dict[str, int]:
    return {str(k): int(v) for k, v in json.loads(path.read_bytes()).items()} if path.exists() else {}


def publish_witnessed(
    ledger_dir: Path | str,
    witnesses: Sequence[Witness],
    quorum: int,
    tiles_dir: Path | str | None = None,
    timeout: float = TIMEOUT,
) -> str:
    """publish_witnessed gets the latest signed checkpoint cosigned by ``quorum`` witnesses and publishes it.

    Returns the published note (checkpoint + cosignature lines, in the
    order of ``witnesses``). With ``quorum`` 0 the checkpoint is published
    as is. Witnesses are asked in parallel. Raises WitnessQuorumError (see
    the module docstring) or LedgerError if there is no signed checkpoint.
    """
    path = Path(ledger_dir)
    with Ledger(path) as led:
        note = led.latest_checkpoint()
        if note is None:
            raise LedgerError(f"the ledger at {path} has no signed checkpoint to witness")
        split_note(note)
        sizes = _read_sizes(path / WITNESS_SIZES)

        def ask(w: Witness) -> tuple[str, int] | str:
            try:
                return cosign_one(led, note, w, sizes.get(w.name, 0), timeout)
            except WitnessFailure as exc:
                return str(exc)

        with ThreadPoolExecutor(max_workers=max(1, len(witnesses))) as pool:
            results = dict(zip([w.name for w in witnesses], pool.map(ask, witnesses), strict=True))
    lines = {n: r[0] for n, r in results.items() if isinstance(r, tuple)}
    sizes.update({n: r[1] for n, r in results.items() if isinstance(r, tuple)})
    write_atomic(path / WITNESS_SIZES, json.dumps(sizes, sort_keys=True).encode() + b"\n")
    if len(lines) < quorum:
        raise WitnessQuorumError(len(lines), quorum, {n: r for n, r in results.items() if isinstance(r, str)})
    published = note + "".join(lines.values())
    write_atomic(path / PUBLISHED, published.encode())
    if tiles_dir is not None:
        write_tiles(path, tiles_dir)
    return published


witness = publish_witnessed  # the retry entry point has the same contract


def check_published(
    ledger_dir: Path | str, log_vkey: str, witness_vkeys: Sequence[str], quorum: int
) -> tuple[int, list[str]]:
    """check_published verifies the published checkpoint: log signature, ``quorum`` cosignatures, ledger root.

    The published note must be signed by ``log_vkey``, carry valid
    ``cosignature/v1`` lines from at least ``quorum`` of ``witness_vkeys``,
    and name the root the ledger has at that size (so the witnessed history
    is the one served). Returns (size, names of the witnesses that cosigned);
    raises ProofError (QuorumError, SignatureError...) or LedgerError.
    """
    from ledger.verify import parse_verifier_key, verify_checkpoint, verify_quorum

    path = Path(ledger_dir) / PUBLISHED
    if not path.exists():
        raise LedgerError(f"{path}: no checkpoint was published by witnesses yet")
    note = path.read_text(encoding="utf-8")
    cp = verify_checkpoint(note, parse_verifier_key(log_vkey))
    names = verify_quorum(note, [parse_witness_key(k) for k in witness_vkeys], quorum)
    with Ledger(ledger_dir) as led:
        if cp.size > led.size or led.root_at(cp.size) != cp.root:
            raise ProofError(f"the published checkpoint (size {cp.size}) is not this ledger's history")
    return cp.size, names
