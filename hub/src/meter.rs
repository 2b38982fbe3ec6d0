//! The [`Meter`]: when the hub started, and the last seconds of its counters, from which
//! the status report gives rates ("deliveries per second over the last seconds") without
//! waiting. One task per hub (`status::sample_rates`, started by the server) records a
//! sample once a second; a report compares the counters now with the oldest kept.

use std::{
    collections::VecDeque,
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

/// How far back rates reach.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);

/// The shortest span a rate is given over; before that, rates are "not measured yet".
const MIN_RATE_SPAN: Duration = Duration::from_millis(900);

/// The counters at one moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) at: Instant,
    pub(crate) broadcasts: u64,
    pub(crate) deliveries: u64,
}

/// When the hub started, and recent samples of its counters.
pub(crate) struct Meter {
    pub(crate) started_at: SystemTime,
    samples: Mutex<VecDeque<Sample>>,
}

impl Meter {
    pub(crate) fn new() -> Meter {
        Meter {
            started_at: SystemTime::now(),
            samples: Mutex::new(VecDeque::new()),
        }
    }

    /// Keeps `sample`, and forgets samples older than the window.
    pub(crate) fn record(&self, sample: Sample) {
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.push_back(sample);
        while samples
            .front()
            .is_some_and(|oldest| sample.at.duration_since(oldest.at) > RATE_WINDOW)
        {
            samples.pop_front();
        }
    }

    /// Broadcasts/s and deliveries/s from the oldest sample kept to `now`, and the span
    /// they cover; `None` while there is too little history.
    pub(crate) fn rates(&self, now: Sample) -> Option<(f64, f64, Duration)> {
        let oldest = *self
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .front()?;
        let span = now.at.saturating_duration_since(oldest.at);
        if span < MIN_RATE_SPAN {
            return None;
        }
        // Three decimals say all there is to say about a rate.
        let per_s = |later: u64, earlier: u64| {
            let rate = later.saturating_sub(earlier) as f64 / span.as_secs_f64();
            (rate * 1000.0).round() / 1000.0
        };
        Some((
            per_s(now.broadcasts, oldest.broadcasts),
            per_s(now.deliveries, oldest.deliveries),
            span,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: Instant, broadcasts: u64, deliveries: u64) -> Sample {
        Sample {
            at,
            broadcasts,
            deliveries,
        }
    }

    #[test]
    fn rates_need_a_moment_of_history() {
        let meter = Meter::new();
        let t0 = Instant::now();
        assert!(meter.rates(sample(t0, 0, 0)).is_none(), "no samples");
        meter.record(sample(t0, 0, 0));
        let soon = t0 + Duration::from_millis(100);
        assert!(meter.rates(sample(soon, 5, 50)).is_none(), "too soon");
    }

    #[test]
    fn rates_compare_now_with_the_oldest_sample_in_the_window() {
        let meter = Meter::new();
        let t0 = Instant::now();
        for s in 0..=20u64 {
            meter.record(sample(t0 + Duration::from_secs(s), s * 10, s * 30));
        }
        // Samples older than 10 s before the newest are gone: the oldest is at 10 s.
        let now = sample(t0 + Duration::from_secs(20), 200, 600);
        let (b, d, span) = meter.rates(now).expect("rates");
        assert_eq!(span, Duration::from_secs(10));
        assert!((b - 10.0).abs() < 1e-9, "{b}");
        assert!((d - 30.0).abs() < 1e-9, "{d}");
    }
}
