"""What a listener receives: messages, direct messages and notices of loss.

A listener's stream is the hub's broadcasts in order, each with its sequence number;
between them may come a :class:`Lagged` (broadcasts this client will never receive, exactly
counted), a :class:`HubRestarted` (the hub was restarted while this client reconnected) or a
:class:`DirectMessage` (the operator wrote to this client alone).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import NamedTuple, Optional, Union

from .frames import Origin, lenient_text


def _time(timestamp_us: int) -> datetime.datetime:
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    return epoch + datetime.timedelta(microseconds=timestamp_us)


@dataclass(frozen=True)
class Message:
    """A broadcast: numbered in the hub's sequence, each one more than the one before."""

    seq: int
    #: The client ID of the publisher; 0 for the hub's operator, 2**64 - 1 for a message
    #: from another hub (then :attr:`origin` names it).
    sender: int
    #: When the hub took it, in microseconds since the Unix epoch.
    timestamp_us: int
    body: bytes
    #: Where it was first broadcast, for a message that came from another hub over a
    #: bridge; ``None`` for one broadcast on this hub.
    origin: Optional[Origin] = None

    @property
    def text(self) -> str:
        """The body as text (invalid UTF-8 replaced by U+FFFD)."""
        return lenient_text(self.body)

    @property
    def time(self) -> datetime.datetime:
        """When the hub took it, as an aware UTC datetime."""
        return _time(self.timestamp_us)


@dataclass(frozen=True)
class DirectMessage:
    """A message for this client alone (the operator's ``/to``): not a broadcast, no
    sequence number, never replayed."""

    sender: int
    timestamp_us: int
    body: bytes

    @property
    def text(self) -> str:
        return lenient_text(self.body)

    @property
    def time(self) -> datetime.datetime:
        return _time(self.timestamp_us)


@dataclass(frozen=True)
class Lagged:
    """This client will never receive ``missed`` broadcasts; the next one is ``next_seq``."""

    missed: int
    next_seq: int


@dataclass(frozen=True)
class HubRestarted:
    """On reconnecting, the hub turned out to be a new instance: it was restarted, and its
    sequence numbers began again at 1. What the previous instance broadcast after ``after``
    may have been lost, and how many cannot be known. (Of the new instance's broadcasts, a
    :class:`Lagged` counts exactly those the hub no longer held.)"""

    previous_instance: int
    instance: int
    #: The last sequence number received from the previous instance.
    after: int


Event = Union[Message, DirectMessage, Lagged, HubRestarted]


class Position(NamedTuple):
    """A place in a hub's stream: the last broadcast received of one hub instance. Pass it
    as ``resume`` to continue right after it, in this process or the next."""

    instance: int
    seq: int


class Bye(NamedTuple):
    """Why the hub closed a healthy session: ``reason`` 1 is shutdown, 2 kicked."""

    reason: int
    text: str

    @property
    def shutdown(self) -> bool:
        return self.reason == 1

    def __str__(self) -> str:
        from .frames import BYE_REASONS

        name = BYE_REASONS.get(self.reason, f"reason {self.reason}")
        return f"{name}: {self.text}" if self.text else name
