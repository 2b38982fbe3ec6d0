//! [`SeqTracker`]: checks a listener's sequence numbers, so that no loss goes unnoticed.
//!
//! Every broadcast carries a hub-wide sequence number, each one more than the one before.
//! A listener that falls behind is told how many it missed (`LAGGED`) and where it goes on
//! from; any other jump in the numbers is a loss nobody announced, which is a hub bug
//! worth shouting about. The tracker counts both, and the received messages, so a
//! listener can report them.

use std::fmt;

use pipehub_protocol::Seq;

/// A jump in sequence numbers that no `LAGGED` explains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The sequence number that should have come next.
    pub expected: Seq,
    /// The one that came.
    pub got: Seq,
}

impl Gap {
    /// How many broadcasts were skipped; 0 when the numbers went backwards or repeated.
    pub fn skipped(&self) -> u64 {
        self.got.0.saturating_sub(self.expected.0)
    }
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.skipped() {
            0 => write!(
                f,
                "sequence went backwards: expected #{}, got #{}",
                self.expected, self.got
            ),
            1 => write!(
                f,
                "sequence gap: expected #{}, got #{} (1 message lost without notice)",
                self.expected, self.got
            ),
            n => write!(
                f,
                "sequence gap: expected #{}, got #{} ({n} messages lost without notice)",
                self.expected, self.got
            ),
        }
    }
}

/// Follows the sequence numbers one listener receives.
#[derive(Clone, Debug, Default)]
pub struct SeqTracker {
    /// The sequence number the next broadcast must have; `None` before the first one
    /// when the starting point is unknown.
    expected: Option<Seq>,
    last: Option<Seq>,
    received: u64,
    missed: u64,
    gaps: u64,
}

impl SeqTracker {
    /// A tracker with no starting point: the first broadcast is accepted as it comes.
    pub fn new() -> SeqTracker {
        SeqTracker::default()
    }

    /// A tracker for a listener whose `WELCOME` said `current_seq`: its first broadcast
    /// must be `current_seq + 1`.
    pub fn starting_after(current_seq: Seq) -> SeqTracker {
        SeqTracker {
            expected: Some(next(current_seq)),
            ..SeqTracker::default()
        }
    }

    /// Records a broadcast; returns the gap if its number is not the expected one. After
    /// a gap the tracker follows the new numbering.
    pub fn observe_broadcast(&mut self, seq: Seq) -> Option<Gap> {
        self.received += 1;
        let gap = match self.expected {
            Some(expected) if expected != seq => Some(Gap { expected, got: seq }),
            _ => None,
        };
        if gap.is_some() {
            self.gaps += 1;
        }
        self.expected = Some(next(seq));
        self.last = Some(seq);
        gap
    }

    /// Records a `LAGGED` notice: `missed` broadcasts are gone and the next one is
    /// `next_seq`.
    pub fn observe_lagged(&mut self, missed: u64, next_seq: Seq) {
        self.missed = self.missed.saturating_add(missed);
        self.expected = Some(next_seq);
    }

    /// Follows a new numbering from here on: the next broadcast must be `next`, or any
    /// with `None`. For a hub that was restarted (its numbers begin again at 1). The
    /// counts so far are kept.
    pub fn renumber(&mut self, next: Option<Seq>) {
        self.expected = next;
    }

    /// The sequence number the next broadcast must have, if it is known.
    pub fn expected(&self) -> Option<Seq> {
        self.expected
    }

    /// Broadcasts received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Broadcasts missed, as the hub announced them with `LAGGED`.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Jumps in sequence numbers that no `LAGGED` explained.
    pub fn unexplained_gaps(&self) -> u64 {
        self.gaps
    }

    /// The sequence number of the last broadcast received.
    pub fn last(&self) -> Option<Seq> {
        self.last
    }
}

