//! [`PostgresStore`]: the event log shared by several souk nodes, in one
//! PostgreSQL database (see "Scaling past one machine" in the design).
//!
//! # Positions: gap-free, in commit order, across all nodes
//!
//! One row, `event_log_head`, holds the position of the last committed
//! event. Every transaction that appends (from any node) locks that row
//! first (`SELECT ... FOR UPDATE`), places its events right after it, moves
//! it, and commits. The row lock is held until the commit, so:
//! - transactions that append commit one after another, each placing its
//!   events after all those committed before it: positions are assigned in
//!   commit order, and a later-committing transaction never holds a lower
//!   position;
//! - a transaction that fails or rolls back never moved the row: no holes;
//! - any snapshot that sees a transaction's events also sees every earlier
//!   one (the earlier one had finished before the later took the lock), so
//!   every read of the log by position sees a gap-free prefix.
//!
//! The cost: appends of the whole cluster are serialized, including each
//! group's durable commit (WAL flush) — one group commits at a time. That
//! is why each node groups its appends (many appends, one transaction, one
//! flush; see [`writer`]): the lock is taken once per group, not per append.
//! `BENCHMARKS.md` ("PostgreSQL log: group commit") measures it: on the
//! 2-core development machine one node commits 33,900 durable events/s
//! with group commit (219/s with one transaction per append, about what
//! the server's own commit costs there), and two nodes 27,053/s together,
//! not twice as much, with groups half as large: the price of the lock. A
//! sequence would allow parallel commits but hands out positions in *start*
//! order, so a subscriber could see 8 committed before 7, or 7 never (a
//! rolled-back transaction); avoiding that needs exactly this kind of
//! serialization, or readers that wait on in-flight transactions.
//!
//! Expected revisions are checked under the same lock (see [`writer`]),
//! with `UNIQUE (stream, revision)` as the backstop. Each event's hash
//! (see [`crate::chain`]) is computed in the same transaction from its
//! stream's last row as read under that lock, so two nodes racing on one
//! stream never chain to a predecessor that is not the real one: the loser
//! gets a conflict and writes nothing.
//!
//! # Runtime
//!
//! All PostgreSQL work (the writer, the tail, every read, every pooled
//! connection's I/O) runs on the store's own tokio runtime, on a thread of
//! its own, reached through channels and [`tokio::runtime::Handle::spawn`].
//! Callers run on actix's current-thread arbiters and on the edge's runtime;
//! a connection task spawned on a caller's runtime would die with it. The
//! runtime lives as long as any handle, subscription or unfinished write
//! needs it, then shuts down.
//!
//! # Availability
//!
//! A node that loses PostgreSQL answers appends and reads with
//! [`StoreError::Unavailable`] within [`PostgresConfig::connect_timeout`]
//! (a refused connection: at once), or [`PostgresConfig::io_timeout`] for a
//! connection that stops answering, and never acknowledges an append that
//! did not commit. It comes back by itself: the pools make new connections,
//! the `LISTEN` connection reconnects and the tail reads from its last
//! position. Subscriptions keep retrying their catch-up reads instead of
//! ending. [`PostgresStore::is_available`] tells whether PostgreSQL
//! answered the last time it was asked.
//!
//! # Layout
//! - this file: [`PostgresConfig`], [`PostgresStore`] and its
//!   [`EventStore`] implementation (reads), the runtime thread.
//! - `connect`: the URL, TLS per `sslmode` (its docs say what each mode
//!   checks), pools and single connections; [`pool`] gives other parts of
//!   souk keeping state in the same database a pool set up the same way.
//! - `schema`: the versioned schema (`sql/*.sql`), migrated at start under
//!   an advisory lock; `upgrade`: hashing a log written before the hash
//!   chain, once, inside that migration.
//! - [`writer`]: group commit, expected revisions, imports.
//! - `tail`: `LISTEN/NOTIFY` and the poll, publishing committed events to
//!   live subscriptions.
//! - [`testing`]: scratch databases for tests.

mod connect;
mod schema;
mod tail;
pub mod testing;
mod upgrade;
pub mod writer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Object, Pool};
use futures::future::BoxFuture;
use souk_domain::Timestamp;
use tokio::sync::{broadcast, mpsc, oneshot};

pub use deadpool_postgres;
pub use tokio_postgres;

