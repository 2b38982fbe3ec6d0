"""The bytes of the pipehub protocol: frame types, codes, and encoding and decoding.

This module is the protocol of ``docs/protocol.md`` (sections 3 and 4) and nothing else: no
sockets, no policy. A frame is ``length: u32 BE | type: u8 | payload``; every integer is
big-endian. The client encodes the frames a client sends (``HELLO``, ``SEND``, ``PING``,
``PONG``, ``STATUS_REQUEST``) and decodes the frames a hub sends into the named tuples
below. :class:`FrameBuffer` cuts frames out of a byte stream as it arrives.
"""

from __future__ import annotations

import struct
from typing import List, NamedTuple, Optional, Tuple, Union

MAGIC = b"PHUB"
VERSION = 1
#: The largest frame ``length`` a client accepts before ``WELCOME`` says otherwise.
DEFAULT_MAX_FRAME = 1048576
#: The longest ``HELLO`` name, in bytes of UTF-8.
MAX_NAME_LEN = 64
#: How much longer a ``BROADCAST`` is than the ``SEND`` it carries: a publisher's body must
#: fit ``max_frame - 25`` bytes (protocol section 4.2).
BROADCAST_OVERHEAD = 25

# Frame types (protocol section 3).
HELLO = 0x01
SEND = 0x02
PING = 0x03
STATUS_REQUEST = 0x05
WELCOME = 0x81
REFUSED = 0x82
BROADCAST = 0x83
PONG = 0x84
LAGGED = 0x85
BYE = 0x86
ERROR = 0x87
DIRECT = 0x88
STATUS = 0x89
ORIGIN = 0x8A

TYPE_NAMES = {
    HELLO: "HELLO",
    SEND: "SEND",
    PING: "PING",
    STATUS_REQUEST: "STATUS_REQUEST",
    WELCOME: "WELCOME",
    REFUSED: "REFUSED",
    BROADCAST: "BROADCAST",
    PONG: "PONG",
    LAGGED: "LAGGED",
    BYE: "BYE",
    ERROR: "ERROR",
    DIRECT: "DIRECT",
    STATUS: "STATUS",
    ORIGIN: "ORIGIN",
}

ROLE_LISTENER = 1
ROLE_PUBLISHER = 2

FLAG_RESUME = 0x01
FLAG_LAST = 0x02

#: ``BROADCAST.sender`` of the hub's operator console.
SENDER_OPERATOR = 0
#: ``BROADCAST.sender`` of a message from another hub over a bridge (section 6.3).
SENDER_REMOTE = 2**64 - 1

#: ``REFUSED`` codes (section 4.11), with what the user can do about each.
REFUSE_CODES = {
    1: ("unsupported version", "use a pipehub client of the same protocol version as the hub"),
    2: ("hub full", "try again when clients have left, or raise the hub's --max-clients"),
    3: ("not permitted", "ask the hub's operator for access (pipehub --publishers, --allow-uid)"),
    4: ("shutting down", "try again once the hub has been restarted"),
}
#: ``ERROR`` codes (section 4.11).
ERROR_CODES = {
    1: "malformed frame",
    2: "frame too large",
    3: "bad magic",
    4: "unexpected frame",
    5: "unknown frame type",
    6: "unsupported version",
}
#: ``BYE`` reasons (section 4.11).
BYE_REASONS = {1: "shutdown", 2: "kicked"}
BYE_SHUTDOWN = 1
BYE_KICKED = 2

_HEADER = struct.Struct(">IB")
_U64 = struct.Struct(">Q")
_U64_PAIR = struct.Struct(">QQ")
_U64_TRIPLE = struct.Struct(">QQQ")
_WELCOME = struct.Struct(">HQQQII")
_HELLO_FIXED = struct.Struct(">IB4sHBBQQB")


class ProtocolViolation(Exception):
    """Bytes from the hub that are not a valid frame of this protocol."""


