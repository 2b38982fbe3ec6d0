"""The asyncio client: the same session as :class:`pipehub.Client`, for event loops.

One background task reads the connection: it answers the hub's keepalive ``PING`` even
while the program is busy elsewhere, completes the confirmations :meth:`AsyncClient.send`
waits for, and queues events for :meth:`AsyncClient.receive` (``async for``). The queue is
bounded (``buffer`` events): when the program does not take them, the task stops reading,
so the hub sees a slow listener as it would any other, and paces publishers or reports
the loss. (While a confirmation or a status report is awaited the task reads on past the
bound, so that waiting inside ``async for`` cannot deadlock.)

With ``reconnect=True`` the task outlives lost connections and ``BYE`` for shutdown: it
reconnects after a back-off wait and resumes right after the last broadcast it read. A
:meth:`AsyncClient.send` in flight when the connection is lost raises
:class:`~pipehub.errors.ConnectionLostError` (the hub may or may not have taken it); later
ones wait for the new connection.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, AsyncIterator, Deque, Dict, Iterable, List, Optional, Tuple, Union

from . import endpoint as endpoints
from . import frames
from .backoff import Backoff
from .client import READ_SIZE, WRITE_BATCH, role_code, to_bytes
from .errors import ClosedError, ConnectionLostError, PipehubError, ProtocolError
from .events import Bye, Event, HubRestarted, Lagged, Message, Position
from .session import KEEPALIVE_NONCE, Confirmed, Reply, Session, StatusAssembler, StatusPart


async def connect(endpoint: Optional[str] = None, **options: Any) -> "AsyncClient":
    """Opens an :class:`AsyncClient`; the options are those of :class:`pipehub.Client`,
    plus ``buffer`` (the events queued for the program, 1024 by default)."""
    client = AsyncClient(endpoint, **options)
    await client._start()
    return client


class AsyncClient:
    """A session with a hub for asyncio programs. Open one with :func:`connect`."""

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
        buffer: int = 1024,
    ) -> None:
        self.endpoint = endpoint if endpoint is not None else endpoints.default()
        endpoints.resolve(self.endpoint)
        self.reconnect = reconnect
        self.keepalive = keepalive or None
        self.timeout = timeout
        self._capacity = max(buffer, 1)
        self._session = Session(role_code(role), name, last, resume)
        self._reader: Optional[asyncio.StreamReader] = None
        self._writer: Optional[asyncio.StreamWriter] = None
        self._rest: List[Tuple[int, bytes]] = []
        self._events: Deque[Tuple[Any, Optional[int]]] = collections.deque()
        self._have_event = asyncio.Event()
        self._room = asyncio.Event()
        self._connected = asyncio.Event()
        self._ended = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._confirmations: Dict[int, "asyncio.Future[None]"] = {}
        self._reports: Deque["asyncio.Future[dict]"] = collections.deque()
        self._status = StatusAssembler()
        self._task: Optional["asyncio.Task[None]"] = None
        self._finished = False
        self._failure: Optional[BaseException] = None
        self._backoff = Backoff()
        #: The last broadcast handed out (or announced lost), to resume after later.
        self.position: Optional[Position] = resume

    @property
    def welcome(self) -> frames.Welcome:
        assert self._session.welcome is not None
        return self._session.welcome

    @property
    def client_id(self) -> int:
        return self.welcome.client_id

    @property
    def bye(self) -> Optional[Bye]:
        return self._session.bye

    # --- listening -----------------------------------------------------------------

    async def receive(self) -> Optional[Event]:
        """The next event, as :meth:`pipehub.Client.receive`: ``None`` after ``BYE``."""
        while not self._events:
            if self._finished:
                if self._failure is not None:
                    raise self._failure
                return None
            self._have_event.clear()
            await self._have_event.wait()
        event, instance = self._events.popleft()
        self._room.set()
        if instance is not None:
            if isinstance(event, Message):
                self.position = Position(instance, event.seq)
            elif isinstance(event, Lagged):
                self.position = Position(instance, event.next_seq - 1)
            elif isinstance(event, HubRestarted):
                self.position = Position(instance, 0)
        return event

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        event = await self.receive()
        if event is None:
            raise StopAsyncIteration
        return event

    # --- sending and asking --------------------------------------------------------

    async def send(self, body: Union[bytes, str]) -> None:
        """Sends one message; returns once the hub has taken it."""
        await self.send_many([body])

    async def send_many(self, bodies: Iterable[Union[bytes, str]]) -> int:
        """Sends every message, in order; returns their number once the hub took them all."""
        datas = [to_bytes(body) for body in bodies]
        for data in datas:
            self._session.check_body(data)
        await self._until_connected()
        nonce = self._session.nonce()
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations[nonce] = confirmed
        self._room.set()
        batch: List[bytes] = []
        size = 0
        for data in datas:
            batch.append(frames.encode_send(data))
            size += len(data) + 5
            if size >= WRITE_BATCH:
                await self._write(b"".join(batch))
                batch, size = [], 0
        batch.append(frames.encode_ping(nonce))
        await self._write(b"".join(batch))
        await confirmed
        return len(datas)

    async def status(self) -> dict:
        """The hub's status report (protocol section 4.14), as parsed JSON."""
        await self._until_connected()
        report = asyncio.get_running_loop().create_future()
        self._reports.append(report)
        self._room.set()
        await self._write(frames.encode_status_request())
        return await report

    async def close(self) -> None:
        """Closes the connection and stops the background task."""
        self._finish(ClosedError("this client was closed"))
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self._drop()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the connection ------------------------------------------------------------

    async def _start(self) -> None:
        while True:
            try:
                await self._open()
                break
            except PipehubError as err:
                if not (self.reconnect and err.transient):
                    raise
            await asyncio.sleep(self._backoff.next_wait())
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _open(self) -> None:
        reader, writer = await self._connect()
        try:
            writer.write(self._session.hello())
            buffer = frames.FrameBuffer()
            got: List[Tuple[int, bytes]] = []
            while not got:
                try:
                    data = await asyncio.wait_for(reader.read(READ_SIZE), self.timeout)
                except asyncio.TimeoutError:
                    raise PipehubError(
                        f"the endpoint {self.endpoint} accepted the connection but did not "
                        f"answer HELLO within {self.timeout:g} s; is it a pipehub hub?"
                    ) from None
                except OSError as err:
                    raise ConnectionLostError(self.endpoint, f"{err} before WELCOME") from None
                if not data:
                    raise ConnectionLostError(self.endpoint, "the hub closed the connection before WELCOME")
                buffer.feed(data)
                try:
                    got = buffer.frames()
                except frames.ProtocolViolation as err:
                    raise ProtocolError(str(err)) from None
            try:
                answer = frames.decode(*got[0])
            except frames.ProtocolViolation as err:
                raise ProtocolError(str(err)) from None
            started = self._session.welcomed(answer)
        except BaseException:
            writer.close()
            raise
        buffer.max_frame = self._session.max_frame
        self._buffer = buffer
        self._rest = got[1:]
        self._reader, self._writer = reader, writer
        self._session.bye = None
        for event in started:
            self._queue(event)
        self._connected.set()

    async def _connect(self) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        address = endpoints.resolve(self.endpoint)
        if endpoints.WINDOWS:
            return await _open_pipe(self.endpoint, address)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + endpoints.BUSY_WAIT
        while True:
            try:
                sock = endpoints.try_socket(self.endpoint, address)
                break
            except endpoints.Busy:
                if loop.time() >= deadline:
                    raise endpoints.busy_error(self.endpoint, address) from None
            await asyncio.sleep(endpoints.BUSY_RETRY)
        return await asyncio.open_unix_connection(sock=sock, limit=READ_SIZE)

    async def _until_connected(self) -> None:
        while not self._connected.is_set():
            if self._finished:
                raise self._failure or ClosedError(f"the hub closed the session: {self.bye}")
            waiter = asyncio.ensure_future(self._connected.wait())
            ending = asyncio.ensure_future(self._ended.wait())
            await asyncio.wait({waiter, ending}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            ending.cancel()
        if self._finished:
            raise self._failure or ClosedError(f"the hub closed the session: {self.bye}")

    async def _write(self, data: bytes) -> None:
        async with self._write_lock:
            writer = self._writer
            if writer is None:
                raise ConnectionLostError(self.endpoint, "the connection closed while sending")
            try:
                writer.write(data)
                await writer.drain()
            except OSError:
                # The reader finds out why (the hub's ERROR or BYE comes first) and fails
                # what waits for an answer with that.
                pass

    def _queue(self, event: Any) -> None:
        self._events.append((event, self._session.instance))
        self._have_event.set()

    def _drop(self) -> None:
        self._connected.clear()
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    def _fail_waiters(self, error: BaseException) -> None:
        for future in list(self._confirmations.values()) + list(self._reports):
            if not future.done():
                future.set_exception(error)
                # Whoever waits is told; nobody need retrieve it otherwise.
                future.exception()
        self._confirmations.clear()
        self._reports.clear()

    def _finish(self, failure: Optional[BaseException]) -> None:
        if self._finished:
            return
        self._finished = True
        self._failure = failure
        self._fail_waiters(failure or ClosedError(f"the hub closed the session: {self.bye}"))
        self._have_event.set()
        self._ended.set()

    async def _run(self) -> None:
        """The background task: reads sessions one after another until the end."""
        while True:
            error: PipehubError
            try:
                await self._read_session()
                bye = self._session.bye
                assert bye is not None
                error = ClosedError(f"the hub closed the session: {bye}", bye.reason, bye.text)
                if not (self.reconnect and bye.shutdown):
                    self._drop()
                    self._finish(None)
                    return
            except PipehubError as err:
                error = err
                if not (self.reconnect and err.transient):
                    self._drop()
                    self._finish(err)
                    return
            except Exception as err:  # an unexpected failure must not hang receive()
                self._drop()
                self._finish(err)
                return
            self._drop()
            self._fail_waiters(error)
            try:
                await self._reconnect()
            except PipehubError as err:
                self._finish(err)
                return

    async def _reconnect(self) -> None:
        while True:
            await asyncio.sleep(self._backoff.next_wait())
            try:
                await self._open()
                return
            except PipehubError as err:
                if not err.transient:
                    raise

    async def _read_session(self) -> None:
        """Reads the current connection until ``BYE`` (returns) or its loss (raises)."""
        pending = self._rest
        self._rest = []
        if await self._handle(pending):
            return
        while True:
            data = await self._recv()
            self._buffer.feed(data)
            try:
                got = self._buffer.frames()
            except frames.ProtocolViolation as err:
                raise ProtocolError(str(err)) from None
            if await self._handle(got):
                return
            while len(self._events) >= self._capacity and not self._confirmations and not self._reports:
                self._room.clear()
                await self._room.wait()

    async def _handle(self, got: List[Tuple[int, bytes]]) -> bool:
        """Dispatches frames; returns whether the hub said ``BYE``."""
        for frame_type, payload in got:
            for item in self._session.handle(frame_type, payload):
                if isinstance(item, Reply):
                    await self._write(item)
                elif isinstance(item, Confirmed):
                    future = self._confirmations.pop(int(item), None)
                    if future is not None and not future.done():
                        future.set_result(None)
                    if not item & KEEPALIVE_NONCE:
                        self._backoff.reset()
                elif isinstance(item, StatusPart):
                    report = self._status.add(item)
                    if report is not None and self._reports:
                        future = self._reports.popleft()
                        if not future.done():
                            future.set_result(report)
                elif isinstance(item, Bye):
                    return True
                else:
                    if isinstance(item, Message):
                        self._backoff.reset()
                    self._queue(item)
        return False

    async def _recv(self) -> bytes:
        reader = self._reader
        assert reader is not None
        probe_sent = False
        while True:
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), self.keepalive)
            except asyncio.TimeoutError:
                if self._write_lock.locked():
                    # A write is waiting for the hub to read: a publisher the hub paces
                    # (protocol section 6.5). Its silence is no sign of a dead hub.
                    probe_sent = False
                    continue
                if probe_sent:
                    raise ConnectionLostError(
                        self.endpoint,
                        f"the hub sent nothing for {2 * self.keepalive:g} s, not even an answer "
                        "to a keepalive PING (it may hang, or be gone without closing)",
                    ) from None
                probe_sent = True
                await self._write(frames.encode_ping(KEEPALIVE_NONCE | self._session.nonce()))
                continue
            except OSError as err:
                raise ConnectionLostError(self.endpoint, str(err)) from None
            if not data:
                raise ConnectionLostError(
                    self.endpoint,
                    "the hub closed the connection without a BYE (it may have crashed or been "
                    "killed, or the connection was cut)",
                )
            return data


async def _open_pipe(endpoint: str, address: str) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Opens a Windows named pipe on the proactor event loop (the default on Windows),
    which retries a busy pipe (``ERROR_PIPE_BUSY``) by itself."""
    from .errors import NoHubError

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_SIZE)
    protocol = asyncio.StreamReaderProtocol(reader)
    try:
        transport, _ = await loop.create_pipe_connection(lambda: protocol, address)  # type: ignore[attr-defined]
    except FileNotFoundError:
        raise NoHubError(endpoint, address, "no such pipe") from None
    except OSError as err:
        if getattr(err, "winerror", None) == 2:
            raise NoHubError(endpoint, address, "no such pipe") from None
        raise
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
