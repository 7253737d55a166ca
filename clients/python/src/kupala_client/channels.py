"""The subscription channels the client knows, in one table.

A channel names the field a subscription targets (``account``,
``instrument`` or none), the row class its snapshot and deltas carry, the
view that keeps its latest state, and how that state becomes a DataFrame.
The parser, the views, the client and the frames all read this table.

Books: `kupala serve` has no books channel yet. When it gets one, adding
``Channel("books", "account", BookRow, BooksView, books_frame)`` (a row
class in messages.py, a view keyed by the book's identity in views.py, a
frame builder in frames.py) and a ``Client.subscribe_books`` shortcut is
all the client needs; ``Client.subscribe("books", ...)`` would work from
the table alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import pandas as pd

from . import frames
from .messages import Portfolio, Position, Row, Tick
from .views import PortfolioView, PositionsView, TicksView, ValueView


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
    Channel("ticks", "instrument", Tick, TicksView, frames.ticks_frame),
    Channel("analysis", None, None, ValueView, None),
):
    register_channel(_c)
