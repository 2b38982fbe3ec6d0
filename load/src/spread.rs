//! `--spread`: listeners spread round-robin over several bridged hubs, so that the load
//! tool measures the bridge (`pipehub --bridge`) as well as the hub.
//!
//! The publishers stay on the first hub (`--endpoint`); a broadcast bridged to another hub
//! carries the same body, so markers, flow control, loss counting and latency (from the
//! send time in the payload) need nothing new: only the choice of hub per listener lives
//! here. Listener `slot` goes to hub `slot % K`, in this process or across `--procs`
//! workers alike (a worker's round starts where its first listener's would).

/// The hubs listeners connect to, in round-robin order; never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hubs {
    endpoints: Vec<String>,
}

impl Hubs {
    /// `first` (the publishers' hub), then `others` in order.
    pub fn new(first: &str, others: &[String]) -> Hubs {
        let mut endpoints = Vec::with_capacity(others.len() + 1);
        endpoints.push(first.to_owned());
        endpoints.extend(others.iter().cloned());
        Hubs { endpoints }
    }

    /// The hub of listener `slot`.
    pub fn for_slot(&self, slot: usize) -> &str {
        // `new` puts at least one endpoint in, so the index is in range.
        &self.endpoints[slot % self.endpoints.len()]
    }

    /// The same round, starting at listener `slot`: what a worker whose first listener is
    /// the parent's `slot` uses, so the hubs stay even over all workers.
    pub fn starting_at(&self, slot: usize) -> Hubs {
        let mut endpoints = self.endpoints.clone();
        endpoints.rotate_left(slot % self.endpoints.len());
        Hubs { endpoints }
    }

    /// The first hub of the round.
    pub fn first(&self) -> &str {
        &self.endpoints[0]
    }

    /// Every hub, the first first.
    pub fn all(&self) -> &[String] {
        &self.endpoints
    }

    /// The hubs after the first.
    pub fn others(&self) -> &[String] {
        &self.endpoints[1..]
    }

    /// How many hubs (K).
    pub fn count(&self) -> usize {
        self.endpoints.len()
    }

    /// Hubs that get at least one of `listeners` listeners.
    pub fn used_by(&self, listeners: u64) -> u64 {
        (self.endpoints.len() as u64).min(listeners)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abc() -> Hubs {
        Hubs::new("a", &["b".to_owned(), "c".to_owned()])
    }

    #[test]
    fn listeners_go_round_robin_starting_with_the_first_hub() {
        let hubs = abc();
        let order: Vec<&str> = (0..7).map(|slot| hubs.for_slot(slot)).collect();
        assert_eq!(order, ["a", "b", "c", "a", "b", "c", "a"]);
    }

    #[test]
    fn a_round_that_starts_later_continues_the_parents_round() {
        let hubs = abc();
        let worker = hubs.starting_at(4);
        let order: Vec<&str> = (0..3).map(|slot| worker.for_slot(slot)).collect();
        assert_eq!(order, ["b", "c", "a"]);
        assert_eq!(worker.first(), "b");
        assert_eq!(worker.others(), ["c", "a"]);
    }

    #[test]
    fn without_others_every_listener_goes_to_the_first_hub() {
        let hubs = Hubs::new("a", &[]);
        assert_eq!(hubs.count(), 1);
        assert_eq!(hubs.for_slot(5), "a");
        assert_eq!(hubs.starting_at(3), hubs);
    }

    #[test]
    fn fewer_listeners_than_hubs_use_only_as_many_hubs() {
        assert_eq!(abc().used_by(2), 2);
        assert_eq!(abc().used_by(300), 3);
    }
}
