"""The asyncio client of `kupala serve`'s WebSocket API (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import datetime as _dt
import itertools
import json
import logging
import random
import urllib.parse
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, AsyncIterator, Callable, Iterable, Mapping

import pandas as pd
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from . import frames
from .channels import CHANNELS
from .errors import (
    ClientClosed,
    ConnectionLost,
    Forbidden,
    KupalaError,
    ProtocolError,
    ServerError,
    Unauthorized,
)
from .events import encode_events, encode_value
from .messages import (
    Ack,
    Book,
    Closed,
    Delta,
    Deltas,
    Error,
    Firm,
    HistoryPoint,
    Portfolio,
    Position,
    PositionsReport,
    Progress,
    Queued,
    Result,
    ServerMessage,
    Snapshot,
    Tick,
    parse_message,
)
from .views import Outcome, SyncState

log = logging.getLogger("kupala_client")


@dataclass(frozen=True)
class Grant:
    """What the token allows (the ``auth`` result)."""

    role: str
    accounts: tuple[str, ...]


def _ws_url(url: str) -> str:
    """``ws://host:port/ws`` from a ws(s) or http(s) URL; an empty path
    becomes ``/ws``."""
    parts = urllib.parse.urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"not a ws://, wss://, http:// or https:// URL: {url!r}")
    path = parts.path if parts.path not in ("", "/") else "/ws"
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, parts.query, ""))


class Subscription:
    """One subscription and its local latest-state view.

    The view (:attr:`view`) starts from the snapshot and follows the deltas.
    On a seq gap, and after every reconnect, the client subscribes again and
    the next snapshot replaces the view; between the two :attr:`in_sync` is
    False and the view keeps its last state.
    """

    def __init__(self, client: Client, channel: str, target: str | None, options: dict[str, Any]) -> None:
        self._client = client
        self.channel = channel
        #: The account (positions, portfolio) or instrument (ticks) followed.
        self.target = target
        #: ``min_interval_ms`` / ``min_change`` / ``batch``, as given.
        self.options = options
        self.state = SyncState(channel)
        #: The id of the subscribe request whose messages feed the view.
        self.request_id: Any = None
        #: The server's refusal of a renewed subscription (then the
        #: subscription is dropped), or ``ClientClosed``.
        self.error: KupalaError | None = None
        self.active = True
        self._changed = asyncio.Event()
        self._queues: list[asyncio.Queue[Any]] = []

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.channel, self.target)

    @property
    def view(self) -> Any:
        """The latest rows (a :class:`~kupala_client.views.View`)."""
        return self.state.view

    @property
    def seq(self) -> int | None:
        """The seq of the last message applied."""
        return self.state.seq

    @property
    def in_sync(self) -> bool:
        return self.state.in_sync

    @property
    def snapshots(self) -> int:
        """Snapshots received: 1 + the renewals (gaps, reconnects)."""
        return self.state.snapshots

    @property
    def gaps(self) -> int:
        """Seq gaps detected."""
        return self.state.gaps

    def rows(self) -> list[Any]:
        return self.state.view.rows()

    def frame(self) -> pd.DataFrame:
        """The view as a DataFrame (positions, portfolio, ticks)."""
        builder = CHANNELS[self.channel].frame
        if builder is None:
            raise TypeError(f"no DataFrame for channel {self.channel!r}")
        return builder(self.rows())

    def target_fields(self) -> dict[str, Any]:
        """The fields naming what is followed, as subscribe and unsubscribe
        send them."""
        field = CHANNELS[self.channel].target
        return {} if field is None else {field: self.target}

    def subscribe_request(self) -> dict[str, Any]:
        msg: dict[str, Any] = {"op": "subscribe", "channel": self.channel}
        msg.update(self.target_fields())
        msg.update(self.options)
        return msg

    # -- waiting -------------------------------------------------------------

    def _notify(self, item: Any) -> None:
        for q in self._queues:
            q.put_nowait(item)
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    async def wait_for(self, predicate: Callable[[Any], bool], timeout: float | None = 10.0) -> Any:
        """Wait until ``predicate(view)`` is true (checked now and after every
        message applied); returns the view. ``asyncio.TimeoutError`` after
        ``timeout`` seconds."""

        async def loop() -> Any:
            while True:
                if self.error is not None:
                    raise self.error
                if not self.active:
                    raise KupalaError(f"the {self.channel} subscription ended")
                if self.state.in_sync and predicate(self.state.view):
                    return self.state.view
                await self._changed.wait()

        return await asyncio.wait_for(loop(), timeout)

    async def ready(self, timeout: float | None = None) -> Subscription:
        """Wait for the view to be in sync (a snapshot applied)."""
        await self.wait_for(lambda _v: True, timeout)
        return self

    async def updates(self) -> AsyncIterator[Snapshot | Delta | Deltas]:
        """Every snapshot and delta applied to the view, as they arrive (a
        :class:`~kupala_client.messages.Snapshot` means the view was
        replaced). Ends when the subscription ends."""
        q: asyncio.Queue[Any] = asyncio.Queue()
        self._queues.append(q)
        try:
            while True:
                if not self.active and q.empty():
                    if self.error is not None and not isinstance(self.error, ClientClosed):
                        raise self.error
                    return
                item = await q.get()
                if item is None:
                    continue
                yield item
        finally:
            self._queues.remove(q)

    async def unsubscribe(self) -> None:
        await self._client.unsubscribe(self)

    def _end(self, error: KupalaError | None) -> None:
        self.active = False
        if error is not None and self.error is None:
            self.error = error
        for q in self._queues:
            q.put_nowait(None)
        ev, self._changed = self._changed, asyncio.Event()
        ev.set()

    def __repr__(self) -> str:
        return (
            f"Subscription({self.channel}, {self.target!r}, seq={self.seq}, "
            f"in_sync={self.in_sync}, rows={len(self.state.view)})"
        )


def _series_fields(account: str | None, strategy: str | None, default_book: bool) -> dict[str, Any]:
    """The fields naming a P&L history series: none for the firm, the
    account, and ``strategy`` (``None``: the default book) for a book."""
    if strategy is not None and default_book:
        raise ValueError("strategy and default_book name different books")
    if account is None and (strategy is not None or default_book):
        raise ValueError("a book needs its account")
    out: dict[str, Any] = {}
    if account is not None:
        out["account"] = account
    if strategy is not None or default_book:
        out["strategy"] = strategy
    return out


class HistorySubscription(Subscription):
    """A ``history`` subscription: one P&L history series (the firm, an
    account, a book), its view a :class:`~kupala_client.views.HistoryView`
    of every point received, oldest first.

    The first snapshot holds the stored points from ``start`` on (none
    without ``start``: new points only), then each new point arrives as a
    delta. A renewal (after a seq gap, a reconnect or a server restart)
    subscribes from the newest point held, so the view goes on without a
    hole or a repeat.
    """

    def __init__(
        self,
        client: Client,
        target: Any,
        fields: dict[str, Any],
        start: str | None,
        options: dict[str, Any],
    ) -> None:
        super().__init__(client, "history", target, options)
        self.fields = fields
        #: The first snapshot's ``from`` (RFC 3339), as given.
        self.start = start

    @property
    def points(self) -> list[HistoryPoint]:
        """The points received, oldest first."""
        return list(self.state.view.rows())

    def target_fields(self) -> dict[str, Any]:
        return dict(self.fields)

    def subscribe_request(self) -> dict[str, Any]:
        msg = super().subscribe_request()
        last = self.state.view.last
        start = last.ts if last is not None else self.start
        if start is not None:
            msg["from"] = start
        return msg


class AnalysisJob:
    """An ``analyze`` request: its job number and progress messages."""

    def __init__(self, request_id: Any) -> None:
        self.request_id = request_id
        self.job: int | None = None
        self.last: Progress | None = None
        self._queue: asyncio.Queue[Progress | BaseException] = asyncio.Queue()
        self._done: asyncio.Future[Progress] = asyncio.get_running_loop().create_future()

    def _on_progress(self, p: Progress) -> None:
        self.last = p
        self._queue.put_nowait(p)
        if p.finished and not self._done.done():
            self._done.set_result(p)

    def _fail(self, exc: BaseException) -> None:
        self._queue.put_nowait(exc)
        if not self._done.done():
            self._done.set_exception(exc)
            self._done.exception()  # retrieved: no "never retrieved" warning

    async def progress(self) -> AsyncIterator[Progress]:
        """The job's progress messages up to its last (done, failed, cancelled)."""
        while True:
            item = await self._queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if item.finished:
                return

    async def wait(self, timeout: float | None = None) -> Progress:
        """The job's last progress message (``state`` done, failed or cancelled)."""
        return await asyncio.wait_for(asyncio.shield(self._done), timeout)


