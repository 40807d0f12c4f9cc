"""Entries: canonical JSON equal to RFC 8785, required fields, no floats."""

from __future__ import annotations

import json

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ledger.entries import EntryError, canonical_json, contribution, decode_entry, encode_entry

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet=st.characters(max_codepoint=0xD7FF)), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_equals_rfc8785(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_floats_and_big_integers_are_refused() -> None:
    with pytest.raises(EntryError):
        canonical_json({"x": 1.5})
    with pytest.raises(EntryError):
        canonical_json({"x": 2**53})


def test_contribution_entry_bytes_are_stable() -> None:
    e = contribution("clinical-notes", "ab" * 32, "clin-001", "shards/r/part-00000.parquet", 3, "r")
    data = encode_entry(e)
    assert data == (
        b'{"contributor_id":"clin-001","datanet":"clinical-notes","kind":"contribution",'
        b'"record_hash":"' + b"ab" * 32 + b'","row":3,"run":"r","shard":"shards/r/part-00000.parquet","v":1}'
    )
    assert decode_entry(data) == json.loads(data)


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "gift"},
        {"kind": "contribution", "datanet": "x"},
        {**contribution("x", "AB" * 32, "c", "s", 0, "r")},
    ],
)
def test_invalid_entries_are_refused(bad: dict) -> None:
    with pytest.raises(EntryError):
        encode_entry(bad)


def test_non_canonical_bytes_do_not_decode() -> None:
    with pytest.raises(EntryError):
        decode_entry(b'{"b":1, "a":2}')


@given(st.text(), st.text(), st.integers(0, 2**40), st.binary(min_size=32, max_size=32))
def test_fast_key_extraction_agrees_with_decoding(cid: str, shard: str, row: int, key: bytes) -> None:
    from ledger.entries import index_key
    from ledger.storage import contribution_key

    entry = contribution("d", key.hex(), cid or "c", shard + '"record_hash":"' + "0" * 64, row, '"kind":"contribution"')
    data = encode_entry(entry)
    assert contribution_key(data) == bytes.fromhex(str(index_key(decode_entry(data)))) == key
    usage = encode_entry({"kind": "usage", "datanet": "d", "record_hash": key.hex(), "model": cid, "training_run": "t"})
    assert contribution_key(usage) is None


any_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**54), 2**54) | st.floats() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text() | st.integers(0, 3), inner, max_size=4)
        | st.tuples(inner, inner)
    ),
    max_leaves=12,
)


def _outcome(encode: object, value: object) -> object:
    try:
        return encode(value)  # type: ignore[operator]
    except Exception as exc:  # the type and message are part of the contract
        return (type(exc).__name__, str(exc))


def _reference(value: object) -> bytes:
    """canonical_json as it was before its fast path: check every value, then encode."""
    from ledger.entries import _check_value

    _check_value(value, "$")
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


@given(st.one_of(any_values, st.dictionaries(st.text(), any_values, max_size=6)))
def test_the_fast_check_accepts_and_refuses_exactly_what_the_full_check_does(value: object) -> None:
    assert _outcome(canonical_json, value) == _outcome(_reference, value)


@pytest.mark.parametrize("value", [{"a": "x\ud800"}, {"a": ["ok", "\udfff"]}, {"a": {"b": "\ud800"}}, "\ud800"])
def test_lone_surrogates_are_refused_as_before(value: object) -> None:
    assert _outcome(canonical_json, value) == _outcome(_reference, value)
    assert _outcome(canonical_json, value)[0] == "UnicodeEncodeError"  # type: ignore[index]


_plain = st.text() | st.text(alphabet=st.characters(codec="ascii"))


@given(
    cid=_plain,
    datanet=_plain,
    shard=_plain,
    run=_plain,
    row=st.integers(-(2**54), 2**54),
    record_hash=st.sampled_from(["ab" * 32, "AB" * 32, "ab" * 31, "0" * 64]),
    v=st.sampled_from([None, 1, 2, True, "1"]),
)
def test_contribution_template_encodes_exactly_as_the_general_path(
    cid: str, datanet: str, shard: str, run: str, row: int, record_hash: str, v: object
) -> None:
    """The template gives the general path's bytes, takes every plain contribution the general path accepts,
    and leaves every entry it refuses to it (so encode_entry refuses it too)."""
    from ledger.entries import _contribution_bytes, _encode_checked

    entry = contribution(datanet, record_hash, cid, shard, row, run)
    if v is None:
        del entry["v"]
    else:
        entry["v"] = v
    try:
        general: bytes | None = _encode_checked(entry)
    except EntryError:
        general = None
    fast = _contribution_bytes(entry)
    if general is None:
        assert fast is None
        with pytest.raises(EntryError):
            encode_entry(entry)
    elif v is None or type(v) is int:
        assert fast == general == encode_entry(entry)
    else:
        assert fast is None and encode_entry(entry) == general


def test_the_contribution_template_takes_only_plain_contributions() -> None:
    """Entries of another shape go the general way: an extra key, a str subclass, a bool row."""
    from ledger.entries import _contribution_bytes

    base = contribution("d", "ab" * 32, "c", "s", 1, "r")
    assert _contribution_bytes(base) == encode_entry(base)

    class S(str):
        pass

    for other in (
        {**base, "extra": 1},
        {**base, "contributor_id": S("c")},
        {**base, "row": True},
        {**base, "kind": "copy"},
        {k: v for k, v in base.items() if k != "shard"},
    ):
        assert _contribution_bytes(other) is None
