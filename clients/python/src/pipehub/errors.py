"""Every way a session with a hub can fail, as exceptions that name the cause and the fix.

All derive from :class:`PipehubError`. Those a reconnecting client outlives by trying again
(no hub yet, connection lost, hub full or shutting down) say so in :attr:`transient`.
"""

from __future__ import annotations

from . import frames


class PipehubError(Exception):
    """Base class of every error this package raises about a hub."""

    #: Whether trying again later may well succeed.
    transient = False


class NoHubError(PipehubError, ConnectionError):
    """Nothing serves the endpoint: no socket file or pipe, or a socket left over from a
    hub that has exited."""

    transient = True

    def __init__(self, endpoint: str, address: str, cause: str) -> None:
        self.endpoint = endpoint
        self.address = address
        shown = endpoint if endpoint == address else f"{endpoint} at {address}"
        super().__init__(f"no hub at {shown} ({cause}); start one with: pipehub --endpoint {endpoint}")


class RefusedError(PipehubError):
    """The hub answered ``HELLO`` with ``REFUSED``: it will not serve this client."""

    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text
        name, fix = frames.REFUSE_CODES.get(code, (f"code {code}", ""))
        #: The code's name, such as ``"hub full"``.
        self.reason = name
        self.transient = code in (2, 4)
        detail = f": {text}" if text else ""
        hint = f" ({fix})" if fix else ""
        super().__init__(f"the hub refused the connection: {name}{detail}{hint}")


class HubError(PipehubError):
    """The hub sent ``ERROR``: it says this client broke the protocol, and it closed the
    connection."""

    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text
        name = frames.ERROR_CODES.get(code, f"code {code}")
        detail = f": {text}" if text else ""
        super().__init__(
            f"the hub ended the session over a protocol error: {name}{detail} "
            "(this client and the hub may speak different versions of the protocol)"
        )


class ProtocolError(PipehubError):
    """The hub's bytes are not valid pipehub frames, or its sequence numbers jumped without
    a ``LAGGED`` notice."""

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"the hub broke the protocol: {problem} (is the endpoint a pipehub hub of a "
            "matching version?)"
        )


class ConnectionLostError(PipehubError, ConnectionError):
    """The connection ended without ``BYE``: the hub crashed, was killed, hangs, or the
    connection was cut."""

    transient = True

    def __init__(self, endpoint: str, cause: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"lost the connection to the hub at {endpoint}: {cause}")


class ClosedError(PipehubError):
    """The hub said ``BYE`` (shutdown, or the operator removed this client) while the
    client waited for an answer, or the client was used after it was closed."""

    def __init__(self, message: str, reason: int = 0, text: str = "") -> None:
        self.reason = reason
        self.text = text
        self.transient = reason == frames.BYE_SHUTDOWN
        super().__init__(message)


class MessageTooLargeError(PipehubError, ValueError):
    """A message longer than the hub takes; nothing was sent."""

    def __init__(self, length: int, limit: int) -> None:
        self.length = length
        self.limit = limit
        super().__init__(
            f"a message of {length} bytes is longer than the hub accepts ({limit} bytes per "
            "message); split it into smaller messages"
        )
