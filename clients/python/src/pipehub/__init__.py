"""pipehub: a client for the pipehub hub, in pure Python (standard library only).

Listen::

    import pipehub
    with pipehub.Client(name="dashboard") as hub:
        for event in hub:
            if isinstance(event, pipehub.Message):
                print(event.seq, event.text)

Publish (``send`` returns once the hub has taken the message)::

    with pipehub.Client(role="publisher") as hub:
        hub.send("deploy finished")

:mod:`pipehub.aio` is the same for asyncio. ``python -m pipehub listen|send|status`` is a
command line on top. The protocol is ``docs/protocol.md`` of the pipehub repository.
"""

from .client import Client
from .errors import (
    ClosedError,
    ConnectionLostError,
    HubError,
    MessageTooLargeError,
    NoHubError,
    PipehubError,
    ProtocolError,
    RefusedError,
)
from .endpoint import EndpointError
from .events import Bye, DirectMessage, Event, HubRestarted, Lagged, Message, Position
from .frames import Origin, SENDER_OPERATOR, SENDER_REMOTE

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Bye",
    "ClosedError",
    "ConnectionLostError",
    "DirectMessage",
    "EndpointError",
    "Event",
    "HubError",
    "HubRestarted",
    "Lagged",
    "Message",
    "MessageTooLargeError",
    "NoHubError",
    "Origin",
    "PipehubError",
    "Position",
    "ProtocolError",
    "RefusedError",
    "SENDER_OPERATOR",
    "SENDER_REMOTE",
]
