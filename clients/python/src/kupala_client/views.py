"""Local latest-state views, fed by a subscription's snapshot and deltas.

A view holds the latest row per key: (account, instrument[, strategy])
for positions, account for portfolios, (account[, strategy]) for books,
one row for the firm, instrument for ticks, and every point of a P&L
history series by its time. :class:`SyncState` checks the
subscription's ``seq``: a snapshot sets it, each delta must be exactly one
more. Anything else is a gap (a lost or repeated message): the state is
marked out of sync, further deltas are ignored, and the client
resubscribes for a fresh snapshot, which replaces the view.

This module does no I/O, so it can be tested with a fake message stream.

Books: see :mod:`kupala_client.channels`.
"""

from __future__ import annotations

import enum
from typing import Any, Generic, Iterator, TypeVar

from .messages import Book, Delta, Deltas, Firm, HistoryPoint, Portfolio, Position, Snapshot, Tick

R = TypeVar("R")


class View(Generic[R]):
    """The latest row per key of one subscription (a read-only mapping)."""

    channel: str = ""

    def __init__(self) -> None:
        self._rows: dict[Any, R] = {}

    @staticmethod
    def key(row: Any) -> Any:
        return row.key

    def reset(self, rows: Any) -> None:
        """Replace everything with a snapshot's rows."""
        self._rows = {self.key(r): r for r in rows}

    def apply(self, row: R) -> None:
        """Apply one delta's row."""
        self._rows[self.key(row)] = row

    # mapping-like access
    def __getitem__(self, key: Any) -> R:
        return self._rows[key]

    def get(self, key: Any, default: Any = None) -> Any:
        return self._rows.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(sorted(self._rows))

    def __len__(self) -> int:
        return len(self._rows)

    def keys(self) -> list[Any]:
        return sorted(self._rows)

    def rows(self) -> list[R]:
        """The rows, sorted by key (the server's snapshot order)."""
        return [self._rows[k] for k in sorted(self._rows)]

    def as_dict(self) -> dict[Any, R]:
        return dict(self._rows)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._rows)} rows)"


class PositionsView(View[Position]):
    """Positions by ``(account, instrument)``; a ``closed`` delta removes
    the position (an EOD moved it to the closed history)."""

    channel = "positions"

    def apply(self, row: Position) -> None:
        if row.closed:
            self._rows.pop(row.key, None)
        else:
            self._rows[row.key] = row


class PortfolioView(View[Portfolio]):
    """Portfolios by account."""

    channel = "portfolio"


class BooksView(View[Book]):
    """Books by ``(account,)`` (the default book) or ``(account, strategy)``."""

    channel = "books"


class FirmView(View[Firm]):
    """The firm's totals: one row, ``view.firm``."""

    channel = "firm"

    @property
    def firm(self) -> Firm | None:
        return self._rows.get("firm")


class TicksView(View[Tick]):
    """The last tick by instrument (one instrument per subscription)."""

    channel = "ticks"

    @property
    def last(self) -> Tick | None:
        rows = self.rows()
        return rows[-1] if rows else None


class HistoryView(View[HistoryPoint]):
    """A P&L history series: every point received, by time (``rows()``
    oldest first, ``last`` the newest). A snapshot adds its points rather
    than replacing the view: a renewed subscription (after a gap or a
    reconnect) asks for the points from the newest one held on, so the
    view goes on without a hole; the point at that time comes again and
    replaces itself. Nothing is dropped: a subscription kept for days holds
    every point of those days (see ``HistorySubscription``)."""

    channel = "history"

    def reset(self, rows: Any) -> None:
        for r in rows:
            self._rows[r.key] = r

    def clear(self) -> None:
        """Forget every point (a subscription from another start)."""
        self._rows = {}

    @property
    def last(self) -> HistoryPoint | None:
        return self._rows[max(self._rows)] if self._rows else None


class ValueView:
    """A channel whose snapshot and deltas each carry one whole value
    (``analysis``: the latest result): ``value`` is the last one."""

    channel = "analysis"

    def __init__(self) -> None:
        self.value: Any = None

    def reset(self, data: Any) -> None:
        self.value = data

    def apply(self, data: Any) -> None:
        self.value = data

    def rows(self) -> list[Any]:
        return [] if self.value is None else [self.value]

    def __len__(self) -> int:
        return 0 if self.value is None else 1

    def __repr__(self) -> str:
        return f"ValueView({'empty' if self.value is None else 'set'})"


class Outcome(enum.Enum):
    """What :meth:`SyncState.on_message` did with a message."""

    #: A snapshot replaced the view.
    SNAPSHOT = "snapshot"
    #: A delta was applied.
    APPLIED = "applied"
    #: The delta's seq is not the next one: the view is out of sync and
    #: the subscription must be renewed (a fresh snapshot).
    GAP = "gap"
    #: Ignored: a delta while out of sync (waiting for a snapshot).
    IGNORED = "ignored"


class SeqGap(Exception):
    """A subscription's seq did not follow (kept as ``SyncState.last_gap``)."""

    def __init__(self, expected: int | None, got: int) -> None:
        super().__init__(f"seq gap: expected {expected}, got {got}")
        self.expected = expected
        self.got = got


class SyncState:
    """A view plus the subscription's seq bookkeeping.

    ``seq`` is the seq of the last message applied (``None`` before the
    first snapshot and after a gap). ``in_sync`` is True between a snapshot
    and the next gap. ``snapshots`` and ``gaps`` count what happened.
    """

    def __init__(self, channel: str) -> None:
        from .channels import CHANNELS  # the table imports this module

        try:
            self.view: Any = CHANNELS[channel].view_type()
        except KeyError:
            raise ValueError(f"unknown channel {channel!r}") from None
        self.channel = channel
        self.seq: int | None = None
        self.in_sync = False
        self.snapshots = 0
        self.gaps = 0
        self.last_gap: SeqGap | None = None

    def on_message(self, msg: Snapshot | Delta | Deltas) -> Outcome:
        if isinstance(msg, Snapshot):
            self.view.reset(msg.data)
            self.seq = msg.seq
            self.in_sync = True
            self.snapshots += 1
            return Outcome.SNAPSHOT
        if not self.in_sync:
            return Outcome.IGNORED
        assert self.seq is not None
        if msg.seq != self.seq + 1:
            self.last_gap = SeqGap(self.seq + 1, msg.seq)
            self.gaps += 1
            self.in_sync = False
            self.seq = None
            return Outcome.GAP
        if isinstance(msg, Deltas):
            for row in msg.data:
                self.view.apply(row)
        else:
            self.view.apply(msg.data)
        self.seq = msg.seq
        return Outcome.APPLIED

    def desync(self) -> None:
        """Mark out of sync (the connection dropped): deltas are ignored
        until the next snapshot; the view keeps its last state."""
        self.in_sync = False
        self.seq = None
