"""The client against a scripted fake server: a seq gap makes it subscribe
again; a close makes it reconnect and renew; requests in flight fail."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from websockets.asyncio.server import serve

from kupala_client import Client, Closed, ConnectionLost


def pos(qty: str, js: int) -> dict:
    zero = "0"
    return {
        "account": "A1",
        "instrument": "X",
        "currency": "USD",
        "qty": qty,
        "avg_cost": "10",
        "mark": "10",
        "market_value": zero,
        "realized_pnl": zero,
        "unrealized_pnl": zero,
        "fees": zero,
        "net_pnl": zero,
        "day_pnl": zero,
        "market_value_base": zero,
        "realized_pnl_base": zero,
        "unrealized_pnl_base": zero,
        "fees_base": zero,
        "net_pnl_base": zero,
        "unpriced": False,
        "journal_seq": js,
    }


def snap(rid, seq: int, rows: list) -> str:
    return json.dumps({"type": "snapshot", "id": rid, "channel": "positions", "seq": seq, "data": rows})


def delta(rid, seq: int, row: dict) -> str:
    return json.dumps({"type": "delta", "id": rid, "channel": "positions", "seq": seq, "data": row})


class Script:
    """A fake server running one coroutine per connection, in order."""

    def __init__(self, *handlers) -> None:
        self.handlers = list(handlers)
        self.received: list[dict] = []

    async def __call__(self, ws) -> None:
        handler = self.handlers.pop(0)
        await handler(ws, self)

    async def recv(self, ws) -> dict:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        self.received.append(msg)
        return msg


async def test_a_seq_gap_renews_the_subscription_and_a_close_reconnects():
    async def first(ws, script: Script) -> None:
        sub = await script.recv(ws)
        assert sub["op"] == "subscribe" and sub["channel"] == "positions" and sub["account"] == "A1"
        a = sub["id"]
        await ws.send(snap(a, 5, [pos("1", 5)]))
        await ws.send(delta(a, 6, pos("2", 6)))
        await ws.send(delta(a, 8, pos("3", 8)))  # seq 7 lost: a gap
        again = await script.recv(ws)
        assert again["op"] == "subscribe" and again["account"] == "A1" and again["id"] != a
        b = again["id"]
        await ws.send(delta(a, 9, pos("4", 9)))  # the replaced subscription: ignored
        await ws.send(snap(b, 30, [pos("7", 30)]))
        await ws.send(delta(b, 31, pos("8", 31)))
        await asyncio.sleep(0.2)
        await ws.close(1008, "queue overflow: too many pending updates; reconnect and resubscribe")

    async def second(ws, script: Script) -> None:
        sub = await script.recv(ws)
        assert sub["op"] == "subscribe" and sub["account"] == "A1"
        await ws.send(snap(sub["id"], 40, [pos("9", 40)]))
        submit = await script.recv(ws)
        assert submit["op"] == "submit"
        await ws.send(json.dumps({"type": "ack", "id": submit["id"], "seq": [41]}))
        await ws.wait_closed()

    script = Script(first, second)
    async with serve(script, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = await Client.connect(f"ws://127.0.0.1:{port}/ws", min_backoff=0.01, max_backoff=0.05)
        try:
            sub = await client.subscribe_positions("A1")
            await sub.wait_for(lambda v: v[("A1", "X")].qty == Decimal("8"))
            assert sub.gaps == 1 and sub.snapshots == 2 and sub.seq == 31
            await sub.wait_for(lambda v: v[("A1", "X")].qty == Decimal("9"))
            assert client.reconnects == 1 and sub.snapshots == 3 and sub.seq == 40
            assert client.last_close == Closed(
                1008, "queue overflow: too many pending updates; reconnect and resubscribe"
            )
            ack = await client.submit(
                [{"type": "tick", "ts": "2026-11-30T14:30:00Z", "instrument": "X", "price": "1"}]
            )
            assert ack.seq == (41,)
        finally:
            await client.close()
    ops = [(m["op"], m.get("account")) for m in script.received]
    assert ops == [("subscribe", "A1"), ("subscribe", "A1"), ("subscribe", "A1"), ("submit", None)]
    assert len({m["id"] for m in script.received}) == 4  # every request has its own id


async def test_a_request_in_flight_when_the_connection_drops_raises_connection_lost():
    async def drop(ws, script: Script) -> None:
        await script.recv(ws)
        await ws.close(1001, "server shutting down")

    async def idle(ws, script: Script) -> None:
        await ws.wait_closed()

    script = Script(drop, idle)
    async with serve(script, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = await Client.connect(f"http://127.0.0.1:{port}", min_backoff=0.01)
        try:
            with pytest.raises(ConnectionLost) as lost:
                await client.submit([{"type": "eod", "date": "2026-11-30"}])
            assert (lost.value.code, lost.value.reason) == (1001, "server shutting down")
            await client.wait_connected(5)
            assert client.reconnects == 1
        finally:
            await client.close()


async def test_a_close_during_auth_fails_the_connect_at_once():
    async def refuse(ws, script: Script) -> None:
        auth = await script.recv(ws)
        assert auth["op"] == "auth" and auth["token"] == "t-0123456789abcdef"
        await ws.close(1008, "authentication failed")

    script = Script(refuse)
    async with serve(script, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(ConnectionLost) as lost:
            await asyncio.wait_for(Client.connect(f"ws://127.0.0.1:{port}/ws", "t-0123456789abcdef"), 5)
        assert (lost.value.code, lost.value.reason) == (1008, "authentication failed")


def hpoint(second: int, net: str, **series) -> dict:
    return {"ts": f"2026-11-30T14:30:{second:02d}Z", "seq": second, "net_pnl": net, "day_pnl": net, **series}


async def test_a_history_subscription_resumes_from_its_last_point_after_a_reconnect():
    series = {"series": "book", "account": "A1", "strategy": None}

    async def first(ws, script: Script) -> None:
        sub = await script.recv(ws)
        assert sub == {
            "op": "subscribe",
            "channel": "history",
            "account": "A1",
            "strategy": None,
            "from": "2026-11-30T14:30:00Z",
            "batch": True,
            "id": sub["id"],
        }
        a = sub["id"]
        data = {**series, "points": [hpoint(1, "5"), hpoint(2, "6")]}
        await ws.send(json.dumps({"type": "snapshot", "id": a, "channel": "history", "seq": 9, "data": data}))
        rows = [hpoint(3, "7", **series), hpoint(4, "8", **series)]
        await ws.send(json.dumps({"type": "deltas", "id": a, "channel": "history", "seq": 10, "data": rows}))
        await asyncio.sleep(0.2)
        await ws.close(1008, "slow consumer: updates not drained in time; reconnect and resubscribe")

    async def second(ws, script: Script) -> None:
        sub = await script.recv(ws)
        # From the newest point held: it comes again, then the new ones.
        assert sub["from"] == "2026-11-30T14:30:04Z" and sub["strategy"] is None
        data = {**series, "points": [hpoint(4, "8"), hpoint(5, "9")]}
        b = sub["id"]
        await ws.send(
            json.dumps({"type": "snapshot", "id": b, "channel": "history", "seq": 20, "data": data})
        )
        await ws.send(
            json.dumps(
                {"type": "delta", "id": b, "channel": "history", "seq": 21, "data": hpoint(6, "10", **series)}
            )
        )
        unsub = await script.recv(ws)
        assert unsub == {
            "op": "unsubscribe",
            "channel": "history",
            "account": "A1",
            "strategy": None,
            "id": unsub["id"],
        }
        await ws.send(json.dumps({"type": "result", "id": unsub["id"], "data": {"unsubscribed": "history"}}))
        await ws.wait_closed()

    script = Script(first, second)
    async with serve(script, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = await Client.connect(f"ws://127.0.0.1:{port}/ws", min_backoff=0.01, max_backoff=0.05)
        try:
            sub = await client.subscribe_history(
                "A1", default_book=True, start="2026-11-30T14:30:00Z", batch=True
            )
            await sub.wait_for(lambda v: len(v) == 6)
            assert [(p.ts[-3:], p.net_pnl) for p in sub.points] == [
                (f"{s:02d}Z", Decimal(n))
                for s, n in [(1, "5"), (2, "6"), (3, "7"), (4, "8"), (5, "9"), (6, "10")]
            ]
            assert sub.snapshots == 2 and sub.seq == 21 and client.reconnects == 1
            assert sub.view.last is not None and sub.view.last.extra["series"] == "book"
            assert list(sub.frame()["net_pnl"]) == [Decimal(n) for n in ("5", "6", "7", "8", "9", "10")]
            await sub.unsubscribe()
            assert client.subscriptions() == []
        finally:
            await client.close()
