"""Proof of attribution, end to end on an example Datanet: a toy model quotes records, contributors get paid.

    make attribution-demo                 # or: python -m examples.attribution_demo [DATANET]

1. ingest the Datanet if needed, and bring its attribution index up to date;
2. a toy "model" (``toy-chat``) answers five prompts: each answer quotes 16
   words of one record verbatim, paraphrases 16 words of another (one word
   in 12 changed), and adds novel text of its own; one answer is novel only;
3. ``record_attribution`` attributes each answer (fee 0.05 EUR), which puts
   one signed ``attribution`` entry per answer on the ledger; the demo checks
   that exactly the quoted and paraphrased records were named;
4. a payout splits the fees of the period by the entries' weights
   (``toy-chat`` is in ``payout.attribution_models``), and is verified by
   recomputing it from the ledger;
5. the best-paid contributor gets a receipt, checked offline.

Run it again and nothing is added: the same answer and inference id is one
entry, and a period is paid once.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from pipelines.core.config import Datanet, load_datanet
from pipelines.core.registry import committed_runs
from pipelines.downstream.attribution.attribute import ensure_index, record_attribution
from pipelines.downstream.attribution.index import words
from pipelines.downstream.contributors import own_id
from pipelines.downstream.payout.check import make_receipt, verify_receipt, verify_statement
from pipelines.downstream.payout.statement import find_payout, load_statement, run_payout, statement_dir, to_minor
from pipelines.downstream.read import connect
from pipelines.driver.run import ingest

MODEL, PERIOD, FEE = "toy-chat", "2026-11", "0.05"
NOVEL = [
    "Before anything else, thank you for the detailed question about the weekend rota.",
    "The library closes early on public holidays, so plan the reading group for Thursday instead.",
    "Most gardeners water tomatoes in the morning, which keeps the leaves dry by nightfall.",
    "A short walk after lunch helps many people stay alert during long afternoon meetings.",
    "Our office kettle was replaced last spring and nobody has complained about it since.",
]
SWAPS = {"the": "this", "and": "plus", "with": "alongside", "was": "got", "of": "for", "to": "towards"}


def paraphrase(text: str, every: int = 12) -> str:
    """paraphrase changes about one word in ``every`` (a swap of a common word), as a light edit would."""
    words = text.split()
    for i in range(every // 2, len(words), every):
        words[i] = SWAPS.get(words[i].lower(), words[i] + "s")
    return " ".join(words)


def _runs(text: str, n: int = 8) -> set[str]:
    ws = [w for _, _, w in words(text)]
    return {" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)}


def distinctive(text: str, held: Counter[str], n: int) -> str | None:
    """distinctive is the first run of ``n`` words of ``text`` none of whose 8-word runs another record holds."""
    ws = text.split()
    for start in range(len(ws) - n + 1):
        window = " ".join(ws[start : start + n])
        if all(held[r] == 1 for r in _runs(window)):
            return window
    return None


def toy_model(records: list[tuple[int, str]]) -> list[tuple[str, set[int]]]:
    """toy_model returns five answers and, for each, the ledger indexes of the records it reused.

    The example's notes come from templates, so most of a note's sentences
    are also in other notes (and attribution rightly names them all). The
    toy model therefore quotes, from each record it uses, a passage no other
    record shares 8 words of, so the truth is exactly the records it used.
    """
    held: Counter[str] = Counter(r for _, text in records for r in _runs(text))
    usable = [(i, w) for i, t in records if (w := distinctive(t, held, 16)) is not None]
    answers, step = [], len(usable) // 8  # spread over the ledger, so over several contributors
    for k in range(4):
        (qi, quote), (pi, para) = usable[2 * k * step + 3], usable[(2 * k + 1) * step + 3]
        answers.append((f"{NOVEL[k]} {quote} {NOVEL[k + 1]} {paraphrase(para)}", {qi, pi}))
    answers.append((" ".join(NOVEL), set()))
    return answers


def main(name: str = "clinical-notes") -> None:
    run_demo(load_datanet(name))


def run_demo(dn: Datanet, say: Any = print) -> dict[str, Any]:
    """run_demo runs the five steps on ``dn``; returns the receipt check and the attributions made."""
    if MODEL not in dn.config.payout.attribution_models:
        raise SystemExit(f"{dn.name}: add {MODEL} to payout.attribution_models to pay it by attribution")
    if not committed_runs(dn):
        ingest(dn)
    ensure_index(dn, say)
    rows = connect(dn).sql("select ledger_index, text from records order by ledger_index").fetchall()
    records = [(int(i), t) for i, t in rows if len(t.split()) >= 30]
    say(f"{MODEL}: five answers quoting and paraphrasing records of {dn.name}, plus novel text")
    fee = to_minor(FEE, "EUR")
    made = []
    for n, (answer, reused) in enumerate(toy_model(records), 1):
        result = record_attribution(dn, MODEL, answer, inference_id=f"demo-{n:04d}", fee_minor=fee, currency="EUR")
        named = {r["ledger_index"] for r in result["records"]}
        weights = ", ".join(f"entry {r['ledger_index']} {r['bp'] / 100:.1f} %" for r in result["records"]) or "none"
        led = result["ledger"]
        say(
            f"  answer {n}: {len(answer.split())} words -> {weights}; "
            f"unattributed {result['unattributed_bp'] / 100:.1f} % "
            f"(ledger entry {led['index']}{'' if led['appended'] else ', already there'})"
        )
        if named != reused:
            raise SystemExit(f"answer {n}: attributed {sorted(named)}, but it reused {sorted(reused)}")
        made.append(result)
    say("attribution named exactly the reused records of every answer")
    if find_payout(dn, MODEL, PERIOD) is None:
        say(run_payout(dn, MODEL, PERIOD, 5 * fee, "EUR")["summary"].rstrip("\n"))
    statement = load_statement(statement_dir(dn, MODEL, PERIOD))
    say(f"verify: statement {verify_statement(dn, statement)['statement_hash']} recomputes exactly")
    best = max((x for x in statement["lines"] if x["kind"] == "contributor"), key=lambda x: x["amount_minor"])
    who = own_id(dn, best["payee"]) or best["payee"]
    path = statement_dir(dn, MODEL, PERIOD) / f"receipt-{best['payee']}.json"
    path.write_text(json.dumps(make_receipt(dn, statement, who), indent=1, sort_keys=True) + "\n")
    out = verify_receipt(json.loads(path.read_text()), (dn.ledger_dir / "vkey").read_text().strip(), who)
    say(
        f"receipt {path}: {out['contributor']} (on the ledger as {out['pseudonym']}) owed {out['amount_minor']} "
        f"minor units ({out['currency']}), {out['entries_proven']} ledger entries proven offline"
    )
    say(
        f"check it yourself: datanet payout check-receipt {path} --vkey {Path(dn.ledger_dir) / 'vkey'} "
        f"--contributor {who}"
    )
    return {"receipt": out, "attributions": made, "statement": statement}


if __name__ == "__main__":
    main(*sys.argv[1:2])
