//! Every frame of the protocol, as one enum, with its exact byte layout.
//!
//! A frame on the wire is `length: u32 BE | type: u8 | payload`. All integers are
//! big-endian. Client-to-hub types are below 0x80, hub-to-client types are 0x80 and up.
//! [`Frame::encode`] writes a whole frame; [`Frame::parse`] reads one type byte and
//! payload (the codec has already checked the length). Parsing never panics: every read
//! is bounds-checked, and text fields are decoded leniently (invalid UTF-8 is replaced),
//! except the `HELLO` name and the `ORIGIN` hub name, which must be valid.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{
    ByeReason, ClientId, ErrorCode, HEADER_LEN, HubInstance, MAGIC, MAX_NAME_LEN, ProtocolError,
    RefuseCode, Seq, VERSION,
};

/// The type byte of each frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameType {
    Hello = 0x01,
    Send = 0x02,
    Ping = 0x03,
    StatusRequest = 0x05,
    Welcome = 0x81,
    Refused = 0x82,
    Broadcast = 0x83,
    Pong = 0x84,
    Lagged = 0x85,
    Bye = 0x86,
    Error = 0x87,
    Direct = 0x88,
    Status = 0x89,
    Origin = 0x8a,
}

impl FrameType {
    /// Every frame type, in type-byte order.
    pub const ALL: [FrameType; 14] = [
        FrameType::Hello,
        FrameType::Send,
        FrameType::Ping,
        FrameType::StatusRequest,
        FrameType::Welcome,
        FrameType::Refused,
        FrameType::Broadcast,
        FrameType::Pong,
        FrameType::Lagged,
        FrameType::Bye,
        FrameType::Error,
        FrameType::Direct,
        FrameType::Status,
        FrameType::Origin,
    ];

    /// The type for a type byte, if this protocol version knows it.
    pub fn from_byte(byte: u8) -> Option<FrameType> {
        FrameType::ALL.into_iter().find(|t| *t as u8 == byte)
    }

    /// The frame's name as the specification writes it (`HELLO`, `SEND`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FrameType::Hello => "HELLO",
            FrameType::Send => "SEND",
            FrameType::Ping => "PING",
            FrameType::StatusRequest => "STATUS_REQUEST",
            FrameType::Welcome => "WELCOME",
            FrameType::Refused => "REFUSED",
            FrameType::Broadcast => "BROADCAST",
            FrameType::Pong => "PONG",
            FrameType::Lagged => "LAGGED",
            FrameType::Bye => "BYE",
            FrameType::Error => "ERROR",
            FrameType::Direct => "DIRECT",
            FrameType::Status => "STATUS",
            FrameType::Origin => "ORIGIN",
        }
    }

    /// Whether clients send this frame (as opposed to the hub). `PING` and `PONG` go
    /// both ways: either side may probe the other.
    pub fn is_client_to_hub(self) -> bool {
        (self as u8) < 0x80 || self == FrameType::Pong
    }

    /// Whether the hub sends this frame.
    pub fn is_hub_to_client(self) -> bool {
        (self as u8) >= 0x80 || self == FrameType::Ping
    }
}

/// What a client is connected for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Receives every broadcast. Its `SEND`s go to the operator console only.
    Listener,
    /// Broadcasts its `SEND`s to every listener. Receives no broadcasts.
    Publisher,
}

impl Role {
    fn to_byte(self) -> u8 {
        match self {
            Role::Listener => 1,
            Role::Publisher => 2,
        }
    }

    fn from_byte(byte: u8) -> Option<Role> {
        match byte {
            1 => Some(Role::Listener),
            2 => Some(Role::Publisher),
            _ => None,
        }
    }

    /// The role's lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Listener => "listener",
            Role::Publisher => "publisher",
        }
    }
}