use self::connect::{build_pool, connect_one, describe, parse, pool_unavailable};
use self::tail::{listen_forever, Tail};
use self::writer::{to_sql, AppendRequest, ImportRequest, Writer, WriterRequest};
use crate::chain::PreparedLink;
use crate::subscription::{catch_up_then_live, Batch, PageSource};
use crate::{
    stream_range, validate_append, AppendResult, ChainUpgrade, Direction, EventHash, EventStore,
    ExpectedRevision, NewEvent, Position, ReadFrom, RecordedEvent, Revision, StoreError,
    Subscription,
};

/// Append requests that may wait for the writer before callers wait to send.
pub const REQUEST_QUEUE: usize = 16_384;

/// How a node uses the shared log. Sizes below 1 count as 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PostgresConfig {
    /// The most events one group commit carries (an append larger than this
    /// is committed alone). Default 4096.
    pub max_batch_events: usize,
    /// Connections for reads (the writer and the `LISTEN` connection have
    /// one each besides). Default 8.
    pub pool_size: usize,
    /// How often the tail reads the log's end without being notified (the
    /// safety net under `LISTEN/NOTIFY`). Default 1 s.
    pub poll_interval: Duration,
    /// Giving up on making a connection. Default 1 s.
    pub connect_timeout: Duration,
    /// Giving up on one round trip of a connection that stopped answering.
    /// Default 3 s.
    pub io_timeout: Duration,
    /// `true` (default): commit waiting appends together. `false`: one
    /// transaction per append, the benchmark's baseline.
    pub group_commit: bool,
    /// Committed groups a live subscriber may fall behind by before it goes
    /// back to reading the database (it is never dropped). Default 1024.
    pub live_buffer: usize,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            max_batch_events: 4096,
            pool_size: 8,
            poll_interval: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            io_timeout: Duration::from_secs(3),
            group_commit: true,
            live_buffer: 1024,
        }
    }
}

/// A pool of at most `size` connections to the database at `url`, set up
/// as the store's own (TLS per `sslmode`, timeouts, keepalives), for other
/// parts of souk that keep state in the same database. Connections are
/// made lazily; each one's I/O runs on the tokio runtime that first got
/// it, so use the pool from one long-lived runtime.
pub fn pool(url: &str, size: usize) -> Result<Pool, StoreError> {
    let config = parse(url, connect::DEFAULT_CONNECT_TIMEOUT)?;
    build_pool(
        &config,
        size,
        connect::DEFAULT_CONNECT_TIMEOUT,
        Duration::from_secs(5),
    )
}

/// One connection to the database at `url` outside any pool, set up as the
/// store's own (TLS per `sslmode`, timeouts, keepalives; see the `connect`
/// module docs), for `LISTEN` users elsewhere in souk: a pooled
/// connection's I/O task drops what the server sends unasked. It names
/// itself `application_name`. Its I/O runs as a task on the current runtime
/// (the handle returned), which hands `on_message` every notification or
/// notice and ends with the connection; `timeout` bounds the connecting, and
/// is the connect timeout unless the URL names one.
pub async fn connect_unpooled<F>(
    url: &str,
    application_name: &str,
    timeout: Duration,
    on_message: F,
) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), StoreError>
where
    F: FnMut(tokio_postgres::AsyncMessage) + Send + 'static,
{
    let mut config = parse(url, timeout)?;
    config.application_name(application_name);
    connect_one(&config, timeout, on_message).await
}

/// The whole of a `tokio_postgres` error: its `Display` alone says only
/// "db error" for what the server reported.
pub fn describe_error(e: &tokio_postgres::Error) -> String {
    describe(e)
}

/// Whether PostgreSQL answered lately, shared by the writer, the tail and
/// the reads.
#[derive(Default)]
pub(crate) struct Shared {
    available: AtomicBool,
    /// What this node's writer committed (see [`PostgresStore::stats`]).
    pub(crate) commits: AtomicU64,
    pub(crate) appends: AtomicU64,
    pub(crate) events: AtomicU64,
}

impl Shared {
    pub(crate) fn mark(&self, available: bool) {
        self.available.store(available, Ordering::Relaxed);
    }
}

/// The store's runtime, for whoever holds it: when the last holder drops
/// it, the runtime's thread shuts the runtime down.
pub(crate) struct RuntimeGuard {
    handle: tokio::runtime::Handle,
    /// Dropped with the guard, which wakes the thread.
    _stop: oneshot::Sender<()>,
}

/// The shared log. Cheap to clone: clones share one writer, one tail and
/// one pool. When the last clone is dropped (or on [`close`](Self::close))
/// the writer commits what it was given and stops.
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    requests: mpsc::Sender<WriterRequest>,
    reader: Reader,
    /// Weak, so that once the tail (the only strong sender) is gone, live
    /// subscriptions see the channel close and end.
    live: broadcast::WeakSender<Batch>,
}

