"""Attribution end to end on a small Datanet: index, attribute, ledger entry, payout by attribution, receipts."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from ledger.verify import ProofError
from pipelines.cli.main import main
from pipelines.core.config import load_datanet
from pipelines.downstream.attribution.attribute import AttributionError, attribute_text, record_attribution
from pipelines.downstream.attribution.committed import update_index
from pipelines.downstream.attribution.index import index_dir, rebuild_index, words
from pipelines.downstream.contributors import pseudonym_and_opening
from pipelines.downstream.payout.check import StatementMismatch, make_receipt, verify_receipt, verify_statement
from pipelines.downstream.payout.statement import load_statement, run_payout
from pipelines.driver.run import ingest

NOTES = [
    "Echocardiogram showed a mildly dilated left ventricle with ejection fraction of forty percent; started ramipril.",
    "Spirometry confirmed reversible airway obstruction, so the inhaled corticosteroid was doubled for eight weeks.",
    "Thyroid function tests revealed suppressed TSH with raised free thyroxine, consistent with Graves disease.",
    "The rheumatology clinic noted symmetrical small joint synovitis and a strongly positive anti-CCP antibody.",
    "Migraine with visual aura persisted despite propranolol, so topiramate was introduced at a low nightly dose.",
    "Capillary glucose diaries showed nocturnal hypoglycaemia after the basal insulin was increased last month.",
    "Ambulatory blood pressure monitoring averaged one hundred and fifty over ninety five during waking hours.",
    "Chest radiograph demonstrated right lower lobe consolidation and the sputum culture grew pneumococcus.",
]
NOVEL = (
    "Our quarterly review of the garden committee budget found that seed purchases rose sharply, "
    "and volunteers asked whether the greenhouse heater could run on a timer overnight."
)


def _project(root: Path, extra: str = "") -> Path:
    from ..conftest import make_project

    make_project(root, "pii: {enabled: false}\n" + extra)
    with open(root / "data" / "a.jsonl", "w") as f:
        for i, text in enumerate(NOTES[:6]):
            f.write(json.dumps({"contributor_id": f"c{i % 3}", "text": text}) + "\n")
    return root


def _grow(root: Path) -> None:
    with open(root / "data" / "b.jsonl", "w") as f:
        for i, text in enumerate(NOTES[6:]):
            f.write(json.dumps({"contributor_id": f"d{i}", "text": text}) + "\n")
        f.write(json.dumps({"contributor_id": "c9", "text": NOTES[0]}) + "\n")  # an exact copy of c0's note


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two ingest runs, the index updated after each, as ``make ingest`` does."""
    root = _project(tmp_path_factory.mktemp("attr") / "p", "payout: {basis: attribution, duplicates: split}\n")
    dn = load_datanet("tiny", root=root)
    ingest(dn, progress=lambda m: None)
    update_index(dn)
    _grow(root)
    ingest(dn, progress=lambda m: None)
    update_index(dn)
    return root


@pytest.fixture
def project(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "p"
    shutil.copytree(built, root, symlinks=True)
    monkeypatch.chdir(root)
    return root


def _index_of(dn: object, text: str) -> int:
    from pipelines.downstream.read import connect

    row = connect(dn).execute("select ledger_index from records where text = ?", [text]).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])


def test_the_rebuilt_index_equals_the_incremental_one(project: Path) -> None:
    dn = load_datanet("tiny")
    rebuild_index(dn, project / "again")
    mine = json.loads((index_dir(dn) / "INDEX.json").read_bytes())
    again = json.loads((project / "again" / "INDEX.json").read_bytes())
    assert [r["docs"] for r in mine["runs"]] == [6, 2]  # the copy of NOTES[0] is a duplicate, not indexed
    assert mine == again
    assert (index_dir(dn) / "vocab.txt").read_bytes() == (project / "again" / "vocab.txt").read_bytes()
    assert main(["index", "tiny", "--check"]) == 0


def test_quotes_are_attributed_to_their_records_and_novel_text_to_none(project: Path) -> None:
    dn = load_datanet("tiny")
    quote_a = NOTES[1][:-1]  # verbatim, without the final full stop
    quote_b = " ".join(NOTES[6].split()[:12])
    output = f"{NOVEL} As the notes say, {quote_a.lower()}; and {quote_b}. Nothing else was recorded."
    result = attribute_text(dn, output)
    by_index = {r["ledger_index"]: r for r in result["records"]}
    assert set(by_index) == {_index_of(dn, NOTES[1]), _index_of(dn, NOTES[6])}
    span = by_index[_index_of(dn, NOTES[1])]["spans"][0]
    assert output[span["start"] : span["end"]] == quote_a.lower()
    assert sum(r["bp"] for r in result["records"]) + result["unattributed_bp"] == 10_000
    share = len(quote_a) / len(output)
    assert abs(by_index[_index_of(dn, NOTES[1])]["bp"] / 10_000 - share) < 0.02
    assert attribute_text(dn, NOVEL)["records"] == []