# Frames a hub sends. Field names are those of the tables of section 4.
class Welcome(NamedTuple):
    version: int
    client_id: int
    hub_instance: int
    current_seq: int
    max_frame: int
    queue_frames: int


class Refused(NamedTuple):
    code: int
    text: str


class Broadcast(NamedTuple):
    seq: int
    sender: int
    timestamp_us: int
    body: bytes


class Ping(NamedTuple):
    nonce: int


class Pong(NamedTuple):
    nonce: int


class Lagged(NamedTuple):
    missed: int
    next_seq: int


class Bye(NamedTuple):
    reason: int
    text: str


class Error(NamedTuple):
    code: int
    text: str


class Direct(NamedTuple):
    sender: int
    timestamp_us: int
    body: bytes


class Status(NamedTuple):
    #: Bit 0: more, another part of the report follows; other bits are ignored.
    flags: int
    part: bytes

    @property
    def more(self) -> bool:
        return bool(self.flags & 1)


class Origin(NamedTuple):
    hub_instance: int
    seq: int
    sender: int
    hub_name: str


class Unknown(NamedTuple):
    """A hub frame of a type this client does not know (0x80 or more): skipped (5.2)."""

    type: int


HubFrame = Union[
    Welcome, Refused, Broadcast, Ping, Pong, Lagged, Bye, Error, Direct, Status, Origin, Unknown
]


def lenient_text(data: bytes) -> str:
    """Decodes a ``text`` field: invalid UTF-8 becomes one U+FFFD per maximal subpart,
    as section 3 asks (Python's ``"replace"`` handler does exactly this)."""
    return data.decode("utf-8", "replace")


def _frame(frame_type: int, payload: bytes) -> bytes:
    return _HEADER.pack(1 + len(payload), frame_type) + payload


def encode_hello(
    role: int,
    name: str = "",
    resume: Optional[Tuple[int, int]] = None,
    last: Optional[int] = None,
) -> bytes:
    """``HELLO`` (4.1): ``resume`` is ``(hub_instance, resume_after)``, ``last`` the number
    of recent broadcasts to start with."""
    if role not in (ROLE_LISTENER, ROLE_PUBLISHER):
        raise ValueError(f"role must be {ROLE_LISTENER} (listener) or {ROLE_PUBLISHER} (publisher), not {role}")
    raw_name = name.encode("utf-8")
    if len(raw_name) > MAX_NAME_LEN:
        raise ValueError(
            f"the name {name!r} is {len(raw_name)} bytes of UTF-8; the hub takes at most "
            f"{MAX_NAME_LEN}: shorten it"
        )
    flags = 0
    instance, after = 0, 0
    if resume is not None:
        flags |= FLAG_RESUME
        instance, after = resume
    tail = b""
    if last is not None:
        if not 0 <= last <= 0xFFFFFFFF:
            raise ValueError(f"last must be between 0 and 4294967295, not {last}")
        flags |= FLAG_LAST
        tail = struct.pack(">I", last)
    length = 26 + len(raw_name) + len(tail)
    fixed = _HELLO_FIXED.pack(
        length, HELLO, MAGIC, VERSION, role, flags, instance, after, len(raw_name)
    )
    return fixed + raw_name + tail


def encode_send(body: bytes) -> bytes:
    """``SEND`` (4.2)."""
    return _frame(SEND, body)


def encode_ping(nonce: int) -> bytes:
    """``PING`` (4.3)."""
    return _frame(PING, _U64.pack(nonce))


def encode_pong(nonce: int) -> bytes:
    """``PONG`` (4.7): the answer to the hub's keepalive ``PING``."""
    return _frame(PONG, _U64.pack(nonce))


def encode_status_request() -> bytes:
    """``STATUS_REQUEST`` (4.13)."""
    return _frame(STATUS_REQUEST, b"")


def _exact(name: str, payload: bytes, size: int) -> None:
    if len(payload) != size:
        raise ProtocolViolation(
            f"a {name} frame has a payload of {len(payload)} bytes instead of {size}"
        )


