"""Nothing PII-shaped reaches the ledger or an unprotected file.

Planted e-mail and phone contributor IDs never appear in ``ledger export``,
shards or duplicates (only pseudonyms do, which their owners can prove with
an opening); planted international phones and a ``pii: true`` field are
scrubbed; quarantine, the contributor map and payout statements are 0600 in
0700 folders. Runs the real Presidio stage, so it is marked slow.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import duckdb
import pytest

from ledger.pseudonym import is_pseudonym, proves
from pipelines.cli.main import main
from pipelines.core.config import load_datanet
from pipelines.downstream.contributors import own_id, pseudonym_and_opening
from pipelines.downstream.payout.statement import run_payout
from pipelines.downstream.usage import record_usage, select_records
from pipelines.driver.run import ingest

SCHEMA = """\
name: note
fields:
  - {name: text, type: string, text: true}
  - {name: referrer, type: string, required: false, pii: true}
"""

DATANET = """\
name: private
schema: schemas/note.yaml
sources:
  - {path: data/*.jsonl, format: jsonl}
dedup: {near: {enabled: false}}
runner:
  options: {direct_running_mode: in_memory, direct_num_workers: 1}
"""

IDS = ["jane.doe@gmail.com", "+44 7700 900123", "0049 170 1234567", "plain-id-7"]
PHONES = ["+44 7700 900123", "+33 6 12 34 56 78", "+49 30 901820", "0049 170 1234567", "020 7946 0958"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("private")
    for sub in ("schemas", "datanets", "data"):
        (root / sub).mkdir()
    (root / "schemas" / "note.yaml").write_text(SCHEMA)
    (root / "datanets" / "private.yaml").write_text(DATANET)
    rows = [
        {
            "contributor_id": IDS[i % len(IDS)],
            "text": f"Follow-up {i}: asthma review, inhaler technique checked. Patient asked us to ring {phone}.",
            "referrer": f"Referred by dr.smith{i}@stmarys-clinic.org, tel {phone}",
        }
        for i, phone in enumerate(PHONES)
    ]
    rows.append({**rows[0], "contributor_id": IDS[3]})  # an exact duplicate by another contributor
    lines = [json.dumps(r) for r in rows] + ['{"contributor_id": "jane.doe@gmail.com", "text": oops}']
    (root / "data" / "a.jsonl").write_text("\n".join(lines) + "\n")
    dn = load_datanet("private", root=root)
    report = ingest(dn, progress=lambda m: None)
    assert (report["accepted"], report["duplicates"]["total"], report["quarantined"]["total"]) == (5, 1, 1)
    record_usage(dn, "m1", "tr1", select_records(dn))
    run_payout(dn, "m1", "2026-11", 1000, "EUR")
    return root


@pytest.mark.slow
def test_contributor_ids_never_reach_the_ledger_shards_or_duplicates(
    private: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(private)
    assert main(["ledger", "export", "private"]) == 0
    exported = capsys.readouterr().out
    out = private / "out" / "private"
    public = exported + "".join(
        str(row)
        for kind in ("shards", "duplicates")
        for row in duckdb.sql(f"select * from read_parquet('{out}/{kind}/*/*.parquet')").fetchall()
    )
    for cid in IDS:
        assert cid not in public and cid.replace(" ", "") not in public
    entries = [json.loads(line) for line in exported.splitlines()]
    ids = {e["contributor_id"] for e in entries if e["kind"] == "contribution"}
    assert ids and all(is_pseudonym(i) for i in ids)
    dn = load_datanet("private", root=private)
    for cid in IDS:
        pseud, opening = pseudonym_and_opening(dn, cid)
        assert proves(cid, opening, pseud) and own_id(dn, pseud) == cid
        assert not proves(IDS[0] if cid != IDS[0] else IDS[1], opening, pseud)


@pytest.mark.slow
def test_planted_phones_and_pii_fields_are_scrubbed(private: Path) -> None:
    out = private / "out" / "private"
    rows = duckdb.sql(f"select text, referrer from read_parquet('{out}/shards/*/*.parquet')").fetchall()
    stored = " ".join(t + " " + (r or "") for t, r in rows)
    for phone in PHONES:
        assert phone not in stored
    assert "@stmarys-clinic.org" not in stored
    assert "<PHONE_NUMBER>" in stored and "<EMAIL_ADDRESS>" in stored


@pytest.mark.slow
def test_raw_input_contributor_map_and_statements_are_private(private: Path) -> None:
    out = private / "out" / "private"
    folders = [out / "quarantine", out / "contributors", *(out / "quarantine").iterdir()]
    folders += [*(out / "contributors").iterdir(), out / "payouts" / "m1" / "2026-11"]
    assert {f.name: _mode(f) for f in folders} == {f.name: 0o700 for f in folders}
    files = [*(out / "quarantine").rglob("*.parquet"), *(out / "contributors").rglob("*.parquet")]
    files += [p for p in (out / "payouts" / "m1" / "2026-11").iterdir()]
    assert len(files) >= 6 and {str(f): _mode(f) for f in files} == {str(f): 0o600 for f in files}


def _published_values(path: Path) -> str:
    """Every value of a published file as text: Parquet cells (binary cells in hex), else the file's bytes."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        cells = [v for col in table.columns for v in col.to_pylist()]
        return "\n".join(v.hex() if isinstance(v, bytes) else str(v) for v in cells)
    raw = path.read_bytes()
    return raw.decode("utf-8", "replace") + "\n" + raw.hex()


@pytest.mark.slow
def test_no_published_file_confirms_a_guessed_raw_text(private: Path) -> None:
    """The confirmation attack of issue 18: hash a guessed text, look for the digest in every file others can read."""
    import hashlib

    from pipelines.core.records import dedup_text

    dn = load_datanet("private", root=private)
    rows = [json.loads(x) for x in (private / "data" / "a.jsonl").read_text().splitlines() if "oops" not in x]
    guesses = [r[f] for r in rows for f in ("text", "referrer") if f in r]
    guesses += [dedup_text({"fields": r}, dn.schema.text_fields, dn.config.dedup.normalise) for r in rows]
    guesses += [f"Referred by dr.smith{i}@stmarys-clinic.org" for i in range(len(PHONES))] + PHONES
    guesses.append((private / "data" / "a.jsonl").read_text())  # a whole input file: COMMITTED.json's digests
    digests = {h(g.encode()).hexdigest(): g for g in guesses for h in (hashlib.sha256, hashlib.sha1, hashlib.md5)}
    published = [p for p in sorted(dn.out_dir.rglob("*")) if p.is_file() and _mode(p) & 0o044]
    assert any("state" in p.parts for p in published) and any("duplicates" in p.parts for p in published)
    confirmed = {str(p): g for p in published for h, g in digests.items() if h in _published_values(p)}
    assert not confirmed
