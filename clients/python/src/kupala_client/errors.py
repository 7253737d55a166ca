"""Exceptions raised by the client.

Every ``error`` message of the server becomes a :class:`ServerError` (or
the subclass for its code) carrying the server's ``code``, ``message`` and
the request's ``id``. Connection trouble is :class:`ConnectionLost`; a
client used after :meth:`Client.close` raises :class:`ClientClosed`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class KupalaError(Exception):
    """Base class of every exception this package raises."""


class ServerError(KupalaError):
    """The server answered a request with ``{"type":"error", ...}``.

    ``code`` is the server's error code (``bad_request``, ``forbidden``...,
    see docs/protocol.md, "Error codes"), ``message`` its text and
    ``request_id`` the ``id`` of the refused request (``None`` for the
    answer to a frame that was not JSON).
    """

    code: str
    #: The code a subclass stands for (``ServerError`` itself: any code).
    CODE: ClassVar[str | None] = None

    def __init__(self, code: str, message: str, request_id: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id

    @staticmethod
    def from_error(code: str, message: str, request_id: Any = None) -> ServerError:
        """The exception for an error code: its subclass, or ``ServerError``
        for a code this version does not know."""
        cls = _BY_CODE.get(code, ServerError)
        return cls(code, message, request_id)


class BadRequest(ServerError):
    """``bad_request``: malformed request, bad event (``line N: ...``), a
    batch the sequencer refused. Nothing of the batch was applied."""

    CODE = "bad_request"


class UnknownOp(ServerError):
    """``unknown_op``: the ``op`` is not one the server knows."""

    CODE = "unknown_op"


class Unauthorized(ServerError):
    """``unauthorized``: no successful ``auth`` yet, or a wrong token."""

    CODE = "unauthorized"


class Forbidden(ServerError):
    """``forbidden``: the token's role or accounts do not allow it."""

    CODE = "forbidden"


class RateLimited(ServerError):
    """``rate_limited``: too many messages per second or requests in flight."""

    CODE = "rate_limited"


class TooLarge(ServerError):
    """``too_large``: a message, a submit or the subscriptions over a limit."""

    CODE = "too_large"


class Busy(ServerError):
    """``busy``: the feed queue was full; resend the events it names."""

    CODE = "busy"


class NotFound(ServerError):
    """``not_found``: no such EOD, analysis job or subscription."""

    CODE = "not_found"


class Unavailable(ServerError):
    """``unavailable``: shutting down, the store failed, or a read waited too
    long. A message starting ``outcome unknown:`` means a submit may or may
    not be durable: resubmit it with the same trade ids (repeats are
    ignored)."""

    CODE = "unavailable"

    @property
    def outcome_unknown(self) -> bool:
        """True when the submit may or may not have been applied."""
        return self.message.startswith("outcome unknown:")


class InternalError(ServerError):
    """``internal``: a server bug (the message says what was applied)."""

    CODE = "internal"


_BY_CODE: dict[str, type[ServerError]] = {
    cls.CODE: cls
    for cls in (
        BadRequest,
        UnknownOp,
        Unauthorized,
        Forbidden,
        RateLimited,
        TooLarge,
        Busy,
        NotFound,
        Unavailable,
        InternalError,
    )
    if cls.CODE is not None
}

#: Every error code of the protocol, mapped to its exception class.
ERROR_CLASSES: dict[str, type[ServerError]] = dict(_BY_CODE)


class ConnectionLost(KupalaError):
    """The connection closed before the request was answered.

    ``code`` and ``reason`` are the WebSocket close code and reason when the
    server sent a close frame (``1001 server shutting down``, ``1008 slow
    consumer: ...``), else ``None``. For a submit the outcome is unknown:
    resubmitting with the same trade ids is safe (repeats are ignored); ticks
    and other events without an id would be applied twice.
    """

    def __init__(self, message: str, code: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class ClientClosed(KupalaError):
    """The client was closed (by :meth:`Client.close`, or after a fatal
    error such as a refused token on reconnect)."""


class ProtocolError(KupalaError):
    """The server sent something this client cannot read."""
