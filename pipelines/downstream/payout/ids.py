"""Ids the downstream commands take, checked one way by all of them.

A model id names a folder (``out/<name>/payouts/<model>/<period>``) and
every statement and ledger entry of the model, so ``usage record``,
``attribute`` and ``payout`` accept exactly the same model ids: a usage or
attribution that one accepts is one the other can pay.
"""

from __future__ import annotations

import re

from pipelines.core.errors import BadInput

ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


class IdError(BadInput):
    """An id is not usable: the message is one line naming it and the rule."""


def check_id(kind: str, value: str) -> str:
    """check_id accepts 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit; else IdError."""
    if not isinstance(value, str) or not ID.match(value):
        rule = "letters, digits, '.', '_' or '-' (at most 128, a letter or digit first)"
        raise IdError(f"{kind} {value!r} must be {rule}")
    return value


def check_model(model: str) -> str:
    """check_model is ``check_id`` for model ids, as usage, attribution and payout all take them."""
    return check_id("model", model)
