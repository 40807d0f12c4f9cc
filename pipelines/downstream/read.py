"""Reading a Datanet: committed shards as Arrow or DuckDB, and its ledger entries as a table.

Python entry points for training code::

    from pipelines.downstream.read import open_dataset, connect
    ds = open_dataset("clinical-notes")          # pyarrow.dataset.Dataset of committed shards
    con = connect("clinical-notes")              # DuckDB with views `records` and `ledger`
    con.sql("select specialty, count(*) from records group by 1").show()

Only shards of committed runs are read (``runs/<run>/COMMITTED.json``), and
only committed ledger entries (up to STATE's size), so a reader never sees
half a run. ``ledger`` has one row per entry with its ``ledger_index``.
"""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.json as pajson

from ledger.entries import TABLE_COLUMNS
from ledger.log import Ledger
from pipelines.core.config import Datanet, load_datanet
from pipelines.core.errors import BadInput
from pipelines.core.layouts import shard_schema
from pipelines.core.registry import shard_paths

ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "pairs": pa.list_(pa.list_(pa.int64()))}
LEDGER_COLUMNS = pa.schema([(name, ARROW_TYPES[kind]) for name, kind in TABLE_COLUMNS])


def _datanet(dn: Datanet | str) -> Datanet:
    return load_datanet(dn) if isinstance(dn, str) else dn


def open_dataset(dn: Datanet | str, run: str | None = None) -> pads.Dataset:
    """open_dataset returns the committed shards (of one run, if given) as a pyarrow dataset."""
    d = _datanet(dn)
    paths = [p for p in shard_paths(d) if run is None or p.parent.name == run]
    return pads.dataset([str(p) for p in paths], schema=shard_schema(d.schema), format="parquet")


def ledger_table(dn: Datanet | str, upto: int | None = None) -> pa.Table:
    """ledger_table parses the first ``upto`` committed entries (default all) into a table.

    Columns: ``ledger_index`` then every entry field of every kind (null where
    a kind does not have it).
    """
    d = _datanet(dn)
    with Ledger(d.ledger_dir) as led:
        n = led.size if upto is None else min(upto, led.size)
        data = b"".join(e + b"\n" for e in led.entries(0, n))
    if not data:
        table = LEDGER_COLUMNS.empty_table()
    else:
        opts = pajson.ParseOptions(explicit_schema=LEDGER_COLUMNS, unexpected_field_behavior="ignore")
        table = pajson.read_json(
            io.BytesIO(data), parse_options=opts, read_options=pajson.ReadOptions(block_size=1 << 24)
        )
    return table.add_column(0, "ledger_index", pa.array(range(table.num_rows), pa.int64()))


View = duckdb.DuckDBPyConnection  # what ``connect`` returns: one loaded view of shards and ledger


def connect(dn: Datanet | str, upto: int | None = None) -> View:
    """connect opens an in-memory DuckDB with views ``records`` (shards) and ``ledger`` (entries).

    It reads every shard and parses the ledger's first ``upto`` entries once;
    a job that asks several questions (a payout) opens it once and passes it on.
    """
    d = _datanet(dn)
    con = duckdb.connect()
    records = open_dataset(d).to_table()
    ledger = ledger_table(d, upto)
    con.register("records", records)
    con.register("ledger", ledger)
    return con


class QueryError(BadInput):
    """A query (``datanet sql``, ``usage record --where``) that DuckDB refused; the message lists the columns."""


def query_error(con: View, exc: Exception) -> QueryError:
    """query_error turns a DuckDB error into one line naming the problem and the columns a query can use."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    views = []
    for view in ("records", "ledger"):
        cols = [r[0] for r in con.execute(f"select column_name from (describe {view})").fetchall()]
        views.append(f"{view}({', '.join(cols)})")
    return QueryError(f"SQL: {first}; columns: {'; '.join(views)}")


def out_path(dn: Datanet, *parts: str) -> Path:
    """out_path is a path under the Datanet's output folder."""
    return dn.out_dir.joinpath(*parts)
