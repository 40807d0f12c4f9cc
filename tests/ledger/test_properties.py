"""Hypothesis properties: append, prove, verify; any changed bit, index or size fails."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import tree
from ledger.log import Ledger
from ledger.testonly.reference import ReferenceTree
from ledger.verify import ProofError, leaf_hash, verify_consistency, verify_inclusion

from .conftest import make_entries

batches = st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=6)


@contextmanager
def _build(sizes: list[int]) -> Iterator[Ledger]:
    """A ledger appended in the given batch sizes, in a folder removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp, Ledger(tmp, writer=True, create=True) as led:
        done = 0
        for n in sizes:
            led.append(make_entries(n, done))
            done += n
        yield led


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches, st.data())
def test_append_prove_verify_and_tamper(sizes: list[int], data: st.DataObject) -> None:
    with _build(sizes) as led:
        _check_append_prove(led, data)


def _check_append_prove(led: Ledger, data: st.DataObject) -> None:
    n = led.size
    index = data.draw(st.integers(0, n - 1))
    proof = tree.inclusion_proof(led.store.node, index, n)
    leaf = leaf_hash(led.entry(index))
    verify_inclusion(index, n, leaf, proof, led.root)
    assert led.root == ReferenceTree(list(led.entries())).mth(0, n)

    mutation = data.draw(st.sampled_from(["bit", "index", "size", "leaf"]))
    try:
        if mutation == "bit" and proof:
            k = data.draw(st.integers(0, len(proof) - 1))
            bit = data.draw(st.integers(0, 255))
            bad = list(proof)
            bad[k] = bytes(b ^ (1 << (bit % 8)) if j == bit // 8 else b for j, b in enumerate(bad[k]))
            verify_inclusion(index, n, leaf, bad, led.root)
        elif mutation == "index":
            other = data.draw(st.integers(0, 2 * n).filter(lambda x: x != index))
            verify_inclusion(other, n, leaf, proof, led.root)
        elif mutation == "size":
            # A size is bound through its root: claim another size with that size's true root.
            # (With the same root, RFC 9162 verification of a left-edge index can coincide.)
            if n == 1:
                raise ProofError("no other size to claim")
            other = data.draw(st.integers(1, n - 1))
            verify_inclusion(index, other, leaf, proof, led.root_at(other))
        else:
            verify_inclusion(index, n, leaf_hash(led.entry(index) + b" "), proof, led.root)
    except ProofError:
        return
    assert mutation == "bit" and not proof, f"mutated {mutation} still verified"


@settings(max_examples=40, deadline=None)
@given(batches, st.data())
def test_consistency_between_any_two_sizes(sizes: list[int], data: st.DataObject) -> None:
    with _build(sizes) as led:
        _check_consistency(led, data)


def _check_consistency(led: Ledger, data: st.DataObject) -> None:
    n = led.size
    m = data.draw(st.integers(1, n))
    proof = tree.consistency_proof(led.store.node, m, n)
    verify_consistency(m, n, proof, led.root_at(m), led.root)
    if m < n:
        wrong = data.draw(st.integers(1, n).filter(lambda x: x != m))
        try:
            verify_consistency(wrong, n, proof, led.root_at(wrong), led.root)
        except ProofError:
            return
        raise AssertionError("a consistency proof verified for the wrong size")
