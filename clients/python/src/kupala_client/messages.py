"""Typed server messages and data rows.

Every JSON message the server sends becomes one of the dataclasses below
(:func:`parse_message`). Money, prices, quantities and rates arrive as
decimal strings and become :class:`decimal.Decimal`, never ``float``.
Fields this version does not know are kept in ``extra`` (rows) so a newer
server does not break an older client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Mapping, Union

from .errors import ProtocolError, ServerError

# ----------------------------------------------------------------------------
# Rows


def _dec(value: Any, name: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ProtocolError(f"{name}: expected a decimal string, got {value!r}")
    if isinstance(value, (str, int)):
        try:
            d = Decimal(value)
        except InvalidOperation:
            raise ProtocolError(f"{name}: not a decimal: {value!r}") from None
        if not d.is_finite():
            raise ProtocolError(f"{name}: not a finite decimal: {value!r}")
        return d
    raise ProtocolError(f"{name}: expected a decimal string, got {value!r}")


def _req(obj: Mapping[str, Any], name: str, what: str) -> Any:
    try:
        return obj[name]
    except KeyError:
        raise ProtocolError(f"{what}: missing field {name!r}") from None


@dataclass(frozen=True)
class Row:
    """Base of the data rows: parsing from JSON, keys, plain dicts."""

    #: Fields holding decimals (parsed to ``Decimal``; ``None`` allowed).
    DECIMALS: ClassVar[tuple[str, ...]] = ()
    #: Decimal fields that may be ``null``.
    NULLABLE: ClassVar[tuple[str, ...]] = ()
    #: Fields that may be absent (they default to ``None`` / ``False``).
    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Any:
        if not isinstance(obj, Mapping):
            raise ProtocolError(f"{cls.__name__}: expected an object, got {obj!r}")
        names = [f.name for f in fields(cls) if f.name != "extra"]
        kwargs: dict[str, Any] = {}
        for name in names:
            if name not in obj:
                if name in cls.OPTIONAL or name in cls.NULLABLE:
                    continue
                raise ProtocolError(f"{cls.__name__}: missing field {name!r}")
            value = obj[name]
            if name in cls.DECIMALS:
                value = _dec(value, name)
                if value is None and name not in cls.NULLABLE:
                    raise ProtocolError(f"{cls.__name__}: {name} is null")
            kwargs[name] = value
        extra = {k: v for k, v in obj.items() if k not in names}
        make: Any = cls  # a subclass: its fields are the names above
        return make(**kwargs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """The row's protocol fields as a dict (decimals stay ``Decimal``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}


@dataclass(frozen=True)
class Position(Row):
    """One position (channel ``positions``, ``query("positions")``, EOD)."""

    DECIMALS: ClassVar[tuple[str, ...]] = (
        "qty",
        "avg_cost",
        "mark",
        "market_value",
        "realized_pnl",
        "unrealized_pnl",
        "fees",
        "net_pnl",
        "day_pnl",
        "market_value_base",
        "realized_pnl_base",
        "unrealized_pnl_base",
        "fees_base",
        "net_pnl_base",
        "income",
        "income_base",
        "cost_base",
        "fx_pnl_base",
        "total_pnl_base",
    )
    NULLABLE: ClassVar[tuple[str, ...]] = (
        "mark",
        "market_value_base",
        "realized_pnl_base",
        "unrealized_pnl_base",
        "fees_base",
        "net_pnl_base",
        "income_base",
        "cost_base",
        "fx_pnl_base",
        "total_pnl_base",
    )
    #: ``closed`` appears in deltas only; the others are absent from a
    #: server older than dividends, the FX attribution and books.
    OPTIONAL: ClassVar[tuple[str, ...]] = ("closed", "income", "strategy")

    account: str
    instrument: str
    currency: str
    qty: Decimal
    avg_cost: Decimal
    mark: Decimal | None
    market_value: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    net_pnl: Decimal
    day_pnl: Decimal
    market_value_base: Decimal | None
    realized_pnl_base: Decimal | None
    unrealized_pnl_base: Decimal | None
    fees_base: Decimal | None
    net_pnl_base: Decimal | None
    unpriced: bool
    journal_seq: int
    #: True in a delta when an EOD moved the flat position to the closed
    #: history: the view removes it.
    closed: bool = False
    #: Dividends received (paid, when short), in the instrument's currency.
    income: Decimal = Decimal(0)
    income_base: Decimal | None = None
    #: The open cost in base at the rates its lots were opened at.
    cost_base: Decimal | None = None
    #: The currency effect on the capital invested (docs/pnl.md).
    fx_pnl_base: Decimal | None = None
    #: ``net_pnl_base + fx_pnl_base``.
    total_pnl_base: Decimal | None = None
    #: The strategy of its book; ``None`` for the account's default book.
    strategy: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, ...]:
        """``(account, instrument)`` in the account's default book,
        ``(account, instrument, strategy)`` in a strategy's: the default
        book's key is the one it always had, and sorts first."""
        if self.strategy is None:
            return (self.account, self.instrument)
        return (self.account, self.instrument, self.strategy)


