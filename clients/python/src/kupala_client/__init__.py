"""An asyncio client of the `kupala serve` WebSocket API.

    from kupala_client import Client, events

    async with Client("ws://127.0.0.1:8080/ws") as client:
        positions = await client.subscribe_positions("A1")
        ack = await client.submit([events.tick("AAPL", "190.10", "2026-11-30T14:30:00Z")])
        df = client.positions_frame()

See README.md next to this package for the whole API.
"""

from __future__ import annotations

from . import events
from .channels import CHANNELS, Channel, register_channel
from .client import AnalysisJob, Client, Grant, HistorySubscription, Subscription
from .errors import (
    BadRequest,
    Busy,
    ClientClosed,
    ConnectionLost,
    Forbidden,
    InternalError,
    KupalaError,
    NotFound,
    ProtocolError,
    RateLimited,
    ServerError,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnknownOp,
)
from .frames import books_frame, firm_frame, portfolios_frame, positions_frame, ticks_frame, to_float
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
    Snapshot,
    Tick,
    parse_message,
)
from .views import BooksView, FirmView, Outcome, PortfolioView, PositionsView, SyncState, TicksView, View

__version__ = "0.1.0"


async def connect(url: str, token: str | None = None, **options: object) -> Client:
    """``await connect(url, token)``: the same as :meth:`Client.connect`."""
    return await Client.connect(url, token, **options)


__all__ = [
    "Ack",
    "AnalysisJob",
    "Book",
    "BooksView",
    "BadRequest",
    "Busy",
    "CHANNELS",
    "Channel",
    "Client",
    "ClientClosed",
    "Closed",
    "ConnectionLost",
    "Delta",
    "Deltas",
    "Error",
    "Firm",
    "HistoryPoint",
    "HistorySubscription",
    "FirmView",
    "Forbidden",
    "Grant",
    "InternalError",
    "KupalaError",
    "NotFound",
    "Outcome",
    "Portfolio",
    "PortfolioView",
    "Position",
    "PositionsReport",
    "PositionsView",
    "Progress",
    "ProtocolError",
    "Queued",
    "RateLimited",
    "Result",
    "ServerError",
    "Snapshot",
    "Subscription",
    "SyncState",
    "Tick",
    "TicksView",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "UnknownOp",
    "View",
    "books_frame",
    "connect",
    "events",
    "firm_frame",
    "parse_message",
    "register_channel",
    "portfolios_frame",
    "positions_frame",
    "ticks_frame",
    "to_float",
]