def test_an_edited_quote_is_still_attributed(project: Path) -> None:
    dn = load_datanet("tiny")
    edited = NOTES[4].replace("persisted", "continued").replace("low", "small")
    result = attribute_text(dn, f"{NOVEL} {edited}")
    assert [r["ledger_index"] for r in result["records"]] == [_index_of(dn, NOTES[4])]


def test_attribution_goes_on_the_ledger_once(project: Path) -> None:
    dn = load_datanet("tiny")
    output = f"{NOVEL} {NOTES[2]}"
    first = record_attribution(dn, "m1", output, inference_id="inf-1", fee_minor=5, currency="EUR")
    entry = first["entry"]
    assert first["ledger"]["appended"] and entry["kind"] == "attribution" and entry["model"] == "m1"
    assert entry["weights"] == [[_index_of(dn, NOTES[2]), first["records"][0]["bp"]]]
    assert entry["fee_minor"] == 5 and entry["currency"] == "EUR" and "text" not in json.dumps(entry)
    assert first["records"][0]["contributor_id"] == pseudonym_and_opening(dn, "c2")[0]
    again = record_attribution(dn, "m1", output, inference_id="inf-1", fee_minor=5, currency="EUR")
    assert not again["ledger"]["appended"] and again["ledger"]["index"] == first["ledger"]["index"]
    assert again["ledger"]["ledger_size"] == first["ledger"]["ledger_size"]
    with pytest.raises(ValueError, match="model"):
        record_attribution(dn, "bad model id!", output)
    with pytest.raises(AttributionError, match="fee needs a currency"):
        record_attribution(dn, "m1", output, fee_minor=5)


@pytest.fixture
def paid(project: Path) -> Path:
    dn = load_datanet("tiny")
    record_attribution(dn, "m1", f"{NOVEL} {NOTES[0]}", inference_id="i1", fee_minor=300, currency="EUR")
    record_attribution(dn, "m1", f"{NOTES[3]} {NOTES[7]}", inference_id="i2", fee_minor=100, currency="EUR")
    record_attribution(dn, "m1", NOVEL, inference_id="i3", fee_minor=100, currency="EUR")
    run_payout(dn, "m1", "2026-11", 10_000, "EUR")
    return project


def test_payout_by_attribution_splits_fees_by_weights_and_verifies(paid: Path) -> None:
    dn = load_datanet("tiny")
    s = load_statement(dn.out_dir / "payouts" / "m1" / "2026-11")
    assert s["attribution"] == {"entries": 3, "shares": "fee"}
    lines = {(x["kind"], x["payee"]): x for x in s["lines"]}
    assert sum(x["amount_minor"] for x in s["lines"]) == 10_000
    c0, c9 = pseudonym_and_opening(dn, "c0")[0], pseudonym_and_opening(dn, "c9")[0]
    # NOTES[0] was contributed by c0 and copied by c9: under duplicates: split they share its credit
    first, fourth = _index_of(dn, NOTES[0]), _index_of(dn, NOTES[3])
    assert lines[("contributor", c9)]["contribution_indexes"] == [first] and lines[("contributor", c9)]["copy_indexes"]
    assert lines[("contributor", c0)]["contribution_indexes"] == sorted([first, fourth])
    assert lines[("contributor", c0)]["amount_minor"] > lines[("contributor", c9)]["amount_minor"] > 0
    # the novel-only inference and the novel half of the first go to the unattributed line
    assert lines[("unattributed", "model-developer")]["amount_minor"] > 0
    assert verify_statement(dn, s)["lines"] == len(s["lines"])


def _change_entry(proof: str, old: str, new: str) -> str:
    """The proof with its carried entry (the base64 ``extra`` line) edited."""
    lines = proof.split("\n")
    at = next(i for i, x in enumerate(lines) if x.startswith("extra "))
    entry = base64.b64decode(lines[at][6:]).decode()
    assert old in entry
    lines[at] = "extra " + base64.b64encode(entry.replace(old, new, 1).encode()).decode()
    return "\n".join(lines)


