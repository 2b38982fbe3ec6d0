//! [`Backoff`]: how long a client waits between attempts to reconnect to a hub.
//!
//! The first wait is short, so that a hub restarted at once is used again at once; each
//! failed attempt doubles the wait up to a ceiling, so that a hub that stays down costs
//! almost nothing; and every wait is moved by a random fraction (±20 % by default), so
//! that the many listeners that lost the same hub do not all knock at the same instant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exponential, bounded, jittered waits between attempts.
#[derive(Clone, Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    jitter: f64,
    /// The wait before jitter that the next call of [`Backoff::next_wait`] uses.
    next: Duration,
}

impl Default for Backoff {
    /// [`Backoff::FIRST`] doubling up to [`Backoff::MAX`], with ±[`Backoff::JITTER`].
    fn default() -> Backoff {
        Backoff::new(Backoff::FIRST, Backoff::MAX, Backoff::JITTER)
    }
}

impl Backoff {
    /// The first wait of the default backoff.
    pub const FIRST: Duration = Duration::from_millis(100);
    /// The longest wait of the default backoff (before jitter).
    pub const MAX: Duration = Duration::from_secs(5);
    /// The default jitter: each wait is moved by up to this fraction of itself, either way.
    pub const JITTER: f64 = 0.2;

    /// Waits of `first`, doubling after each attempt up to `max`, each moved by up to
    /// `jitter` (a fraction, clamped to 0..=1) of itself either way.
    pub fn new(first: Duration, max: Duration, jitter: f64) -> Backoff {
        Backoff {
            first,
            max: max.max(first),
            jitter: jitter.clamp(0.0, 1.0),
            next: first,
        }
    }

    /// How long to wait before the next attempt; the wait after it will be twice as long
    /// (up to the maximum).
    pub fn next_wait(&mut self) -> Duration {
        let base = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        base.mul_f64(1.0 + self.jitter * random_unit())
    }

    /// Starts again from the first wait, after an attempt that succeeded.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// A random number in `[-1, 1)`. Randomness only spreads retries out, so when the
/// operating system has none to give, the clock's nanoseconds and the process ID do.
fn random_unit() -> f64 {
    let bits = getrandom::u64().unwrap_or_else(|_| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| u64::from(since.subsec_nanos()));
        nanos ^ u64::from(std::process::id()).rotate_left(32)
    });
    // The top 53 bits make an exact f64 in [0, 1).
    let unit = (bits >> 11) as f64 / (1u64 << 53) as f64;
    unit * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(wait: Duration, base_ms: f64, jitter: f64) -> bool {
        let ms = wait.as_secs_f64() * 1000.0;
        ms >= base_ms * (1.0 - jitter) - 1e-6 && ms <= base_ms * (1.0 + jitter) + 1e-6
    }

    #[test]
    fn waits_double_up_to_the_maximum() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 0.0);
        let waits: Vec<u128> = (0..9).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let mut backoff = Backoff::default();
        for base in [100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 5000.0, 5000.0] {
            let wait = backoff.next_wait();
            assert!(
                within(wait, base, Backoff::JITTER),
                "{wait:?} for {base} ms"
            );
        }
    }

    #[test]
    fn jitter_varies_the_waits() {
        let waits: Vec<Duration> = (0..20).map(|_| Backoff::default().next_wait()).collect();
        assert!(waits.iter().any(|w| *w != waits[0]), "{waits:?}");
    }

    #[test]
    fn reset_starts_again_from_the_first_wait() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 0.0);
        backoff.next_wait();
        backoff.next_wait();
        backoff.reset();
        assert_eq!(backoff.next_wait(), Duration::from_millis(100));
    }

    #[test]
    fn random_unit_is_in_range() {
        for _ in 0..1000 {
            let r = random_unit();
            assert!((-1.0..1.0).contains(&r), "{r}");
        }
    }
}