/// The first frame a client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Always [`VERSION`] for a `Hello` built by this crate; decoding refuses others.
    pub version: u16,
    pub role: Role,
    /// A display name for the operator, at most [`MAX_NAME_LEN`] bytes; empty for none.
    pub name: String,
    /// "Resume after sequence number S of hub instance I": the client has seen every
    /// broadcast up to S from that hub instance.
    pub resume: Option<(HubInstance, Seq)>,
    /// "Start with the last K broadcasts": replay up to K retained broadcasts before live
    /// ones. A resume point of the same hub instance takes precedence.
    pub last: Option<u32>,
}

impl Hello {
    /// A version-[`VERSION`] hello with no name and no resume point.
    pub fn new(role: Role) -> Hello {
        Hello {
            version: VERSION,
            role,
            name: String::new(),
            resume: None,
            last: None,
        }
    }

    /// This hello with a display name (cut to [`MAX_NAME_LEN`] bytes when encoded).
    pub fn with_name(self, name: impl Into<String>) -> Hello {
        Hello {
            name: name.into(),
            ..self
        }
    }

    /// This hello asking to continue after broadcast `after` of hub instance `instance`.
    pub fn with_resume(self, instance: HubInstance, after: Seq) -> Hello {
        Hello {
            resume: Some((instance, after)),
            ..self
        }
    }

    /// This hello asking to start with up to the last `k` broadcasts the hub holds.
    pub fn with_last(self, k: u32) -> Hello {
        Hello {
            last: Some(k),
            ..self
        }
    }
}

/// The hub's acceptance of a `HELLO`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Welcome {
    /// The protocol version the hub will speak on this connection.
    pub version: u16,
    /// This client's ID, unique for the hub's life.
    pub client_id: ClientId,
    /// The hub process's random instance ID.
    pub hub_instance: HubInstance,
    /// The sequence number of the latest broadcast (0 if none yet). A listener's first
    /// broadcast is `current_seq + 1`, unless it asked to resume.
    pub current_seq: Seq,
    /// The largest length field the hub accepts or sends.
    pub max_frame: u32,
    /// How many broadcasts a client may fall behind before it is told it lagged.
    pub queue_frames: u32,
}

/// One broadcast message as a client receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broadcast {
    pub seq: Seq,
    /// Who sent it: [`ClientId::OPERATOR`] for the hub console, else a publisher's ID.
    pub sender: ClientId,
    /// When the hub took the message, in microseconds since the Unix epoch.
    pub timestamp_us: u64,
    /// The message, binary-safe.
    pub body: Bytes,
}

/// Where a broadcast that came from another hub over the bridge was first broadcast.
/// The hub sends it as an `ORIGIN` frame immediately before that `BROADCAST`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The origin hub's instance ID.
    pub hub_instance: HubInstance,
    /// The broadcast's sequence number on the origin hub.
    pub seq: Seq,
    /// Who sent it on the origin hub: [`ClientId::OPERATOR`] for that hub's console,
    /// else the client ID of a publisher there.
    pub sender: ClientId,
    /// The origin hub's name (`pipehub --hub-name`), at most [`MAX_NAME_LEN`] bytes.
    pub hub_name: String,
}

/// Bytes of a `BROADCAST` frame before its body: header, seq, sender, timestamp.
pub const BROADCAST_BODY_OFFSET: usize = HEADER_LEN + 8 + 8 + 8;

