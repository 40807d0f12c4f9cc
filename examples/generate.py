"""Build the bundled example Datanets with known ground truth (seeded, reproducible).

    python -m examples.generate            # rewrites examples/clinical-notes and examples/code-snippets

Each example folder gets its contribution files plus ``expected.json``:
the planted duplicates (file, line) with what they duplicate, the planted
quarantine rows with their reasons, the planted PII values, and the
counts a correct ingest must report. All people, numbers and addresses
are fake (Faker, seeded); the card numbers pass the Luhn check on purpose.
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

from faker import Faker

ROOT = Path(__file__).resolve().parent

COMPLAINTS = [
    "chest pain",
    "shortness of breath",
    "persistent cough",
    "lower back pain",
    "headache",
    "abdominal pain",
    "dizziness",
    "fatigue",
    "joint swelling",
    "palpitations",
    "rash",
    "fever and chills",
    "blurred vision",
    "numbness in the left hand",
    "nausea",
    "insomnia",
]
CONDITIONS = [
    "type 2 diabetes",
    "hypertension",
    "asthma",
    "hypothyroidism",
    "atrial fibrillation",
    "chronic kidney disease stage 3",
    "osteoarthritis",
    "major depressive disorder",
    "COPD",
    "hyperlipidaemia",
    "migraine",
    "gastro-oesophageal reflux",
    "psoriasis",
    "gout",
    "anaemia",
]
MEDS = [
    "metformin",
    "lisinopril",
    "atorvastatin",
    "levothyroxine",
    "amlodipine",
    "salbutamol",
    "omeprazole",
    "sertraline",
    "apixaban",
    "allopurinol",
    "ramipril",
    "bisoprolol",
    "furosemide",
]
DEPTS = [
    "cardiology",
    "respiratory",
    "general medicine",
    "endocrinology",
    "rheumatology",
    "neurology",
    "gastroenterology",
    "dermatology",
    "nephrology",
    "family practice",
]
PLANS = [
    "order a chest X-ray and repeat bloods",
    "start a trial of physiotherapy",
    "increase the dose and recheck in two weeks",
    "refer for echocardiography",
    "arrange spirometry and review inhaler technique",
    "begin a low sodium diet and home BP monitoring",
    "request an MRI of the lumbar spine",
    "check thyroid function and ferritin",
    "switch to a long-acting preparation",
    "discuss smoking cessation support",
    "book a sleep study",
    "obtain an ECG and a 24 hour Holter monitor",
]
DIAGNOSES = [
    "stable angina",
    "community acquired pneumonia",
    "mechanical back pain",
    "tension headache",
    "poorly controlled diabetes",
    "viral gastroenteritis",
    "benign positional vertigo",
    "iron deficiency",
    "inflammatory arthritis",
    "paroxysmal atrial fibrillation",
    "eczema flare",
    "urinary tract infection",
    "exacerbation of COPD",
    "generalised anxiety",
]
SPECIALTIES = ["cardiology", "respiratory", "general", "endocrinology", "rheumatology", "neurology"]
SWAPS = {
    "two": "three",
    "weeks": "days",
    "patient": "client",
    "review": "reassess",
    "pain": "discomfort",
    "mild": "moderate",
    "daily": "nightly",
    "stable": "steady",
    "normal": "unremarkable",
}


class Builder:
    """Accumulates one example's files and its ground truth."""

    def __init__(self, name: str, seed: int) -> None:
        self.name, self.dir = name, ROOT / name
        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.records: list[dict[str, Any]] = []  # every accepted-or-duplicate record with its location
        self.truth: dict[str, Any] = {
            "duplicates": [],
            "quarantine": [],
            "pii": {"emails": [], "phones": [], "cards": []},
            "blank_lines": 0,
        }

    def timestamp(self) -> str:
        return f"2026-{self.rng.randint(1, 10):02d}-{self.rng.randint(1, 28):02d}T{self.rng.randint(0, 23):02d}:{self.rng.randint(0, 59):02d}:00Z"

    def phone(self) -> str:
        a, b, c = self.rng.randint(201, 989), self.rng.randint(200, 999), self.rng.randint(1000, 9999)
        fmt = self.rng.choice(["{a}-{b}-{c}", "({a}) {b}-{c}", "+1 {a} {b} {c}"])
        value = fmt.format(a=a, b=b, c=c)
        self.truth["pii"]["phones"].append(value)
        return value

    def email(self) -> str:
        value = f"{self.fake.user_name()}{self.rng.randint(1, 999)}@{self.fake.free_email_domain()}"
        self.truth["pii"]["emails"].append(value)
        return value

    def card(self) -> str:
        value = self.fake.credit_card_number(card_type=self.rng.choice(["visa16", "mastercard"]))
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        self.truth["pii"]["cards"].append(value)
        return value


