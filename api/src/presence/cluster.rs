//! Presence across the nodes of a cluster, kept in the PostgreSQL database
//! of the shared log (but not in the log: presence is about connections, and
//! a restart must not replay who was online last week).
//!
//! # Tables
//!
//! - `souk_nodes(node_id, lease_until, started_at)`: each live node, with a
//!   lease it renews every `--presence-heartbeat` (to `now() +
//!   --presence-lease`, the database's clock, so the nodes' clocks do not
//!   matter).
//! - `souk_presence(user_id, role, node_id, sockets)`: how many sockets each
//!   node holds of each user (rows only for counts above 0). A user is
//!   online while they have a row.
//! - `souk_last_seen(user_id, role, at_ms)`: when each user last went
//!   offline cluster-wide (the latest close of a node's last socket of
//!   theirs).
//!
//! # Changes
//!
//! A node writes its own rows only (the sweep aside), one user at a time, in
//! a transaction that first takes an advisory lock on the user: so two nodes
//! that change the same user at once are serialized, and the one that leaves
//! the user with no row anywhere knows it and records `souk_last_seen`.
//! Every change of a row is sent with `NOTIFY souk_presence` from inside
//! that transaction (delivered at commit, in commit order): `{n: node,
//! u: user, r: role, s: sockets, at: <ms, when the user went offline>}`.
//! Each node listens on one connection and keeps a mirror of the other
//! nodes' rows in [`Presence`]; it reloads the mirror whole after any
//! (re)connection, announcing whoever flipped meanwhile.
//!
//! # Dead nodes
//!
//! At each heartbeat a node also deletes the nodes whose lease ran out
//! (`DELETE ... RETURNING`), then removes the rows of every node that is no
//! longer in `souk_nodes`, each under the user's lock and only if the node
//! is still absent then, notifying like any change. Several nodes may sweep
//! at once; a row is removed (and notified) once. So a node killed outright
//! takes its users offline for the others between one lease and one lease
//! plus one heartbeat after its last heartbeat.
//!
//! Each node holds the mirror in memory: the other nodes' rows (one per
//! online user and node) and `souk_last_seen` whole (one row per user who was
//! ever online), read again after every reconnection of the listener.
//!
//! Two processes must not share a `--node-id`: each would overwrite the
//! other's rows. A node restarted with its old id (after a crash) takes its
//! rows over and publishes its own counts instead.
//!
//! A node that finds its own lease gone (it lost PostgreSQL for longer than
//! the lease, and the others swept it) registers again and publishes all
//! its counts again; so does a node that starts (clearing what an earlier
//! process with the same `--node-id` left). While PostgreSQL is away, local
//! presence goes on (see [`crate::presence`]) and the node catches up at the
//! first heartbeat that reaches the database.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use souk_domain::{Role, Timestamp, UserId};
use souk_store::postgres::deadpool_postgres::{self, Pool};
use souk_store::postgres::tokio_postgres;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::listen::{self, describe};
use super::{Key, Presence};

/// The `NOTIFY` channel of presence changes.
pub const CHANNEL: &str = "souk_presence";

/// The first key of souk's presence advisory locks ("souk" in ASCII); the
/// second is a hash of the user.
const LOCK_CLASS: i32 = 0x736f_756b;

/// Giving up on connecting to PostgreSQL.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS souk_nodes (
    node_id     text PRIMARY KEY,
    lease_until timestamptz NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS souk_presence (
    user_id text NOT NULL,
    role    text NOT NULL,
    node_id text NOT NULL,
    sockets integer NOT NULL CHECK (sockets > 0),
    PRIMARY KEY (user_id, role, node_id)
);
CREATE INDEX IF NOT EXISTS souk_presence_by_node ON souk_presence (node_id);
CREATE TABLE IF NOT EXISTS souk_last_seen (
    user_id text NOT NULL,
    role    text NOT NULL,
    at_ms   bigint NOT NULL,
    PRIMARY KEY (user_id, role)
);
";

/// How a node takes part in cluster presence.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The shared log's PostgreSQL URL.
    pub url: String,
    pub node_id: String,
    /// How long a node's users stay online after its last heartbeat.
    pub lease: Duration,
    /// How often the lease is renewed and dead nodes are swept.
    pub heartbeat: Duration,
}