/// One frame of the protocol, in either direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// `0x01` client → hub: open the session.
    Hello(Hello),
    /// `0x02` client → hub: a message body to broadcast (publisher) or to show the
    /// operator (listener).
    Send(Bytes),
    /// `0x03` client → hub: ask for a `PONG` with the same nonce. The hub answers after
    /// it has handled every frame the client sent before.
    Ping(u64),
    /// `0x05` client → hub: ask for the hub's status (who is connected, counters). The
    /// hub answers with one or more `STATUS` frames.
    StatusRequest,
    /// `0x81` hub → client: the session is open.
    Welcome(Welcome),
    /// `0x82` hub → client: the session is refused; the hub closes the connection.
    Refused { code: RefuseCode, text: String },
    /// `0x83` hub → client: a broadcast message.
    Broadcast(Broadcast),
    /// `0x84` hub → client: the answer to `PING`.
    Pong(u64),
    /// `0x85` hub → client: this client fell behind and missed `missed` broadcasts; the
    /// next one it receives is `next_seq`.
    Lagged { missed: u64, next_seq: Seq },
    /// `0x86` hub → client: the hub is closing this healthy connection.
    Bye { reason: ByeReason, text: String },
    /// `0x87` hub → client: the client broke the protocol; the hub closes the connection.
    Error { code: ErrorCode, text: String },
    /// `0x88` hub → client: a message for this client alone (the operator's `/to`). It is
    /// not part of the broadcast stream and carries no sequence number.
    Direct {
        sender: ClientId,
        timestamp_us: u64,
        body: Bytes,
    },
    /// `0x89` hub → client: one part of a status report, the answer to
    /// `STATUS_REQUEST`. The parts of one report, concatenated in order, are UTF-8 JSON
    /// ([`crate::status::StatusReport`]); `more` is set on every part but the last.
    Status { more: bool, part: Bytes },
    /// `0x8a` hub → client: the `BROADCAST` that immediately follows came from another
    /// hub over the bridge; this is where it was first broadcast.
    Origin(Origin),
}

/// `STATUS` flag bit 0: more parts of this report follow.
const STATUS_FLAG_MORE: u8 = 0x01;

/// Encodes one `BROADCAST` frame straight from its parts, without building a [`Frame`]:
/// the hub's hot path, called once per broadcast whatever the number of clients.
pub fn broadcast_frame(seq: Seq, sender: ClientId, timestamp_us: u64, body: &[u8]) -> Bytes {
    let mut dst = BytesMut::with_capacity(BROADCAST_BODY_OFFSET + body.len());
    put_broadcast_frame(&mut dst, seq, sender, timestamp_us, body);
    dst.freeze()
}

/// Appends one `BROADCAST` frame to `dst` (a `BytesMut`, or a `Vec<u8>` a hub packs many
/// frames into), as [`broadcast_frame`] encodes it.
pub fn put_broadcast_frame(
    dst: &mut impl BufMut,
    seq: Seq,
    sender: ClientId,
    timestamp_us: u64,
    body: &[u8],
) {
    dst.put_u32(frame_len(BROADCAST_BODY_OFFSET - HEADER_LEN + body.len()));
    dst.put_u8(FrameType::Broadcast as u8);
    dst.put_u64(seq.0);
    dst.put_u64(sender.0);
    dst.put_u64(timestamp_us);
    dst.put_slice(body);
}

/// Appends one `SEND` frame with `body` to `dst`, as [`Frame::Send`] encodes it, from a
/// borrowed body: for senders that build many bodies in one reused buffer.
pub fn put_send_frame(dst: &mut BytesMut, body: &[u8]) {
    dst.reserve(HEADER_LEN + body.len());
    dst.put_u32(frame_len(body.len()));
    dst.put_u8(FrameType::Send as u8);
    dst.put_slice(body);
}

/// The length field for a payload of `payload_len` bytes. Payloads are bounded by the
/// maximum frame size long before `u32::MAX`; saturating keeps this total.
fn frame_len(payload_len: usize) -> u32 {
    u32::try_from(payload_len + 1).unwrap_or(u32::MAX)
}