fn next(seq: Seq) -> Seq {
    Seq(seq.0.wrapping_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_broadcasts_have_no_gap() {
        let mut tracker = SeqTracker::new();
        for seq in 5..10 {
            assert_eq!(tracker.observe_broadcast(Seq(seq)), None);
        }
        assert_eq!(tracker.received(), 5);
        assert_eq!(tracker.unexplained_gaps(), 0);
        assert_eq!(tracker.last(), Some(Seq(9)));
    }

    #[test]
    fn first_broadcast_without_starting_point_is_no_gap() {
        let mut tracker = SeqTracker::new();
        assert_eq!(tracker.observe_broadcast(Seq(1000)), None);
    }

    #[test]
    fn first_broadcast_after_welcome_must_follow_current_seq() {
        let mut tracker = SeqTracker::starting_after(Seq(0));
        assert_eq!(tracker.observe_broadcast(Seq(1)), None);

        let mut tracker = SeqTracker::starting_after(Seq(10));
        let gap = tracker.observe_broadcast(Seq(13));
        assert_eq!(
            gap,
            Some(Gap {
                expected: Seq(11),
                got: Seq(13)
            })
        );
        assert_eq!(tracker.unexplained_gaps(), 1);
    }

    #[test]
    fn jump_is_reported_then_followed() {
        let mut tracker = SeqTracker::new();
        tracker.observe_broadcast(Seq(1));
        let gap = tracker.observe_broadcast(Seq(4)).map(|gap| gap.skipped());
        assert_eq!(gap, Some(2));
        assert_eq!(tracker.observe_broadcast(Seq(5)), None);
        assert_eq!(tracker.unexplained_gaps(), 1);
        assert_eq!(tracker.received(), 3);
    }

    #[test]
    fn repeated_or_backwards_sequence_is_a_gap() {
        let mut tracker = SeqTracker::new();
        tracker.observe_broadcast(Seq(7));
        let gap = tracker.observe_broadcast(Seq(7));
        assert_eq!(gap.map(|gap| gap.skipped()), Some(0));
        assert!(tracker.observe_broadcast(Seq(3)).is_some());
        assert_eq!(tracker.unexplained_gaps(), 2);
    }

    #[test]
    fn lagged_explains_the_jump() {
        let mut tracker = SeqTracker::new();
        tracker.observe_broadcast(Seq(1));
        tracker.observe_lagged(98, Seq(100));
        assert_eq!(tracker.observe_broadcast(Seq(100)), None);
        assert_eq!(tracker.missed(), 98);
        assert_eq!(tracker.unexplained_gaps(), 0);
    }

    #[test]
    fn lagged_before_first_broadcast_sets_the_expectation() {
        let mut tracker = SeqTracker::new();
        tracker.observe_lagged(5, Seq(20));
        assert!(tracker.observe_broadcast(Seq(21)).is_some());
    }

    #[test]
    fn missed_counts_add_up() {
        let mut tracker = SeqTracker::new();
        tracker.observe_lagged(3, Seq(10));
        tracker.observe_lagged(4, Seq(20));
        assert_eq!(tracker.missed(), 7);
    }

    #[test]
    fn renumbering_keeps_the_counts() {
        let mut tracker = SeqTracker::starting_after(Seq(40));
        tracker.observe_broadcast(Seq(41));
        tracker.observe_lagged(2, Seq(44));
        tracker.renumber(Some(Seq(1)));
        assert_eq!(tracker.expected(), Some(Seq(1)));
        assert_eq!(tracker.observe_broadcast(Seq(1)), None);
        assert_eq!((tracker.received(), tracker.missed()), (2, 2));
        tracker.renumber(None);
        assert_eq!(tracker.observe_broadcast(Seq(9)), None);
        assert_eq!(tracker.expected(), Some(Seq(10)));
    }

    #[test]
    fn gap_message_names_both_numbers() {
        let gap = Gap {
            expected: Seq(5),
            got: Seq(9),
        };
        assert_eq!(
            gap.to_string(),
            "sequence gap: expected #5, got #9 (4 messages lost without notice)"
        );
    }
}