def test_receipts_prove_attribution_entries_and_tampering_fails(paid: Path) -> None:
    dn = load_datanet("tiny")
    s = load_statement(dn.out_dir / "payouts" / "m1" / "2026-11")
    vkey = (dn.ledger_dir / "vkey").read_text().strip()
    receipt = json.loads(json.dumps(make_receipt(dn, s, "c9")))
    out = verify_receipt(receipt, vkey, "c9")
    assert out["amount_minor"] > 0 and out["entries_proven"] >= 3  # payout, contribution, copy, attribution
    line = next(x for x in s["lines"] if x["payee"] == receipt["contributor"])
    attribution = str(line["usage_indexes"][0])
    # a changed weight, output hash or record index inside the proven attribution entry: the proof fails
    for old, new in (('"weights":[[', '"weights":[[9'), ('"output_sha256":"', '"output_sha256":"0')):
        forged = json.loads(json.dumps(receipt))
        forged["proofs"][attribution] = _change_entry(forged["proofs"][attribution], old, new)
        with pytest.raises((ProofError, StatementMismatch)):
            verify_receipt(forged, vkey, "c9")
    # a changed record index or weight in the statement: its hash no longer matches the payout entry
    for change in ("contribution_indexes", "units"):
        forged = json.loads(json.dumps(receipt))
        mine = next(x for x in forged["statement"]["lines"] if x["payee"] == receipt["contributor"])
        mine[change] = [mine[change][0] + 1] if change == "contribution_indexes" else "1"
        with pytest.raises(StatementMismatch, match="statement's hash"):
            verify_receipt(forged, vkey, "c9")
        with pytest.raises(StatementMismatch):
            verify_statement(dn, forged["statement"])


def test_a_changed_attribution_entry_on_the_ledger_fails_the_statement(paid: Path) -> None:
    dn = load_datanet("tiny")
    entries = dn.ledger_dir / "entries.jsonl"
    data = entries.read_bytes()
    entries.write_bytes(data.replace(b'"inference_id":"i2"', b'"inference_id":"i4"', 1))
    with pytest.raises(StatementMismatch, match="ledger"):
        verify_statement(dn, load_statement(dn.out_dir / "payouts" / "m1" / "2026-11"))


def test_cli_attribute_prints_records_and_appends_once(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "out.txt").write_text(f"{NOVEL} {NOTES[5]}")
    args = ["attribute", "tiny", "--model", "m2", "--output", "out.txt"]
    assert main([*args, "--fee", "0.05", "--currency", "EUR"]) == 0
    text = capsys.readouterr().out
    assert "appended" in text and "unattributed" in text and "“capillary glucose diaries" in text.lower()
    assert main(["attribute", "tiny", "--model", "m2", "--output", "out.txt", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ledger"]["appended"] is False  # same model, output and inference id
    assert main(["attribute", "tiny", "--model", "m2", "--output", "out.txt", "--inference-id", "x1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ledger"]["appended"] is True
    assert main(["attribute", "tiny", "--model", "m2", "--text", "x", "--fee", "1"]) == 2
    assert "go together" in capsys.readouterr().err


def test_the_seed_prefilter_gives_the_engine_s_spans(project: Path) -> None:
    """Querying only seeded regions finds exactly the spans a whole-output query finds."""
    import random

    from pipelines.downstream.attribution.attribute import maximal_spans
    from pipelines.downstream.attribution.index import open_index
    from pipelines.downstream.attribution.spans import Rule

    idx = open_index(index_dir(load_datanet("tiny")))
    rng = random.Random(5)
    pool = [w for t in [*NOTES, NOVEL] for w in t.split()]
    checked = 0
    for _ in range(60):
        parts = [" ".join(rng.choices(pool, k=rng.randint(0, 12)))]
        for note in rng.sample(NOTES, rng.randint(0, 3)):
            ws = note.split()
            a = rng.randrange(len(ws))
            parts += [" ".join(ws[a : a + rng.randint(3, 20)]), " ".join(rng.choices(pool, k=rng.randint(0, 6)))]
        ids = idx.token_ids([w for _, _, w in words(" ".join(parts))])
        fast, full = maximal_spans(idx, ids, Rule()), maximal_spans(idx, ids, Rule(), prefilter=False)
        assert fast == full
        checked += len(full)
    assert checked > 30  # the outputs did reuse records