def near_copy(text: str, rng: random.Random) -> str:
    """near_copy changes one word (or appends one) so Jaccard of 5-shingles stays around 0.9."""
    words = text.split(" ")
    spots = [i for i, w in enumerate(words) if w.lower().strip(".,") in SWAPS]
    if spots:
        i = rng.choice(spots)
        core = words[i].strip(".,")
        words[i] = words[i].replace(core, SWAPS[core.lower()])
    else:
        words.insert(len(words) // 2, "also")
    return " ".join(words)


def exact_copy(text: str, rng: random.Random) -> str:
    """exact_copy changes only case or spacing, which normalisation removes."""
    return rng.choice([text.upper(), "  " + text.replace(" ", "  ") + " ", text.replace(". ", ".\n")])


def clinical_note(b: Builder) -> str:
    f, r = b.fake, b.rng
    name = f.name()
    parts = [
        r.choice(
            [
                f"{name}, a {r.randint(19, 92)}-year-old {r.choice(['man', 'woman'])}, was seen in the {r.choice(DEPTS)} clinic with {r.choice(COMPLAINTS)} for {r.randint(2, 30)} days.",
                f"Reviewed {name} today for {r.choice(COMPLAINTS)} that started {r.randint(1, 12)} weeks ago and is getting worse at night.",
                f"{name} attended the {r.choice(DEPTS)} follow-up appointment reporting {r.choice(COMPLAINTS)} and {r.choice(COMPLAINTS)}.",
            ]
        ),
        f"Past history includes {r.choice(CONDITIONS)} and {r.choice(CONDITIONS)}, diagnosed in {r.randint(1995, 2025)}.",
        f"Current medication: {r.choice(MEDS)} {r.choice([5, 10, 20, 40, 50, 100, 500, 850])} mg {r.choice(['once daily', 'twice daily', 'at night'])} and {r.choice(MEDS)} {r.choice([1.25, 2.5, 5, 25, 75])} mg daily.",
        f"On examination blood pressure was {r.randint(100, 175)}/{r.randint(60, 105)}, pulse {r.randint(52, 118)} and temperature {r.randint(360, 391) / 10} C; chest {r.choice(['clear', 'with scattered wheeze', 'with bibasal crackles'])}.",
        f"Assessment is {r.choice(DIAGNOSES)}; the plan is to {r.choice(PLANS)} and review in {r.choice(['two', 'four', 'six'])} weeks.",
    ]
    if r.random() < 0.7:
        parts.append(
            r.choice(
                [
                    f"Contact the patient on {b.phone()} or by email at {b.email()}.",
                    f"Best number is {b.phone()}; daughter can be emailed at {b.email()}.",
                ]
            )
        )
    if r.random() < 0.15:
        parts.append(f"Prescription charge paid with card {b.card()}.")
    if r.random() < 0.3:
        parts.append(f"Lives at {b.fake.street_address()}, {b.fake.city()}.")
    middle = parts[1:4]
    r.shuffle(middle)
    parts[1:4] = middle
    return " ".join(parts)


FUNCS = [
    "load_config",
    "parse_rows",
    "retry_request",
    "merge_intervals",
    "chunked",
    "flatten",
    "normalise_path",
    "top_k",
    "rolling_mean",
    "dedupe_keep_order",
    "read_lines",
    "safe_divide",
    "slugify",
    "parse_duration",
    "group_by_key",
    "binary_search",
    "camel_to_snake",
    "sha256_file",
]
VARS = ["items", "rows", "values", "records", "lines", "data", "entries", "xs", "batch", "payload"]


def code_snippet(b: Builder) -> tuple[str, str, str]:
    r = b.rng
    fn, v, w = r.choice(FUNCS) + f"_{r.randint(1, 999)}", r.choice(VARS), r.choice(VARS)
    n, k = r.randint(2, 64), r.randint(1, 9)
    header = f"# author: {b.fake.name()} <{b.email()}>\n" if r.random() < 0.4 else ""
    lang = r.choice(["python", "python", "javascript", "sql"])
    marker = "--" if lang == "sql" else ("//" if lang == "javascript" else "#")
    header += f"{marker} {' '.join(b.fake.words(nb=12))}\n"
    if lang == "python":
        body = r.choice(
            [
                f'def {fn}({v}, size={n}):\n    """Yield successive chunks of {v} of length size."""\n    for i in range(0, len({v}), size):\n        yield {v}[i:i + size]\n',
                f"def {fn}({v}):\n    seen = set()\n    out = []\n    for {w}_item in {v}:\n        if {w}_item not in seen:\n            seen.add({w}_item)\n            out.append({w}_item)\n    return out[:{n}]\n",
                f"def {fn}(path, retries={k}):\n    for attempt in range(retries):\n        try:\n            with open(path) as fh:\n                return [line.rstrip() for line in fh][:{n}]\n        except OSError:\n            time.sleep(0.{k} * attempt)\n    raise RuntimeError('gave up on ' + path)\n",
                f"def {fn}({v}, window={k + 1}):\n    total = sum({v}[:window])\n    out = [total / window]\n    for i in range(window, len({v})):\n        total += {v}[i] - {v}[i - window]\n        out.append(total / window)\n    return out\n",
            ]
        )
        desc = r.choice(
            [
                "Split a list into fixed-size chunks.",
                "Remove duplicates but keep the first occurrence.",
                "Read a file with retries and a linear backoff.",
                "Rolling mean over a sliding window.",
            ]
        )
    elif lang == "javascript":
        body = r.choice(
            [
                f"function {fn}({v}, key) {{\n  return {v}.reduce((acc, {w}) => {{\n    (acc[{w}[key]] ||= []).push({w});\n    return acc;\n  }}, {{}});\n}}\n",
                f"const {fn} = async (url, tries = {k}) => {{\n  for (let i = 0; i < tries; i++) {{\n    const res = await fetch(url);\n    if (res.ok) return res.json();\n    await new Promise(r => setTimeout(r, {n} * i));\n  }}\n  throw new Error(`failed after ${{tries}} tries`);\n}};\n",
                f"export function {fn}(s) {{\n  return s.toLowerCase().trim().replace(/[^a-z0-9]+/g, '-').slice(0, {n});\n}}\n",
            ]
        )
        desc = r.choice(["Group objects by a key.", "Fetch JSON with retries.", "Turn a title into a URL slug."])
    else:
        body = r.choice(
            [
                f"SELECT customer_id, COUNT(*) AS orders_{k}\nFROM orders\nWHERE created_at >= DATE '2026-0{k}-01'\nGROUP BY customer_id\nHAVING COUNT(*) > {n}\nORDER BY orders_{k} DESC;\n",
                f"WITH ranked AS (\n  SELECT *, ROW_NUMBER() OVER (PARTITION BY {v}_id ORDER BY updated_at DESC) AS rn\n  FROM {w}\n)\nSELECT * FROM ranked WHERE rn <= {k};\n",
            ]
        )
        desc = r.choice(["Customers with many recent orders.", "Latest rows per key with a window function."])
    return header + body, desc[:-1] + f" ({fn}, {lang}).", lang


def broken_jsonl(b: Builder, cid: str, text: str) -> list[tuple[str, bytes]]:
    """One of each kind of bad line a contributor file can hold, with its expected reason."""
    good = {"contributor_id": cid, "text": text, "specialty": "general"}
    big = {"contributor_id": cid, "text": text + " x" * 60_000, "specialty": "general"}
    return [
        ("malformed_json", b'{"contributor_id": "' + cid.encode() + b'", "text": "unterminated note about a patient'),
        (
            "invalid_utf8",
            b'{"contributor_id": "'
            + cid.encode()
            + b'", "text": "Caf\xe9 au lait spots noted \xff\xfe on the trunk of the child today"}',
        ),
        ("missing_contributor_id", json.dumps({"text": text, "specialty": "general"}).encode()),
        ("empty_contributor_id", json.dumps({**good, "contributor_id": "   "}).encode()),
        ("wrong_type", json.dumps({**good, "specialty": 7}).encode()),
        ("unknown_field", json.dumps({**good, "diagnosis_code": "I20.9"}).encode()),
        (
            "duplicate_key",
            b'{"contributor_id": "' + cid.encode() + b'", "text": "first", "text": "second version of the note"}',
        ),
        ("invalid_submitted_at", json.dumps({**good, "submitted_at": "yesterday afternoon"}).encode()),
        ("not_an_object", b'["a list", "is not a contribution"]'),
        ("record_too_large", json.dumps(big).encode()),
        ("empty_record", json.dumps({**good, "text": "   "}).encode()),
        ("validation_failed", json.dumps({**good, "text": f"Seen by {cid}. Fine."}).encode()),
        ("validation_failed", json.dumps({**good, "specialty": "astrology"}).encode()),
    ]


class Row:
    """One planned line of a contribution file."""

    def __init__(self, kind: str, value: Any, reason: str = "", of: Row | None = None) -> None:
        self.kind, self.value, self.reason, self.of = kind, value, reason, of
        self.where: tuple[str, int] | None = None


def later(ts: str, rng: random.Random) -> str:
    from datetime import datetime, timedelta

    t = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ") + timedelta(days=rng.randint(1, 40), minutes=rng.randint(1, 600))
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def whitespace_copy(text: str, rng: random.Random) -> str:
    """whitespace_copy changes only spacing (exact under any normalisation that collapses whitespace)."""
    return rng.choice(["  " + text + "\n", text.replace("\n", "\n\n"), text.replace(" = ", "  =  ")])


def plant_duplicates(
    b: Builder,
    files: dict[str, list[Row]],
    text_key: str,
    n_exact: int,
    n_near: int,
    contributors: list[str],
    exact_fn: Any = exact_copy,
) -> None:
    """Insert exact and near copies of random originals, always submitted later, anywhere in any file."""
    originals = [row for rows in files.values() for row in rows if row.kind == "ok" and row.value.get("submitted_at")]
    picks = b.rng.sample(originals, n_exact + n_near)
    for i, orig in enumerate(picks):
        kind = "exact" if i < n_exact else "near"
        text = orig.value[text_key]
        copy = dict(
            orig.value, contributor_id=b.rng.choice(contributors), submitted_at=later(orig.value["submitted_at"], b.rng)
        )
        copy[text_key] = exact_fn(text, b.rng) if kind == "exact" else near_copy(text, b.rng)
        target = files[b.rng.choice(sorted(files))]
        target.insert(b.rng.randint(0, len(target)), Row("dup", copy, kind, orig))


def scatter(b: Builder, rows: list[Row], extra: list[Row]) -> None:
    for row in extra:
        rows.insert(b.rng.randint(0, len(rows)), row)


def write_jsonl(b: Builder, rel: str, rows: list[Row], bom: bool = False, crlf: bool = False) -> None:
    eol = b"\r\n" if crlf else b"\n"
    out = bytearray(b"\xef\xbb\xbf" if bom else b"")
    for n, row in enumerate(rows, start=1):
        row.where = (f"examples/{b.name}/{rel}", n)
        if row.kind == "blank":
            out += eol
        elif isinstance(row.value, bytes):
            out += row.value + eol
        else:
            out += json.dumps(row.value, ensure_ascii=False).encode("utf-8") + eol
    path = b.dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))