/// One change of a node's count of a user, as sent with `NOTIFY`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Change {
    n: String,
    u: String,
    r: String,
    s: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<i64>,
}

/// The running cluster presence of this node. Cheap to clone.
#[derive(Clone)]
pub struct ClusterPresence {
    shared: Arc<Shared>,
}

struct Shared {
    node_id: String,
    control: mpsc::UnboundedSender<Control>,
    /// The keeper's last round trip to PostgreSQL succeeded.
    writing: AtomicBool,
    /// The listener is connected and its mirror loaded.
    listening: AtomicBool,
    listener: Mutex<Option<JoinHandle<()>>>,
}

enum Control {
    /// Take this node's users offline, drop its lease, stop.
    Leave(oneshot::Sender<()>),
    /// Stop at once, leaving everything as it is (as a killed node would).
    Halt,
}

impl ClusterPresence {
    /// Creates the tables if needed, registers this node, publishes its
    /// counts (clearing those an earlier process with this node id left),
    /// sweeps dead nodes, loads the others' presence and starts the
    /// heartbeat and the listener on the current runtime (which must outlive
    /// them: they run until [`leave`](Self::leave) or [`halt`](Self::halt)).
    pub async fn start(presence: Presence, config: ClusterConfig) -> anyhow::Result<Self> {
        let pool = souk_store::postgres::pool(&config.url, 2)
            .map_err(|e| anyhow::anyhow!("presence: {e}"))?;
        {
            let mut client = pool
                .get()
                .await
                .map_err(|e| anyhow::anyhow!("presence: connecting to PostgreSQL: {e}"))?;
            create_schema(&mut client)
                .await
                .map_err(|e| anyhow::anyhow!("presence: creating its tables: {e}"))?;
        }
        let (publish, changes) = mpsc::unbounded_channel();
        let (control, control_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            node_id: config.node_id.clone(),
            control,
            writing: AtomicBool::new(false),
            listening: AtomicBool::new(false),
            listener: Mutex::new(None),
        });
        presence.set_publisher(publish);
        let (written, written_rx) = tokio::sync::watch::channel(0);
        let healthy_flag = Arc::new(AtomicBool::new(false));
        presence.set_tickets(super::Tickets {
            sent: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            written: written_rx,
            healthy: healthy_flag.clone(),
        });
        let mut keeper = Keeper {
            pool,
            presence: presence.clone(),
            config: config.clone(),
            shared: shared.clone(),
            pending: HashSet::new(),
            healthy: false,
            received: 0,
            written,
            healthy_flag,
        };
        keeper
            .heartbeat()
            .await
            .map_err(|e| anyhow::anyhow!("presence: registering node {}: {e}", config.node_id))
            .context("while starting cluster presence")?;
        keeper.settle(Ok(()));

        let (ready, loaded) = oneshot::channel();
        let listener = tokio::spawn(listen_forever(
            presence.clone(),
            config.clone(),
            shared.clone(),
            ready,
        ));
        *shared.listener.lock().expect("listener lock poisoned") = Some(listener);
        tokio::spawn(keeper.run(changes, control_rx));
        let handle = Self { shared };
        presence.set_cluster(handle.clone());
        // The mirror is loaded before anyone asks (bounded: a listener that
        // cannot connect keeps trying in the background).
        let _ = tokio::time::timeout(CONNECT_TIMEOUT * 2, loaded).await;
        Ok(handle)
    }

    pub fn node_id(&self) -> &str {
        &self.shared.node_id
    }

    /// Whether presence is in step with PostgreSQL: the last write reached
    /// it and the listener is connected.
    pub fn is_available(&self) -> bool {
        self.shared.writing.load(Ordering::Relaxed) && self.shared.listening.load(Ordering::Relaxed)
    }

    /// Graceful stop: this node's users that have no socket elsewhere go
    /// offline for the others now rather than when the lease runs out.
    pub async fn leave(&self) {
        let (done, left) = oneshot::channel();
        if self.shared.control.send(Control::Leave(done)).is_ok() {
            let _ = left.await;
        }
        self.stop_listening();
    }

    /// Stops heart-beating and listening without a word, as a node killed
    /// outright would (tests of the lease).
    pub fn halt(&self) {
        let _ = self.shared.control.send(Control::Halt);
        self.stop_listening();
    }

    fn stop_listening(&self) {
        if let Some(listener) = self
            .shared
            .listener
            .lock()
            .expect("listener lock poisoned")
            .take()
        {
            listener.abort();
        }
        self.shared.listening.store(false, Ordering::Relaxed);
    }
}