impl Frame {
    /// This frame's type.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Hello(_) => FrameType::Hello,
            Frame::Send(_) => FrameType::Send,
            Frame::Ping(_) => FrameType::Ping,
            Frame::StatusRequest => FrameType::StatusRequest,
            Frame::Welcome(_) => FrameType::Welcome,
            Frame::Refused { .. } => FrameType::Refused,
            Frame::Broadcast(_) => FrameType::Broadcast,
            Frame::Pong(_) => FrameType::Pong,
            Frame::Lagged { .. } => FrameType::Lagged,
            Frame::Bye { .. } => FrameType::Bye,
            Frame::Error { .. } => FrameType::Error,
            Frame::Direct { .. } => FrameType::Direct,
            Frame::Status { .. } => FrameType::Status,
            Frame::Origin(_) => FrameType::Origin,
        }
    }

    /// Appends the whole frame, header included, to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        let start = dst.len();
        dst.put_u32(0); // length, patched below
        dst.put_u8(self.frame_type() as u8);
        match self {
            Frame::Hello(hello) => {
                dst.put_slice(&MAGIC);
                dst.put_u16(hello.version);
                dst.put_u8(hello.role.to_byte());
                let (mut flags, (instance, seq)) = match hello.resume {
                    Some(point) => (HELLO_FLAG_RESUME, point),
                    None => (0, (HubInstance(0), Seq(0))),
                };
                if hello.last.is_some() {
                    flags |= HELLO_FLAG_LAST;
                }
                dst.put_u8(flags);
                dst.put_u64(instance.0);
                dst.put_u64(seq.0);
                let name = truncate_utf8(&hello.name, MAX_NAME_LEN);
                dst.put_u8(name.len() as u8);
                dst.put_slice(name.as_bytes());
                if let Some(last) = hello.last {
                    dst.put_u32(last);
                }
            }
            Frame::Send(body) => dst.put_slice(body),
            Frame::StatusRequest => {}
            Frame::Ping(nonce) | Frame::Pong(nonce) => dst.put_u64(*nonce),
            Frame::Welcome(w) => {
                dst.put_u16(w.version);
                dst.put_u64(w.client_id.0);
                dst.put_u64(w.hub_instance.0);
                dst.put_u64(w.current_seq.0);
                dst.put_u32(w.max_frame);
                dst.put_u32(w.queue_frames);
            }
            Frame::Refused { code, text } => {
                dst.put_u16(code.0);
                dst.put_slice(text.as_bytes());
            }
            Frame::Broadcast(b) => {
                dst.put_u64(b.seq.0);
                dst.put_u64(b.sender.0);
                dst.put_u64(b.timestamp_us);
                dst.put_slice(&b.body);
            }
            Frame::Lagged { missed, next_seq } => {
                dst.put_u64(*missed);
                dst.put_u64(next_seq.0);
            }
            Frame::Bye { reason, text } => {
                dst.put_u8(reason.0);
                dst.put_slice(text.as_bytes());
            }
            Frame::Error { code, text } => {
                dst.put_u16(code.0);
                dst.put_slice(text.as_bytes());
            }
            Frame::Direct {
                sender,
                timestamp_us,
                body,
            } => {
                dst.put_u64(sender.0);
                dst.put_u64(*timestamp_us);
                dst.put_slice(body);
            }
            Frame::Status { more, part } => {
                dst.put_u8(if *more { STATUS_FLAG_MORE } else { 0 });
                dst.put_slice(part);
            }
            Frame::Origin(origin) => {
                dst.put_u64(origin.hub_instance.0);
                dst.put_u64(origin.seq.0);
                dst.put_u64(origin.sender.0);
                dst.put_slice(truncate_utf8(&origin.hub_name, MAX_NAME_LEN).as_bytes());
            }
        }
        let len = frame_len(dst.len() - start - HEADER_LEN);
        dst[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// The whole frame as bytes.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::new();
        self.encode(&mut dst);
        dst.freeze()
    }

    /// Reads a frame from its type byte and payload (everything after the type byte).
    /// Payload fields that are bodies share `payload`'s memory: no copy.
    pub fn parse(type_byte: u8, payload: Bytes) -> Result<Frame, ProtocolError> {
        let frame_type =
            FrameType::from_byte(type_byte).ok_or(ProtocolError::UnknownType(type_byte))?;
        let mut r = Reader {
            frame: frame_type.name(),
            buf: payload,
        };
        let frame = match frame_type {
            FrameType::Hello => Frame::Hello(parse_hello(&mut r)?),
            FrameType::Send => Frame::Send(r.rest()),
            FrameType::Ping => Frame::Ping(r.u64()?),
            FrameType::StatusRequest => Frame::StatusRequest,
            FrameType::Welcome => Frame::Welcome(Welcome {
                version: r.u16()?,
                client_id: ClientId(r.u64()?),
                hub_instance: HubInstance(r.u64()?),
                current_seq: Seq(r.u64()?),
                max_frame: r.u32()?,
                queue_frames: r.u32()?,
            }),
            FrameType::Refused => Frame::Refused {
                code: RefuseCode(r.u16()?),
                text: r.text(),
            },
            FrameType::Broadcast => Frame::Broadcast(Broadcast {
                seq: Seq(r.u64()?),
                sender: ClientId(r.u64()?),
                timestamp_us: r.u64()?,
                body: r.rest(),
            }),
            FrameType::Pong => Frame::Pong(r.u64()?),
            FrameType::Lagged => Frame::Lagged {
                missed: r.u64()?,
                next_seq: Seq(r.u64()?),
            },
            FrameType::Bye => Frame::Bye {
                reason: ByeReason(r.u8()?),
                text: r.text(),
            },
            FrameType::Error => Frame::Error {
                code: ErrorCode(r.u16()?),
                text: r.text(),
            },
            FrameType::Direct => Frame::Direct {
                sender: ClientId(r.u64()?),
                timestamp_us: r.u64()?,
                body: r.rest(),
            },
            // Flag bits other than `more` are reserved; a client ignores them, so a
            // later revision may use them.
            FrameType::Status => Frame::Status {
                more: r.u8()? & STATUS_FLAG_MORE != 0,
                part: r.rest(),
            },
            FrameType::Origin => Frame::Origin(Origin {
                hub_instance: HubInstance(r.u64()?),
                seq: Seq(r.u64()?),
                sender: ClientId(r.u64()?),
                // Strict, like the HELLO name: a name decoded leniently could grow past
                // 64 bytes and no longer be the name that was sent.
                hub_name: {
                    let name = r.rest();
                    if name.len() > MAX_NAME_LEN {
                        return Err(r.malformed("hub name longer than 64 bytes"));
                    }
                    String::from_utf8(name.to_vec())
                        .map_err(|_| r.malformed("hub name is not UTF-8"))?
                },
            }),
        };
        r.finish()?;
        Ok(frame)
    }
}

