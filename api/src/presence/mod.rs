//! Who is online: a count of open sockets per user, and when each user's last
//! socket closed; in cluster mode, across every node.
//!
//! It is the one piece of state that both runtimes read (the Socket.IO edge
//! writes it, REST shows `online` and `lastSeenAt`), so it sits behind a short
//! mutex that is never held across an await. Presence is deliberately not in
//! the log: it is a property of connections, not a fact about a conversation.
//!
//! # One node, or many
//!
//! Alone, a node's own sockets are the whole truth. In cluster mode (a shared
//! PostgreSQL log) a user is online while any of their sockets is connected to
//! any node. Each node then keeps, beside its own counts, a mirror of the
//! other nodes' counts ([`cluster`] keeps it up to date from PostgreSQL), and
//! every answer here is about the union: [`Presence::status`],
//! [`Presence::online_count`], and the [`Transition`] a socket's connect or
//! disconnect returns (a user's first socket on this node is not "came
//! online" if another node already has one).
//!
//! Local changes apply here at once, whatever PostgreSQL does: a node that
//! lost the database still tells its own sockets who comes and goes among its
//! users, and [`cluster`] publishes its counts again once it is back. A
//! change on another node that flips a user's cluster-wide presence is handed
//! to the announcer (the edge's presence task, see
//! [`crate::edge::session::announce_presence`]), which tells this node's
//! sockets.
//!
//! # Layout
//! - this file: [`Presence`], the local counts and the mirror of the others.
//! - [`cluster`]: presence in PostgreSQL: leases, heartbeats, the sweep of
//!   dead nodes, `LISTEN/NOTIFY`.
//! - `listen`: the one PostgreSQL connection that listens.

pub mod cluster;
mod listen;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use souk_domain::{Role, Timestamp, UserId};
use tokio::sync::mpsc;

/// A user as presence knows them: id and role.
pub type Key = (UserId, Role);

#[derive(Default)]
struct Entry {
    sockets: usize,
    last_seen_at: Option<Timestamp>,
}

/// What the other nodes have of one user.
#[derive(Default)]
struct Remote {
    /// Sockets per other node (only nodes with at least one).
    nodes: HashMap<String, u32>,
    /// When the user went offline cluster-wide, as last announced.
    last_seen_at: Option<Timestamp>,
}

impl Remote {
    fn online(&self) -> bool {
        !self.nodes.is_empty()
    }
}

#[derive(Default)]
struct View {
    local: HashMap<Key, Entry>,
    remote: HashMap<Key, Remote>,
}

impl View {
    fn online(&self, key: &Key) -> bool {
        self.local.get(key).is_some_and(|e| e.sockets > 0)
            || self.remote.get(key).is_some_and(Remote::online)
    }

    fn remote_online(&self, key: &Key) -> bool {
        self.remote.get(key).is_some_and(Remote::online)
    }
}

#[derive(Default)]
struct Hooks {
    /// Cluster mode: told of every user whose local count changed, to
    /// publish it.
    publish: Option<mpsc::UnboundedSender<Key>>,
    /// Told of every user whose presence another node flipped.
    announcer: Option<mpsc::UnboundedSender<Key>>,
    /// Cluster mode: the PostgreSQL side.
    cluster: Option<cluster::ClusterPresence>,
    /// Cluster mode: how many changes were sent to the publisher, and how
    /// many of them it has written (see [`Presence::written`]).
    tickets: Option<Tickets>,
}

/// Counts of changes sent to the cluster publisher and written by it. The
/// channel is FIFO and the publisher writes every change it received before
/// it reports, so change `n` is in PostgreSQL once `written >= n`.
#[derive(Clone)]
pub(crate) struct Tickets {
    pub sent: Arc<std::sync::atomic::AtomicU64>,
    pub written: tokio::sync::watch::Receiver<u64>,
    /// Whether the publisher reaches PostgreSQL now (no point waiting when
    /// it does not).
    pub healthy: Arc<std::sync::atomic::AtomicBool>,
}

