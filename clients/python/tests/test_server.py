"""The client against a real `kupala serve` started by the test.

Every figure below is computed by hand from the events submitted (average
cost; the mark is the last tick, or the last trade price until a tick;
money in base currency at the latest EUR/USD rate).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from kupala_client import (
    BadRequest,
    Client,
    Closed,
    Delta,
    Deltas,
    Forbidden,
    NotFound,
    Position,
    PositionsReport,
    Unauthorized,
    UnknownOp,
    events,
    to_float,
)

TS = "2026-11-30T14:30:00Z"
ADMIN = "admin-token-0123456789"
READ_A1 = "read-a1-token-0123456789"

SETUP = [
    events.instrument("AAPL", "USD", 1),
    events.instrument("SAP", "EUR", 1),
    events.fx("EUR/USD", "1.08", TS),
    events.trade("A1", "AAPL", "buy", 100, "189.50", TS, id="t1", fee="1.00"),
    events.trade("A1", "SAP", "buy", 10, "200", TS, id="t2", fee="2"),
]
TICKS = [
    events.tick("AAPL", "190.10", "2026-11-30T14:31:00Z"),
    events.tick("SAP", "201.5", "2026-11-30T14:31:00Z"),
]
SELL_40 = [events.trade("A1", "AAPL", "sell", 40, "191.25", "2026-11-30T14:32:00Z", id="t3", fee="0.75")]

MONEY = ["qty", "avg_cost", "mark", "market_value", "realized_pnl", "unrealized_pnl", "fees", "net_pnl"]
BASE = ["market_value_base", "unrealized_pnl_base", "fees_base", "net_pnl_base"]
TOTALS = ["market_value", "realized_pnl", "unrealized_pnl", "fees", "net_pnl", "day_pnl"]


def row(df, instrument: str, cols: list[str]) -> list:
    [r] = df.index[df["instrument"] == instrument].tolist()
    return [df.at[r, c] for c in cols]


def positions_by_hand_after_ticks() -> dict[str, list]:
    return {
        # 100 @ 189.5, tick 190.1: unrealized 100 × 0.6 = 60, net 60 − 1
        "AAPL": [D("100"), D("189.5"), D("190.1"), D("19010"), D("0"), D("60"), D("1"), D("59")],
        # 10 @ 200, tick 201.5: unrealized 15 EUR, net 15 − 2
        "SAP": [D("10"), D("200"), D("201.5"), D("2015"), D("0"), D("15"), D("2"), D("13")],
    }


async def test_submit_returns_the_durable_ack_with_journal_seqs(server):
    async with Client(server.url) as client:
        ack = await client.submit(SETUP)
        assert ack.seq == (1, 2, 3, 4, 5) and ack.last_seq == 5
        ack = await client.submit(TICKS)
        assert ack.seq == (6, 7)
        # the same trade id again: ignored, acknowledged with a null seq
        again = await client.submit([SETUP[3]])
        assert again.seq == (None,) and again.duplicates == (0,)
        [aapl] = [p for p in await client.query("positions", account="A1") if p.instrument == "AAPL"]
        assert isinstance(aapl, Position) and aapl.qty == D("100")  # not 200


async def test_snapshot_then_deltas_reach_the_dataframes_exactly(server):
    async with Client(server.url) as client:
        await client.submit(SETUP)
        positions = await client.subscribe_positions("A1")
        portfolio = await client.subscribe_portfolio("A1")
        ticks = await client.subscribe_ticks("AAPL")
        assert positions.seq == 5 and portfolio.seq == 5  # the journal seq of the snapshot
        assert ticks.view.last is None  # no tick yet

        async def first_update(sub):
            async for msg in sub.updates():
                return msg

        tick_update = asyncio.create_task(first_update(ticks))
        await asyncio.sleep(0)  # the iterator is listening

        # the snapshot: marks are the trade prices
        df = client.positions_frame()
        assert list(df["instrument"]) == ["AAPL", "SAP"]
        assert row(df, "AAPL", MONEY) == [D("100"), D("189.5"), D("189.5"), D("18950"), 0, 0, 1, -1]
        assert row(df, "SAP", MONEY) == [D("10"), D("200"), D("200"), D("2000"), 0, 0, 2, -2]
        # SAP in USD at 1.08: 2000 × 1.08, fees 2 × 1.08
        assert row(df, "SAP", BASE) == [D("2160"), D("0"), D("2.16"), D("-2.16")]
        pf = client.portfolios_frame()
        assert pf.loc[0, "base_currency"] == "USD"
        assert [pf.loc[0, c] for c in TOTALS] == [D("21110"), 0, 0, D("3.16"), D("-3.16"), D("-3.16")]

        # ticks: deltas
        ack = await client.submit(TICKS)
        await positions.wait_for(
            lambda v: all(p.journal_seq >= 6 for p in v.rows()) and v[("A1", "SAP")].journal_seq == 7
        )
        await portfolio.wait_for(lambda v: v["A1"].journal_seq == ack.last_seq)
        await ticks.wait_for(lambda v: v.last is not None)
        df = client.positions_frame()
        for instrument, expected in positions_by_hand_after_ticks().items():
            assert row(df, instrument, MONEY) == expected
        # SAP in USD: 2015 × 1.08 = 2176.2, 15 × 1.08 = 16.2, 13 × 1.08 = 14.04
        assert row(df, "SAP", BASE) == [D("2176.2"), D("16.2"), D("2.16"), D("14.04")]
        tick = ticks.view.last
        assert (tick.instrument, tick.price, tick.seq, tick.ts) == (
            "AAPL",
            D("190.1"),
            6,
            "2026-11-30T14:31:00Z",
        )
        assert list(client.ticks_frame()["price"]) == [D("190.1")]
        update = await asyncio.wait_for(tick_update, 5)
        assert isinstance(update, Delta) and update.seq == 6 and update.data == tick

        # a partial sale: realized 40 × (191.25 − 189.5) = 70; the mark stays
        # the last tick, 190.1: unrealized 60 × 0.6 = 36, fees 1.75
        await client.submit(SELL_40)
        await positions.wait_for(lambda v: v[("A1", "AAPL")].qty == 60)
        await portfolio.wait_for(lambda v: v["A1"].journal_seq == 8)
        df = client.positions_frame()
        assert row(df, "AAPL", MONEY) == [
            D("60"),
            D("189.5"),
            D("190.1"),
            D("11406"),
            D("70"),
            D("36"),
            D("1.75"),
            D("104.25"),
        ]
        pf = client.portfolios_frame("A1")
        # 11406 + 2176.2; fees 1.75 + 2.16; net 104.25 + 14.04
        assert [pf.loc[0, c] for c in TOTALS] == [
            D("13582.2"),
            D("70"),
            D("52.2"),
            D("3.91"),
            D("118.29"),
            D("118.29"),
        ]
        assert pf["net_pnl"].sum() == D("118.29")  # Decimal arithmetic, no float
        assert to_float(pf)["net_pnl"].iloc[0] == pytest.approx(118.29)

        # every message followed its predecessor: no gap, one snapshot each
        assert [s.gaps for s in (positions, portfolio, ticks)] == [0, 0, 0]
        assert [s.snapshots for s in (positions, portfolio, ticks)] == [1, 1, 1]
        # the view equals what a query answers (read-your-writes)
        assert await client.query("positions", account="A1") == positions.rows()
        assert await client.query("portfolio", account="A1") == portfolio.rows()

        # sell the rest at 190.1, then an EOD: the flat position is closed
        # and leaves the blotter; realized 70 + 60 × 0.6 = 106
        await client.submit(
            [
                events.trade("A1", "AAPL", "sell", 60, "190.1", "2026-11-30T14:33:00Z", id="t4"),
                events.eod("2026-11-30"),
            ]
        )
        await positions.wait_for(lambda v: ("A1", "AAPL") not in v)
        assert list(client.positions_frame()["instrument"]) == ["SAP"]
        closed = await client.query("closed", account="A1")
        assert isinstance(closed, PositionsReport)
        [aapl] = closed.positions
        assert (aapl.instrument, aapl.qty, aapl.realized_pnl, aapl.net_pnl) == (
            "AAPL",
            0,
            D("106"),
            D("104.25"),
        )

        await ticks.unsubscribe()
        assert ticks not in client.subscriptions() and not ticks.active


async def test_errors_carry_the_server_code_and_the_connection_stays_usable(server):
    async with Client(server.url) as client:
        await client.submit(SETUP[:1])
        with pytest.raises(BadRequest) as bad:
            await client.submit([events.trade("A1", "AAPL", "buy", 0, "190", TS, id="z")])
        assert bad.value.code == "bad_request"
        assert bad.value.message == "line 1: qty: must be > 0"
        # all or nothing: a bad second event refuses the first too
        with pytest.raises(BadRequest) as bad:
            await client.submit(
                [
                    events.trade("A1", "AAPL", "buy", 1, "190", TS, id="ok"),
                    {"type": "tick", "instrument": "AAPL"},
                ]
            )
        assert bad.value.message.startswith("line 2: ")
        assert await client.query("positions") == []
        with pytest.raises(NotFound) as nf:
            await client.query("eod")
        assert nf.value.code == "not_found"
        with pytest.raises(UnknownOp):
            await client.request({"op": "fly"})
        with pytest.raises(BadRequest):
            await client.request({"op": "subscribe", "channel": "blotter", "account": "A1"})
        with pytest.raises(TypeError):  # refused locally: a float is not money
            await client.submit([events.tick("AAPL", 190.1, TS)])
        ack = await client.submit([events.tick("AAPL", "190.1", TS)])
        assert ack.seq == (2,)


@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    cfg = tmp_path / "tokens.toml"
    cfg.write_text(
        f'[[auth.tokens]]\ntoken = "{ADMIN}"\nrole = "admin"\naccounts = ["*"]\n\n'
        f'[[auth.tokens]]\ntoken = "{READ_A1}"\nrole = "read"\naccounts = ["A1"]\n'
    )
    return cfg


async def test_tokens_grant_roles_and_accounts(server_factory, tokens):
    server = server_factory(config=tokens).start()
    with pytest.raises(Unauthorized):
        await Client.connect(server.url, "wrong-token-0123456789")
    async with Client(server.url, ADMIN) as admin, Client(server.url, READ_A1) as reader:
        assert admin.grant.role == "admin"
        assert (reader.grant.role, reader.grant.accounts) == ("read", ("A1",))
        await admin.submit(SETUP + [events.trade("A2", "AAPL", "buy", 1, "189", TS, id="b1")])
        with pytest.raises(Forbidden) as forbidden:
            await reader.submit(TICKS)
        assert forbidden.value.code == "forbidden"
        with pytest.raises(Forbidden):
            await reader.subscribe_positions("A2")
        every = await reader.subscribe_positions("*")  # "*" = the allowed accounts only
        assert {p.account for p in every.rows()} == {"A1"}


async def test_reconnect_reauthenticates_and_resubscribes_to_the_recovered_state(
    server_factory, tokens, tmp_path
):
    data = tmp_path / "data"
    first = server_factory(data=data, config=tokens).start()
    addr = first.addr
    admin = await Client.connect(first.url, ADMIN, min_backoff=0.05, max_backoff=0.5)
    reader = await Client.connect(first.url, READ_A1, min_backoff=0.05, max_backoff=0.5)
    try:
        await admin.submit(SETUP + TICKS)
        positions = await reader.subscribe_positions("A1")
        portfolio = await reader.subscribe_portfolio("A1")
        before = reader.positions_frame()
        pf_before = reader.portfolios_frame()

        assert first.stop() == 0  # SIGTERM: a graceful shutdown
        deadline = time.monotonic() + 10
        while reader.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not reader.connected and not positions.in_sync
        assert reader.last_close == Closed(1001, "server shutting down")
        # a request while disconnected waits for the next connection
        pending = asyncio.create_task(reader.query("portfolio", account="A1"))
        await asyncio.sleep(0.3)  # a few failed attempts (connection refused)
        assert not pending.done()

        second = server_factory(data=data, config=tokens)
        for _ in range(50):  # the port may linger a moment
            try:
                second.start(listen=addr)
                break
            except RuntimeError:
                await asyncio.sleep(0.1)
        assert second.addr == addr
        await reader.wait_connected(20)
        await admin.wait_connected(20)
        await positions.ready(10)
        await portfolio.ready(10)
        assert reader.reconnects == 1 and reader.grant.accounts == ("A1",)
        assert positions.snapshots == 2 and portfolio.snapshots == 2 and positions.gaps == 0
        # the fresh snapshots hold the recovered state, exactly as before
        assert reader.positions_frame().equals(before)
        assert reader.portfolios_frame().equals(pf_before)
        assert (await pending)[0].net_pnl == pf_before.loc[0, "net_pnl"]

        # and deltas flow again on the renewed subscriptions
        await admin.submit(SELL_40)
        await positions.wait_for(lambda v: v[("A1", "AAPL")].qty == 60)
        assert row(reader.positions_frame(), "AAPL", ["realized_pnl", "net_pnl"]) == [D("70"), D("104.25")]
    finally:
        await admin.close()
        await reader.close()


async def test_analyze_reports_progress_to_the_end(server_factory):
    server = server_factory(ml=True).start()
    async with Client(server.url) as client:
        analysis = await client.subscribe_analysis()
        assert analysis.view.value is None  # no result yet
        job = await client.analyze(folds=2, models=["linear"])
        assert job.job == 1
        states = [p.state async for p in job.progress()]
        last = await job.wait(5)
        # an empty store: the job fails, saying why, and stores nothing
        assert states[0] == "queued" and states[-1] == last.state == "failed"
        assert last.reason.startswith("no data")
        with pytest.raises(NotFound):
            await client.query("analysis")
        assert await client.cancel(job) is False  # already finished


async def test_a_batch_subscription_builds_the_same_view_from_deltas_messages(server):
    async with Client(server.url) as plain, Client(server.url) as batched:
        await plain.submit(SETUP)
        one = await plain.subscribe_positions("*")
        many = await batched.subscribe_positions("*", batch=True)
        assert many.options == {"batch": True}
        seen = []

        async def collect():
            async for msg in many.updates():
                seen.append(msg)

        task = asyncio.create_task(collect())
        await asyncio.sleep(0)  # the iterator is listening
        ticks = [
            {"type": "tick", "ts": "2026-11-30T14:32:00Z", "instrument": inst, "price": f"{p}.{i}"}
            for i in range(1, 6)
            for inst, p in (("AAPL", 191), ("SAP", 202))
        ]
        ack = await plain.submit(ticks)
        # the last tick (SAP) reached both views
        for sub in (one, many):
            await sub.wait_for(lambda v: v[("A1", "SAP")].journal_seq == ack.last_seq)
        task.cancel()
        assert many.view.rows() == one.view.rows()
        assert many.view[("A1", "SAP")].mark == D("202.5")
        assert seen and all(isinstance(m, Deltas) and len(m.data) >= 1 for m in seen)


async def test_books_sum_to_the_portfolio_and_the_firm_needs_every_account(server_factory, tokens):
    server = server_factory(config=tokens).start()
    async with Client(server.url, ADMIN) as admin, Client(server.url, READ_A1) as reader:
        books = await admin.subscribe_books("*")
        firm = await admin.subscribe_firm()
        await admin.submit(
            [
                events.trade("A1", "AAPL", "buy", 100, "10", TS, id="k1"),
                events.trade("A1", "AAPL", "buy", 50, "12", TS, id="k2", strategy="carry"),
                events.trade("A2", "AAPL", "buy", 10, "11", TS, id="k3", strategy="carry"),
                events.tick("AAPL", "13", TS),
            ]
        )
        # A1: default 100 × (13 − 10) = 300, carry 50 × (13 − 12) = 50; A2 carry 20.
        await books.wait_for(lambda v: len(v) == 3 and v[("A1", "carry")].unrealized_pnl == D("50"))
        assert books.view[("A1",)].strategy is None
        assert books.view[("A1",)].unrealized_pnl == D("300")
        assert books.view.keys() == [("A1",), ("A1", "carry"), ("A2", "carry")]
        await firm.wait_for(lambda v: v.firm is not None and v.firm.unrealized_pnl == D("370"))
        assert firm.view.firm.reporting_currency == "USD"
        [a1] = await admin.query("portfolio", account="A1")
        assert a1.unrealized_pnl == D("350")
        positions = await admin.query("positions", account="A1")
        assert [p.key for p in positions] == [("A1", "AAPL"), ("A1", "AAPL", "carry")]
        assert (await admin.query("firm")).market_value == D("2080")
        frame = admin.books_frame()
        assert list(frame["strategy"]) == [None, "carry", "carry"]
        assert {b.account for b in await reader.query("books")} == {"A1"}
        with pytest.raises(Forbidden):
            await reader.query("firm")
        with pytest.raises(Forbidden):
            await reader.subscribe_firm()


async def test_history_reads_each_series_in_event_time(server_factory, tokens):
    server = server_factory(config=tokens).start()
    async with Client(server.url, ADMIN) as admin, Client(server.url, READ_A1) as reader:
        await admin.submit(
            [
                events.trade("A1", "AAPL", "buy", 100, "10", TS, id="h1", strategy="carry"),
                events.tick("AAPL", "11", "2026-11-30T14:30:00.5Z"),
                events.tick("AAPL", "13", "2026-11-30T14:30:01.5Z"),
                events.tick("AAPL", "14", "2026-11-30T14:30:02.5Z"),
            ]
        )
        # Buckets of a second close at 14:30:01 (marked 11) and 14:30:02
        # (marked 13); the writer thread stores them moments later.
        for _ in range(100):
            points = await admin.history("A1")
            if len(points) >= 2:
                break
            await asyncio.sleep(0.05)
        assert [(p.ts, p.net_pnl) for p in points] == [
            ("2026-11-30T14:30:01Z", D("100")),
            ("2026-11-30T14:30:02Z", D("300")),
        ]
        assert await admin.history("A1", strategy="carry") == points
        assert await admin.history("A1", default_book=True) == []
        assert [p.net_pnl for p in await admin.history(start="2026-11-30T14:30:01.5Z")] == [D("300")]
        assert await reader.history("A1") == points
        with pytest.raises(Forbidden):
            await reader.history()
        with pytest.raises(BadRequest):
            await admin.history("*")


async def test_a_history_subscription_backfills_then_follows_each_new_point(server_factory, tokens):
    server = server_factory(config=tokens).start()
    async with Client(server.url, ADMIN) as admin, Client(server.url, READ_A1) as reader:
        await admin.submit(
            [
                events.trade("A1", "AAPL", "buy", 100, "10", TS, id="hs1", strategy="carry"),
                events.tick("AAPL", "11", "2026-11-30T14:30:00.5Z"),
                events.tick("AAPL", "13", "2026-11-30T14:30:01.5Z"),
                events.tick("AAPL", "14", "2026-11-30T14:30:02.5Z"),
            ]
        )
        for _ in range(100):
            if len(await admin.history("A1")) >= 2:
                break
            await asyncio.sleep(0.05)
        sub = await reader.subscribe_history("A1", start="2026-11-30T14:30:00Z")
        assert [(p.ts, p.net_pnl) for p in sub.points] == [
            ("2026-11-30T14:30:01Z", D("100")),
            ("2026-11-30T14:30:02Z", D("300")),
        ]
        book = await reader.subscribe_history("A1", strategy="carry", batch=True)
        assert book.points == []
        # 14:30:03 closes at 14 (A1: 100 × 4), 14:30:04 at 15.
        await admin.submit(
            [
                events.tick("AAPL", "15", "2026-11-30T14:30:03.5Z"),
                events.tick("AAPL", "16", "2026-11-30T14:30:04.5Z"),
            ]
        )
        await sub.wait_for(lambda v: len(v) >= 4)
        assert [p.net_pnl for p in sub.points] == [D("100"), D("300"), D("400"), D("500")]
        assert sub.gaps == 0 and sub.snapshots == 1
        await book.wait_for(lambda v: len(v) >= 2)
        assert [p.net_pnl for p in book.points] == [D("400"), D("500")]
        assert sub.points == await admin.history("A1")
        with pytest.raises(Forbidden):
            await reader.subscribe_history()
        with pytest.raises(Forbidden):
            await reader.subscribe_history("A2")
        firm = await admin.subscribe_history(start="2026-11-30T14:30:04Z")
        assert [p.net_pnl for p in firm.points] == [D("500")]
        await sub.unsubscribe()
        assert {s.target for s in reader.subscriptions()} == {("A1", "carry")}
