"""pandas DataFrames of positions, portfolios, books, the firm, ticks and
P&L history series.

Decimal columns hold :class:`decimal.Decimal` objects (``object`` dtype),
exactly what the server sent: sums and comparisons stay exact
(``df["net_pnl"].sum()`` is a ``Decimal``). Floats only on request, with
:func:`to_float`, for plotting or statistics.
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import Any, Iterable, Sequence

import pandas as pd

from .messages import Book, Firm, HistoryPoint, Portfolio, Position, Row, Tick


def _columns(row_type: type[Row], leave_out: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A row type's protocol fields in declaration order (``extra`` and
    ``leave_out`` aside): the DataFrame columns follow the messages."""
    return tuple(f.name for f in fields(row_type) if f.name != "extra" and f.name not in leave_out)


#: A delta's ``closed`` flag removes the row from the view; it is no column.
POSITION_COLUMNS: tuple[str, ...] = _columns(Position, ("closed",))
PORTFOLIO_COLUMNS: tuple[str, ...] = _columns(Portfolio)
TICK_COLUMNS: tuple[str, ...] = _columns(Tick)
BOOK_COLUMNS: tuple[str, ...] = _columns(Book)
FIRM_COLUMNS: tuple[str, ...] = _columns(Firm)
HISTORY_COLUMNS: tuple[str, ...] = _columns(HistoryPoint)


def _sortable(value: Any) -> tuple[bool, Any]:
    """A sort key that puts ``None`` (a default book's strategy) first."""
    return (value is not None, value if value is not None else "")


def _frame(
    rows: Iterable[Row], row_type: type[Row], columns: Sequence[str], sort: Sequence[str]
) -> pd.DataFrame:
    records = []
    for r in rows:
        if not isinstance(r, row_type):
            raise TypeError(f"expected {row_type.__name__} rows, got {type(r).__name__}")
        records.append([getattr(r, c) for c in columns])
    records.sort(key=lambda rec: tuple(_sortable(rec[columns.index(c)]) for c in sort))
    data: dict[str, Any] = {}
    for i, c in enumerate(columns):
        values = [rec[i] for rec in records]
        if c in row_type.DECIMALS:
            # object dtype: Decimal (or None) exactly as received
            data[c] = pd.Series(values, dtype=object)
        elif c in ("journal_seq", "seq") or (c == "unpriced" and row_type in (Portfolio, Book, Firm)):
            data[c] = pd.Series(values, dtype="int64")
        elif c == "unpriced":
            data[c] = pd.Series(values, dtype="bool")
        else:
            data[c] = pd.Series(values, dtype=object)
    return pd.DataFrame(data, columns=list(columns))


def positions_frame(rows: Iterable[Position]) -> pd.DataFrame:
    """Positions as a DataFrame, one row per (account, strategy,
    instrument), sorted (each account's default book first)."""
    return _frame(rows, Position, POSITION_COLUMNS, ("account", "strategy", "instrument"))


def portfolios_frame(rows: Iterable[Portfolio]) -> pd.DataFrame:
    """Portfolios as a DataFrame, one row per account, sorted."""
    return _frame(rows, Portfolio, PORTFOLIO_COLUMNS, ("account",))


def books_frame(rows: Iterable[Book]) -> pd.DataFrame:
    """Books as a DataFrame, one row per (account, strategy), sorted (each
    account's default book first)."""
    return _frame(rows, Book, BOOK_COLUMNS, ("account", "strategy"))


def firm_frame(rows: Iterable[Firm]) -> pd.DataFrame:
    """The firm's totals as a one-row DataFrame (empty before the first)."""
    return _frame(rows, Firm, FIRM_COLUMNS, ())


def ticks_frame(rows: Iterable[Tick]) -> pd.DataFrame:
    """Last ticks as a DataFrame, one row per instrument (``ts`` stays the
    server's RFC 3339 text; ``pd.to_datetime(df["ts"])`` parses it)."""
    return _frame(rows, Tick, TICK_COLUMNS, ("instrument",))


def history_frame(rows: Iterable[HistoryPoint]) -> pd.DataFrame:
    """A P&L history series as a DataFrame, one row per point, in the
    order given (a view's: oldest first). ``ts`` stays the server's RFC
    3339 text (``pd.to_datetime(df["ts"])`` parses it)."""
    return _frame(rows, HistoryPoint, HISTORY_COLUMNS, ())


_KNOWN_DECIMALS = frozenset(Position.DECIMALS + Portfolio.DECIMALS + Firm.DECIMALS + Tick.DECIMALS)


def decimal_columns(df: pd.DataFrame) -> list[str]:
    """The columns holding ``Decimal`` values: the protocol's decimal fields
    present in ``df`` (also when all ``None``), and any other ``object``
    column holding a ``Decimal``."""
    out = []
    for c in df.columns:
        s = df[c]
        if s.dtype != object:
            continue
        if c in _KNOWN_DECIMALS or any(isinstance(v, Decimal) for v in s):
            out.append(c)
    return out


def to_float(df: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with Decimal columns (or ``columns``) as ``float64``
    (``None`` becomes NaN). Lossy: for charts and statistics only, never to
    compute money."""
    out = df.copy()
    cols = list(columns) if columns is not None else decimal_columns(df)
    for c in cols:
        out[c] = pd.Series(
            [float("nan") if v is None else float(v) for v in df[c]], index=df.index, dtype="float64"
        )
    return out