@dataclass(frozen=True)
class Portfolio(Row):
    """One account's totals in its base currency (channel ``portfolio``)."""

    DECIMALS: ClassVar[tuple[str, ...]] = (
        "market_value",
        "realized_pnl",
        "unrealized_pnl",
        "fees",
        "net_pnl",
        "day_pnl",
        "income",
        "fx_pnl",
        "total_pnl",
    )
    #: Absent from a server older than dividends and the FX attribution.
    OPTIONAL: ClassVar[tuple[str, ...]] = ("income", "fx_pnl", "total_pnl")

    account: str
    base_currency: str
    #: How many of the account's positions have no usable FX rate.
    unpriced: int
    market_value: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    net_pnl: Decimal
    day_pnl: Decimal
    journal_seq: int
    #: Cumulative dividend income.
    income: Decimal = Decimal(0)
    #: The currency effect on the capital invested in other currencies.
    fx_pnl: Decimal = Decimal(0)
    #: ``net_pnl + fx_pnl``.
    total_pnl: Decimal = Decimal(0)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return self.account


@dataclass(frozen=True)
class Book(Portfolio):
    """One book's totals (channel ``books``): the portfolio fields of the
    positions of one (account, strategy); an account's books add up to its
    portfolio."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("income", "fx_pnl", "total_pnl", "strategy")

    #: The strategy; ``None`` for the account's default book.
    strategy: str | None = None

    @property
    def key(self) -> tuple[str, ...]:  # type: ignore[override]
        """``(account,)`` for the default book, ``(account, strategy)``
        otherwise (so the default book sorts first)."""
        return (self.account,) if self.strategy is None else (self.account, self.strategy)


def ts_key(ts: str) -> tuple[str, int]:
    """A sort key of the server's RFC 3339 UTC times (``...:01Z``,
    ``...:01.5Z``): the seconds, then the nanoseconds. Plain string order
    puts ``01.5Z`` before ``01Z``."""
    head, dot, frac = ts.rstrip("Z").partition(".")
    ns = int((frac + "000000000")[:9]) if dot and frac.isdigit() else 0
    return (head, ns)


@dataclass(frozen=True)
class HistoryPoint(Row):
    """One point of a P&L history series (``query`` ``history``, the
    ``history`` channel): the series' value from the end of the bucket
    ``ts`` (RFC 3339, event time) until the next point, after the events
    up to journal ``seq``. A channel delta's series fields (``series``,
    ``account``, ``strategy``) are in ``extra``."""

    DECIMALS: ClassVar[tuple[str, ...]] = ("net_pnl", "day_pnl")

    ts: str
    seq: int
    net_pnl: Decimal
    day_pnl: Decimal
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, int]:
        """Its time, as a sort key (a series has one point per time)."""
        return ts_key(self.ts)


@dataclass(frozen=True)
class Firm(Row):
    """The firm's totals in the reporting currency (channel ``firm``)."""

    DECIMALS: ClassVar[tuple[str, ...]] = (
        "market_value",
        "realized_pnl",
        "unrealized_pnl",
        "fees",
        "income",
        "net_pnl",
        "day_pnl",
        "fx_pnl",
        "total_pnl",
    )

    reporting_currency: str
    #: Positions left out (no rate to their base, or their base none to the
    #: reporting currency).
    unpriced: int
    market_value: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    income: Decimal
    net_pnl: Decimal
    day_pnl: Decimal
    fx_pnl: Decimal
    total_pnl: Decimal
    journal_seq: int
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return "firm"