/// The largest `length` of a version-1 `HELLO`: type, magic, version, role, flags,
/// resume instance and sequence number, name length, a 64-byte name, and "last K".
pub const MAX_HELLO_LEN: u32 = 1 + 4 + 2 + 1 + 1 + 8 + 8 + 1 + MAX_NAME_LEN as u32 + 4;

/// Checks a connection's first frame from its first bytes, before it is whole, so that
/// nobody waits for (or holds) more of it than the longest `HELLO`. A first frame of at
/// most [`MAX_HELLO_LEN`] is left to the full parse (whose body checks come before the
/// check that it is a `HELLO`). A longer one cannot be a version-1 `HELLO`, and is judged
/// as soon as the bytes that tell have arrived: a type byte that names no frame, a frame
/// other than `HELLO` (5 bytes); a `HELLO`'s magic and version (11 bytes): another
/// version is unsupported, version 1 is malformed.
pub fn check_first_frame_start(buf: &[u8]) -> Result<(), ProtocolError> {
    let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(());
    };
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if len <= MAX_HELLO_LEN {
        return Ok(());
    }
    match FrameType::from_byte(header[4]) {
        None => Err(ProtocolError::UnknownType(header[4])),
        Some(FrameType::Hello) => {
            let Some(start) = buf.first_chunk::<{ HEADER_LEN + 6 }>() else {
                return Ok(());
            };
            let magic = [start[5], start[6], start[7], start[8]];
            let version = u16::from_be_bytes([start[9], start[10]]);
            if magic != MAGIC {
                Err(ProtocolError::BadMagic(magic))
            } else if version != VERSION {
                Err(ProtocolError::UnsupportedVersion(version))
            } else {
                Err(ProtocolError::Malformed {
                    frame: "HELLO",
                    reason: "longer than the 94 bytes a version-1 HELLO can be",
                })
            }
        }
        Some(other) => Err(ProtocolError::NotHello(other)),
    }
}

