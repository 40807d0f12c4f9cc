"""The curator's side of contributor pseudonyms (``ledger.pseudonym``): ID -> pseudonym and back.

``pseudonym_and_opening`` needs the Datanet's contributor key; ``own_id``
reads the private ``contributors/`` map the split writers keep. Both are
for the curator: a contributor needs only their opening and
``ledger.pseudonym.proves``.
"""

from __future__ import annotations

from ledger.pseudonym import opening, pseudonym
from pipelines.core.config import Datanet
from pipelines.core.keys import contributor_key
from pipelines.core.registry import run_files


def pseudonym_and_opening(dn: Datanet, contributor_id: str) -> tuple[str, str]:
    """pseudonym_and_opening is what the curator hands a contributor: their pseudonym and its opening."""
    o = opening(contributor_key(dn), contributor_id)
    return pseudonym(contributor_id, o), o


def own_id(dn: Datanet, pseud: str) -> str | None:
    """own_id looks a pseudonym up in the committed runs' contributor maps; None if no run has it."""
    import pyarrow.parquet as pq

    for path in run_files(dn, "contributors"):
        table = pq.read_table(path, filters=[("pseudonym", "=", pseud)])
        if table.num_rows:
            return str(table.column("contributor_id")[0].as_py())
    return None
