"""Pseudonymous contributor IDs: what the ledger stores instead of a contributor's own ID.

The append-only ledger can never forget, so it never holds a contributor's
own ID (often an e-mail address). It holds ``pseudonym(id, opening)``:

    opening   = HMAC-SHA256(curator's contributor key, "datanets-opening\\0" || id)   (hex)
    pseudonym = "cid1_" || hex(SHA-256("datanets-contributor\\0" || opening || id))[:32]

* Only the curator, who holds the key (beside the signing key, mode 0600),
  can compute a pseudonym from an ID, so nobody can test guesses (e-mail
  addresses) against the ledger.
* The curator gives each contributor their ``opening``. With it, the
  contributor (or anyone they show it to) checks ``pseudonym(id, opening)``
  with this module alone, standard library only, and so proves which ledger
  entries and payout lines are theirs. Showing one opening reveals nothing
  about any other contributor: each opening is an independent HMAC output.
* 128 bits: no two contributors of any realistic Datanet collide.
"""

from __future__ import annotations

import hashlib
import hmac
import re

PREFIX = "cid1_"
_PSEUDONYM = re.compile(r"\Acid1_[0-9a-f]{32}\Z")
_OPENING = re.compile(r"\A[0-9a-f]{64}\Z")


def opening(key: bytes, contributor_id: str) -> str:
    """opening is the curator's per-contributor secret (hex), derived from the contributor key."""
    return hmac.new(key, b"datanets-opening\0" + contributor_id.encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonym(contributor_id: str, opening_hex: str) -> str:
    """pseudonym is the ID the ledger and shards carry for ``contributor_id``."""
    if not _OPENING.match(opening_hex):
        raise ValueError("an opening is 64 lower-case hex digits")
    body = b"datanets-contributor\0" + bytes.fromhex(opening_hex) + contributor_id.encode("utf-8")
    return PREFIX + hashlib.sha256(body).hexdigest()[:32]


def pseudonym_for(key: bytes, contributor_id: str) -> str:
    """pseudonym_for is what the curator computes: ``pseudonym(id, opening(key, id))``."""
    return pseudonym(contributor_id, opening(key, contributor_id))


def is_pseudonym(value: str) -> bool:
    """is_pseudonym says whether ``value`` has the shape of a pseudonym (not that anyone owns it)."""
    return bool(_PSEUDONYM.match(value))


def proves(contributor_id: str, opening_hex: str, claimed: str) -> bool:
    """proves says whether ``opening_hex`` shows that ``claimed`` is the pseudonym of ``contributor_id``."""
    try:
        return hmac.compare_digest(pseudonym(contributor_id, opening_hex), claimed)
    except ValueError:
        return False
