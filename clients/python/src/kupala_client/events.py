"""Events to submit, and their encoding.

The builders (:func:`instrument`, :func:`trade`, :func:`tick`, :func:`fx`,
:func:`eod`, :func:`split`, :func:`dividend`) return plain dicts in the server's JSON Lines
event shape. :meth:`Client.submit` also takes such dicts written by hand.

Numbers are sent as decimal strings. ``Decimal``, ``int`` and ``str`` are
accepted; ``float`` is refused (``TypeError``): a binary float is not the
decimal it looks like, and this client never turns money into one
silently. ``datetime`` values (timezone-aware) become RFC 3339 UTC
timestamps, ``date`` values ``YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Any, Iterable, Mapping


def encode_value(name: str, value: Any) -> Any:
    """One event field as the server reads it."""
    if isinstance(value, bool):
        raise TypeError(f"{name}: a bool is not a valid event value")
    if isinstance(value, float):
        raise TypeError(
            f"{name}: float {value!r} refused: pass a decimal.Decimal or a string "
            "(money is never sent as a binary float)"
        )
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{name}: {value} is not a finite decimal")
        return format(value, "f")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name}: naive datetime {value!r}: give it a timezone")
        utc = value.astimezone(_dt.timezone.utc)
        text = utc.strftime("%Y-%m-%dT%H:%M:%S")
        if utc.microsecond:
            text += f".{utc.microsecond:06d}".rstrip("0")
        return text + "Z"
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def encode_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event dict with its values encoded (``None`` values dropped)."""
    if not isinstance(event, Mapping):
        raise TypeError(f"an event is a mapping, got {type(event).__name__}")
    return {k: encode_value(k, v) for k, v in event.items() if v is not None}


def encode_events(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(events, Mapping):
        raise TypeError("submit takes a list of events (wrap a single event in a list)")
    out = [encode_event(e) for e in events]
    if not out:
        raise ValueError("submit needs at least one event")
    return out


def instrument(id: str, currency: str, multiplier: Decimal | int | str = 1) -> dict[str, Any]:
    """An instrument definition."""
    return {"type": "instrument", "id": id, "currency": currency, "multiplier": multiplier}


def trade(
    account: str,
    instrument: str,
    side: str,
    qty: Decimal | int | str,
    price: Decimal | int | str,
    ts: _dt.datetime | str,
    *,
    id: str | None = None,
    fee: Decimal | int | str | None = None,
    strategy: str | None = None,
    close_lots: Iterable[str] | None = None,
) -> dict[str, Any]:
    """A trade (``side`` is ``"buy"`` or ``"sell"``). Give it an ``id``: a
    resubmission with the same id is ignored, which makes retries safe.
    ``close_lots`` names the opening trades (by id) whose lots it closes
    first, in order, for an account on a lot method."""
    if side not in ("buy", "sell"):
        raise ValueError(f'side must be "buy" or "sell", not {side!r}')
    lots = None
    if close_lots is not None:
        if isinstance(close_lots, str):
            raise TypeError("close_lots is a list of trade ids, not one string")
        lots = list(close_lots)
    return {
        "type": "trade",
        "id": id,
        "ts": ts,
        "account": account,
        "instrument": instrument,
        "side": side,
        "qty": qty,
        "price": price,
        "fee": fee,
        "strategy": strategy,
        "close_lots": lots,
    }


def tick(instrument: str, price: Decimal | int | str, ts: _dt.datetime | str) -> dict[str, Any]:
    """A market price."""
    return {"type": "tick", "ts": ts, "instrument": instrument, "price": price}


def fx(pair: str, rate: Decimal | int | str, ts: _dt.datetime | str) -> dict[str, Any]:
    """An FX rate, ``pair`` like ``"EUR/USD"``."""
    return {"type": "fx", "ts": ts, "pair": pair, "rate": rate}


def eod(date: _dt.date | str) -> dict[str, Any]:
    """An end of day."""
    return {"type": "eod", "date": date}


def split(instrument: str, ratio: Decimal | int | str, ts: _dt.datetime | str) -> dict[str, Any]:
    """A split of ``instrument`` by ``ratio`` (see the event schema)."""
    return {"type": "split", "ts": ts, "instrument": instrument, "ratio": ratio}


def dividend(instrument: str, amount: Decimal | int | str, ts: _dt.datetime | str) -> dict[str, Any]:
    """A cash dividend of ``amount`` per unit held of ``instrument``."""
    return {"type": "dividend", "ts": ts, "instrument": instrument, "amount": amount}