/// `HELLO` flag bit 0: the resume fields are meaningful.
const HELLO_FLAG_RESUME: u8 = 0x01;
/// `HELLO` flag bit 1: a `u32` "last K" field follows the name.
const HELLO_FLAG_LAST: u8 = 0x02;

fn parse_hello(r: &mut Reader) -> Result<Hello, ProtocolError> {
    let magic: [u8; 4] = r.array()?;
    if magic != MAGIC {
        return Err(ProtocolError::BadMagic(magic));
    }
    let version = r.u16()?;
    if version != VERSION {
        // A future version may lay out the rest differently: stop reading here.
        return Err(ProtocolError::UnsupportedVersion(version));
    }
    let role = Role::from_byte(r.u8()?)
        .ok_or(r.malformed("role must be 1 (listener) or 2 (publisher)"))?;
    let flags = r.u8()?;
    if flags & !(HELLO_FLAG_RESUME | HELLO_FLAG_LAST) != 0 {
        return Err(r.malformed("unknown flag bits set"));
    }
    let instance = HubInstance(r.u64()?);
    let seq = Seq(r.u64()?);
    let name_len = usize::from(r.u8()?);
    if name_len > MAX_NAME_LEN {
        return Err(r.malformed("name longer than 64 bytes"));
    }
    let name = r.take(name_len)?;
    let name = String::from_utf8(name.to_vec()).map_err(|_| r.malformed("name is not UTF-8"))?;
    let last = if flags & HELLO_FLAG_LAST != 0 {
        Some(r.u32()?)
    } else {
        None
    };
    Ok(Hello {
        version,
        role,
        name,
        resume: (flags & HELLO_FLAG_RESUME != 0).then_some((instance, seq)),
        last,
    })
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a char boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A bounds-checked cursor over one frame's payload.
struct Reader {
    frame: &'static str,
    buf: Bytes,
}

impl Reader {
    fn malformed(&self, reason: &'static str) -> ProtocolError {
        ProtocolError::Malformed {
            frame: self.frame,
            reason,
        }
    }

    /// Fails unless `n` more bytes are there.
    fn need(&self, n: usize) -> Result<(), ProtocolError> {
        if self.buf.len() < n {
            Err(self.malformed("payload shorter than its fixed fields"))
        } else {
            Ok(())
        }
    }

    /// The next `n` bytes, sharing the payload's memory.
    fn take(&mut self, n: usize) -> Result<Bytes, ProtocolError> {
        self.need(n)?;
        Ok(self.buf.split_to(n))
    }

    // Fixed-size fields are read in place (`Buf::get_*` advances the view), without
    // splitting off a `Bytes` per field: no reference-count traffic per field.

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        self.need(N)?;
        let mut out = [0; N];
        self.buf.copy_to_slice(&mut out);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, ProtocolError> {
        self.need(1)?;
        Ok(self.buf.get_u8())
    }

    fn u16(&mut self) -> Result<u16, ProtocolError> {
        self.need(2)?;
        Ok(self.buf.get_u16())
    }

    fn u32(&mut self) -> Result<u32, ProtocolError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }

    fn u64(&mut self) -> Result<u64, ProtocolError> {
        self.need(8)?;
        Ok(self.buf.get_u64())
    }

    fn rest(&mut self) -> Bytes {
        self.buf.split_off(0)
    }

    fn text(&mut self) -> String {
        String::from_utf8_lossy(&self.rest()).into_owned()
    }

    fn finish(self) -> Result<(), ProtocolError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.malformed("trailing bytes after the last field"))
        }
    }
}