async fn create_schema(client: &mut deadpool_postgres::Object) -> Result<(), String> {
    // Nodes starting at once would race on CREATE ... IF NOT EXISTS.
    let tx = client.transaction().await.map_err(|e| describe(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&LOCK_CLASS])
        .await
        .map_err(|e| describe(&e))?;
    tx.batch_execute(SCHEMA).await.map_err(|e| describe(&e))?;
    tx.commit().await.map_err(|e| describe(&e))
}

/// Writes this node's counts and keeps its lease.
struct Keeper {
    pool: Pool,
    presence: Presence,
    config: ClusterConfig,
    shared: Arc<Shared>,
    /// Users whose local count changed and is not yet written.
    pending: HashSet<Key>,
    /// The last round trip succeeded; when not, everything is published
    /// again at the next heartbeat that reaches PostgreSQL.
    healthy: bool,
    /// Changes received from the channel, and where the count written is
    /// told (every received change is written once a round trip succeeds).
    received: u64,
    written: tokio::sync::watch::Sender<u64>,
    healthy_flag: Arc<AtomicBool>,
}

impl Keeper {
    /// Longest any round of work may take before it counts as failed: a
    /// lease, since publishing every count again after an outage takes one
    /// short transaction per user (thousands of users take seconds).
    fn deadline(&self) -> Duration {
        self.config.lease.max(Duration::from_secs(1))
    }