/// Reads on the store's runtime through the read pool. Cloned into each
/// subscription.
#[derive(Clone)]
pub(crate) struct Reader {
    runtime: Arc<RuntimeGuard>,
    pool: Pool,
    shared: Arc<Shared>,
    io_timeout: Duration,
}

/// The columns of a [`RecordedEvent`], in [`row_event`]'s order.
const COLUMNS: &str = "position, stream, revision, event_type, version, data, recorded_at, hash";

impl PostgresStore {
    /// Connects, creates or migrates the schema, starts the writer and the
    /// tail. Fails with [`StoreError::Unavailable`] (saying why) when the
    /// URL is wrong, PostgreSQL cannot be reached, or its schema is newer
    /// than this build's.
    pub async fn connect(url: &str, config: PostgresConfig) -> Result<PostgresStore, StoreError> {
        let (tx, rx) = oneshot::channel();
        start(url, config, Box::new(move |started| drop(tx.send(started))))?;
        rx.await.map_err(|_| stopped_starting())?
    }

    /// [`connect`](Self::connect) for synchronous code: blocks the calling
    /// thread (never call it on an async runtime's worker outside tests:
    /// the work happens on the store's own thread, so it does not deadlock,
    /// but it stalls that worker).
    pub fn connect_blocking(
        url: &str,
        config: PostgresConfig,
    ) -> Result<PostgresStore, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        start(url, config, Box::new(move |started| drop(tx.send(started))))?;
        rx.recv().map_err(|_| stopped_starting())?
    }

    /// Whether PostgreSQL answered the last time it was asked (no I/O).
    pub fn is_available(&self) -> bool {
        self.inner.reader.shared.available.load(Ordering::Relaxed)
    }

    /// Counts of what this node's writer committed so far (the mean group
    /// size is `events / commits`).
    pub fn stats(&self) -> crate::WriterStats {
        let shared = &self.inner.reader.shared;
        crate::WriterStats {
            commits: shared.commits.load(Ordering::Relaxed),
            appends: shared.appends.load(Ordering::Relaxed),
            events: shared.events.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting appends, lets the writer commit every append sent
    /// before, and returns once it has stopped. Appends after this fail with
    /// [`StoreError::Closed`]; reads still work; live subscriptions deliver
    /// what was committed, then end with [`StoreError::Closed`].
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self
            .inner
            .requests
            .send(WriterRequest::Close(tx))
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// Appends `events`, a page of another log, exactly: positions,
    /// revisions, types, versions, payload bytes, times and hashes. The
    /// first event must come right after this log's last (so the first page
    /// goes into an empty log), positions must be contiguous, each stream's
    /// revisions must continue it, and each event's hash must chain it to
    /// its stream's previous one (see [`crate::chain`]: a copy is never
    /// re-hashed); otherwise [`StoreError::InvalidAppend`] and nothing is
    /// written. A page is one transaction. Live subscriptions see it.
    pub async fn import(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        crate::validate_import(events)?;
        if events.is_empty() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(WriterRequest::Import(ImportRequest {
                events: events.to_vec(),
                reply,
            }))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| writer_gone())?
    }
}

fn stopped_starting() -> StoreError {
    StoreError::Unavailable("the PostgreSQL event log thread stopped while starting".to_owned())
}

fn writer_gone() -> StoreError {
    StoreError::Unavailable("the event log writer stopped before answering".to_owned())
}

type Started = Box<dyn FnOnce(Result<PostgresStore, StoreError>) + Send>;