def _query_data(what: str, data: Any) -> Any:
    if what == "positions":
        return [Position.from_json(r) for r in data]
    if what == "portfolio":
        return [Portfolio.from_json(r) for r in data]
    if what == "books":
        return [Book.from_json(r) for r in data]
    if what == "firm":
        return None if data is None else Firm.from_json(data)
    if what in ("eod", "closed"):
        return PositionsReport.from_json(data)
    return data


class Client:
    """A connection to `kupala serve` that reconnects by itself.

    ``await Client.connect(url, token)`` (or ``async with Client(url) as c``)
    opens the first connection, authenticating when ``token`` is given; a
    failure there raises. When the connection drops later the client
    reconnects with exponential backoff and jitter (``min_backoff`` doubling
    up to ``max_backoff`` seconds), authenticates again and renews every
    subscription (each gets a fresh snapshot). A refused token on reconnect
    closes the client. Requests made while disconnected wait for the next
    connection (up to ``request_timeout``); requests in flight when it drops
    raise :class:`ConnectionLost`.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        reconnect: bool = True,
        min_backoff: float = 0.05,
        max_backoff: float = 5.0,
        request_timeout: float | None = 35.0,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        max_size: int | None = None,
    ) -> None:
        self.url = _ws_url(url)
        self.token = token
        self.reconnect = reconnect
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.request_timeout = request_timeout
        self._ws_options: dict[str, Any] = dict(
            open_timeout=open_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_size=max_size,
            compression=None,
        )
        #: The ``auth`` result (``None`` without a token).
        self.grant: Grant | None = None
        #: How many times the client reconnected.
        self.reconnects = 0
        #: How the last connection ended (``None`` while the first is open).
        self.last_close: Closed | None = None
        self._ids = itertools.count(1)
        self._ws: ClientConnection | None = None
        self._pending: dict[Any, asyncio.Future[ServerMessage]] = {}
        self._subs: dict[tuple[str, str | None], Subscription] = {}
        self._subs_by_id: dict[Any, Subscription] = {}
        self._jobs: dict[Any, AnalysisJob] = {}
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closed: KupalaError | None = None
        self._started = False
        self._tasks: set[asyncio.Future[Any]] = set()

    # -- lifecycle -----------------------------------------------------------

    @classmethod
    async def connect(cls, url: str, token: str | None = None, **options: Any) -> Client:
        """Construct and connect (see the class for ``options``)."""
        client = cls(url, token, **options)
        await client.start()
        return client

    async def start(self) -> None:
        """Open the first connection (raises if it fails or ``auth`` is
        refused), then keep it open in the background."""
        if self._started:
            return
        self._started = True
        try:
            await self._open()
        except BaseException as e:
            self._closed = ClientClosed(f"could not connect: {e}")
            raise
        self._supervisor = asyncio.create_task(self._supervise(), name="kupala-client")

    async def __aenter__(self) -> Client:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection; stop reconnecting; end every subscription."""
        if self._closed is None:
            self._closed = ClientClosed("the client is closed")
        sup, self._supervisor = self._supervisor, None
        if sup is not None:
            sup.cancel()
        ws = self._ws
        if ws is not None:
            await ws.close()
        reader = self._reader
        if reader is not None:
            try:
                await reader
            except (asyncio.CancelledError, Exception):
                pass
        if sup is not None:
            try:
                await sup
            except (asyncio.CancelledError, Exception):
                pass
        self._shut(self._closed)

    def _shut(self, exc: KupalaError) -> None:
        self._ws = None
        self._fail_pending(exc)
        for sub in list(self._subs.values()):
            sub._end(exc)
        self._subs.clear()
        self._subs_by_id.clear()
        self._connected.set()  # wakes waiters, which then see _closed

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._connected.is_set() and self._closed is None

    @property
    def closed(self) -> bool:
        return self._closed is not None

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until a connection is open (after a reconnect: authenticated,
        subscriptions renewed)."""
        await asyncio.wait_for(self._ws_ready(), timeout)

    async def _ws_ready(self) -> ClientConnection:
        while True:
            if self._closed is not None:
                raise self._closed
            if self._ws is not None and self._connected.is_set():
                return self._ws
            await self._connected.wait()
            if self._closed is None and self._ws is None:
                await asyncio.sleep(0)

    async def _open(self) -> None:
        ws = await ws_connect(self.url, **self._ws_options)
        self._ws = ws
        self._reader = asyncio.create_task(self._read(ws), name="kupala-client-reader")
        try:
            if self.token is not None:
                answer = await self._call(ws, {"op": "auth", "token": self.token})
                self.grant = _grant(answer)
            for sub in list(self._subs.values()):
                await self._send_subscribe(ws, sub)
        except BaseException:
            await ws.close()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
            self._ws = None
            raise
        self._connected.set()

    async def _supervise(self) -> None:
        try:
            await self._keep_connected()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug here must not leave the client hanging
            log.exception("kupala client supervisor failed")
            if self._closed is None:
                self._closed = ClientClosed(f"the client failed: {e!r}")
            self._shut(self._closed)

    async def _keep_connected(self) -> None:
        while True:
            reader = self._reader
            assert reader is not None
            try:
                await reader
            except Exception:  # a reader bug: treat as a lost connection
                log.exception("kupala client reader failed")
            self._on_disconnect()
            if self._closed is not None:
                return
            if not self.reconnect:
                self._closed = ClientClosed(f"connection lost ({self.last_close}) and reconnect is off")
                self._shut(self._closed)
                return
            attempt = 0
            while True:
                delay = min(self.max_backoff, self.min_backoff * (2**attempt))
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                attempt += 1
                try:
                    await self._open()
                except (Unauthorized, Forbidden) as e:
                    log.error("kupala: re-authentication refused (%s); closing the client", e)
                    self._closed = ClientClosed(f"re-authentication refused: {e}")
                    self._closed.__cause__ = e
                    self._shut(self._closed)
                    return
                except (OSError, asyncio.TimeoutError, WebSocketException, ConnectionLost, ServerError) as e:
                    log.info("kupala: reconnect attempt %d failed: %s", attempt, e)
                    continue
                self.reconnects += 1
                log.info("kupala: reconnected to %s (after %d attempts)", self.url, attempt)
                break

    def _on_disconnect(self) -> None:
        ws = self._ws
        self._ws = None
        self._connected.clear()
        # the sans-I/O protocol object has them in every websockets >= 13
        code = ws.protocol.close_code if ws is not None else None
        reason = ws.protocol.close_reason if ws is not None else None
        self.last_close = Closed(code, reason or None)
        if self._closed is None:
            log.info("kupala: connection closed (%s %s)", code, reason)
        for sub in self._subs.values():
            sub.state.desync()
            sub._notify(None)

    def _fail_pending(self, exc: KupalaError) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(exc)
                fut.exception()
        jobs, self._jobs = self._jobs, {}
        for job in jobs.values():
            job._fail(exc)

    # -- reading -------------------------------------------------------------

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                if not isinstance(frame, str):
                    log.warning("kupala: ignoring a binary frame")
                    continue
                try:
                    msg = parse_message(frame)
                except ProtocolError as e:
                    log.warning("kupala: ignoring an unreadable message: %s: %.200s", e, frame)
                    continue
                self._dispatch(msg)
        except ConnectionClosed:
            pass
        finally:
            # one connection at a time: whatever waits for an answer waited on
            # this one (the next opens only after this reader ended)
            code, reason = ws.protocol.close_code, ws.protocol.close_reason
            self._fail_pending(
                self._closed
                or ConnectionLost(f"connection closed before the answer ({code} {reason})", code, reason)
            )

    def _dispatch(self, msg: ServerMessage) -> None:
        if isinstance(msg, (Snapshot, Delta, Deltas)):
            sub = self._subs_by_id.get(msg.id)
            if sub is not None:
                self._feed(sub, msg)
            if isinstance(msg, (Delta, Deltas)):
                return
        elif isinstance(msg, Progress):
            job = self._jobs.get(msg.id)
            if job is not None:
                job._on_progress(msg)
                if msg.finished:
                    self._jobs.pop(msg.id, None)
            return
        fut = self._pending.pop(msg.id, None)
        if fut is None:
            if isinstance(msg, Error):
                log.warning("kupala: error with no request: %s: %s", msg.code, msg.message)
            return
        if not fut.done():
            fut.set_result(msg)

    def _feed(self, sub: Subscription, msg: Snapshot | Delta | Deltas) -> None:
        outcome = sub.state.on_message(msg)
        if outcome is Outcome.GAP:
            log.warning(
                "kupala: %s %r: %s; subscribing again for a fresh snapshot",
                sub.channel,
                sub.target,
                sub.state.last_gap,
            )
            ws = self._ws
            if ws is not None:
                task = asyncio.ensure_future(self._renew(ws, sub))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            sub._notify(None)
        elif outcome in (Outcome.SNAPSHOT, Outcome.APPLIED):
            sub._notify(msg)

    async def _renew(self, ws: ClientConnection, sub: Subscription) -> None:
        try:
            await self._send_subscribe(ws, sub)
        except (ConnectionLost, ConnectionClosed):
            pass  # the reconnect renews it

    # -- requests ------------------------------------------------------------

    async def _call(
        self, ws: ClientConnection, payload: dict[str, Any], timeout: float | None = None
    ) -> ServerMessage:
        """Send one request on ``ws`` and wait for its answer; an ``error``
        answer raises its :class:`ServerError`."""
        fut = self._start(ws, payload)
        await self._send(ws, payload)
        return await self._answer(fut, payload["id"], timeout)

    def _start(self, ws: ClientConnection, payload: dict[str, Any]) -> asyncio.Future[ServerMessage]:
        rid = next(self._ids)
        payload["id"] = rid
        fut: asyncio.Future[ServerMessage] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        return fut

    async def _send(self, ws: ClientConnection, payload: dict[str, Any]) -> None:
        try:
            await ws.send(json.dumps(payload, separators=(",", ":")))
        except ConnectionClosed as e:
            fut = self._pending.pop(payload.get("id"), None)
            if fut is not None and not fut.done():
                fut.cancel()
            rcvd = e.rcvd
            raise ConnectionLost(
                "connection closed before the request was sent",
                rcvd.code if rcvd else None,
                rcvd.reason if rcvd else None,
            ) from None

    async def _answer(
        self, fut: asyncio.Future[ServerMessage], rid: Any, timeout: float | None
    ) -> ServerMessage:
        t = self.request_timeout if timeout is None else timeout
        try:
            msg = await asyncio.wait_for(asyncio.shield(fut), t)
        except asyncio.TimeoutError:
            self._pending.pop(rid, None)
            raise
        if isinstance(msg, Error):
            raise msg.exception()
        return msg

    async def request(self, payload: Mapping[str, Any], timeout: float | None = None) -> ServerMessage:
        """Send any request (``{"op": ...}``, the client adds the ``id``) and
        return its answer message; an ``error`` raises. Waits for a
        connection first."""
        ws = await asyncio.wait_for(self._ws_ready(), self.request_timeout if timeout is None else timeout)
        return await self._call(ws, dict(payload), timeout)

    async def _send_subscribe(self, ws: ClientConnection, sub: Subscription) -> asyncio.Future[ServerMessage]:
        payload = sub.subscribe_request()
        fut = self._start(ws, payload)
        rid = payload["id"]
        if sub.request_id is not None:
            self._subs_by_id.pop(sub.request_id, None)
        sub.request_id = rid
        self._subs_by_id[rid] = sub

        def answered(f: asyncio.Future[ServerMessage]) -> None:
            if f.cancelled() or f.exception() is not None:
                return
            msg = f.result()
            if isinstance(msg, Error) and sub.request_id == rid:
                self._drop(sub, msg.exception())

        fut.add_done_callback(answered)
        await self._send(ws, payload)
        return fut

    def _drop(self, sub: Subscription, error: KupalaError | None) -> None:
        if self._subs.get(sub.key) is sub:
            del self._subs[sub.key]
        if sub.request_id is not None and self._subs_by_id.get(sub.request_id) is sub:
            del self._subs_by_id[sub.request_id]
        sub._end(error)

    # -- the API -------------------------------------------------------------

    async def auth(self, token: str) -> Grant:
        """Authenticate with another token (kept for reconnects). The server
        ends the connection's subscriptions; the client renews them under
        the new grant."""
        ws = await self._ws_ready()
        answer = await self._call(ws, {"op": "auth", "token": token})
        self.token = token
        self.grant = _grant(answer)
        for sub in list(self._subs.values()):
            sub.state.desync()
            await self._send_subscribe(ws, sub)
        return self.grant

    async def subscribe(
        self,
        channel: str,
        target: str | None = None,
        *,
        min_interval_ms: int | None = None,
        min_change: Decimal | int | str | None = None,
        batch: bool = False,
        timeout: float | None = None,
    ) -> Subscription:
        """Subscribe to ``channel`` (``positions``, ``portfolio``: ``target``
        = an account or ``"*"``; ``ticks``: an instrument; ``analysis``: no
        target) and wait for its snapshot. Subscribing again to the same
        channel and target returns the same :class:`Subscription`, renewed
        with the new options. ``batch=True`` asks for ``deltas`` messages
        (the changes taken together in one message: fewer messages to read
        when many deltas a second arrive); the view is the same. A refusal
        raises its :class:`ServerError`."""
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r} (known: {', '.join(CHANNELS)})")
        if (CHANNELS[channel].target is None) != (target is None):
            raise ValueError(f"channel {channel!r} {'takes no' if target is not None else 'needs a'} target")
        options: dict[str, Any] = {}
        if min_interval_ms is not None:
            options["min_interval_ms"] = int(min_interval_ms)
        if min_change is not None:
            options["min_change"] = encode_value("min_change", min_change)
        if batch:
            options["batch"] = True
        ws = await asyncio.wait_for(self._ws_ready(), self.request_timeout if timeout is None else timeout)
        sub = self._subs.get((channel, target))
        if sub is None or type(sub) is not Subscription:
            if sub is not None:
                self._drop(sub, None)
            sub = Subscription(self, channel, target, options)
            self._subs[sub.key] = sub
        else:
            sub.options = options
            sub.state.desync()
        return await self._subscribed(ws, sub, timeout)

    async def _subscribed(self, ws: ClientConnection, sub: Subscription, timeout: float | None) -> Any:
        """Send ``sub``'s subscribe and wait for its snapshot (a refusal
        drops it and raises)."""
        try:
            fut = await self._send_subscribe(ws, sub)
            await self._answer(fut, sub.request_id, timeout)
        except ServerError as e:
            if e.request_id == sub.request_id:  # not renewed since: refused
                self._drop(sub, None)
            raise
        except ConnectionLost:
            pass  # the reconnect renews it: wait for that snapshot below
        await sub.ready(self.request_timeout if timeout is None else timeout)
        return sub

    async def subscribe_positions(self, account: str = "*", **options: Any) -> Subscription:
        """Positions of ``account`` (``"*"``: every allowed account)."""
        return await self.subscribe("positions", account, **options)

    async def subscribe_portfolio(self, account: str = "*", **options: Any) -> Subscription:
        """Portfolio totals of ``account`` (``"*"``: every allowed account)."""
        return await self.subscribe("portfolio", account, **options)

    async def subscribe_books(self, account: str = "*", **options: Any) -> Subscription:
        """Book totals of ``account`` (``"*"``: every allowed account): one
        per (account, strategy), the default book's strategy ``None``."""
        return await self.subscribe("books", account, **options)

    async def subscribe_firm(self, **options: Any) -> Subscription:
        """The firm's totals (a token of every account only): ``sub.view.firm``."""
        return await self.subscribe("firm", None, **options)

    async def subscribe_ticks(self, instrument: str, **options: Any) -> Subscription:
        """The last price of ``instrument``."""
        return await self.subscribe("ticks", instrument, **options)

    async def subscribe_analysis(self, **options: Any) -> Subscription:
        """The latest ML analysis result (``sub.view.value``)."""
        return await self.subscribe("analysis", None, **options)

    async def subscribe_history(
        self,
        account: str | None = None,
        *,
        strategy: str | None = None,
        default_book: bool = False,
        start: _dt.datetime | str | None = None,
        min_interval_ms: int | None = None,
        batch: bool = False,
        timeout: float | None = None,
    ) -> HistorySubscription:
        """Follow one series of the server's P&L history (named as in
        :meth:`history`): the stored points from ``start`` on (none without
        it), then each new point as the server makes it, in order, each
        once (``sub.points``, ``sub.frame()``, ``sub.updates()``).
        Subscribing again to the same series starts it again from the new
        ``start``. A refusal (``Forbidden``, ``TooLarge`` past 10,000
        stored points: a later ``start``) raises its :class:`ServerError`."""
        fields = _series_fields(account, strategy, default_book)
        target: Any = (
            None if account is None else account if "strategy" not in fields else (account, strategy)
        )
        begin = None if start is None else str(encode_value("from", start))
        options: dict[str, Any] = {}
        if min_interval_ms is not None:
            options["min_interval_ms"] = int(min_interval_ms)
        if batch:
            options["batch"] = True
        ws = await asyncio.wait_for(self._ws_ready(), self.request_timeout if timeout is None else timeout)
        sub = self._subs.get(("history", target))
        if isinstance(sub, HistorySubscription):
            sub.options, sub.start = options, begin
            sub.state.view.clear()
            sub.state.desync()
        else:
            if sub is not None:
                self._drop(sub, None)
            sub = HistorySubscription(self, target, fields, begin, options)
            self._subs[sub.key] = sub
        result: HistorySubscription = await self._subscribed(ws, sub, timeout)
        return result

    async def unsubscribe(self, sub: Subscription) -> None:
        """End a subscription (locally at once; on the server if connected)."""
        if self._subs.get(sub.key) is not sub:
            return
        self._drop(sub, None)
        ws = self._ws
        if ws is None or not self._connected.is_set():
            return  # nothing to end on the server: no connection
        payload: dict[str, Any] = {"op": "unsubscribe", "channel": sub.channel}
        payload.update(sub.target_fields())
        try:
            await self._call(ws, payload)
        except ConnectionLost:
            pass

    def subscriptions(self) -> list[Subscription]:
        return list(self._subs.values())

    async def submit(self, events: Iterable[Mapping[str, Any]], timeout: float | None = None) -> Ack | Queued:
        """Submit a batch of events (all or nothing) and wait for the server's
        ``ack``, sent once the batch is durable (fsynced). Returns the
        :class:`Ack` with each event's journal seq (``None``: a repeated
        trade id, ignored). A ``feed`` token gets :class:`Queued` instead
        (queued, not yet durable). A refusal raises its :class:`ServerError`
        (nothing was applied); :class:`ConnectionLost` means the outcome is
        unknown (resubmitting with the same trade ids is safe)."""
        payload = {"op": "submit", "events": encode_events(events)}
        msg = await self.request(payload, timeout)
        if isinstance(msg, Ack):
            return msg
        if isinstance(msg, Result) and isinstance(msg.data, Mapping) and "queued" in msg.data:
            return Queued(msg.id, int(msg.data["queued"]), int(msg.data.get("conflated", 0)))
        raise ProtocolError(f"unexpected answer to submit: {msg!r}")

    async def query(
        self,
        what: str,
        *,
        account: str | None = None,
        date: _dt.date | str | None = None,
        job: int | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Query the server: ``positions``, ``portfolio`` and ``books``
        return lists of :class:`Position` / :class:`Portfolio` /
        :class:`Book`; ``firm`` a :class:`Firm` (``None`` before any); ``eod`` and ``closed`` a
        :class:`PositionsReport`; ``proposals``, ``analysis`` and ``feeds``
        the JSON data as decoded."""
        payload: dict[str, Any] = {"op": "query", "what": what}
        if account is not None:
            payload["account"] = account
        if date is not None:
            payload["date"] = encode_value("date", date)
        if job is not None:
            payload["job"] = job
        msg = await self.request(payload, timeout)
        if not isinstance(msg, Result):
            raise ProtocolError(f"unexpected answer to query: {msg!r}")
        return _query_data(what, msg.data)

    async def history(
        self,
        account: str | None = None,
        *,
        strategy: str | None = None,
        default_book: bool = False,
        start: _dt.datetime | str | None = None,
        end: _dt.datetime | str | None = None,
        timeout: float | None = None,
    ) -> list[HistoryPoint]:
        """One series of the server's P&L history, oldest first: the firm
        (no ``account``; a token of every account only), an account's
        totals, or one of its books (``strategy``, or ``default_book=True``),
        between ``start`` and ``end`` (inclusive; open ends when ``None``)."""
        payload: dict[str, Any] = {"op": "query", "what": "history"}
        payload.update(_series_fields(account, strategy, default_book))
        if start is not None:
            payload["from"] = encode_value("from", start)
        if end is not None:
            payload["to"] = encode_value("to", end)
        msg = await self.request(payload, timeout)
        if not isinstance(msg, Result) or not isinstance(msg.data, Mapping):
            raise ProtocolError(f"unexpected answer to a history query: {msg!r}")
        return [HistoryPoint.from_json(p) for p in msg.data.get("points", [])]

    async def analyze(self, timeout: float | None = None, **params: Any) -> AnalysisJob:
        """Start an ML analysis (role ``admin``; ``params`` as in
        docs/protocol.md: ``folds``, ``models``, ``benchmark``...). Follow it
        with ``async for p in job.progress()`` or ``await job.wait()``."""
        ws = await asyncio.wait_for(self._ws_ready(), self.request_timeout if timeout is None else timeout)
        payload: dict[str, Any] = {"op": "analyze", **params}
        fut = self._start(ws, payload)
        job = AnalysisJob(payload["id"])
        self._jobs[payload["id"]] = job
        try:
            await self._send(ws, payload)
            msg = await self._answer(fut, payload["id"], timeout)
        except BaseException:
            self._jobs.pop(payload["id"], None)
            raise
        if isinstance(msg, Result) and isinstance(msg.data, Mapping):
            job.job = int(msg.data["job"])
        return job

    async def cancel(self, job: int | AnalysisJob, timeout: float | None = None) -> bool:
        """Cancel an analysis job (role ``admin``): True if it was cancelled,
        False if it had already finished."""
        number = job.job if isinstance(job, AnalysisJob) else job
        msg = await self.request({"op": "cancel", "job": number}, timeout)
        assert isinstance(msg, Result)
        return bool(msg.data.get("cancelled"))

    # -- frames --------------------------------------------------------------

    def _merged(self, channel: str, account: str | None) -> list[Any]:
        def version(row: Any) -> int:
            seq = getattr(row, "journal_seq", None)
            return int(seq if seq is not None else getattr(row, "seq", 0))

        best: dict[Any, Any] = {}
        for sub in self._subs.values():
            if sub.channel != channel:
                continue
            for row in sub.view.rows():
                if account is not None and getattr(row, "account", None) != account:
                    continue
                key = sub.view.key(row)
                old = best.get(key)
                if old is None or version(row) >= version(old):
                    best[key] = row
        return [best[k] for k in sorted(best)]

    def positions(self, account: str | None = None) -> list[Position]:
        """The latest positions over every positions subscription (the
        newest row per (account, instrument)), optionally of one account."""
        return self._merged("positions", account)

    def portfolios(self, account: str | None = None) -> list[Portfolio]:
        return self._merged("portfolio", account)

    def books(self, account: str | None = None) -> list[Book]:
        return self._merged("books", account)

    def books_frame(self, account: str | None = None) -> pd.DataFrame:
        """:meth:`books` as a DataFrame."""
        return frames.books_frame(self.books(account))

    def ticks(self) -> list[Tick]:
        return self._merged("ticks", None)

    def positions_frame(self, account: str | None = None) -> pd.DataFrame:
        """:meth:`positions` as a DataFrame (decimals as ``Decimal``; see
        :func:`kupala_client.to_float`)."""
        return frames.positions_frame(self.positions(account))

    def portfolios_frame(self, account: str | None = None) -> pd.DataFrame:
        """:meth:`portfolios` as a DataFrame."""
        return frames.portfolios_frame(self.portfolios(account))

    def ticks_frame(self) -> pd.DataFrame:
        """The last tick of every ticks subscription as a DataFrame."""
        return frames.ticks_frame(self.ticks())


def _grant(answer: ServerMessage) -> Grant:
    data = answer.data if isinstance(answer, Result) else None
    if not isinstance(data, Mapping):
        raise ProtocolError(f"unexpected answer to auth: {answer!r}")
    return Grant(str(data.get("role")), tuple(data.get("accounts") or ()))