/// Users are keyed by id and role: a customer and a vendor may share an id
/// string in a marketplace without sharing presence.
#[derive(Clone, Default)]
pub struct Presence {
    inner: Arc<Mutex<View>>,
    hooks: Arc<Mutex<Hooks>>,
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
    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        self.inner.lock().expect("presence lock poisoned")
    }

    fn hooks(&self) -> std::sync::MutexGuard<'_, Hooks> {
        self.hooks.lock().expect("presence hooks lock poisoned")
    }

    /// Counts one more local socket of the user (see
    /// [`Presence::connected_with_ticket`], which the edge calls).
    pub fn connected(&self, user: &UserId, role: Role) -> Transition {
        self.connected_with_ticket(user, role).0
    }

    /// Counts one more local socket of the user, and gives the ticket of its
    /// write to PostgreSQL in cluster mode (for [`Presence::written`]).
    pub fn connected_with_ticket(&self, user: &UserId, role: Role) -> (Transition, Option<u64>) {
        let key = (user.clone(), role);
        let transition = {
            let mut view = self.view();
            let elsewhere = view.remote_online(&key);
            let entry = view.local.entry(key.clone()).or_default();
            entry.sockets += 1;
            if entry.sockets == 1 && !elsewhere {
                Transition::CameOnline
            } else {
                Transition::Unchanged
            }
        };
        let ticket = self.publish(key);
        (transition, ticket)
    }

    pub fn disconnected(&self, user: &UserId, role: Role, at: Timestamp) -> Transition {
        let key = (user.clone(), role);
        let transition = {
            let mut view = self.view();
            let elsewhere = view.remote_online(&key);
            let entry = view.local.entry(key.clone()).or_default();
            entry.sockets = entry.sockets.saturating_sub(1);
            if entry.sockets == 0 {
                entry.last_seen_at = Some(at);
                if elsewhere {
                    Transition::Unchanged
                } else {
                    Transition::WentOffline(at)
                }
            } else {
                Transition::Unchanged
            }
        };
        let _ = self.publish(key);
        transition
    }

    /// Whether the user is online (on any node), and else when they were last
    /// seen (if known since this server started, or from the cluster).
    pub fn status(&self, user: &UserId, role: Role) -> (bool, Option<Timestamp>) {
        let key = (user.clone(), role);
        let view = self.view();
        if view.online(&key) {
            return (true, None);
        }
        let local = view.local.get(&key).and_then(|e| e.last_seen_at);
        let remote = view.remote.get(&key).and_then(|r| r.last_seen_at);
        (false, local.max(remote))
    }

    /// Users with at least one socket (on any node).
    pub fn online_count(&self) -> usize {
        let view = self.view();
        let local = view.local.iter().filter(|(_, e)| e.sockets > 0).count();
        let remote_only = view
            .remote
            .iter()
            .filter(|(k, r)| r.online() && view.local.get(*k).is_none_or(|e| e.sockets == 0))
            .count();
        local + remote_only
    }

    /// This node's sockets of a user.
    pub fn local_sockets(&self, key: &Key) -> usize {
        self.view().local.get(key).map_or(0, |e| e.sockets)
    }

    /// This node's sockets of a user, and when the last of them closed.
    pub fn local_entry(&self, key: &Key) -> (usize, Option<Timestamp>) {
        self.view()
            .local
            .get(key)
            .map_or((0, None), |e| (e.sockets, e.last_seen_at))
    }

    /// Users with at least one socket on this node, and their counts.
    pub fn local_counts(&self) -> Vec<(Key, usize)> {
        self.view()
            .local
            .iter()
            .filter(|(_, e)| e.sockets > 0)
            .map(|(k, e)| (k.clone(), e.sockets))
            .collect()
    }

    /// Where users whose presence another node flipped are sent (the edge's
    /// presence task). Replaces any earlier one.
    pub fn set_announcer(&self, announcer: mpsc::UnboundedSender<Key>) {
        self.hooks().announcer = Some(announcer);
    }

    /// Cluster mode: where each user whose local count changed is sent.
    pub(crate) fn set_publisher(&self, publish: mpsc::UnboundedSender<Key>) {
        self.hooks().publish = Some(publish);
    }

    /// Cluster mode: the PostgreSQL side of presence.
    pub fn cluster(&self) -> Option<cluster::ClusterPresence> {
        self.hooks().cluster.clone()
    }

    pub(crate) fn set_cluster(&self, cluster: cluster::ClusterPresence) {
        self.hooks().cluster = Some(cluster);
    }

    fn publish(&self, key: Key) -> Option<u64> {
        let hooks = self.hooks();
        let tx = hooks.publish.as_ref()?;
        let ticket = hooks
            .tickets
            .as_ref()
            .map(|t| t.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1);
        let _ = tx.send(key);
        ticket
    }

    /// Cluster mode: waits until the change of `ticket` is written to
    /// PostgreSQL (at most `limit`, and not at all while PostgreSQL is away).
    /// The edge waits for a new socket's count before its client is told it
    /// is connected: so when a user moves from one tab to another on another
    /// node, the new tab is in PostgreSQL before the old one's close is, and
    /// the others never see the user go offline in between.
    pub async fn written(&self, ticket: Option<u64>, limit: std::time::Duration) {
        let tickets = self.hooks().tickets.clone();
        if let (Some(ticket), Some(mut t)) = (ticket, tickets) {
            if t.healthy.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = tokio::time::timeout(limit, t.written.wait_for(|w| *w >= ticket)).await;
            }
        }
    }

    pub(crate) fn set_tickets(&self, tickets: Tickets) {
        self.hooks().tickets = Some(tickets);
    }

    fn announce(&self, keys: impl IntoIterator<Item = Key>) {
        let hooks = self.hooks();
        if let Some(tx) = &hooks.announcer {
            for key in keys {
                let _ = tx.send(key);
            }
        }
    }

    /// Another node now has `sockets` of this user (0: none); `offline_at`
    /// is set when that left the user with no socket anywhere. Announces the
    /// user when their cluster-wide presence flipped; answers whether it did.
    pub fn remote_changed(
        &self,
        node: &str,
        key: Key,
        sockets: u32,
        offline_at: Option<Timestamp>,
    ) -> bool {
        let flipped = {
            let mut view = self.view();
            let before = view.online(&key);
            let remote = view.remote.entry(key.clone()).or_default();
            if sockets == 0 {
                remote.nodes.remove(node);
            } else {
                remote.nodes.insert(node.to_owned(), sockets);
            }
            if let Some(at) = offline_at {
                remote.last_seen_at = remote.last_seen_at.max(Some(at));
            }
            before != view.online(&key)
        };
        if flipped {
            self.announce([key]);
        }
        flipped
    }

    /// The user went offline cluster-wide at `at` (by this node's own
    /// change, whose time the database may have moved forward to a close on
    /// another node). Changes no count, so flips nothing.
    pub fn offline_since(&self, key: Key, at: Timestamp) {
        let mut view = self.view();
        let remote = view.remote.entry(key).or_default();
        remote.last_seen_at = remote.last_seen_at.max(Some(at));
    }

    /// Replaces the whole mirror of the other nodes (after (re)connecting to
    /// PostgreSQL): `counts` are every other node's sockets per user,
    /// `last_seen` when users went offline. Announces every user whose
    /// presence flipped meanwhile, and answers how many did.
    pub fn replace_remote(
        &self,
        counts: Vec<(String, Key, u32)>,
        last_seen: Vec<(Key, Timestamp)>,
    ) -> usize {
        let flipped: Vec<Key> = {
            let mut view = self.view();
            let mut fresh: HashMap<Key, Remote> = HashMap::new();
            for (node, key, sockets) in counts {
                if sockets > 0 {
                    fresh.entry(key).or_default().nodes.insert(node, sockets);
                }
            }
            for (key, at) in last_seen {
                let r = fresh.entry(key).or_default();
                r.last_seen_at = r.last_seen_at.max(Some(at));
            }
            let keys: Vec<Key> = view.remote.keys().chain(fresh.keys()).cloned().collect();
            let before: HashMap<Key, bool> =
                keys.iter().map(|k| (k.clone(), view.online(k))).collect();
            view.remote = fresh;
            before
                .into_iter()
                .filter(|(k, was)| *was != view.online(k))
                .map(|(k, _)| k)
                .collect()
        };
        let n = flipped.len();
        self.announce(flipped);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    #[test]
    fn online_with_the_first_socket_offline_with_the_last() {
        let p = Presence::default();
        let u = user("c-1");
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

    #[test]
    fn a_user_online_on_another_node_neither_comes_nor_goes_with_a_local_socket() {
        let p = Presence::default();
        let (tx, mut announced) = mpsc::unbounded_channel();
        p.set_announcer(tx);
        let u = user("c-1");
        let key = (u.clone(), Role::Customer);

        assert!(
            p.remote_changed("b", key.clone(), 2, None),
            "came online on b"
        );
        assert_eq!(announced.try_recv().unwrap(), key);
        assert_eq!(p.status(&u, Role::Customer), (true, None));
        assert_eq!(p.online_count(), 1);

        assert_eq!(p.connected(&u, Role::Customer), Transition::Unchanged);
        assert_eq!(p.online_count(), 1, "counted once across nodes");
        let t = Timestamp::from_millis(5_000);
        assert_eq!(p.disconnected(&u, Role::Customer, t), Transition::Unchanged);
        assert_eq!(p.status(&u, Role::Customer), (true, None));

        // b's count changes without flipping anything: nothing announced.
        assert!(!p.remote_changed("b", key.clone(), 1, None));
        assert!(announced.try_recv().is_err());

        let later = Timestamp::from_millis(9_000);
        assert!(p.remote_changed("b", key.clone(), 0, Some(later)));
        assert_eq!(announced.try_recv().unwrap(), key);
        assert_eq!(p.status(&u, Role::Customer), (false, Some(later)));
        assert_eq!(p.online_count(), 0);
    }

    #[test]
    fn the_last_local_socket_goes_offline_only_when_no_other_node_has_one() {
        let p = Presence::default();
        let u = user("v-1");
        let key = (u.clone(), Role::Vendor);
        assert_eq!(p.connected(&u, Role::Vendor), Transition::CameOnline);
        // Another node's socket while this one's is open flips nothing.
        assert!(!p.remote_changed("b", key.clone(), 1, None));
        assert!(!p.remote_changed("b", key.clone(), 0, None));
        let t = Timestamp::from_millis(7_000);
        assert_eq!(
            p.disconnected(&u, Role::Vendor, t),
            Transition::WentOffline(t)
        );
    }

    #[test]
    fn replacing_the_mirror_announces_exactly_the_users_that_flipped() {
        let p = Presence::default();
        let (tx, mut announced) = mpsc::unbounded_channel();
        p.set_announcer(tx);
        let (a, b, c) = (user("c-a"), user("c-b"), user("c-c"));
        let ka = (a.clone(), Role::Customer);
        let kb = (b.clone(), Role::Customer);
        let kc = (c.clone(), Role::Customer);
        p.remote_changed("n2", ka.clone(), 1, None);
        p.remote_changed("n2", kb.clone(), 1, None);
        while announced.try_recv().is_ok() {}
        p.connected(&c, Role::Customer);

        // Meanwhile: a went offline, b stayed, c came online elsewhere too.
        let t = Timestamp::from_millis(3_000);
        let flipped = p.replace_remote(
            vec![("n3".into(), kb.clone(), 2), ("n3".into(), kc.clone(), 1)],
            vec![(ka.clone(), t)],
        );
        assert_eq!(flipped, 1);
        assert_eq!(announced.try_recv().unwrap(), ka);
        assert!(announced.try_recv().is_err());
        assert_eq!(p.status(&a, Role::Customer), (false, Some(t)));
        assert_eq!(p.status(&b, Role::Customer), (true, None));
        assert_eq!(p.online_count(), 2);
    }

    #[test]
    fn local_changes_are_handed_to_the_publisher() {
        let p = Presence::default();
        let (tx, mut published) = mpsc::unbounded_channel();
        p.set_publisher(tx);
        let u = user("c-1");
        p.connected(&u, Role::Customer);
        p.disconnected(&u, Role::Customer, Timestamp::from_millis(1));
        let key = (u, Role::Customer);
        assert_eq!(published.try_recv().unwrap(), key);
        assert_eq!(published.try_recv().unwrap(), key);
        assert_eq!(p.local_sockets(&key), 0);
        assert!(p.local_counts().is_empty());
    }
}
