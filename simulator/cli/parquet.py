"""Parquet fault logs (`--fault-log x.parquet`, `abftsim export --faults x.parquet`): the CSV's columns, typed.

Needs the optional `pyarrow` package (`pip install abftsim[parquet]`), imported only when a path ends in
`.parquet`; without it the command stops before computing with an error that names the extra.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from simulator.errors import ConfigError

PARQUET_SUFFIX = ".parquet"
EXTRA = "abftsim[parquet]"


def is_parquet(target: str | os.PathLike | None) -> bool:
    return target is not None and str(target).lower().endswith(PARQUET_SUFFIX)


def require_pyarrow(flag: str, target: str | os.PathLike | None) -> None:
    """ConfigError naming `flag` and the extra when `target` is a Parquet path and pyarrow is missing."""
    if not is_parquet(target):
        return
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"{flag} {target}: writing Parquet needs pyarrow: pip install '{EXTRA}' (or write a .csv path)"
        ) from None


def parquet_bytes(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], types: Mapping[str, str]) -> bytes:
    """A Parquet file of `rows` with `columns` in this order (a missing value is null). `types` gives a column's
    Arrow type by name (int64, float64, bool, string); other columns take the type Arrow infers from their
    values, or string when the values mix types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays, fields = [], []
    for name in columns:
        values = [row.get(name) for row in rows]
        if name in types:
            array = pa.array(values, type=pa.type_for_alias(types[name]))
        else:
            try:
                array = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                array = pa.array([None if v is None else str(v) for v in values], type=pa.string())
        arrays.append(array)
        fields.append(pa.field(name, array.type))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())