@dataclass(frozen=True)
class Tick(Row):
    """The last price of an instrument (channel ``ticks``)."""

    DECIMALS: ClassVar[tuple[str, ...]] = ("price",)
    OPTIONAL: ClassVar[tuple[str, ...]] = ("ts",)

    instrument: str
    price: Decimal
    #: The tick's journal seq.
    seq: int
    #: RFC 3339 timestamp as the server wrote it; ``None`` for a snapshot
    #: built from a recovered mark.
    ts: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return self.instrument


@dataclass(frozen=True)
class PositionsReport:
    """The answer to ``query("eod")`` / ``query("closed")``: a date (``None``
    for closed positions of every date) and positions."""

    date: str | None
    positions: tuple[Position, ...]

    @classmethod
    def from_json(cls, obj: Any) -> PositionsReport:
        if not isinstance(obj, Mapping):
            raise ProtocolError(f"expected an object, got {obj!r}")
        rows = _req(obj, "positions", "report")
        return cls(date=obj.get("date"), positions=tuple(Position.from_json(r) for r in rows))


# ----------------------------------------------------------------------------
# Messages


@dataclass(frozen=True)
class Snapshot:
    """``snapshot``: the answer to a ``subscribe``; ``seq`` starts the
    subscription's sequence. ``data`` holds rows for row channels, the raw
    value for ``analysis``."""

    id: Any
    channel: str
    seq: int
    data: Any


@dataclass(frozen=True)
class Delta:
    """``delta``: one change of a subscription; ``seq`` is exactly one more
    than the subscription's previous message."""

    id: Any
    channel: str
    seq: int
    data: Any


@dataclass(frozen=True)
class Deltas:
    """``deltas``: the changes of a ``batch`` subscription sent together,
    in order; ``seq`` is exactly one more than the subscription's previous
    message (one per message, however many rows ``data`` holds)."""

    id: Any
    channel: str
    seq: int
    data: tuple[Any, ...]


@dataclass(frozen=True)
class Ack:
    """``ack``: the submit is durable. ``seq`` lists each event's journal
    seq, ``None`` for a trade id seen before (ignored)."""

    id: Any
    seq: tuple[int | None, ...]

    @property
    def last_seq(self) -> int | None:
        """The highest journal seq of the batch (``None`` if all repeated)."""
        seqs = [s for s in self.seq if s is not None]
        return max(seqs) if seqs else None

    @property
    def duplicates(self) -> tuple[int, ...]:
        """Indexes (0-based) of the events ignored as repeated trade ids."""
        return tuple(i for i, s in enumerate(self.seq) if s is None)


@dataclass(frozen=True)
class Queued:
    """The answer to a ``feed``-role submit: queued, **not yet durable**."""

    id: Any
    queued: int
    conflated: int


@dataclass(frozen=True)
class Result:
    """``result``: the answer to ``auth``, ``unsubscribe``, ``query``,
    ``analyze``, ``cancel``."""

    id: Any
    data: Any


@dataclass(frozen=True)
class Error:
    """``error``: a refused request (the connection stays open)."""

    id: Any
    code: str
    message: str

    def exception(self) -> ServerError:
        """The exception for this error (its code's subclass)."""
        return ServerError.from_error(self.code, self.message, self.id)


