//! Who may connect, and who may publish: checked against the peer's credentials
//! (SO_PEERCRED on Linux, getpeereid on macOS) when a client arrives.
//!
//! Default: only the hub's own user and root may connect, and only they may publish.
//! `--allow-uid` / `--allow-gid` widen who may connect; `--publishers` sets who may
//! publish. Where the platform gives no credentials (Windows named pipes), the pipe's
//! own security decides who can open it, and this policy admits everyone who did.

use std::fmt;

/// A connected peer's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    pub pid: Option<i32>,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uid {} gid {}", self.uid, self.gid)?;
        if let Some(pid) = self.pid {
            write!(f, " pid {pid}")?;
        }
        Ok(())
    }
}

/// Who may publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Publishers {
    /// Every client that may connect.
    Any,
    /// These users (the hub's own user, by default), and root.
    Uids(Vec<u32>),
    /// Nobody: only the operator console broadcasts.
    Nobody,
}

/// The hub's access policy.
#[derive(Clone, Debug)]
pub struct Access {
    /// The user the hub runs as: always admitted.
    pub owner_uid: u32,
    /// Whether root is always admitted (it can reach the socket anyway).
    pub admit_root: bool,
    /// More users who may connect.
    pub allow_uids: Vec<u32>,
    /// Groups whose members may connect.
    pub allow_gids: Vec<u32>,
    pub publishers: Publishers,
}

impl Access {
    /// The default policy for a hub running as `owner_uid`: that user and root only.
    pub fn owner_only(owner_uid: u32) -> Access {
        Access {
            owner_uid,
            admit_root: true,
            allow_uids: Vec::new(),
            allow_gids: Vec::new(),
            publishers: Publishers::Uids(vec![owner_uid]),
        }
    }

    /// The policy for the user running this process.
    pub fn for_current_user() -> Access {
        Access::owner_only(pipehub_protocol::os::current_uid())
    }

    fn is_owner_or_root(&self, uid: u32) -> bool {
        uid == self.owner_uid || (self.admit_root && uid == 0)
    }

    /// Whether `peer` may connect; the error says why not and how to allow it.
    pub fn check_connect(&self, peer: Option<Peer>) -> Result<(), String> {
        let Some(peer) = peer else { return Ok(()) };
        if self.is_owner_or_root(peer.uid)
            || self.allow_uids.contains(&peer.uid)
            || self.allow_gids.contains(&peer.gid)
        {
            Ok(())
        } else {
            Err(format!(
                "{peer} may not connect to this hub; its operator can allow it with --allow-uid {} or --allow-gid {}",
                peer.uid, peer.gid
            ))
        }
    }

    /// Whether `peer` may publish; the error says why not and how to allow it.
    /// `--publishers none` refuses every publisher, with or without credentials; a list
    /// of uids can only be checked where the platform gives credentials.
    pub fn check_publish(&self, peer: Option<Peer>) -> Result<(), String> {
        if self.publishers == Publishers::Nobody {
            return Err(
                "this hub accepts no publishers (--publishers none); connect as a listener".into(),
            );
        }
        let Some(peer) = peer else { return Ok(()) };
        let allowed = match &self.publishers {
            Publishers::Any => true,
            Publishers::Uids(uids) => self.is_owner_or_root(peer.uid) || uids.contains(&peer.uid),
            Publishers::Nobody => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "uid {} may not publish on this hub; its operator can allow it with --publishers any or --publishers {}",
                peer.uid, peer.uid
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32) -> Option<Peer> {
        Some(Peer {
            uid,
            gid,
            pid: Some(42),
        })
    }

    #[test]
    fn by_default_only_the_owner_and_root_connect_and_publish() {
        let access = Access::owner_only(1000);
        assert!(access.check_connect(peer(1000, 1000)).is_ok());
        assert!(access.check_connect(peer(0, 0)).is_ok());
        let refused = access.check_connect(peer(1001, 1001)).unwrap_err();
        assert!(
            refused.contains("uid 1001") && refused.contains("--allow-uid 1001"),
            "{refused}"
        );
        assert!(access.check_publish(peer(1000, 1000)).is_ok());
        assert!(access.check_publish(peer(0, 0)).is_ok());
    }

    #[test]
    fn allowed_users_and_groups_connect_but_publish_only_if_allowed() {
        let access = Access {
            allow_uids: vec![1001],
            allow_gids: vec![50],
            ..Access::owner_only(1000)
        };
        assert!(access.check_connect(peer(1001, 1001)).is_ok());
        assert!(access.check_connect(peer(1002, 50)).is_ok());
        assert!(access.check_connect(peer(1003, 51)).is_err());
        let refused = access.check_publish(peer(1001, 1001)).unwrap_err();
        assert!(refused.contains("--publishers"), "{refused}");
    }

    #[test]
    fn publisher_policies() {
        let any = Access {
            publishers: Publishers::Any,
            allow_uids: vec![7],
            ..Access::owner_only(1000)
        };
        assert!(any.check_publish(peer(7, 7)).is_ok());
        let none = Access {
            publishers: Publishers::Nobody,
            ..Access::owner_only(1000)
        };
        assert!(none.check_publish(peer(1000, 1000)).is_err());
        let listed = Access {
            publishers: Publishers::Uids(vec![5]),
            ..Access::owner_only(1000)
        };
        assert!(listed.check_publish(peer(5, 5)).is_ok());
        assert!(listed.check_publish(peer(6, 6)).is_err());
    }

    #[test]
    fn peers_without_credentials_are_decided_by_the_transport() {
        let access = Access::owner_only(1000);
        assert!(access.check_connect(None).is_ok());
        assert!(access.check_publish(None).is_ok());
        // "Nobody publishes" needs no credentials to hold.
        let none = Access {
            publishers: Publishers::Nobody,
            ..Access::owner_only(1000)
        };
        assert!(none.check_publish(None).is_err());
    }
}
