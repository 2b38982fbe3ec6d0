"""The blocking client: one session with a hub, read and written from one thread.

:class:`Client` reads the hub only when asked to (:meth:`Client.receive`, iteration,
:meth:`Client.send`, :meth:`Client.status`), so a listener that stops reading is paced or,
past the hub's stall timeout, told exactly what it missed, as any listener is. Whenever it
reads it answers the hub's keepalive ``PING`` and, having heard nothing for a keepalive
interval, sends one of its own; a hub silent for another interval is taken for gone.

With ``reconnect=True`` a lost connection (or a ``BYE`` for shutdown) is followed, after
a back-off wait, by a new one that resumes right after the last broadcast received:
nothing twice, nothing skipped, and a :class:`~pipehub.events.Lagged` for whatever the
hub no longer held.
"""

from __future__ import annotations

import collections
import socket
import time
from typing import Any, Deque, Iterable, Iterator, List, Optional, Tuple, Union

from . import endpoint as endpoints
from . import frames
from .backoff import Backoff
from .errors import ClosedError, ConnectionLostError, PipehubError, ProtocolError
from .events import Bye, Event, HubRestarted, Lagged, Message, Position
from .session import KEEPALIVE_NONCE, Confirmed, Reply, Session, StatusAssembler, StatusPart

ROLES = {"listener": frames.ROLE_LISTENER, "publisher": frames.ROLE_PUBLISHER}
#: Queued ``SEND`` bytes written at once by :meth:`Client.send_many`.
WRITE_BATCH = 64 * 1024
READ_SIZE = 256 * 1024


def role_code(role: str) -> int:
    try:
        return ROLES[role]
    except KeyError:
        raise ValueError(f"role must be 'listener' or 'publisher', not {role!r}") from None


def to_bytes(body: Union[bytes, bytearray, memoryview, str]) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


