"""What a client knows across its connections, without doing any I/O.

:class:`Session` builds each ``HELLO`` (the first, and on reconnecting one that resumes
after the last broadcast received), reads the ``WELCOME``, and turns the hub's frames into
events. It follows the sequence numbers so that no loss goes unnoticed: a ``LAGGED`` is
passed on with its exact count, a restarted hub is announced, and any other jump is a
:class:`~pipehub.errors.ProtocolError`. The blocking and the asyncio clients both drive
one, so they cannot differ in what they deliver.
"""

from __future__ import annotations

import json
from typing import Any, List, Optional

from . import frames
from .errors import ClosedError, HubError, MessageTooLargeError, ProtocolError, RefusedError
from .events import Bye, DirectMessage, HubRestarted, Lagged, Message, Position

#: ``last`` of a resuming ``HELLO``: should the hub be a new instance, start with every
#: broadcast it still holds (protocol section 4.1).
RESUME_LAST = 0xFFFFFFFF

#: Set in the nonces of keepalive ``PING``\ s, so their ``PONG``\ s are not mistaken for
#: confirmations (which count up from 1).
KEEPALIVE_NONCE = 1 << 63


class Reply(bytes):
    """Bytes to write back to the hub at once (a ``PONG`` to its ``PING``)."""


class Confirmed(int):
    """The nonce of a ``PONG``: every frame sent before that ``PING`` was taken."""


class StatusPart:
    """One part of a status report."""

    __slots__ = ("more", "part")

    def __init__(self, more: bool, part: bytes) -> None:
        self.more = more
        self.part = part


