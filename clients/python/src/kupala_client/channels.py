"""The subscription channels the client knows, in one table.

A channel names the field a subscription targets (``account``,
``instrument`` or none), the row class its snapshot and deltas carry, the
view that keeps its latest state, and how that state becomes a DataFrame.
The parser, the views, the client and the frames all read this table.

A new channel is one more row here (a row class in messages.py, a view
in views.py, a frame builder in frames.py) and, for convenience, a
``Client.subscribe_...`` shortcut; ``Client.subscribe(name, ...)`` works
from the table alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import pandas as pd

from . import frames
from .messages import Book, Firm, HistoryPoint, Portfolio, Position, Row, Tick
from .views import BooksView, FirmView, HistoryView, PortfolioView, PositionsView, TicksView, ValueView


@dataclass(frozen=True)
class Channel:
    name: str
    #: The subscribe field naming what is followed (``None``: no field).
    target: str | None
    #: The class of the rows in snapshots and deltas (``None``: raw JSON).
    row_type: type[Row] | None
    #: The class of the latest-state view.
    view_type: type
    #: Rows to DataFrame (``None``: no frame).
    frame: Callable[[Iterable[Any]], pd.DataFrame] | None


CHANNELS: dict[str, Channel] = {}


def register_channel(channel: Channel) -> None:
    """Add (or replace) a channel."""
    CHANNELS[channel.name] = channel


for _c in (
    Channel("positions", "account", Position, PositionsView, frames.positions_frame),
    Channel("portfolio", "account", Portfolio, PortfolioView, frames.portfolios_frame),
    Channel("books", "account", Book, BooksView, frames.books_frame),
    Channel("firm", None, Firm, FirmView, frames.firm_frame),
    Channel("ticks", "instrument", Tick, TicksView, frames.ticks_frame),
    Channel("analysis", None, None, ValueView, None),
    # The firm's series by this table; an account's or a book's, and a
    # backfill, through ``Client.subscribe_history``.
    Channel("history", None, HistoryPoint, HistoryView, frames.history_frame),
):
    register_channel(_c)
