"""Where a hub serves, and opening a connection to it (protocol section 2).

The endpoint is chosen as the pipehub programs choose it: the one given, else
``PIPEHUB_ENDPOINT``, else the platform default. ``pipe:NAME`` is where .NET looks for the
pipe NAME: ``$TMPDIR/CoreFxPipe_NAME`` on Unix, ``\\\\.\\pipe\\NAME`` on Windows.

A busy hub (its connection queue full: ``EAGAIN`` on Linux, ``ERROR_PIPE_BUSY`` on Windows)
is not a missing one: connecting retries it every 50 ms for up to 5 s.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import tempfile
import time
from typing import Optional

from .errors import NoHubError, PipehubError

ENV_VAR = "PIPEHUB_ENDPOINT"
PIPE_PREFIX = "pipe:"
#: How long to wait between two attempts to reach a busy hub, and for how long in all.
BUSY_RETRY = 0.05
BUSY_WAIT = 5.0

WINDOWS = sys.platform == "win32"
_ERROR_FILE_NOT_FOUND = 2
_ERROR_PIPE_BUSY = 231


class EndpointError(PipehubError, ValueError):
    """An endpoint that names nothing: empty, or ``pipe:`` without a bare name."""


def default() -> str:
    """The endpoint to use when none is given: ``PIPEHUB_ENDPOINT`` if set and not empty,
    else ``$XDG_RUNTIME_DIR/pipehub.sock``, else ``TMP/pipehub-UID/pipehub.sock``; on
    Windows ``\\\\.\\pipe\\pipehub``."""
    value = os.environ.get(ENV_VAR)
    if value:
        return value
    if WINDOWS:
        return r"\\.\pipe\pipehub"
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "pipehub.sock")
    return os.path.join(tempfile.gettempdir(), f"pipehub-{os.getuid()}", "pipehub.sock")


def resolve(endpoint: str) -> str:
    """The address to connect to: a socket path on Unix, a pipe path on Windows."""
    if endpoint == "":
        raise EndpointError(
            "the endpoint is empty; give a socket path or pipe:NAME, or leave it out (and "
            "PIPEHUB_ENDPOINT unset) for the default"
        )
    if endpoint.startswith(PIPE_PREFIX):
        name = endpoint[len(PIPE_PREFIX) :]
        if not name:
            raise EndpointError("`pipe:` needs a pipe name, as in `pipe:testpipe`")
        if "/" in name or "\\" in name:
            raise EndpointError(
                f"the pipe name in `{endpoint}` contains a path separator; `pipe:NAME` takes "
                "a bare name (to use a socket at a path of your choice, pass the path itself)"
            )
        if WINDOWS:
            return "\\\\.\\pipe\\" + name
        tmp = os.environ.get("TMPDIR") or "/tmp/"
        if not tmp.endswith("/"):
            tmp += "/"
        return tmp + "CoreFxPipe_" + name
    if WINDOWS and not endpoint.startswith("\\\\"):
        return "\\\\.\\pipe\\" + endpoint
    return endpoint


class Transport:
    """A connected byte stream to a hub: a Unix socket, or on Windows a pipe opened as a
    file. Blocking; :meth:`recv` waits at most the timeout set (sockets only)."""

    def __init__(self, sock: Optional[socket.socket] = None, pipe=None) -> None:
        self.sock = sock
        self.pipe = pipe

    def settimeout(self, seconds: Optional[float]) -> None:
        if self.sock is not None:
            self.sock.settimeout(seconds)

    def recv(self, size: int) -> bytes:
        if self.sock is not None:
            return self.sock.recv(size)
        return self.pipe.read(size) or b""

    def sendall(self, data: bytes) -> None:
        if self.sock is not None:
            # No timeout while writing: a hub pacing a publisher stops reading it for as
            # long as its listeners need (protocol section 6.5), which is no failure.
            timeout = self.sock.gettimeout()
            self.sock.settimeout(None)
            try:
                self.sock.sendall(data)
            finally:
                self.sock.settimeout(timeout)
        else:
            view = memoryview(data)
            while view:
                view = view[self.pipe.write(view) :]

    def close(self) -> None:
        for thing in (self.sock, self.pipe):
            if thing is not None:
                try:
                    thing.close()
                except OSError:
                    pass


class Busy(Exception):
    """The hub's connection queue is full (``EAGAIN``): it is there, but busy."""


def try_socket(endpoint: str, address: str) -> socket.socket:
    """One attempt to connect a non-blocking Unix socket to ``address``. Raises
    :class:`Busy` for a full connection queue, :class:`NoHubError` when nothing serves it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.connect(address)
        return sock
    except BlockingIOError:
        sock.close()
        raise Busy() from None
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as err:
        sock.close()
        cause = "no socket there" if isinstance(err, FileNotFoundError) else err.strerror
        raise NoHubError(endpoint, address, cause) from None
    except OSError as err:
        sock.close()
        if err.errno in (errno.ENAMETOOLONG, errno.EINVAL) or "too long" in str(err):
            raise EndpointError(
                f"the socket path {address} is {len(address.encode())} bytes, longer than "
                "a Unix socket address holds: pass a shorter endpoint"
            ) from None
        raise


def busy_error(endpoint: str, address: str) -> NoHubError:
    return NoHubError(endpoint, address, f"the hub stayed too busy to accept for {BUSY_WAIT:g} s")


def connect_socket(endpoint: str) -> socket.socket:
    """Connects a non-blocking Unix socket to the hub at ``endpoint``, retrying a busy hub
    every :data:`BUSY_RETRY` for up to :data:`BUSY_WAIT`."""
    address = resolve(endpoint)
    deadline = time.monotonic() + BUSY_WAIT
    while True:
        try:
            return try_socket(endpoint, address)
        except Busy:
            if time.monotonic() >= deadline:
                raise busy_error(endpoint, address) from None
        time.sleep(BUSY_RETRY)


def connect(endpoint: str) -> Transport:
    """Opens a blocking :class:`Transport` to the hub at ``endpoint``."""
    if not WINDOWS:
        sock = connect_socket(endpoint)
        sock.setblocking(True)
        return Transport(sock=sock)
    address = resolve(endpoint)
    deadline = time.monotonic() + BUSY_WAIT
    while True:
        try:
            return Transport(pipe=open(address, "r+b", buffering=0))
        except OSError as err:
            code = getattr(err, "winerror", None)
            if code == _ERROR_PIPE_BUSY and time.monotonic() < deadline:
                time.sleep(BUSY_RETRY)
                continue
            if code == _ERROR_FILE_NOT_FOUND or isinstance(err, FileNotFoundError):
                raise NoHubError(endpoint, address, "no such pipe") from None
            raise
