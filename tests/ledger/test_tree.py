"""Fast tree code against the RFC-literal reference, for every size up to 300."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ledger import tree
from ledger.log import Ledger
from ledger.storage import hash_count, node_position
from ledger.testonly.reference import ReferenceTree
from ledger.verify import leaf_hash, verify_consistency, verify_inclusion

from .conftest import make_entries

N = 300


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ledger, ReferenceTree]:
    """A 300-entry ledger on disk, appended in random batch sizes, and its reference tree."""
    path = Path(tmp_path_factory.mktemp("tree")) / "ledger"
    rng = random.Random(5)
    led = Ledger(path, writer=True, create=True)
    done = 0
    while done < N:
        n = min(rng.choice([1, 1, 2, 3, 7, 16, 31, 64]), N - done)
        led.append(make_entries(n, done))
        done += n
    return led, ReferenceTree(list(led.entries()))


def test_roots_match_reference_for_every_size(stored: tuple[Ledger, ReferenceTree]) -> None:
    led, ref = stored
    for n in range(N + 1):
        assert tree.root(led.store.node, n) == ref.mth(0, n), n
    assert led.root == ref.mth(0, N)


def test_inclusion_proofs_match_reference_for_every_pair(stored: tuple[Ledger, ReferenceTree]) -> None:
    led, ref = stored
    for n in range(1, N + 1):
        root = ref.mth(0, n)
        for m in range(n):
            proof = tree.inclusion_proof(led.store.node, m, n)
            assert proof == ref.path(m, 0, n), (m, n)
            verify_inclusion(m, n, leaf_hash(ref.d[m]), proof, root)


def test_consistency_proofs_match_reference_for_every_pair(stored: tuple[Ledger, ReferenceTree]) -> None:
    led, ref = stored
    for n in range(1, N + 1):
        for m in range(1, n + 1):
            proof = tree.consistency_proof(led.store.node, m, n)
            assert proof == ref.proof(m, n), (m, n)
            verify_consistency(m, n, proof, ref.mth(0, m), ref.mth(0, n))


def test_stored_nodes_are_the_perfect_subtree_hashes(stored: tuple[Ledger, ReferenceTree]) -> None:
    led, ref = stored
    for level in range(9):
        for index in range(N >> level):
            lo = index << level
            assert led.store.node(level, index) == ref.mth(lo, lo + (1 << level)), (level, index)
    assert (led.path / "tree.hashes").stat().st_size == 32 * hash_count(N)


def test_node_positions_are_post_order() -> None:
    positions, counter = {}, 0

    # Walk the post-order of a 64-leaf tree: a node follows both children.
    def visit(level: int, index: int) -> None:
        nonlocal counter
        if level:
            visit(level - 1, 2 * index)
            visit(level - 1, 2 * index + 1)
        positions[(level, index)] = counter
        counter += 1

    visit(6, 0)
    assert all(node_position(lv, i) == p for (lv, i), p in positions.items())


def test_proof_arguments_out_of_range_are_rejected(stored: tuple[Ledger, ReferenceTree]) -> None:
    led, _ = stored
    with pytest.raises(ValueError):
        tree.inclusion_proof(led.store.node, 5, 5)
    with pytest.raises(ValueError):
        tree.consistency_proof(led.store.node, 0, 5)
    with pytest.raises(ValueError):
        tree.consistency_proof(led.store.node, 6, 5)