def write_csv(b: Builder, rel: str, rows: list[Row], columns: list[str]) -> None:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    line = 2
    for row in rows:
        row.where = (f"examples/{b.name}/{rel}", line)
        start = buf.tell()
        if isinstance(row.value, list):
            w.writerow(row.value)
        else:
            w.writerow([row.value.get(c) if row.value.get(c) is not None else "" for c in columns])
        line += buf.getvalue()[start:].count("\n")
    path = b.dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8")


def write_textdir(
    b: Builder, rel: str, rows: list[Row], text_key: str, meta: list[str], orphan: Row, missing: Row
) -> None:
    """Write one .txt per row plus manifest.csv; ``orphan`` has no manifest row, ``missing`` no file."""
    folder = b.dir / rel
    folder.mkdir(parents=True, exist_ok=True)
    manifest = [["file", "contributor_id", "submitted_at", *meta]]
    for i, row in enumerate(rows, start=1):
        name = f"{i:04d}.txt"
        (folder / name).write_text(row.value[text_key], encoding="utf-8")
        row.where = (f"examples/{b.name}/{rel}/{name}", 1)
        manifest.append(
            [
                name,
                row.value["contributor_id"],
                row.value.get("submitted_at") or "",
                *[row.value.get(m) or "" for m in meta],
            ]
        )
    (folder / "unlisted.txt").write_text(orphan.value[text_key], encoding="utf-8")
    orphan.where = (f"examples/{b.name}/{rel}/unlisted.txt", 1)
    manifest.append(["lost-in-transit.txt", "clin-009", "", *["" for _ in meta]])
    missing.where = (f"examples/{b.name}/{rel}/manifest.csv", len(manifest))
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\n").writerows(manifest)
    (folder / "manifest.csv").write_text(buf.getvalue(), encoding="utf-8")


