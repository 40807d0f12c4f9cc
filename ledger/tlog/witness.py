"""The decision of a C2SP tlog-witness ``add-checkpoint`` call, as a pure function.

``add_checkpoint(state, request, logs, cosigner, now)`` parses a request body
(``old <size>`` line, up to 63 base64 consistency proof lines, a blank line,
a signed checkpoint), checks it in the order c2sp.org/tlog-witness lists,
and returns the HTTP status, body and content type together with the new
state (only on 200). It does no I/O; the caller persists the new state
before sending the answer, and serialises calls per witness.

=====  ========================================================================
404    the checkpoint's origin is not a configured log
403    no signature by a trusted key for the origin, or a trusted key's fails
400    malformed request, or old size larger than the checkpoint size
409    old size is not the size last cosigned (body ``<size>\\n``,
       ``Content-Type: text/x.tlog.size``)
422    size-0 checkpoint without the empty root, proof given from size 0, bad
       consistency proof, or same size with another root (a fork)
200    cosignature/v1 line(s) on the checkpoint
=====  ========================================================================

(Revision 95978ca of tlog-witness.md moved same-size-other-root from 409 to
422 so that every 409 carries a size; this follows it.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ledger.tlog.cosignature import Cosigner, cosign
from ledger.verify import (
    EMPTY_ROOT,
    Checkpoint,
    FormatError,
    ProofError,
    SignatureError,
    Verifier,
    b64decode,
    parse_checkpoint_text,
    split_note,
    verify_consistency,
    verify_note,
)

MAX_PROOF_LINES = 63
SIZE_TYPE = "text/x.tlog.size"
TEXT_TYPE = "text/plain; charset=utf-8"
_OLD = re.compile(r"\Aold (0|[1-9][0-9]{0,18})\Z")


@dataclass(frozen=True)
class LogState:
    """What a witness remembers of one log: the latest cosigned size, root and cosigned note."""

    size: int
    root: bytes
    checkpoint: str


WitnessState = Mapping[str, LogState]  # origin -> latest cosigned checkpoint


@dataclass(frozen=True)
class Decision:
    """An add-checkpoint answer: HTTP status, body, content type and the state to persist first."""

    status: int
    body: bytes
    content_type: str
    state: WitnessState


@dataclass(frozen=True)
class Request:
    """A parsed add-checkpoint body."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str


class BadRequest(FormatError):
    """An add-checkpoint body does not follow the tlog-witness grammar."""


def parse_request(body: bytes) -> Request:
    """parse_request parses an add-checkpoint body; raises BadRequest."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    m = _OLD.match(lines[0])
    if not sep or not m:
        raise BadRequest("request must start with 'old <size>', proof lines and a blank line")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise BadRequest(f"more than {MAX_PROOF_LINES} consistency proof lines")
    try:
        proof = tuple(b64decode(line) for line in lines[1:])
    except ValueError:
        raise BadRequest("a consistency proof line is not base64") from None
    return Request(int(m.group(1)), proof, note)


def _signed_by(line: str, v: Verifier) -> bool:
    """Whether a signature line names ``v``'s key (name and key ID); its signature is not checked."""
    fields = line[2:].split(" ")
    if len(fields) != 2 or fields[0] != v.name:
        return False
    try:
        return b64decode(fields[1])[:4] == v.key_id
    except ValueError:
        return False


def _signed_checkpoint(note: str, verifiers: Sequence[Verifier]) -> Checkpoint:
    """Verify every trusted key's signature on ``note``; raises SignatureError or FormatError.

    Signatures by other keys are ignored; at least one trusted signature is needed.
    """
    text, sigs = split_note(note)
    cp = parse_checkpoint_text(text)
    trusted = [v for v in verifiers if any(_signed_by(line, v) for line in sigs)]
    if not trusted:
        raise SignatureError(f"no signature by a trusted key of {cp.origin}")
    for v in trusted:
        verify_note(note, v)
    return cp


def _check_consistency(req: Request, cp: Checkpoint, known: LogState | None) -> None:
    """Apply the 422 rules; raises ProofError."""
    if cp.size == 0 and cp.root != EMPTY_ROOT:
        raise ProofError("a checkpoint of size 0 must have the empty tree's root")
    if req.old_size == 0:
        if req.proof:
            raise ProofError("the consistency proof must be empty when old size is 0")
        return
    assert known is not None  # old_size matched a cosigned size > 0
    verify_consistency(known.size, cp.size, req.proof, known.root, cp.root)


def _answer(status: int, message: str, state: WitnessState) -> Decision:
    return Decision(status, (message + "\n").encode(), TEXT_TYPE, state)


def add_checkpoint(
    state: WitnessState,
    request: bytes,
    logs: Mapping[str, Sequence[Verifier]],
    cosigner: Cosigner | Sequence[Cosigner],
    now: int,
) -> Decision:
    """add_checkpoint decides one tlog-witness add-checkpoint request.

    ``logs`` maps each known origin to its trusted log keys; ``now`` is the
    POSIX time of the cosignature (must be > 0). The returned state equals
    ``state`` unless the status is 200, when it records the new checkpoint
    with the witness's cosignature(s) appended. Deterministic.
    """
    try:
        req = parse_request(request)
        origin = split_note(req.note)[0].split("\n", 1)[0]
    except FormatError as exc:
        return _answer(400, f"malformed request: {exc}", state)
    if origin not in logs:
        return _answer(404, f"unknown log {origin!r}", state)
    try:
        cp = _signed_checkpoint(req.note, logs[origin])
    except SignatureError as exc:
        return _answer(403, str(exc), state)
    except FormatError as exc:
        return _answer(400, f"malformed checkpoint: {exc}", state)
    if req.old_size > cp.size:
        return _answer(400, f"old size {req.old_size} is larger than the checkpoint size {cp.size}", state)
    known = state.get(origin)
    known_size = known.size if known else 0
    if req.old_size != known_size:
        return Decision(409, f"{known_size}\n".encode(), SIZE_TYPE, state)
    try:
        _check_consistency(req, cp, known)
    except ProofError as exc:
        return _answer(422, f"checkpoint is not consistent with size {known_size}: {exc}", state)
    cosigners = [cosigner] if isinstance(cosigner, Cosigner) else list(cosigner)
    text, _ = split_note(req.note)
    lines = "".join(cosign(c, text, now) for c in cosigners)
    new_state = {**state, origin: LogState(cp.size, cp.root, req.note + lines)}
    return Decision(200, lines.encode(), TEXT_TYPE, new_state)