/// Starts the store's thread and runtime; `started` gets the store, or why
/// it could not start.
fn start(url: &str, config: PostgresConfig, started: Started) -> Result<(), StoreError> {
    let config = PostgresConfig {
        max_batch_events: config.max_batch_events.max(1),
        pool_size: config.pool_size.max(1),
        live_buffer: config.live_buffer.max(1),
        ..config
    };
    let pg_config = parse(url, config.connect_timeout)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("souk-pg")
        .enable_all()
        .build()
        .map_err(|e| StoreError::Unavailable(format!("starting the event log runtime: {e}")))?;
    std::thread::Builder::new()
        .name("souk-pg-runtime".to_owned())
        .spawn(move || {
            let (stop, stopped) = oneshot::channel();
            let guard = Arc::new(RuntimeGuard {
                handle: runtime.handle().clone(),
                _stop: stop,
            });
            runtime.block_on(async move {
                started(set_up(pg_config, config, guard).await);
                // Every holder of the guard is gone.
                let _ = stopped.await;
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        })
        .map_err(|e| StoreError::Unavailable(format!("starting the event log thread: {e}")))?;
    Ok(())
}

/// On the store's runtime: migrates, then starts the writer, the tail and
/// the listener.
async fn set_up(
    pg_config: tokio_postgres::Config,
    config: PostgresConfig,
    runtime: Arc<RuntimeGuard>,
) -> Result<PostgresStore, StoreError> {
    {
        let (mut client, _driver) = connect_one(&pg_config, config.connect_timeout, |_| {}).await?;
        let migrating = schema::migrate(&mut client);
        // Waiting for another node's migration is bounded by nothing but
        // that migration: no timeout here.
        migrating.await?;
    }
    let shared = Arc::new(Shared::default());
    shared.mark(true);
    let reader = Reader {
        runtime: Arc::clone(&runtime),
        pool: build_pool(
            &pg_config,
            config.pool_size,
            config.connect_timeout,
            config.io_timeout,
        )?,
        shared: Arc::clone(&shared),
        io_timeout: config.io_timeout,
    };
    let head = reader.head().await?;

    let (requests, rx) = mpsc::channel(REQUEST_QUEUE);
    let (committed, commits) = mpsc::channel(1024);
    let (wake, wakes) = mpsc::channel(64);
    let (live, _) = broadcast::channel(config.live_buffer);
    let weak_live = live.downgrade();

    tokio::spawn(listen_forever(
        pg_config.clone(),
        config.connect_timeout,
        wake,
    ));
    tokio::spawn(
        Tail {
            live,
            position: head,
            reader: reader.clone(),
            commits,
            wakes,
            poll_interval: config.poll_interval,
            failing: false,
            _runtime: Arc::clone(&runtime),
        }
        .run(),
    );
    tokio::spawn(
        Writer {
            rx,
            pool: build_pool(
                &writer::writer_connection(&pg_config, config.io_timeout),
                1,
                config.connect_timeout,
                config.io_timeout,
            )?,
            config,
            shared,
            committed,
            live: weak_live.clone(),
            _runtime: runtime,
            conn: None,
            carry: None,
            closers: Vec::new(),
        }
        .run(),
    );
    Ok(PostgresStore {
        inner: Arc::new(Inner {
            requests,
            reader,
            live: weak_live,
        }),
    })
}

/// A pooled connection that is closed, not put back, unless the work done
/// with it succeeded (after an error or a timeout its state is unknown).
struct Checked {
    conn: Option<Object>,
    ok: bool,
}

impl Drop for Checked {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if !self.ok {
                drop(Object::take(conn));
            }
        }
    }
}

impl Reader {
    /// Runs `read` with a pooled connection on the store's runtime, within
    /// the I/O timeout.
    async fn read<T, F>(&self, context: &'static str, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c deadpool_postgres::ClientWrapper,
            ) -> BoxFuture<'c, Result<T, tokio_postgres::Error>>
            + Send
            + 'static,
    {
        let pool = self.pool.clone();
        let shared = Arc::clone(&self.shared);
        let io_timeout = self.io_timeout;
        let task = self.runtime.handle.spawn(async move {
            let conn = pool.get().await.map_err(|e| {
                shared.mark(false);
                pool_unavailable(context, &e)
            })?;
            let mut checked = Checked {
                conn: Some(conn),
                ok: false,
            };
            let client = checked.conn.as_ref().expect("just set");
            let result = match tokio::time::timeout(io_timeout, read(client)).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => Err(StoreError::Unavailable(format!(
                    "{context}: {}",
                    describe(&e)
                ))),
                Err(_) => Err(StoreError::Unavailable(format!(
                    "{context}: no answer from PostgreSQL within {io_timeout:?}"
                ))),
            };
            checked.ok = result.is_ok();
            shared.mark(result.is_ok());
            result
        });
        match task.await {
            Ok(result) => result,
            Err(e) if e.is_cancelled() => Err(StoreError::Closed),
            Err(_) => Err(StoreError::Unavailable(format!(
                "{context}: failed unexpectedly"
            ))),
        }
    }

    /// The position of the last committed event.
    async fn head(&self) -> Result<Position, StoreError> {
        self.read("reading the event log head", |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached("SELECT position FROM event_log_head")
                    .await?;
                let row = client.query_one(&statement, &[]).await?;
                Ok(row.get::<_, i64>(0) as Position)
            })
        })
        .await
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (from, limit) = (to_sql(from), to_sql(limit as u64));
        self.read("reading the event log", move |client| {
            Box::pin(async move {
                let statement = client
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM event_log WHERE position >= $1 \
                         ORDER BY position LIMIT $2"
                    ))
                    .await?;
                let rows = client.query(&statement, &[&from, &limit]).await?;
                Ok(rows.iter().map(row_event).collect())
            })
        })
        .await
    }
}

