"""RFC 6962 known answers and the transparency-dev/merkle tamper files, every one of them."""

from __future__ import annotations

import base64
import filecmp
import json
from pathlib import Path

import pytest

from ledger import tree
from ledger.testonly.reference import ReferenceTree
from ledger.verify import EMPTY_ROOT, ProofError, leaf_hash, node_hash, verify_consistency, verify_inclusion

from .conftest import TESTDATA

SHARED = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "merkle"
CASES = sorted(p for p in TESTDATA.rglob("*.json") if p.name != "rfc6962_vectors.json")


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _hashes(values: list[str] | None) -> list[bytes]:
    return [_b64(v) for v in values or []]


def test_the_folder_holds_all_196_cases() -> None:
    assert len(CASES) == 196
    assert sum(json.loads(p.read_text())["wantErr"] for p in CASES) == 184


@pytest.mark.skipif(not SHARED.exists(), reason="../shared is only beside a workplace checkout")
def test_copy_equals_the_shared_folder() -> None:
    theirs = sorted(p.relative_to(SHARED) for p in SHARED.rglob("*.json"))
    ours = sorted(p.relative_to(TESTDATA) for p in TESTDATA.rglob("*.json"))
    assert theirs == ours
    assert all(filecmp.cmp(SHARED / p, TESTDATA / p, shallow=False) for p in ours)


@pytest.mark.parametrize("case", CASES, ids=lambda p: str(p.relative_to(TESTDATA)))
def test_case(case: Path) -> None:
    c = json.loads(case.read_text())
    if case.relative_to(TESTDATA).parts[0] == "inclusion":

        def check() -> None:
            verify_inclusion(c["leafIdx"], c["treeSize"], _b64(c["leafHash"]), _hashes(c["proof"]), _b64(c["root"]))
    else:

        def check() -> None:
            verify_consistency(c["size1"], c["size2"], _hashes(c["proof"]), _b64(c["root1"]), _b64(c["root2"]))

    if c["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


VECTORS = json.loads((TESTDATA / "rfc6962_vectors.json").read_text())
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves_hex"]]


def test_hasher_known_answers() -> None:
    for kat in VECTORS["hasher_kats"]:
        if kat["op"] == "empty_root":
            got = EMPTY_ROOT
        elif kat["op"] == "leaf":
            got = leaf_hash(kat["input_ascii"].encode())
        else:
            got = node_hash(kat["left_ascii"].encode(), kat["right_ascii"].encode())
        assert got.hex() == kat["want"]


def test_known_roots_and_node_hashes() -> None:
    levels = tree.levels_from_leaves([leaf_hash(x) for x in LEAVES])
    for size, root in VECTORS["roots"].items():
        assert tree.root(lambda lv, i: levels[lv][i], int(size)).hex() == root
        assert ReferenceTree(LEAVES).mth(0, int(size)).hex() == root
    for level, row in enumerate(VECTORS["node_hashes"]):
        assert [h.hex() for h in levels[level]] == row


def test_known_inclusion_and_consistency_proofs() -> None:
    levels = tree.levels_from_leaves([leaf_hash(x) for x in LEAVES])
    node = lambda lv, i: levels[lv][i]  # noqa: E731
    for case in VECTORS["inclusion"]:
        i, n = case["leaf_index"], case["tree_size"]
        assert [h.hex() for h in tree.inclusion_proof(node, i, n)] == case["proof"]
        verify_inclusion(
            i,
            n,
            leaf_hash(LEAVES[i]),
            [bytes.fromhex(h) for h in case["proof"]],
            bytes.fromhex(VECTORS["roots"][str(n)]),
        )
    for case in VECTORS["consistency"]:
        m, n = case["size1"], case["size2"]
        assert [h.hex() for h in tree.consistency_proof(node, m, n)] == case["proof"]
        verify_consistency(
            m,
            n,
            [bytes.fromhex(h) for h in case["proof"]],
            bytes.fromhex(VECTORS["roots"][str(m)]),
            bytes.fromhex(VECTORS["roots"][str(n)]),
        )