def truth(b: Builder, all_rows: list[Row]) -> dict[str, Any]:
    """The expected outcome of ingesting the example once, from the planted rows."""
    dups = [r for r in all_rows if r.kind == "dup"]
    bad = [r for r in all_rows if r.kind == "bad"]
    ok = [r for r in all_rows if r.kind == "ok"]
    by_reason: dict[str, int] = {}
    for r in bad:
        by_reason[r.reason] = by_reason.get(r.reason, 0) + 1
    return {
        "read": len(dups) + len(bad) + len(ok),
        "accepted": len(ok),
        "duplicates": {
            "total": len(dups),
            "exact": sum(r.reason == "exact" for r in dups),
            "near": sum(r.reason == "near" for r in dups),
        },
        "quarantined": {"total": len(bad), "by_reason": dict(sorted(by_reason.items()))},
        "blank_lines_skipped": sum(r.kind == "blank" for r in all_rows),
        "planted_duplicates": sorted(
            [
                {
                    "file": r.where[0],
                    "line": r.where[1],
                    "kind": r.reason,
                    "of": {"file": r.of.where[0], "line": r.of.where[1]},
                }
                for r in dups
                if r.where and r.of and r.of.where
            ],
            key=lambda d: (d["file"], d["line"]),
        ),
        "planted_quarantine": sorted(
            [{"file": r.where[0], "line": r.where[1], "reason": r.reason} for r in bad if r.where],
            key=lambda d: (d["file"], d["line"]),
        ),
        "planted_pii": b.truth["pii"],
    }


