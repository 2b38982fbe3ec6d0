//! The four phases a target goes through ([`crate::measure`] runs them in order), one file
//! each:
//! 1. [`connect`]: N listeners connect (throttled handshakes; clients per second);
//! 2. [`warm_up`]: a publisher sends markers until every listener has received one, so
//!    no listener misses the start of the measurement;
//! 3. [`measuring`]: K publishers send the measured messages, each stamped with its send
//!    time, paced by `--rate` and held within a flow-control window of the slowest
//!    listener;
//! 4. [`draining`]: an end marker follows the last message; once every listener has it
//!    (or the drain timeout passed) the loss is counted.
//!
//! Each phase watches the listeners' live counters and moves its progress bar; none of
//! them reads the target's process, which [`crate::measure`] does around them.

pub mod connect;
pub mod draining;
pub mod measuring;
pub mod warm_up;

use std::time::Duration;

/// How often the phases look at the counters (and move the progress bars).
pub const POLL: Duration = Duration::from_millis(5);
