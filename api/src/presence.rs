//! Who is online: a count of open sockets per user, and when each user's last
//! socket closed.
//!
//! It is the one piece of state that both runtimes read (the Socket.IO edge
//! writes it, REST shows `online` and `lastSeenAt`), so it sits behind a short
//! mutex that is never held across an await. Presence is deliberately not in
//! the log: it is a property of connections, not a fact about a conversation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use souk_domain::{Role, Timestamp, UserId};

#[derive(Default)]
struct Entry {
    sockets: usize,
    last_seen_at: Option<Timestamp>,
}

/// Users are keyed by id and role: a customer and a vendor may share an id
/// string in a marketplace without sharing presence.
#[derive(Clone, Default)]
pub struct Presence {
    inner: Arc<Mutex<HashMap<(UserId, Role), Entry>>>,
}

/// What changed when a socket connected or disconnected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The user's first socket: they came online.
    CameOnline,
    /// The user's last socket closed at this time: they went offline.
    WentOffline(Timestamp),
    /// Another socket of a user who stays online.
    Unchanged,
}

impl Presence {
    pub fn connected(&self, user: &UserId, role: Role) -> Transition {
        let mut map = self.inner.lock().expect("presence lock poisoned");
        let entry = map.entry((user.clone(), role)).or_default();
        entry.sockets += 1;
        if entry.sockets == 1 {
            Transition::CameOnline
        } else {
            Transition::Unchanged
        }
    }

    pub fn disconnected(&self, user: &UserId, role: Role, at: Timestamp) -> Transition {
        let mut map = self.inner.lock().expect("presence lock poisoned");
        let entry = map.entry((user.clone(), role)).or_default();
        entry.sockets = entry.sockets.saturating_sub(1);
        if entry.sockets == 0 {
            entry.last_seen_at = Some(at);
            Transition::WentOffline(at)
        } else {
            Transition::Unchanged
        }
    }

    /// Whether the user is online, and else when they were last seen (if known
    /// since this server started).
    pub fn status(&self, user: &UserId, role: Role) -> (bool, Option<Timestamp>) {
        let map = self.inner.lock().expect("presence lock poisoned");
        match map.get(&(user.clone(), role)) {
            Some(e) if e.sockets > 0 => (true, None),
            Some(e) => (false, e.last_seen_at),
            None => (false, None),
        }
    }

    /// Users with at least one socket.
    pub fn online_count(&self) -> usize {
        let map = self.inner.lock().expect("presence lock poisoned");
        map.values().filter(|e| e.sockets > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_with_the_first_socket_offline_with_the_last() {
        let p = Presence::default();
        let u = UserId::parse("c-1").unwrap();
        assert_eq!(p.status(&u, Role::Customer), (false, None));
        assert_eq!(p.connected(&u, Role::Customer), Transition::CameOnline);
        assert_eq!(p.connected(&u, Role::Customer), Transition::Unchanged);
        assert_eq!(p.status(&u, Role::Customer), (true, None));
        assert_eq!(p.status(&u, Role::Vendor), (false, None));
        let t = Timestamp::from_millis(1_000);
        assert_eq!(p.disconnected(&u, Role::Customer, t), Transition::Unchanged);
        assert_eq!(
            p.disconnected(&u, Role::Customer, t),
            Transition::WentOffline(t)
        );
        assert_eq!(p.status(&u, Role::Customer), (false, Some(t)));
        assert_eq!(p.online_count(), 0);
    }
}