def _ok(b: Builder, cid: str, fields: dict[str, Any]) -> Row:
    rec = {"contributor_id": cid, **fields}
    if b.rng.random() < 0.92:
        rec["submitted_at"] = b.timestamp()
    return Row("ok", rec)


def build_clinical() -> dict[str, Any]:
    b = Builder("clinical-notes", 20261125)
    clinicians = [f"clin-{i:03d}" for i in range(1, 7)]
    files = {
        f"contributions/{cid}.jsonl": [
            _ok(b, cid, {"text": clinical_note(b), "specialty": b.rng.choice(SPECIALTIES)}) for _ in range(380)
        ]
        for cid in clinicians[:5]
    }
    csv_rows = [
        _ok(
            b,
            b.rng.choice(["st-marys-ward-4", "st-marys-ward-7", "clin-006"]),
            {"text": clinical_note(b), "specialty": b.rng.choice(SPECIALTIES)},
        )
        for _ in range(400)
    ]
    letters = [
        _ok(
            b,
            b.rng.choice(clinicians),
            {
                "text": "Dear colleague,\n\n" + clinical_note(b) + "\n\nKind regards,\n" + b.fake.name(),
                "specialty": b.rng.choice(SPECIALTIES),
            },
        )
        for _ in range(150)
    ]
    plant_duplicates(b, {**files, "hospital.csv": csv_rows}, "text", 110, 70, clinicians)
    for rel, rows in files.items():
        scatter(
            b,
            rows,
            [Row("bad", raw, reason) for reason, raw in broken_jsonl(b, rel.split("/")[-1][:8], clinical_note(b))],
        )
        scatter(b, rows, [Row("blank", None), Row("blank", None)])
    scatter(
        b,
        csv_rows,
        [
            Row(
                "bad",
                ["st-marys-ward-4", "2026-03-01T10:00:00Z", clinical_note(b), "general", "surplus cell"],
                "malformed_csv",
            ),
            Row(
                "bad",
                {"contributor_id": "", "text": clinical_note(b), "specialty": "general"},
                "missing_contributor_id",
            ),
            Row(
                "bad", {"contributor_id": "st-marys-ward-7", "text": "Ok.", "specialty": "general"}, "validation_failed"
            ),
        ],
    )
    # Exact copies of letters arrive as new letters, and one letter is never listed in the manifest.
    for orig in b.rng.sample([r for r in letters if r.value.get("submitted_at")], 6):
        copy = dict(orig.value, submitted_at=later(orig.value["submitted_at"], b.rng), contributor_id="clin-006")
        letters.append(Row("dup", copy, "exact", orig))
    orphan = Row("bad", {"text": clinical_note(b)}, "not_in_manifest")
    missing = Row("bad", None, "missing_file")
    for i, (rel, rows) in enumerate(sorted(files.items())):
        write_jsonl(b, rel, rows, bom=(i == 2), crlf=(i == 3))
    write_csv(b, "hospital/st-marys-2026.csv", csv_rows, ["contributor_id", "submitted_at", "text", "specialty"])
    write_textdir(b, "letters", letters, "text", ["specialty"], orphan, missing)
    all_rows = [r for rows in files.values() for r in rows] + csv_rows + letters + [orphan, missing]
    return truth(b, all_rows)