class Client:
    """A session with the hub at ``endpoint`` (default: as the pipehub programs choose).

    ``role`` is ``"listener"`` (receives every broadcast; what it sends goes to the
    operator) or ``"publisher"`` (what it sends is broadcast). ``name`` is shown to the
    operator. A listener may start with the ``last`` K broadcasts the hub holds, or
    ``resume`` after a :class:`~pipehub.events.Position` of an earlier session.
    ``reconnect`` survives lost connections and hub restarts (and waits for a hub that
    is not there yet). ``keepalive`` is the interval of the client's watch on the hub, in
    seconds (``None`` waits forever); ``timeout`` bounds the wait for ``WELCOME``.

    Raises :class:`~pipehub.errors.NoHubError` if nothing serves the endpoint,
    :class:`~pipehub.errors.RefusedError` if the hub refuses.
    """

    def __init__(
        self,
        endpoint: Optional[str] = None,
        *,
        role: str = "listener",
        name: str = "",
        last: Optional[int] = None,
        resume: Optional[Position] = None,
        reconnect: bool = False,
        keepalive: Optional[float] = 30.0,
        timeout: float = 10.0,
    ) -> None:
        self.endpoint = endpoint if endpoint is not None else endpoints.default()
        endpoints.resolve(self.endpoint)
        self.reconnect = reconnect
        self.keepalive = keepalive or None
        self.timeout = timeout
        self._session = Session(role_code(role), name, last, resume)
        self._transport: Optional[endpoints.Transport] = None
        self._buffer = frames.FrameBuffer()
        self._ready: Deque[Tuple[Any, Optional[int]]] = collections.deque()
        self._confirmed = 0
        self._status = StatusAssembler()
        self._reports: Deque[dict] = collections.deque()
        self._ended = False
        self._closed = False
        self._backoff = Backoff()
        self._probe_sent = False
        #: The last broadcast handed out (or announced lost), to resume after later.
        self.position: Optional[Position] = resume
        self._first_connection()

    # --- what the hub said ---------------------------------------------------------

    @property
    def welcome(self) -> frames.Welcome:
        """The ``WELCOME`` of the current connection: client ID, hub instance, limits."""
        assert self._session.welcome is not None
        return self._session.welcome

    @property
    def client_id(self) -> int:
        return self.welcome.client_id

    @property
    def bye(self) -> Optional[Bye]:
        """Why the hub closed the session, once it has said ``BYE``."""
        return self._session.bye

    # --- listening -----------------------------------------------------------------

    def receive(self) -> Optional[Event]:
        """The next event: a :class:`~pipehub.events.Message`, a
        :class:`~pipehub.events.DirectMessage`, a :class:`~pipehub.events.Lagged` or a
        :class:`~pipehub.events.HubRestarted`. ``None`` once the hub has said ``BYE``
        (see :attr:`bye`), the normal end; a lost connection raises
        :class:`~pipehub.errors.ConnectionLostError` unless the client reconnects."""
        while True:
            if self._ready:
                event, instance = self._ready.popleft()
                self._delivered(event, instance)
                return event
            if self._ended:
                return None
            self._read_once()

    def __iter__(self) -> Iterator[Event]:
        while True:
            event = self.receive()
            if event is None:
                return
            yield event

    # --- sending -------------------------------------------------------------------

    def send(self, body: Union[bytes, str]) -> None:
        """Sends one message and returns once the hub has taken it (a publisher's is then
        broadcast, with its sequence number; a listener's is shown to the operator)."""
        self.send_many([body])

    def send_many(self, bodies: Iterable[Union[bytes, str]]) -> int:
        """Sends every message of ``bodies``, in order, and returns their number once the
        hub has taken them all. Cheaper than :meth:`send` per message: one confirmation."""
        self._ensure_open()
        batch: List[bytes] = []
        size = 0
        count = 0
        for body in bodies:
            data = to_bytes(body)
            self._session.check_body(data)
            batch.append(frames.encode_send(data))
            size += len(data) + 5
            count += 1
            if size >= WRITE_BATCH:
                self._write(b"".join(batch))
                batch, size = [], 0
        nonce = self._session.nonce()
        batch.append(frames.encode_ping(nonce))
        self._write(b"".join(batch))
        while self._confirmed != nonce:
            self._read_once(waiting="the confirmation of what it sent")
        return count

    # --- status --------------------------------------------------------------------

    def status(self) -> dict:
        """The hub's status report (protocol section 4.14), as parsed JSON."""
        self._ensure_open()
        self._write(frames.encode_status_request())
        while not self._reports:
            self._read_once(waiting="its status report")
        return self._reports.popleft()

    def close(self) -> None:
        """Closes the connection (the session ends; there is no goodbye frame)."""
        self._closed = True
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the connection ------------------------------------------------------------

    def _first_connection(self) -> None:
        while True:
            try:
                self._open()
                return
            except PipehubError as err:
                if not (self.reconnect and err.transient):
                    raise
            time.sleep(self._backoff.next_wait())

    def _open(self) -> None:
        transport = endpoints.connect(self.endpoint)
        try:
            transport.settimeout(self.timeout)
            transport.sendall(self._session.hello())
            self._buffer = frames.FrameBuffer()
            answer = None
            while answer is None:
                try:
                    data = transport.recv(READ_SIZE)
                except socket.timeout:
                    raise PipehubError(
                        f"the endpoint {self.endpoint} accepted the connection but did not "
                        f"answer HELLO within {self.timeout:g} s; is it a pipehub hub?"
                    ) from None
                except OSError as err:
                    raise ConnectionLostError(self.endpoint, f"{err} before WELCOME") from None
                if not data:
                    raise ConnectionLostError(self.endpoint, "the hub closed the connection before WELCOME")
                self._buffer.feed(data)
                try:
                    got = self._buffer.frames()
                except frames.ProtocolViolation as err:
                    raise ProtocolError(str(err)) from None
                if got:
                    answer, rest = got[0], got[1:]
            try:
                welcome = frames.decode(*answer)
            except frames.ProtocolViolation as err:
                raise ProtocolError(str(err)) from None
            for event in self._session.welcomed(welcome):
                self._ready.append((event, self._session.instance))
            self._buffer.max_frame = self._session.max_frame
            transport.settimeout(self.keepalive)
        except BaseException:
            transport.close()
            raise
        self._transport = transport
        self._probe_sent = False
        self._ended = False
        self._session.bye = None
        for frame in rest:
            self._dispatch(self._session.handle(*frame))

    def _ensure_open(self) -> None:
        if self._closed:
            raise ClosedError("this client was closed")
        if self._transport is not None:
            return
        if self.bye is not None and not (self.reconnect and self.bye.shutdown):
            raise ClosedError(f"the hub closed the session: {self.bye}", self.bye.reason, self.bye.text)
        if not self.reconnect:
            raise ConnectionLostError(self.endpoint, "the connection was lost earlier (pass reconnect=True to come back)")
        self._reconnect()

    def _reconnect(self) -> None:
        """Opens the next connection after a lost one, waiting per the back-off before
        each attempt, for as long as the failures are transient."""
        while True:
            time.sleep(self._backoff.next_wait())
            try:
                self._open()
                return
            except PipehubError as err:
                if not err.transient:
                    raise

    def _drop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _lost(self, cause: str) -> ConnectionLostError:
        self._drop()
        return ConnectionLostError(self.endpoint, cause)

    def _read_once(self, waiting: Optional[str] = None) -> None:
        """Reads what the hub has sent and dispatches it. While nothing is ``waiting`` for
        an answer, a lost connection is followed by a new one if the client reconnects."""
        if self._transport is None:
            if waiting is not None:
                if self.bye is not None:
                    raise ClosedError(
                        f"the hub closed the session before {waiting} arrived: {self.bye}",
                        self.bye.reason,
                        self.bye.text,
                    )
                raise self._lost(f"the connection closed before {waiting} arrived")
            self._ensure_open()
            return
        try:
            self._dispatch_bytes(self._recv())
        except PipehubError as err:
            if waiting is None and self.reconnect and err.transient and not self._closed:
                self._drop()
                return
            raise

    def _write(self, data: bytes) -> None:
        try:
            assert self._transport is not None
            self._transport.sendall(data)
        except OSError as err:
            self._why_closed(err)

    def _why_closed(self, err: OSError) -> None:
        """A write failed: the hub closed the connection. It says why first (``ERROR``,
        ``BYE``), so read that and raise it rather than a bare broken pipe."""
        try:
            while self._transport is not None:
                self._dispatch_bytes(self._recv())
        except ConnectionLostError:
            pass
        if self.bye is not None:
            raise ClosedError(f"the hub closed the session: {self.bye}", self.bye.reason, self.bye.text)
        raise self._lost(str(err))

    def _recv(self) -> bytes:
        assert self._transport is not None
        while True:
            try:
                data = self._transport.recv(READ_SIZE)
            except socket.timeout:
                if self._probe_sent:
                    raise self._lost(
                        f"the hub sent nothing for {2 * self.keepalive:g} s, not even an answer "
                        "to a keepalive PING (it may hang, or be gone without closing)"
                    ) from None
                self._probe_sent = True
                self._write(frames.encode_ping(KEEPALIVE_NONCE | self._session.nonce()))
                continue
            except OSError as err:
                raise self._lost(str(err)) from None
            if not data:
                raise self._lost(
                    "the hub closed the connection without a BYE (it may have crashed or been "
                    "killed, or the connection was cut)"
                )
            self._probe_sent = False
            return data

    def _dispatch_bytes(self, data: bytes) -> None:
        self._buffer.feed(data)
        try:
            got = self._buffer.frames()
        except frames.ProtocolViolation as err:
            raise ProtocolError(str(err)) from None
        for frame_type, payload in got:
            self._dispatch(self._session.handle(frame_type, payload))

    def _dispatch(self, items: List[Any]) -> None:
        for item in items:
            if isinstance(item, Reply):
                self._write(item)
            elif isinstance(item, Confirmed):
                if not item & KEEPALIVE_NONCE:
                    self._confirmed = int(item)
            elif isinstance(item, StatusPart):
                report = self._status.add(item)
                if report is not None:
                    self._reports.append(report)
            elif isinstance(item, Bye):
                # The last frame of the connection: a shutdown is outlived by a client
                # that reconnects; anything else ends the stream.
                self._drop()
                self._ended = not (self.reconnect and item.shutdown)
                return
            else:
                self._ready.append((item, self._session.instance))

    def _delivered(self, event: Any, instance: Optional[int]) -> None:
        if instance is None:
            return
        if isinstance(event, Message):
            self.position = Position(instance, event.seq)
            self._backoff.reset()
        elif isinstance(event, Lagged):
            self.position = Position(instance, event.next_seq - 1)
        elif isinstance(event, HubRestarted):
            self.position = Position(instance, 0)