    async fn run(
        mut self,
        mut changes: mpsc::UnboundedReceiver<Key>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let mut tick = tokio::time::interval(self.config.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                biased;
                command = control.recv() => {
                    if let Some(Control::Leave(done)) = command {
                        if let Err(e) = within(self.deadline(), self.leave()).await {
                            tracing::warn!(error = %e, "presence: could not leave the cluster cleanly; the lease will run out");
                        }
                        let _ = done.send(());
                    }
                    return;
                }
                Some(key) = changes.recv() => {
                    self.pending.insert(key);
                    self.received += 1;
                    while let Ok(key) = changes.try_recv() {
                        self.pending.insert(key);
                        self.received += 1;
                    }
                    if self.healthy {
                        let result = within(self.deadline(), self.flush()).await;
                        self.settle(result);
                    }
                }
                _ = tick.tick() => {
                    let result = within(self.deadline(), self.heartbeat()).await;
                    self.settle(result);
                }
            }
        }
    }

    fn settle(&mut self, result: Result<(), String>) {
        match result {
            Ok(()) => {
                if !self.healthy {
                    tracing::info!(node = %self.config.node_id, "presence is in step with PostgreSQL again");
                }
                self.healthy = true;
                // Every change received so far is written (flushed now, or
                // republished whole after an outage).
                self.written.send_replace(self.received);
            }
            Err(e) => {
                if self.healthy || self.shared.writing.load(Ordering::Relaxed) {
                    tracing::warn!(node = %self.config.node_id, error = %e, "presence lost PostgreSQL; local presence goes on, counts are published again once it is back");
                }
                self.healthy = false;
                // Republished whole on recovery.
                self.pending.clear();
            }
        }
        self.shared.writing.store(self.healthy, Ordering::Relaxed);
        self.healthy_flag.store(self.healthy, Ordering::Relaxed);
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, String> {
        self.pool
            .get()
            .await
            .map_err(|e| format!("connecting to PostgreSQL: {e}"))
    }

    /// Renews the lease (registering again if it was swept), publishes
    /// everything again after a failure, then sweeps dead nodes.
    async fn heartbeat(&mut self) -> Result<(), String> {
        let mut client = self.client().await?;
        let lease = self.config.lease.as_secs_f64();
        let row = client
            .query_one(
                "INSERT INTO souk_nodes (node_id, lease_until)
                 VALUES ($1, now() + make_interval(secs => $2))
                 ON CONFLICT (node_id) DO UPDATE SET lease_until = EXCLUDED.lease_until
                 RETURNING (xmax = 0)",
                &[&self.config.node_id, &lease],
            )
            .await
            .map_err(|e| describe(&e))?;
        let registered_again: bool = row.get(0);
        if registered_again && self.healthy {
            tracing::warn!(node = %self.config.node_id, "this node's lease had run out and others swept it; publishing its presence again");
        }
        if registered_again || !self.healthy {
            self.republish(&mut client).await?;
        } else {
            self.flush_with(&mut client).await?;
        }
        self.sweep(&mut client).await
    }

    /// Writes the local counts that changed.
    async fn flush(&mut self) -> Result<(), String> {
        let mut client = self.client().await?;
        self.flush_with(&mut client).await
    }

    async fn flush_with(&mut self, client: &mut deadpool_postgres::Object) -> Result<(), String> {
        let keys: Vec<Key> = self.pending.drain().collect();
        self.publish_local(client, keys).await
    }

    /// Publishes each of `keys` as this node counts it now.
    async fn publish_local(
        &self,
        client: &mut deadpool_postgres::Object,
        keys: impl IntoIterator<Item = Key>,
    ) -> Result<(), String> {
        for key in keys {
            let (sockets, last_seen) = self.presence.local_entry(&key);
            let at = last_seen.unwrap_or_else(Timestamp::now);
            publish(client, &self.config.node_id, &key, sockets, at, false).await?;
        }
        Ok(())
    }

    /// The users this node has rows for in `souk_presence`.
    async fn own_rows(&self, client: &deadpool_postgres::Object) -> Result<Vec<Key>, String> {
        let rows = client
            .query(
                "SELECT user_id, role FROM souk_presence WHERE node_id = $1",
                &[&self.config.node_id],
            )
            .await
            .map_err(|e| describe(&e))?;
        Ok(rows
            .iter()
            .filter_map(|r| key_of(r.get(0), r.get(1)))
            .collect())
    }

    /// Makes this node's rows equal its local counts, user by user.
    async fn republish(&mut self, client: &mut deadpool_postgres::Object) -> Result<(), String> {
        self.pending.clear();
        let mut keys: HashSet<Key> = self
            .presence
            .local_counts()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.extend(self.own_rows(client).await?);
        self.publish_local(client, keys).await
    }

    /// Deletes the nodes whose lease ran out and the rows of every node
    /// that is gone.
    async fn sweep(&mut self, client: &mut deadpool_postgres::Object) -> Result<(), String> {
        let expired = client
            .query(
                "DELETE FROM souk_nodes WHERE lease_until < now() RETURNING node_id",
                &[],
            )
            .await
            .map_err(|e| describe(&e))?;
        for row in &expired {
            let node: String = row.get(0);
            tracing::info!(node = %node, by = %self.config.node_id, "a node's presence lease ran out; taking its users offline");
        }
        let orphans = client
            .query(
                "SELECT p.node_id, p.user_id, p.role FROM souk_presence p
                 WHERE NOT EXISTS (SELECT 1 FROM souk_nodes n WHERE n.node_id = p.node_id)",
                &[],
            )
            .await
            .map_err(|e| describe(&e))?;
        let now = Timestamp::now();
        for row in &orphans {
            let node: String = row.get(0);
            if let Some(key) = key_of(row.get(1), row.get(2)) {
                publish(client, &node, &key, 0, now, true).await?;
            }
        }
        Ok(())
    }

    /// Takes this node's rows away (notifying) and drops its lease.
    async fn leave(&mut self) -> Result<(), String> {
        let mut client = self.client().await?;
        let keys = self.own_rows(&client).await?;
        let now = Timestamp::now();
        for key in keys {
            publish(&mut client, &self.config.node_id, &key, 0, now, false).await?;
        }
        client
            .execute(
                "DELETE FROM souk_nodes WHERE node_id = $1",
                &[&self.config.node_id],
            )
            .await
            .map_err(|e| describe(&e))?;
        Ok(())
    }
}

/// `work`, or an error if it takes longer than `deadline`.
async fn within(
    deadline: Duration,
    work: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    tokio::time::timeout(deadline, work)
        .await
        .unwrap_or_else(|_| Err(format!("PostgreSQL did not answer within {deadline:?}")))
}

fn key_of(user: &str, role: &str) -> Option<Key> {
    Some((UserId::parse(user).ok()?, Role::parse(role).ok()?))
}