@dataclass(frozen=True)
class Progress:
    """``progress``: an analysis job's status, sent to the connection that
    asked for it (``id`` = the ``analyze`` request's)."""

    id: Any
    job: int
    state: str
    progress: float | None = None
    stage: str | None = None
    result: Any = None
    reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Closed:
    """The server closed the connection (a WebSocket close frame, not a JSON
    message): ``code`` and ``reason`` as in docs/protocol.md, "Close
    reasons"; ``None`` when the connection dropped without one."""

    code: int | None
    reason: str | None

    @property
    def shutdown(self) -> bool:
        return self.code == 1001 and self.reason == "server shutting down"


ServerMessage = Union[Snapshot, Delta, Deltas, Ack, Result, Error, Progress]

# Close reasons the server sends (docs/protocol.md, "Close reasons").
CLOSE_SHUTDOWN = "server shutting down"
CLOSE_AUTH_FAILED = "authentication failed"
CLOSE_AUTH_TIMEOUT = "authentication timeout"


def _rows(channel: str, data: Any, many: bool) -> Any:
    from .channels import CHANNELS  # the table imports this module

    spec = CHANNELS.get(channel)
    row_type = spec.row_type if spec is not None else None
    if row_type is None:
        return data
    if channel == "history" and many and isinstance(data, Mapping):
        # A snapshot: the series and its stored points.
        points = data.get("points")
        if not isinstance(points, list):
            raise ProtocolError("history: the snapshot has no list of points")
        return tuple(row_type.from_json(r) for r in points)
    if channel == "firm":
        # One object (a snapshot's may be null), not a list of rows.
        if data is None:
            return () if many else None
        return (row_type.from_json(data),) if many else row_type.from_json(data)
    if many:
        if not isinstance(data, list):
            raise ProtocolError(f"{channel}: data is not a list")
        return tuple(row_type.from_json(r) for r in data)
    return row_type.from_json(data)


def parse_message(raw: str | bytes | Mapping[str, Any]) -> ServerMessage:
    """One server message (JSON text or an already decoded object) as its
    dataclass. Raises :class:`ProtocolError` for anything unreadable."""
    if isinstance(raw, (str, bytes, bytearray)):
        try:
            obj = json.loads(raw)
        except ValueError as e:
            raise ProtocolError(f"not JSON: {e}") from None
    else:
        obj = raw
    if not isinstance(obj, Mapping):
        raise ProtocolError(f"not a JSON object: {obj!r}")
    kind = obj.get("type")
    rid = obj.get("id")
    if kind == "snapshot":
        channel = _req(obj, "channel", kind)
        return Snapshot(
            rid, channel, int(_req(obj, "seq", kind)), _rows(channel, _req(obj, "data", kind), True)
        )
    if kind == "delta":
        channel = _req(obj, "channel", kind)
        return Delta(
            rid, channel, int(_req(obj, "seq", kind)), _rows(channel, _req(obj, "data", kind), False)
        )
    if kind == "deltas":
        channel = _req(obj, "channel", kind)
        return Deltas(
            rid, channel, int(_req(obj, "seq", kind)), _rows(channel, _req(obj, "data", kind), True)
        )
    if kind == "ack":
        seq = _req(obj, "seq", kind)
        if not isinstance(seq, list):
            raise ProtocolError("ack: seq is not a list")
        return Ack(rid, tuple(seq))
    if kind == "result":
        return Result(rid, obj.get("data"))
    if kind == "error":
        return Error(rid, str(_req(obj, "code", kind)), str(obj.get("message", "")))
    if kind == "progress":
        return Progress(
            rid,
            int(_req(obj, "job", kind)),
            str(_req(obj, "state", kind)),
            obj.get("progress"),
            obj.get("stage"),
            obj.get("result"),
            obj.get("reason"),
        )
    raise ProtocolError(f"unknown message type {kind!r}")
