//! The pace at which one client may talk to the operator: a person reads a few lines a
//! second, and a client that sends thousands would bury the console (or a service's
//! journal). A token bucket per client, made only once the client first talks: a burst
//! of [`BURST`] messages goes through at once, then at most the configured rate. A client
//! past it is not read until its next message is due, so nothing it sends is dropped; its
//! own socket holds the rest.

use std::{
    pin::Pin,
    time::{Duration, Instant},
};

use tokio::time::Sleep;

/// Messages a client may send to the operator at once, before the rate applies.
pub(crate) const BURST: f64 = 100.0;

/// One client's bucket.
#[derive(Debug)]
pub(super) struct OperatorPace {
    per_second: f64,
    tokens: f64,
    at: Instant,
}

impl OperatorPace {
    /// A full bucket for a client allowed `per_second` messages a second (at least one).
    pub(super) fn new(per_second: u32, now: Instant) -> Self {
        OperatorPace {
            per_second: f64::from(per_second.max(1)),
            tokens: BURST,
            at: now,
        }
    }

    /// Counts one message sent at `now`; returns when the client may be read again if it
    /// must wait for its next message.
    pub(super) fn take(&mut self, now: Instant) -> Option<Instant> {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(BURST) - 1.0;
        self.at = now;
        (self.tokens < 0.0).then(|| now + Duration::from_secs_f64(-self.tokens / self.per_second))
    }
}

/// One client's pace towards the operator, and the wait for its next message when it
/// went past it. Made when the client first talks: most never do.
pub(super) struct ToOperator {
    pace: OperatorPace,
    due: Option<Pin<Box<Sleep>>>,
    /// Whether the operator was told this client is being slowed (once per client).
    told: bool,
}

impl ToOperator {
    pub(super) fn new(per_second: u32, now: Instant) -> Self {
        ToOperator {
            pace: OperatorPace::new(per_second, now),
            due: None,
            told: false,
        }
    }

    /// Counts one message sent at `now`. Returns `true` when the client must now wait for
    /// its next message and the operator has not been told yet (tell once).
    pub(super) fn sent(&mut self, now: Instant) -> bool {
        let Some(due) = self.pace.take(now) else {
            return false;
        };
        self.due = Some(Box::pin(tokio::time::sleep_until(due.into())));
        !std::mem::replace(&mut self.told, true)
    }

    /// Whether the client waits for its next message to be due.
    pub(super) fn waits(&self) -> bool {
        self.due.is_some()
    }

    /// The wait for the next message, while there is one.
    pub(super) fn due(&mut self) -> Option<&mut Pin<Box<Sleep>>> {
        self.due.as_mut()
    }

    /// The next message is due: the client may be read again.
    pub(super) fn end_wait(&mut self) {
        self.due = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_at_once_and_then_messages_are_spaced_by_the_rate() {
        let start = Instant::now();
        let mut pace = OperatorPace::new(20, start);
        for _ in 0..BURST as usize {
            assert_eq!(pace.take(start), None);
        }
        let due = pace.take(start).expect("past the burst, a wait");
        assert_eq!(due - start, Duration::from_millis(50));
        // At the time it was due, one more message: another 50 ms.
        let next = pace.take(due).expect("still at the rate");
        assert_eq!(next - due, Duration::from_millis(50));
    }

    #[test]
    fn a_quiet_client_gets_its_burst_back() {
        let start = Instant::now();
        let mut pace = OperatorPace::new(10, start);
        for _ in 0..=BURST as usize {
            pace.take(start);
        }
        let later = start + Duration::from_secs(60);
        for _ in 0..BURST as usize {
            assert_eq!(pace.take(later), None);
        }
    }
}
