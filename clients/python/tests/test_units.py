"""Unit tests without a server: messages, views and seq gaps, events, frames."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

from kupala_client import (
    Ack,
    BadRequest,
    Error,
    Forbidden,
    Outcome,
    Position,
    Progress,
    ProtocolError,
    ServerError,
    Snapshot,
    SyncState,
    Tick,
    Unavailable,
    events,
    parse_message,
    portfolios_frame,
    positions_frame,
    to_float,
)


def pos(account: str, instrument: str, qty: str, js: int, *, closed: bool = False, **over: object) -> dict:
    row = {
        "account": account,
        "instrument": instrument,
        "currency": "USD",
        "qty": qty,
        "avg_cost": "10",
        "mark": "10.5",
        "market_value": "0",
        "realized_pnl": "0",
        "unrealized_pnl": "0",
        "fees": "0",
        "net_pnl": "0",
        "day_pnl": "0",
        "market_value_base": "0",
        "realized_pnl_base": "0",
        "unrealized_pnl_base": "0",
        "fees_base": "0",
        "net_pnl_base": "0",
        "unpriced": False,
        "journal_seq": js,
    }
    if closed:
        row["closed"] = True
    row.update(over)
    return row


def snapshot(seq: int, rows: list, channel: str = "positions", id: object = 1):
    return parse_message({"type": "snapshot", "id": id, "channel": channel, "seq": seq, "data": rows})


def delta(seq: int, row: dict, channel: str = "positions", id: object = 1):
    return parse_message({"type": "delta", "id": id, "channel": channel, "seq": seq, "data": row})


# -- seq gaps: a fake message stream ------------------------------------------


def test_snapshot_then_deltas_in_order_are_applied():
    st = SyncState("positions")
    assert st.on_message(snapshot(10, [pos("A1", "X", "1", 9), pos("A1", "Y", "5", 10)])) is Outcome.SNAPSHOT
    assert st.seq == 10 and st.in_sync
    assert st.on_message(delta(11, pos("A1", "X", "2", 12))) is Outcome.APPLIED
    assert st.on_message(delta(12, pos("A2", "X", "3", 13))) is Outcome.APPLIED
    assert st.seq == 12
    assert [(p.account, p.instrument, p.qty) for p in st.view.rows()] == [
        ("A1", "X", Decimal("2")),
        ("A1", "Y", Decimal("5")),
        ("A2", "X", Decimal("3")),
    ]
    assert st.gaps == 0 and st.snapshots == 1


def test_a_gap_stops_the_view_until_a_fresh_snapshot():
    st = SyncState("positions")
    st.on_message(snapshot(10, [pos("A1", "X", "1", 10)]))
    st.on_message(delta(11, pos("A1", "X", "2", 11)))
    # seq 12 was lost
    assert st.on_message(delta(13, pos("A1", "X", "4", 14))) is Outcome.GAP
    assert not st.in_sync and st.seq is None and st.gaps == 1
    assert (st.last_gap.expected, st.last_gap.got) == (12, 13)
    # the view keeps the last good state; later deltas are ignored
    assert st.view[("A1", "X")].qty == Decimal("2")
    assert st.on_message(delta(14, pos("A1", "X", "5", 15))) is Outcome.IGNORED
    assert st.view[("A1", "X")].qty == Decimal("2")
    # the renewed subscription's snapshot replaces everything
    assert st.on_message(snapshot(40, [pos("A1", "X", "5", 15), pos("A1", "Z", "1", 16)])) is Outcome.SNAPSHOT
    assert st.in_sync and st.seq == 40 and st.snapshots == 2
    assert st.on_message(delta(41, pos("A1", "Z", "2", 17))) is Outcome.APPLIED
    assert {k: p.qty for k, p in st.view.as_dict().items()} == {
        ("A1", "X"): Decimal("5"),
        ("A1", "Z"): Decimal("2"),
    }


def test_a_repeated_or_backward_seq_is_a_gap_too():
    st = SyncState("portfolio")
    row = {
        "account": "A1",
        "base_currency": "USD",
        "unpriced": 0,
        "market_value": "1",
        "realized_pnl": "0",
        "unrealized_pnl": "0",
        "fees": "0",
        "net_pnl": "0",
        "day_pnl": "0",
        "journal_seq": 3,
    }
    st.on_message(snapshot(3, [row], "portfolio"))
    assert st.on_message(delta(4, row, "portfolio")) is Outcome.APPLIED
    assert st.on_message(delta(4, row, "portfolio")) is Outcome.GAP


def test_deltas_before_any_snapshot_are_ignored():
    st = SyncState("ticks")
    t = {"instrument": "X", "price": "1.5", "ts": "2026-11-30T14:30:00Z", "seq": 3}
    assert st.on_message(delta(3, t, "ticks")) is Outcome.IGNORED
    assert len(st.view) == 0
    st.on_message(snapshot(2, [], "ticks"))
    assert st.on_message(delta(3, t, "ticks")) is Outcome.APPLIED
    assert st.view.last == Tick(instrument="X", price=Decimal("1.5"), seq=3, ts="2026-11-30T14:30:00Z")


def test_a_closed_delta_removes_the_position():
    st = SyncState("positions")
    st.on_message(snapshot(1, [pos("A1", "X", "1", 1), pos("A1", "Y", "1", 1)]))
    st.on_message(delta(2, pos("A1", "X", "0", 2, closed=True)))
    assert st.view.keys() == [("A1", "Y")]


def test_desync_after_a_disconnect():
    st = SyncState("positions")
    st.on_message(snapshot(1, [pos("A1", "X", "1", 1)]))
    st.desync()
    assert st.on_message(delta(2, pos("A1", "X", "2", 2))) is Outcome.IGNORED
    assert st.view[("A1", "X")].qty == 1


# -- messages -------------------------------------------------------------------


def test_decimals_stay_exact_and_extra_fields_are_kept():
    msg = snapshot(5, [pos("A1", "X", "0.1", 5, net_pnl="-0.30000000000000004", future_field=7)])
    p = msg.data[0]
    assert isinstance(p, Position)
    assert p.qty == Decimal("0.1") and str(p.net_pnl) == "-0.30000000000000004"
    assert p.extra == {"future_field": 7}
    unpriced = parse_message(
        {
            "type": "delta",
            "id": "s",
            "channel": "positions",
            "seq": 6,
            "data": pos("A1", "X", "1", 6, unpriced=True, market_value_base=None, net_pnl_base=None),
        }
    ).data
    assert unpriced.unpriced and unpriced.market_value_base is None and unpriced.net_pnl_base is None


def test_income_and_the_fx_attribution_parse_and_default_for_older_servers():
    row = pos("U", "SAP", "10", 7, income="24", income_base="26.4", cost_base="1100", fx_pnl_base="100", total_pnl_base="220")
    p = snapshot(7, [row]).data[0]
    assert (p.income, p.cost_base, p.fx_pnl_base, p.total_pnl_base) == (
        Decimal("24"),
        Decimal("1100"),
        Decimal("100"),
        Decimal("220"),
    )
    assert p.extra == {}
    older = snapshot(8, [pos("U", "SAP", "10", 8)]).data[0]
    assert older.income == 0 and older.fx_pnl_base is None


def test_a_money_field_as_a_json_number_or_garbage_is_refused():
    with pytest.raises(ProtocolError):
        delta(1, pos("A1", "X", 1.5, 1))  # a JSON number, not a decimal string
    with pytest.raises(ProtocolError):
        snapshot(1, [pos("A1", "X", "abc", 1)])
    with pytest.raises(ProtocolError):
        parse_message("[1,2]")
    with pytest.raises(ProtocolError):
        parse_message('{"type":"nope"}')


def test_answers_parse():
    ack = parse_message('{"type":"ack","id":5,"seq":[814,815,null]}')
    assert ack == Ack(5, (814, 815, None)) and ack.last_seq == 815 and ack.duplicates == (2,)
    err = parse_message('{"type":"error","id":5,"code":"bad_request","message":"line 1: qty: must be > 0"}')
    assert isinstance(err, Error)
    exc = err.exception()
    assert isinstance(exc, BadRequest) and exc.code == "bad_request" and exc.request_id == 5
    assert exc.message == "line 1: qty: must be > 0"
    assert isinstance(ServerError.from_error("forbidden", "no"), Forbidden)
    assert type(ServerError.from_error("brand_new", "x")) is ServerError
    assert Unavailable("unavailable", "outcome unknown: x").outcome_unknown
    prog = parse_message('{"type":"progress","id":20,"job":7,"state":"running","progress":0.42,"stage":"s"}')
    assert prog == Progress(20, 7, "running", 0.42, "s") and not prog.finished
    snap = parse_message('{"type":"snapshot","id":1,"channel":"analysis","seq":0,"data":null}')
    assert snap == Snapshot(1, "analysis", 0, None)


# -- events ---------------------------------------------------------------------


def test_events_encode_decimals_as_strings_and_refuse_floats():
    from kupala_client.events import encode_events

    ts = dt.datetime(2026, 11, 30, 15, 30, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    [e] = encode_events(
        [events.trade("A1", "X", "buy", Decimal("1E+2"), Decimal("189.50"), ts, id="t1", fee=1)]
    )
    assert e == {
        "type": "trade",
        "id": "t1",
        "ts": "2026-11-30T14:30:00.25Z",
        "account": "A1",
        "instrument": "X",
        "side": "buy",
        "qty": "100",
        "price": "189.50",
        "fee": "1",
    }
    assert encode_events([events.eod(dt.date(2026, 11, 30))]) == [{"type": "eod", "date": "2026-11-30"}]
    assert encode_events([events.dividend("AAPL", Decimal("0.24"), "2026-11-30T00:00:00Z")]) == [
        {"type": "dividend", "ts": "2026-11-30T00:00:00Z", "instrument": "AAPL", "amount": "0.24"}
    ]
    with pytest.raises(TypeError, match="float"):
        encode_events([events.tick("X", 1.1, "2026-11-30T14:30:00Z")])
    with pytest.raises(ValueError, match="naive"):
        encode_events([events.tick("X", "1.1", dt.datetime(2026, 11, 30))])
    with pytest.raises(ValueError):
        encode_events([])
    with pytest.raises(ValueError):
        events.trade("A1", "X", "hold", 1, 1, "2026-11-30T14:30:00Z")
    [sell] = encode_events([events.trade("A1", "X", "sell", 5, 2, "2026-11-30T14:30:00Z", close_lots=("t2", "t1"))])
    assert sell["close_lots"] == ["t2", "t1"]
    with pytest.raises(TypeError, match="list of trade ids"):
        events.trade("A1", "X", "sell", 5, 2, "2026-11-30T14:30:00Z", close_lots="t2")


# -- frames ---------------------------------------------------------------------


def test_frames_hold_decimals_and_convert_to_float_only_on_request():
    rows = snapshot(
        1,
        [
            pos("A2", "X", "3", 1, net_pnl="0.2"),
            pos("A1", "X", "1", 1, net_pnl="0.1", unpriced=True, net_pnl_base=None, market_value_base=None),
        ],
    ).data
    df = positions_frame(rows)
    assert list(df["account"]) == ["A1", "A2"]  # sorted
    assert df["net_pnl"].dtype == object
    assert all(isinstance(v, Decimal) for v in df["net_pnl"])
    assert df["net_pnl"].sum() == Decimal("0.3")  # exact, unlike 0.1 + 0.2 in floats
    assert df["net_pnl_base"].iloc[0] is None
    assert df["unpriced"].dtype == bool and df["journal_seq"].dtype == "int64"
    f = to_float(df)
    assert f["net_pnl"].dtype == "float64" and f["qty"].tolist() == [1.0, 3.0]
    assert pd.isna(f["net_pnl_base"].iloc[0])
    assert df["net_pnl"].dtype == object  # the original is untouched
    empty = portfolios_frame([])
    assert list(empty.columns)[:3] == ["account", "base_currency", "unpriced"] and len(empty) == 0


def test_subscribe_requests_carry_the_target_and_options():
    from kupala_client import Subscription

    sub = Subscription(None, "portfolio", "*", {"min_interval_ms": 250, "min_change": "0.5"})
    assert sub.subscribe_request() == {
        "op": "subscribe",
        "channel": "portfolio",
        "account": "*",
        "min_interval_ms": 250,
        "min_change": "0.5",
    }
    assert Subscription(None, "ticks", "AAPL", {}).subscribe_request() == {
        "op": "subscribe",
        "channel": "ticks",
        "instrument": "AAPL",
    }
    assert Subscription(None, "analysis", None, {}).subscribe_request() == {
        "op": "subscribe",
        "channel": "analysis",
    }


def test_books_and_the_firm_parse_into_their_rows_and_keys():
    from kupala_client import Book, Firm, parse_message

    book = {
        "account": "A1", "base_currency": "USD", "unpriced": 0, "market_value": "10",
        "realized_pnl": "1", "unrealized_pnl": "2", "fees": "0", "income": "0",
        "net_pnl": "3", "day_pnl": "3", "fx_pnl": "0", "total_pnl": "3", "journal_seq": 4,
    }
    snap = parse_message(
        {"type": "snapshot", "id": 1, "channel": "books", "seq": 4,
         "data": [dict(book, strategy=None), dict(book, strategy="carry")]}
    )
    assert [b.key for b in snap.data] == [("A1",), ("A1", "carry")]
    assert isinstance(snap.data[1], Book) and snap.data[1].net_pnl == Decimal("3")
    empty = parse_message({"type": "snapshot", "id": 2, "channel": "firm", "seq": 0, "data": None})
    assert empty.data == ()
    firm = dict(book, reporting_currency="EUR")
    del firm["account"], firm["base_currency"]
    delta = parse_message({"type": "delta", "id": 2, "channel": "firm", "seq": 1, "data": firm})
    assert isinstance(delta.data, Firm) and delta.data.reporting_currency == "EUR"


def test_history_messages_parse_into_points_kept_in_time_order():
    from kupala_client import HistoryPoint, HistorySubscription
    from kupala_client.messages import ts_key

    def point(ts: str, net: str) -> dict:
        return {"ts": ts, "seq": 1, "net_pnl": net, "day_pnl": "0"}

    series = {"series": "account", "account": "A1", "strategy": None}
    snap = parse_message(
        {
            "type": "snapshot",
            "id": 4,
            "channel": "history",
            "seq": 7,
            "data": {
                **series,
                "points": [point("2026-11-30T14:30:01Z", "1"), point("2026-11-30T14:30:01.5Z", "2")],
            },
        }
    )
    assert isinstance(snap, Snapshot) and all(isinstance(p, HistoryPoint) for p in snap.data)
    delta = parse_message(
        {
            "type": "delta",
            "id": 4,
            "channel": "history",
            "seq": 8,
            "data": {**series, **point("2026-11-30T14:30:02Z", "3")},
        }
    )
    assert delta.data.net_pnl == Decimal("3") and delta.data.extra["account"] == "A1"
    with pytest.raises(ProtocolError):
        parse_message({"type": "snapshot", "id": 4, "channel": "history", "seq": 7, "data": {**series}})
    # 01.5Z is after 01Z, though it sorts before it as text.
    assert ts_key("2026-11-30T14:30:01.5Z") > ts_key("2026-11-30T14:30:01Z")
    state = SyncState("history")
    assert state.on_message(snap) is Outcome.SNAPSHOT
    assert state.on_message(delta) is Outcome.APPLIED
    assert [p.net_pnl for p in state.view.rows()] == [Decimal(n) for n in ("1", "2", "3")]
    # A renewal's snapshot adds to the points held (from the last one on).
    again = parse_message(
        {
            "type": "snapshot",
            "id": 5,
            "channel": "history",
            "seq": 20,
            "data": {
                **series,
                "points": [point("2026-11-30T14:30:02Z", "3"), point("2026-11-30T14:30:03Z", "4")],
            },
        }
    )
    assert state.on_message(again) is Outcome.SNAPSHOT
    assert [p.net_pnl for p in state.view.rows()] == [Decimal(n) for n in ("1", "2", "3", "4")]
    assert state.view.last.ts == "2026-11-30T14:30:03Z"
    # The subscribe request asks from the newest point held, else the start.
    sub = HistorySubscription(
        None, ("A1", None), {"account": "A1", "strategy": None}, "2026-11-30T00:00:00Z", {}
    )
    assert sub.subscribe_request() == {
        "op": "subscribe",
        "channel": "history",
        "account": "A1",
        "strategy": None,
        "from": "2026-11-30T00:00:00Z",
    }
    sub.state.on_message(again)
    assert sub.subscribe_request()["from"] == "2026-11-30T14:30:03Z"
    assert sub.target_fields() == {"account": "A1", "strategy": None}
