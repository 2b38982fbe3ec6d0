//! The hub's tunable limits, independent of how they are given (the CLI fills them in).

use std::time::Duration;

use pipehub_protocol::DEFAULT_MAX_FRAME;

use crate::access::Access;

/// Limits and timings of one hub. `Config::default()` is what `pipehub` runs with when
/// no flag says otherwise.
#[derive(Clone, Debug)]
pub struct Config {
    /// The largest frame (value of the length field) the hub accepts and announces.
    pub max_frame: u32,
    /// How many broadcasts the log retains: how far a client may fall behind before it
    /// is told it lagged.
    pub queue_frames: usize,
    /// The most bytes of encoded broadcasts the log retains; whichever bound is hit
    /// first evicts the oldest broadcast.
    pub queue_bytes: usize,
    /// How many of the latest broadcasts a client may ask to have replayed when it
    /// connects (resume after a sequence number, or "the last K"); 0 disables replay.
    pub history_frames: usize,
    /// The most bytes of broadcasts replay reaches back over.
    pub history_bytes: usize,
    /// The socket file's permissions (Unix).
    pub socket_mode: u32,
    /// Whether every local user may open the named pipe, not only the hub's own user
    /// (Windows; on Unix, `socket_mode` and `access` decide).
    pub allow_everyone: bool,
    /// Who may connect and publish.
    pub access: Access,
    /// A framed client silent for this long is sent a `PING`; silent for twice this
    /// long, it is disconnected. `None` disables keepalive.
    pub keepalive: Option<Duration>,
    /// Most clients served at once; a client past it is refused with `REFUSED` "hub
    /// full" (while 64 such refusals are under way, further connections wait in the
    /// kernel's backlog).
    pub max_clients: usize,
    /// A connection that sends nothing for this long after connecting is served as a
    /// text listener.
    pub text_grace: Duration,
    /// A connection that started a `HELLO` must finish it within this time.
    pub handshake_timeout: Duration,
    /// A framed client that began a frame must finish it within this time (the hub
    /// checks twice a second), or it gets `ERROR` and is closed: a frame begun and never
    /// finished would otherwise hold what was sent of it for as long as the client likes.
    pub frame_timeout: Duration,
    /// The most bytes the hub holds, across every client, of frames larger than 32 KiB
    /// that are still arriving; a client whose frame does not fit is not read until
    /// others finish. Never less than one frame of `max_frame` bytes.
    pub partial_frames_bytes: usize,
    /// Messages a second each client may send to the operator, after a burst of 100; a
    /// faster client is read at this pace (nothing is dropped). 0: no limit.
    pub operator_rate: u32,
    /// On shutdown, how long clients get to receive what is queued for them and `BYE`.
    pub shutdown_timeout: Duration,
    /// What happens when a publisher is faster than the listeners: wait for them, or
    /// skip the listeners ahead.
    pub when_behind: WhenBehind,
    /// A listener that takes nothing for this long while publishers wait for it stops
    /// holding them back (it is left behind and later told what it missed).
    pub stall_timeout: Duration,
}

/// What the hub does when publishers send faster than listeners read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum WhenBehind {
    /// Pace publishers: the hub takes their messages only as fast as the slowest live
    /// listener reads them, so a listener that keeps reading misses nothing. A listener
    /// that stops for the stall timeout no longer holds publishers back.
    #[default]
    Wait,
    /// Take publishers' messages at once; a listener more than the queue behind skips
    /// ahead and is told with `LAGGED` how many it missed (the newest messages over
    /// complete ones: telemetry, tickers).
    Skip,
}

impl WhenBehind {
    /// The flag's word for it: `wait` or `skip`.
    pub fn name(self) -> &'static str {
        match self {
            WhenBehind::Wait => "wait",
            WhenBehind::Skip => "skip",
        }
    }
}

/// The default stall timeout: long enough that a listener that is reading never trips it
/// (docs/performance.md, "Choosing the stall timeout"), short enough that a stopped one
/// delays the others by a moment a person barely notices.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(1);

/// The default pace of a client's messages to the operator: faster than a person reads,
/// slow enough that one client cannot bury the console or a service's journal.
pub const DEFAULT_OPERATOR_RATE: u32 = 20;

/// The default window (`--queue`): broadcasts a listener may be behind.
pub const DEFAULT_QUEUE_FRAMES: u32 = 4096;
/// The default bytes of broadcasts the log retains (`--queue-bytes`).
pub const DEFAULT_QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// The default depth of replay (`--history`).
pub const DEFAULT_HISTORY_FRAMES: usize = 1024;
/// The default bytes replay reaches back over (`--history-bytes`).
pub const DEFAULT_HISTORY_BYTES: usize = 16 * 1024 * 1024;
/// The default socket file permissions (`--mode`): the hub's own user only.
pub const DEFAULT_SOCKET_MODE: u32 = 0o600;
/// The default keepalive interval (`--keepalive`).
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(30);
/// The default client cap (`--max-clients`).
pub const DEFAULT_MAX_CLIENTS: u64 = 100_000;
/// The default silence before a connection is served as a text listener
/// (`--text-grace-ms`).
pub const DEFAULT_TEXT_GRACE: Duration = Duration::from_millis(300);
/// The default time clients get on shutdown (`--shutdown-timeout`).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame: DEFAULT_MAX_FRAME,
            queue_frames: DEFAULT_QUEUE_FRAMES as usize,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            history_frames: DEFAULT_HISTORY_FRAMES,
            history_bytes: DEFAULT_HISTORY_BYTES,
            socket_mode: DEFAULT_SOCKET_MODE,
            allow_everyone: false,
            access: Access::for_current_user(),
            keepalive: Some(DEFAULT_KEEPALIVE),
            max_clients: DEFAULT_MAX_CLIENTS as usize,
            text_grace: DEFAULT_TEXT_GRACE,
            handshake_timeout: Duration::from_secs(10),
            frame_timeout: Duration::from_secs(10),
            partial_frames_bytes: 16 * 1024 * 1024,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            operator_rate: DEFAULT_OPERATOR_RATE,
            when_behind: WhenBehind::Wait,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
        }
    }
}