/// Sets `node`'s count of the user to `sockets` (0: removes it) under the
/// user's lock, records when they went offline if no node has them any
/// more, and notifies. With `only_if_gone`, only removes, and only if the
/// node is absent from `souk_nodes` by then (the sweep).
async fn publish(
    client: &mut deadpool_postgres::Object,
    node: &str,
    (user, role): &Key,
    sockets: usize,
    at: Timestamp,
    only_if_gone: bool,
) -> Result<(), String> {
    let sql = |e: tokio_postgres::Error| describe(&e);
    let (user, role) = (user.as_str(), role.as_str());
    let sockets = i32::try_from(sockets).unwrap_or(i32::MAX);
    let tx = client.transaction().await.map_err(sql)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&LOCK_CLASS, &format!("{role}/{user}")],
    )
    .await
    .map_err(sql)?;
    let row = tx
        .query_one(
            "SELECT coalesce(sum(sockets), 0)::int8,
                    coalesce(sum(sockets) FILTER (WHERE node_id = $3), 0)::int8
             FROM souk_presence WHERE user_id = $1 AND role = $2",
            &[&user, &role, &node],
        )
        .await
        .map_err(sql)?;
    let (total, mine): (i64, i64) = (row.get(0), row.get(1));
    if only_if_gone {
        let removed = tx
            .execute(
                "DELETE FROM souk_presence
                 WHERE user_id = $1 AND role = $2 AND node_id = $3
                   AND NOT EXISTS (SELECT 1 FROM souk_nodes WHERE node_id = $3)",
                &[&user, &role, &node],
            )
            .await
            .map_err(sql)?;
        if removed == 0 {
            return tx.commit().await.map_err(sql);
        }
    } else if mine == i64::from(sockets) {
        return tx.commit().await.map_err(sql);
    } else if sockets > 0 {
        tx.execute(
            "INSERT INTO souk_presence (user_id, role, node_id, sockets) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, role, node_id) DO UPDATE SET sockets = EXCLUDED.sockets",
            &[&user, &role, &node, &sockets],
        )
        .await
        .map_err(sql)?;
    } else {
        tx.execute(
            "DELETE FROM souk_presence WHERE user_id = $1 AND role = $2 AND node_id = $3",
            &[&user, &role, &node],
        )
        .await
        .map_err(sql)?;
    }
    let sockets = if only_if_gone { 0 } else { sockets };
    let after = total - mine + i64::from(sockets);
    // Every node's last socket of the user that closes moves the user's
    // last-seen time forward (never back): when another node's close is
    // written after a later one (each node writes its own), the user still
    // went offline at the later time.
    let mut offline_at = None;
    if sockets == 0 {
        let row = tx
            .query_one(
                "INSERT INTO souk_last_seen (user_id, role, at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, role)
                 DO UPDATE SET at_ms = GREATEST(souk_last_seen.at_ms, EXCLUDED.at_ms)
                 RETURNING at_ms",
                &[&user, &role, &at.millis()],
            )
            .await
            .map_err(sql)?;
        if after == 0 && total > 0 {
            offline_at = Some(row.get::<_, i64>(0));
        }
    }
    let change = Change {
        n: node.to_owned(),
        u: user.to_owned(),
        r: role.to_owned(),
        s: u32::try_from(sockets).unwrap_or(0),
        at: offline_at,
    };
    let payload = serde_json::to_string(&change).map_err(|e| e.to_string())?;
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
        .await
        .map_err(sql)?;
    tx.commit().await.map_err(sql)
}