fn row_event(row: &tokio_postgres::Row) -> RecordedEvent {
    RecordedEvent {
        position: row.get::<_, i64>(0) as Position,
        stream: row.get(1),
        revision: row.get::<_, i64>(2) as Revision,
        event_type: row.get(3),
        version: row.get::<_, i64>(4) as u32,
        data: row.get(5),
        recorded_at: Timestamp::from_datetime(row.get::<_, DateTime<Utc>>(6)),
        hash: stored_hash(row.get(7)),
    }
}

/// A hash as stored: 32 bytes (the column's check), else (only a log
/// edited behind souk's back) 32 zero bytes, which no event's hash is: the
/// read succeeds and `chain::verify` reports the event.
pub(crate) fn stored_hash(bytes: Option<&[u8]>) -> EventHash {
    bytes
        .and_then(EventHash::from_slice)
        .unwrap_or(EventHash::GENESIS)
}

/// The subscriptions' reads: a failed read is retried (with backoff) rather
/// than ending the subscription, so a subscriber rides out a PostgreSQL
/// restart and goes on from where it was.
struct Pages(Reader);

impl PageSource for Pages {
    fn read_page(
        &self,
        from: Position,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<RecordedEvent>, StoreError>> {
        let reader = self.0.clone();
        Box::pin(async move {
            let mut wait = Duration::from_millis(50);
            let mut logged = false;
            loop {
                match reader.read_all(from, limit).await {
                    Err(StoreError::Unavailable(e)) => {
                        if !logged {
                            tracing::warn!(
                                "a subscription cannot read the event log ({e}); retrying"
                            );
                            logged = true;
                        }
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(2));
                    }
                    other => return other,
                }
            }
        })
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        validate_append(stream, &events)?;
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            stream: stream.to_owned(),
            expected,
            links: PreparedLink::for_events(stream, &events),
            events,
            reply,
        };
        self.inner
            .requests
            .send(WriterRequest::Append(request))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| writer_gone())?
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: ReadFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let Some(range) = stream_range(direction, from, limit) else {
            return Ok(Vec::new());
        };
        let condition = if range.ascending {
            "revision >= $2 ORDER BY revision"
        } else {
            "revision <= $2 ORDER BY revision DESC"
        };
        let (revision, limit) = (range.revision, range.limit);
        let sql =
            format!("SELECT {COLUMNS} FROM event_log WHERE stream = $1 AND {condition} LIMIT $3");
        let stream = stream.to_owned();
        let (revision, limit) = (to_sql(revision), to_sql(limit as u64));
        self.inner
            .reader
            .read("reading an event stream", move |client| {
                Box::pin(async move {
                    let statement = client.prepare_cached(&sql).await?;
                    let rows = client
                        .query(&statement, &[&stream, &revision, &limit])
                        .await?;
                    let events: Vec<RecordedEvent> = rows.iter().map(row_event).collect();
                    crate::chain::log_if_broken(&events);
                    Ok(events)
                })
            })
            .await
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.reader.read_all(from, limit).await
    }

    async fn last_position(&self) -> Result<Position, StoreError> {
        self.inner.reader.head().await
    }

    fn subscribe_all(&self, after: Position) -> Subscription {
        let live = match self.inner.live.upgrade() {
            Some(sender) => sender.subscribe(),
            // The tail is gone: a receiver that is already closed, so the
            // subscription catches up and then reports `Closed`.
            None => broadcast::channel(1).1,
        };
        catch_up_then_live(Pages(self.inner.reader.clone()), live, after)
    }

    async fn chain_upgrade(&self) -> Result<Option<ChainUpgrade>, StoreError> {
        self.inner
            .reader
            .read("reading the hash chain's upgrade", |client| {
                Box::pin(async move {
                    let rows = client.query(upgrade::READ_UPGRADE, &[]).await?;
                    Ok(rows.first().map(upgrade::row_upgrade))
                })
            })
            .await
    }
}
