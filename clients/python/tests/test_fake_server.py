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