/// Keeps a `LISTEN` connection, reconnecting (and reloading the mirror)
/// whenever it ends.
async fn listen_forever(
    presence: Presence,
    config: ClusterConfig,
    shared: Arc<Shared>,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut pause = Duration::from_millis(100);
    loop {
        let result = listen_once(&presence, &config, &shared, &mut ready).await;
        let was = shared.listening.swap(false, Ordering::Relaxed);
        if let Err(e) = result {
            if was {
                tracing::warn!(node = %config.node_id, error = %e, "presence stopped hearing the other nodes; reconnecting");
            } else {
                tracing::debug!(node = %config.node_id, error = %e, "presence listener could not connect");
            }
        }
        if was {
            pause = Duration::from_millis(100);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(config.heartbeat);
    }
}

async fn listen_once(
    presence: &Presence,
    config: &ClusterConfig,
    shared: &Shared,
    ready: &mut Option<oneshot::Sender<()>>,
) -> Result<(), String> {
    let (tx, mut notifications) = mpsc::unbounded_channel();
    let client = listen::connect(&config.url, CONNECT_TIMEOUT, tx).await?;
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|e| describe(&e))?;
    // Listening first, then reading: nothing committed after the read is
    // missed (what was committed before it may come again; a change is a
    // count to set, so it does no harm).
    let rows = client
        .query(
            "SELECT node_id, user_id, role, sockets FROM souk_presence WHERE node_id <> $1",
            &[&config.node_id],
        )
        .await
        .map_err(|e| describe(&e))?;
    let seen = client
        .query("SELECT user_id, role, at_ms FROM souk_last_seen", &[])
        .await
        .map_err(|e| describe(&e))?;
    let counts = rows
        .iter()
        .filter_map(|r| {
            let sockets: i32 = r.get(3);
            Some((
                r.get::<_, String>(0),
                key_of(r.get(1), r.get(2))?,
                u32::try_from(sockets).ok()?,
            ))
        })
        .collect();
    let last_seen = seen
        .iter()
        .filter_map(|r| {
            Some((
                key_of(r.get(0), r.get(1))?,
                Timestamp::from_millis(r.get(2)),
            ))
        })
        .collect();
    let flipped = presence.replace_remote(counts, last_seen);
    if flipped > 0 {
        tracing::info!(users = flipped, "presence reloaded from PostgreSQL");
    }
    shared.listening.store(true, Ordering::Relaxed);
    if let Some(ready) = ready.take() {
        let _ = ready.send(());
    }
    while let Some(n) = notifications.recv().await {
        apply(presence, &config.node_id, n.payload());
    }
    drop(client);
    Err("the connection ended".to_owned())
}

/// Applies one notification to the mirror. Of this node's own, only the
/// time the user went offline counts: its local counts are the truth about
/// it.
fn apply(presence: &Presence, me: &str, payload: &str) {
    let change: Change = match serde_json::from_str(payload) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "an unreadable presence notification");
            return;
        }
    };
    let Some(key) = key_of(&change.u, &change.r) else {
        return;
    };
    if change.n == me {
        if let Some(at) = change.at {
            presence.offline_since(key, Timestamp::from_millis(at));
        }
        return;
    }
    presence.remote_changed(
        &change.n,
        key,
        change.s,
        change.at.map(Timestamp::from_millis),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_back_as_written_and_without_at_when_online() {
        let c = Change {
            n: "a".into(),
            u: "c-1".into(),
            r: "customer".into(),
            s: 2,
            at: None,
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, r#"{"n":"a","u":"c-1","r":"customer","s":2}"#);
        assert_eq!(serde_json::from_str::<Change>(&text).unwrap(), c);
    }

    #[test]
    fn notifications_of_others_update_the_mirror_and_own_ones_are_ignored() {
        let p = Presence::default();
        let u = UserId::parse("v-9").unwrap();
        apply(&p, "me", r#"{"n":"me","u":"v-9","r":"vendor","s":1}"#);
        assert_eq!(p.status(&u, Role::Vendor), (false, None));
        apply(
            &p,
            "me",
            r#"{"n":"me","u":"v-9","r":"vendor","s":0,"at":40}"#,
        );
        assert_eq!(
            p.status(&u, Role::Vendor),
            (false, Some(Timestamp::from_millis(40)))
        );
        apply(&p, "me", r#"{"n":"b","u":"v-9","r":"vendor","s":1}"#);
        assert_eq!(p.status(&u, Role::Vendor), (true, None));
        apply(
            &p,
            "me",
            r#"{"n":"b","u":"v-9","r":"vendor","s":0,"at":42}"#,
        );
        assert_eq!(
            p.status(&u, Role::Vendor),
            (false, Some(Timestamp::from_millis(42)))
        );
        apply(&p, "me", "not json");
        apply(&p, "me", r#"{"n":"b","u":"v-9","r":"admin","s":1}"#);
        assert_eq!(p.online_count(), 0);
    }
}