def build_code() -> dict[str, Any]:
    b = Builder("code-snippets", 4242)
    devs = ["dev-ana", "dev-bo", "dev-chen", "dev-dara"]
    files: dict[str, list[Row]] = {}
    for cid in devs[:3]:
        rows = []
        for _ in range(330):
            code, desc, lang = code_snippet(b)
            rows.append(_ok(b, cid, {"code": code, "description": desc, "language": lang}))
        files[f"contributions/{cid}.jsonl"] = rows
    snippets = []
    for _ in range(120):
        code, desc, lang = code_snippet(b)
        snippets.append(_ok(b, "dev-dara", {"code": code, "description": desc, "language": lang}))
    plant_duplicates(b, files, "code", 60, 0, devs, exact_fn=whitespace_copy)
    for rel, rows in files.items():
        code, desc, lang = code_snippet(b)
        good = {"contributor_id": rel.split("/")[-1][:-6], "code": code, "description": desc, "language": lang}
        scatter(
            b,
            rows,
            [
                Row("bad", b'{"contributor_id": "dev-ana", "code": "def broken(:', "malformed_json"),
                Row("bad", {**good, "language": "cobol"}, "validation_failed"),
                Row("bad", {**good, "contributor_id": None}, "missing_contributor_id"),
                Row("bad", {**good, "stars": 5}, "unknown_field"),
                Row("blank", None),
            ],
        )
    orphan = Row("bad", {"code": code_snippet(b)[0]}, "not_in_manifest")
    missing = Row("bad", None, "missing_file")
    for rel, rows in sorted(files.items()):
        write_jsonl(b, rel, rows)
    write_textdir(b, "snippets", snippets, "code", ["language", "description"], orphan, missing)
    all_rows = [r for rows in files.values() for r in rows] + snippets + [orphan, missing]
    return truth(b, all_rows)


def main() -> None:
    import shutil

    for name, build in (("clinical-notes", build_clinical), ("code-snippets", build_code)):
        for sub in ("contributions", "hospital", "letters", "snippets"):
            shutil.rmtree(ROOT / name / sub, ignore_errors=True)
        expected = build()
        (ROOT / name / "expected.json").write_text(
            json.dumps(expected, indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )
        print(
            f"{name}: {expected['read']} items, {expected['accepted']} to accept, "
            f"{expected['duplicates']['total']} duplicates, {expected['quarantined']['total']} to quarantine"
        )


if __name__ == "__main__":
    main()