def _at_least(name: str, payload: bytes, size: int) -> None:
    if len(payload) < size:
        raise ProtocolViolation(
            f"a {name} frame has a payload of {len(payload)} bytes, shorter than its "
            f"{size} bytes of fixed fields"
        )


def decode(frame_type: int, payload: bytes) -> HubFrame:
    """Decodes one frame a hub sends, from its type byte and payload (the bytes after the
    type). Raises :class:`ProtocolViolation` for a frame no hub may send a client."""
    if frame_type == BROADCAST:
        _at_least("BROADCAST", payload, 24)
        seq, sender, ts = _U64_TRIPLE.unpack_from(payload)
        return Broadcast(seq, sender, ts, bytes(payload[24:]))
    if frame_type == PING or frame_type == PONG:
        _exact(TYPE_NAMES[frame_type], payload, 8)
        (nonce,) = _U64.unpack_from(payload)
        return Ping(nonce) if frame_type == PING else Pong(nonce)
    if frame_type == LAGGED:
        _exact("LAGGED", payload, 16)
        return Lagged(*_U64_PAIR.unpack_from(payload))
    if frame_type == WELCOME:
        _exact("WELCOME", payload, _WELCOME.size)
        return Welcome(*_WELCOME.unpack_from(payload))
    if frame_type in (REFUSED, ERROR):
        _at_least(TYPE_NAMES[frame_type], payload, 2)
        (code,) = struct.unpack_from(">H", payload)
        text = lenient_text(bytes(payload[2:]))
        return Refused(code, text) if frame_type == REFUSED else Error(code, text)
    if frame_type == BYE:
        _at_least("BYE", payload, 1)
        return Bye(payload[0], lenient_text(bytes(payload[1:])))
    if frame_type == DIRECT:
        _at_least("DIRECT", payload, 16)
        sender, ts = _U64_PAIR.unpack_from(payload)
        return Direct(sender, ts, bytes(payload[16:]))
    if frame_type == STATUS:
        _at_least("STATUS", payload, 1)
        return Status(payload[0], bytes(payload[1:]))
    if frame_type == ORIGIN:
        _at_least("ORIGIN", payload, 24)
        instance, seq, sender = _U64_TRIPLE.unpack_from(payload)
        raw = bytes(payload[24:])
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation("an ORIGIN frame's hub name is not valid UTF-8") from None
        if len(raw) > MAX_NAME_LEN:
            raise ProtocolViolation(
                f"an ORIGIN frame's hub name is {len(raw)} bytes, over {MAX_NAME_LEN}"
            )
        return Origin(instance, seq, sender, name)
    if frame_type >= 0x80:
        return Unknown(frame_type)
    name = TYPE_NAMES.get(frame_type, f"0x{frame_type:02x}")
    raise ProtocolViolation(f"the hub sent a frame of type {name}, which only clients send")


class FrameBuffer:
    """Cuts whole frames out of the bytes read from a connection.

    Bytes go in with :meth:`feed`; :meth:`frames` takes out every whole frame as
    ``(type, payload)``. A length of 0 or over ``max_frame`` is refused as soon as its
    four bytes are here (section 3), without waiting for the rest.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def pending(self) -> int:
        """Bytes received that are not a whole frame yet (or not taken out yet)."""
        return len(self._buf) - self._pos

    def frames(self) -> List[Tuple[int, bytes]]:
        out = []
        buf, pos, end = self._buf, self._pos, len(self._buf)
        while end - pos >= 4:
            (length,) = struct.unpack_from(">I", buf, pos)
            if length == 0 or length > self.max_frame:
                raise ProtocolViolation(
                    f"the hub announced a frame of length {length}, outside 1..{self.max_frame}"
                )
            if end - pos < 4 + length:
                break
            out.append((buf[pos + 4], bytes(buf[pos + 5 : pos + 4 + length])))
            pos += 4 + length
        if pos == end:
            buf.clear()
            pos = 0
        elif pos > 65536:
            del buf[:pos]
            pos = 0
        self._pos = pos
        return out