class Session:
    """One client's place in a hub's stream, across connections."""

    def __init__(
        self,
        role: int,
        name: str = "",
        last: Optional[int] = None,
        resume: Optional[Position] = None,
    ) -> None:
        frames.encode_hello(role, name, None, last)  # checks name and last at once
        self.role = role
        self.name = name
        self.last = last
        #: The hub instance of the current (or last) connection.
        self.instance: Optional[int] = resume.instance if resume else None
        #: The sequence number the next broadcast must have; ``None`` when unknown.
        self.expected: Optional[int] = resume.seq + 1 if resume else None
        #: Where to resume while :attr:`expected` is unknown.
        self._start_after = resume.seq if resume else 0
        self._resume = resume is not None
        #: The session is with a new hub instance and none of its broadcasts has arrived:
        #: its first may come after others that the hub no longer holds.
        self._new_instance = False
        self._origin: Optional[frames.Origin] = None
        self.welcome: Optional[frames.Welcome] = None
        self.bye: Optional[Bye] = None
        self.max_frame = frames.DEFAULT_MAX_FRAME
        self._next_nonce = 1

    # --- opening a connection ------------------------------------------------------

    def hello(self) -> bytes:
        """The ``HELLO`` for the next connection: a listener that has been connected (or
        was given a position) resumes after its last broadcast."""
        if self.role == frames.ROLE_LISTENER and self._resume and self.instance is not None:
            after = self.expected - 1 if self.expected is not None else self._start_after
            return frames.encode_hello(self.role, self.name, (self.instance, after), RESUME_LAST)
        return frames.encode_hello(self.role, self.name, None, self.last)

    def welcomed(self, frame: frames.HubFrame) -> List[Any]:
        """Takes the hub's answer to ``HELLO``. Returns the events the session starts with
        (a :class:`HubRestarted`); raises for ``REFUSED`` and ``ERROR``."""
        if isinstance(frame, frames.Refused):
            raise RefusedError(frame.code, frame.text)
        if isinstance(frame, frames.Error):
            raise HubError(frame.code, frame.text)
        if isinstance(frame, frames.Bye):
            raise ClosedError(f"the hub closed the connection before WELCOME: {Bye(*frame)}", frame.reason, frame.text)
        if not isinstance(frame, frames.Welcome):
            raise ProtocolError(f"it answered HELLO with {type(frame).__name__} instead of WELCOME")
        self.welcome = frame
        self.max_frame = frame.max_frame
        self._origin = None
        events: List[Any] = []
        resuming = self.role == frames.ROLE_LISTENER and self._resume and self.instance is not None
        if resuming and frame.hub_instance == self.instance:
            after = self.expected - 1 if self.expected is not None else self._start_after
            self.expected = min(after, frame.current_seq) + 1
        elif resuming:
            after = self.expected - 1 if self.expected is not None else self._start_after
            events.append(HubRestarted(self.instance, frame.hub_instance, after))
            self.expected = 1
            self._new_instance = True
        elif self.last:
            # A start with the last K broadcasts begins at or before current_seq + 1.
            self.expected = None
            self._start_after = max(frame.current_seq - self.last, 0)
        else:
            self.expected = frame.current_seq + 1
        self.instance = frame.hub_instance
        self._resume = True
        return events

    # --- an open connection --------------------------------------------------------

    def nonce(self) -> int:
        """A fresh nonce for a confirming ``PING``."""
        nonce = self._next_nonce
        self._next_nonce = (nonce + 1) & (KEEPALIVE_NONCE - 1) or 1
        return nonce

    def position(self) -> Optional[Position]:
        """The last broadcast received (or announced lost), if the stream has a place."""
        if self.instance is None:
            return None
        after = self.expected - 1 if self.expected is not None else self._start_after
        return Position(self.instance, after)

    def check_body(self, body: bytes) -> None:
        limit = self.max_frame - (frames.BROADCAST_OVERHEAD if self.role == frames.ROLE_PUBLISHER else 1)
        if len(body) > limit:
            raise MessageTooLargeError(len(body), limit)

    def handle(self, frame_type: int, payload: bytes) -> List[Any]:
        """Turns one frame of an open session into what it means: events, a
        :class:`Reply`, a :class:`Confirmed`, a :class:`StatusPart`, or a :class:`Bye`
        (the end). Raises for ``ERROR`` and for frames no hub may send now."""
        try:
            frame = frames.decode(frame_type, payload)
        except frames.ProtocolViolation as err:
            raise ProtocolError(str(err)) from None
        origin, self._origin = self._origin, None
        if isinstance(frame, frames.Broadcast):
            return self._broadcast(frame, origin)
        if isinstance(frame, frames.Origin):
            self._origin = frame
            return []
        if isinstance(frame, frames.Lagged):
            self.expected = frame.next_seq
            return [Lagged(frame.missed, frame.next_seq)]
        if isinstance(frame, frames.Direct):
            return [DirectMessage(frame.sender, frame.timestamp_us, frame.body)]
        if isinstance(frame, frames.Ping):
            return [Reply(frames.encode_pong(frame.nonce))]
        if isinstance(frame, frames.Pong):
            return [Confirmed(frame.nonce)]
        if isinstance(frame, frames.Status):
            return [StatusPart(frame.more, frame.part)]
        if isinstance(frame, frames.Bye):
            self.bye = Bye(frame.reason, frame.text)
            return [self.bye]
        if isinstance(frame, frames.Error):
            raise HubError(frame.code, frame.text)
        if isinstance(frame, frames.Unknown):
            return []
        raise ProtocolError(f"it sent {type(frame).__name__.upper()} in an open session")

    def _broadcast(self, frame: frames.Broadcast, origin: Optional[frames.Origin]) -> List[Any]:
        events: List[Any] = []
        expected = self.expected
        if expected is not None and frame.seq != expected:
            if self._new_instance and frame.seq > expected:
                # The new instance no longer held its first broadcasts: exactly these.
                events.append(Lagged(frame.seq - expected, frame.seq))
            else:
                raise ProtocolError(
                    f"sequence gap: expected #{expected}, got #{frame.seq} with no LAGGED notice"
                )
        self._new_instance = False
        self.expected = frame.seq + 1
        events.append(Message(frame.seq, frame.sender, frame.timestamp_us, frame.body, origin))
        return events


class StatusAssembler:
    """Joins the parts of one status report (protocol section 4.14)."""

    def __init__(self) -> None:
        self._parts: List[bytes] = []

    def add(self, part: StatusPart) -> Optional[dict]:
        """Adds a part; returns the report once its last part is in."""
        self._parts.append(part.part)
        if part.more:
            return None
        raw = b"".join(self._parts)
        self._parts = []
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise ProtocolError(f"its status report is not JSON: {err}") from None
