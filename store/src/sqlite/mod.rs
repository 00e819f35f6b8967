//! [`SqliteStore`]: the embedded, durable backend. One SQLite file in WAL
//! mode with `synchronous=FULL`, one writer thread that commits appends in
//! groups, a few read-only connections for reads.
//!
//! # Why the writer is shaped this way
//!
//! An append is acknowledged only once it is durable, and durability costs
//! one fsync per commit: a few milliseconds on real disks, whatever the
//! commit holds. One transaction per append would cap the whole server at a
//! few hundred appends per second, and SQLite allows one writer at a time
//! anyway. So:
//!
//! - **One OS thread owns the only write connection.** SQLite calls block,
//!   so they stay off the async runtimes (the actors' current-thread
//!   arbiters, the edge's multi-thread runtime); no lock is shared with
//!   async code, and there is never any `SQLITE_BUSY` between writers.
//! - **Requests arrive on a bounded channel** ([`REQUEST_QUEUE`]): a full
//!   queue makes callers wait (backpressure) instead of growing memory.
//! - **Group commit.** The writer blocks for one request, then takes every
//!   request already waiting (up to [`SqliteConfig::max_batch_events`]
//!   events), writes all accepted ones in one transaction and commits once:
//!   one fsync for the group. Under load the groups grow by themselves (the
//!   more callers wait during a commit, the more the next one carries); with
//!   a single caller there is no added latency, since nothing waits for a
//!   group to fill.
//! - **Expected revisions are checked in memory**, against a cache of stream
//!   heads loaded lazily from the database and updated as the group is
//!   written, so that two appends to one stream in one group see each other.
//!   A conflicting append fails alone; the rest of its group commits. If a
//!   transaction fails, the cache and the next position are reloaded from
//!   the database before the next group, so memory never disagrees with
//!   disk; the failed group is then retried one append per transaction, so
//!   that one bad append cannot fail its neighbours.
//! - **Hashes are computed by the writer** (see `crate::chain`), from the
//!   stream's last hash kept with its head in the same cache (loaded with
//!   it, one lookup), and written in the event's row, in the group's
//!   transaction. A log of schema version 2 (no hashes) is hashed once at
//!   open, in the migration's transaction (`upgrade`).
//! - **Positions are assigned by the writer**, contiguous from 1, and
//!   written explicitly (`position INTEGER PRIMARY KEY`), so the log has no
//!   holes, even after failed transactions.
//! - **Checkpoints run on their own thread.** Copying the WAL back into the
//!   database file (and syncing it) took about a tenth of the writer's time
//!   in a profile when the writer did it itself. A checkpointer thread with
//!   its own connection does it in the background (PASSIVE: it never blocks
//!   the writer or the readers), woken by the writer every 1024 committed
//!   events; the writer's own automatic checkpoint, every
//!   [`WAL_AUTOCHECKPOINT_PAGES`] pages, then only finishes the job, so that
//!   the WAL starts over instead of growing.
//! - **Stream names are interned** (schema version 2): a `streams` table
//!   maps each name to an integer id, and `events` and its
//!   `(stream_id, revision)` index carry the id. An index entry shrinks from
//!   ~60 to ~15 bytes, so a group dirties fewer index pages, and fewer
//!   bytes go through the WAL, its checksums and the fsync. The writer keeps
//!   the ids with the stream heads; a stream gets its row with its first
//!   event, in the same transaction. A version-1 file (names in every row)
//!   is migrated at open, in one transaction.
//! - **Events are inserted 32 rows per statement**, so that the fixed cost
//!   of executing a statement (opening cursors, halting, resetting) is
//!   shared: about a seventh fewer writer instructions per event. They are
//!   `INSERT OR ROLLBACK`: a failing insert aborts the whole transaction
//!   (the group is then retried one append at a time anyway), which spares
//!   SQLite a statement journal for multi-row statements.
//! - **A modest page cache for the writer** (16 MiB), enough for the hot
//!   part of the index. Not more: when a B-tree page splits, SQLite
//!   (`balance_nonroot`) renumbers pages through a temporary page number
//!   (the lock page at 1 GiB), and at the end of the transaction
//!   (`pager_end_transaction` truncating the cache to the file's size) that
//!   stray number makes it scan its whole page hash table. So until the
//!   file reaches 1 GiB, every commit costs time in proportion to the
//!   cache's pages: with 64 MiB (mostly full of freshly appended table
//!   pages the writer never reads again), `pcache1TruncateUnsafe` took
//!   7-9 % of the writer thread.
//! - **Callers are answered after the commit returns**, by a notifier
//!   thread that takes each committed group from the writer (in commit
//!   order), wakes its callers and publishes its events on a `broadcast`
//!   channel for live subscriptions; the writer meanwhile starts the next
//!   group. A subscription therefore never sees an event that is not
//!   durable.
//!
//! # When the disk fails
//!
//! No thread of the log stops for good while its store is open, whatever
//! the disk does; each resumes by itself once the cause goes away.
//!
//! - **A storage failure stops writing for a while, not for good.** When a
//!   commit fails because the file cannot be written (a full disk, an I/O
//!   error, a file that cannot be opened or locked: `is_storage_fault`),
//!   the group is refused with [`StoreError::Unavailable`] and the writer
//!   enters a failing state: every append is refused at once, without
//!   touching the disk (no caller waits for a disk that will fail again),
//!   and [`SqliteStore::is_available`] is `false`, with the reason in
//!   [`EventStore::write_failure`] (`/healthz`, `/metrics`). Meanwhile the
//!   writer tries again by itself, [`RETRY_FIRST`] later, then backing off
//!   to [`RETRY_MAX`]: a fresh connection (SQLite may leave a connection
//!   that failed in a state it does not leave by itself), the next position
//!   and the stream heads reloaded from the file, and one small write
//!   committed (the schema version written again, through the WAL and its
//!   fsync), so that the log says it is writable only once it is, even if
//!   nobody appends. Other failures (a constraint, say) are still an
//!   append's own: its group is retried one append per transaction.
//! - **Nothing is acknowledged that is not durable, nothing is lost.** An
//!   append is answered `Ok` only after its group committed; a refused or
//!   rolled-back group leaves no trace, and positions stay contiguous since
//!   they are reloaded from the file before the next write.
//! - **A panic fails only what it held.** Each step of the writer (take a
//!   group, commit it) runs under `catch_unwind`: a panic drops that
//!   group's answers (its callers get [`StoreError::Unavailable`]), the
//!   open transaction is rolled back as it unwinds, and the writer goes on
//!   with a fresh connection and reloaded state. The notifier and the
//!   checkpointer catch their panics too; the checkpointer drops a
//!   connection that failed and opens another at its next wake-up; should
//!   either thread be gone anyway, the writer starts another.
//! - **Tests can fail commits on demand** ([`SqliteStore::inject_fault`]:
//!   disk full, I/O error, a panic), besides filling a real small file
//!   system.
//!
//! Reads go through a small pool of read-only connections ([`READERS`]),
//! used inside `tokio::task::spawn_blocking`, which exists on both the
//! multi-thread and the current-thread runtime. In WAL mode readers never
//! block the writer nor each other.
//!
//! # Layout
//! - this file: [`SqliteStore`] (open, close, import, health) and its
//!   [`EventStore`] implementation, the requests it sends the writer.
//! - `schema`: the file's schema, its migrations, the write connection.
//! - `upgrade`: hashing a log written before the hash chain, once.
//! - `writer`: the writer thread (group commit, failures, panics).
//! - `insert`: a group's rows, many per statement.
//! - `notifier`: the thread that answers callers and feeds live
//!   subscriptions.
//! - `checkpointer`: the thread that copies the WAL into the file.
//! - `readers`: the read-only connections and the queries.
//! - `fault`: storage failures, the writer's health, injected faults.

mod checkpointer;
mod fault;
mod insert;
mod notifier;
mod readers;
mod schema;
mod upgrade;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::params;
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};

pub use self::fault::WriteFault;
use self::fault::{FaultSwitch, Health};
use self::readers::{read_stream_sql, row_event, Readers};
use self::schema::{max_position, open_writer};
use crate::chain::PreparedLink;
use crate::subscription::{catch_up_then_live, Batch};
use crate::{
    check_expected, stream_range, validate_append, AppendResult, ChainUpgrade, Direction,
    EventStore, ExpectedRevision, NewEvent, Position, ReadFrom, RecordedEvent, Revision,
    StoreError, Subscription,
};

/// Append requests that may wait for the writer before callers wait to send.
pub const REQUEST_QUEUE: usize = 16_384;

/// Read-only connections (and concurrent reads).
pub const READERS: usize = 4;

/// WAL pages after which the writer checkpoints itself (a public constant
/// only so the docs can name it). The checkpointer
/// thread normally copies the WAL into the database long before, so this
/// mostly finishes its work, letting the WAL start over from its beginning.
pub const WAL_AUTOCHECKPOINT_PAGES: i64 = 8192;

/// How the writer commits. Sizes below 1 count as 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqliteConfig {
    /// The most events one group commit carries (an append larger than this
    /// is committed alone). Default 4096.
    pub max_batch_events: usize,
    /// `true` (default): commit waiting appends together, one fsync per
    /// group. `false`: one transaction and one fsync per append, the
    /// baseline the benchmark compares against; everything else is the same.
    pub group_commit: bool,
    /// Committed groups a live subscriber may fall behind by before it goes
    /// back to reading the database (it is never dropped). Default 1024.
    pub live_buffer: usize,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            max_batch_events: 4096,
            group_commit: true,
            live_buffer: 1024,
        }
    }
}

/// What the writer has committed since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed (one fsync each).
    pub commits: u64,
    /// Appends committed.
    pub appends: u64,
    /// Events committed.
    pub events: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    appends: AtomicU64,
    events: AtomicU64,
}

/// The embedded event log. Cheap to clone: clones share one writer and one
/// reader pool. When the last clone is dropped (or on
/// [`close`](Self::close)) the writer commits what it was given and stops.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Handle>,
}

struct Handle {
    /// To the writer. An `Option` only so that `Drop` can close the channel
    /// before waiting for the writer thread.
    requests: Option<mpsc::Sender<WriterRequest>>,
    readers: Arc<Readers>,
    /// Weak, so that once the writer (the only strong sender) is gone, live
    /// subscriptions see the channel close and end.
    live: broadcast::WeakSender<Batch>,
    writer: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
    counters: Arc<Counters>,
    /// Set by the writer: whether it can write, and why not.
    health: Arc<Health>,
    /// Read by the writer at every commit (tests).
    faults: Arc<FaultSwitch>,
}

/// What the log's writer thread is asked to do.
enum WriterRequest {
    Append(AppendRequest),
    /// A page of another log to append exactly (see [`SqliteStore::import`]).
    Import(ImportRequest),
    /// Commit what was sent before, stop, then answer.
    Close(oneshot::Sender<()>),
}

struct ImportRequest {
    events: Vec<RecordedEvent>,
    reply: oneshot::Sender<Result<(), StoreError>>,
}

struct AppendRequest {
    stream: String,
    expected: ExpectedRevision,
    events: Vec<NewEvent>,
    /// Each event's own part of its hash, prepared on the appender's thread.
    links: Vec<PreparedLink>,
    reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

fn unavailable(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("{context}: {e}"))
}

/// SQLite integers are `i64`; positions, revisions and limits beyond that
/// cannot occur, and saturating keeps "from/limit past the end" meaning the
/// same thing.
fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The first wait before the writer tries to write again after a storage
/// failure; each failed attempt doubles it, up to [`RETRY_MAX`].
pub const RETRY_FIRST: Duration = Duration::from_millis(20);

/// The longest wait between two attempts: how long at most the log stays
/// refused after its cause went away.
pub const RETRY_MAX: Duration = Duration::from_secs(1);

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the log at
    /// `path`, a database file such as `<data-dir>/events.db`, and starts its
    /// writer thread. Blocking: call it at startup, not on a busy runtime.
    ///
    /// One process at a time may open a given file.
    pub fn open(path: &Path, config: SqliteConfig) -> Result<SqliteStore, StoreError> {
        let config = SqliteConfig {
            max_batch_events: config.max_batch_events.max(1),
            live_buffer: config.live_buffer.max(1),
            ..config
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| unavailable(&format!("creating {}", parent.display()), e))?;
        }
        let conn = open_writer(path)?;
        let next_position =
            max_position(&conn).map_err(|e| unavailable("reading the last position", e))? + 1;

        let (requests, rx) = mpsc::channel(REQUEST_QUEUE);
        let (live, _) = broadcast::channel(config.live_buffer);
        let weak_live = live.downgrade();
        let counters = Arc::new(Counters::default());
        let health = Arc::new(Health::default());
        let faults = Arc::new(FaultSwitch::default());
        let thread = writer::start(writer::Start {
            path: path.to_owned(),
            conn,
            next_position,
            rx,
            config,
            live,
            counters: Arc::clone(&counters),
            health: Arc::clone(&health),
            faults: Arc::clone(&faults),
        })?;

        Ok(SqliteStore {
            inner: Arc::new(Handle {
                requests: Some(requests),
                readers: Arc::new(Readers {
                    path: path.to_owned(),
                    idle: Mutex::new(Vec::new()),
                    permits: Semaphore::new(READERS),
                }),
                live: weak_live,
                writer: Mutex::new(Some(thread)),
                path: path.to_owned(),
                counters,
                health,
                faults,
            }),
        })
    }

    /// Whether the writer writes: `false` while it cannot (a full disk, an
    /// I/O error, a connection it could not reopen) and retries in the
    /// background, when appends are refused at once with
    /// [`StoreError::Unavailable`]. Reads go on meanwhile. Cheap.
    pub fn is_available(&self) -> bool {
        self.inner.health.failure().is_none()
    }

    /// Fails the writer's commits with `fault` (see [`WriteFault`]), or stops
    /// failing them (`None`). For tests of how the log survives faults.
    pub fn inject_fault(&self, fault: Option<WriteFault>) {
        self.inner.faults.set(fault);
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Counts of what the writer committed so far (the mean group size is
    /// `events / commits`).
    pub fn stats(&self) -> WriterStats {
        let c = &self.inner.counters;
        WriterStats {
            commits: c.commits.load(Ordering::Relaxed),
            appends: c.appends.load(Ordering::Relaxed),
            events: c.events.load(Ordering::Relaxed),
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
        let requests = self.inner.requests.as_ref().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        requests
            .send(WriterRequest::Import(ImportRequest {
                events: events.to_vec(),
                reply,
            }))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the event store writer stopped before answering".to_owned())
        })?
    }

    /// Stops accepting appends, lets the writer commit every append sent
    /// before, and returns once it has stopped. Appends after this fail with
    /// [`StoreError::Closed`]; reads still work; live subscriptions deliver
    /// what was committed, then end with [`StoreError::Closed`]. Closing
    /// twice is harmless.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if let Some(requests) = &self.inner.requests {
            if requests.send(WriterRequest::Close(tx)).await.is_ok() {
                // An error means the writer is already gone: closed too.
                let _ = rx.await;
            }
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Closing the channel lets the writer drain it and stop; waiting for
        // the thread means that once the last handle is gone, every append
        // that was sent is committed (or answered with an error) and the
        // file can be reopened. The wait is at most the groups in flight.
        drop(self.requests.take());
        let thread = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("the event store writer thread panicked");
            }
        }
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        validate_append(stream, &events)?;
        let requests = self.inner.requests.as_ref().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        let request = AppendRequest {
            stream: stream.to_owned(),
            expected,
            links: PreparedLink::for_events(stream, &events),
            events,
            reply,
        };
        requests
            .send(WriterRequest::Append(request))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the event store writer stopped before answering".to_owned())
        })?
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
        let sql = if range.ascending {
            "revision >= ?2 ORDER BY e.revision"
        } else {
            "revision <= ?2 ORDER BY e.revision DESC"
        };
        let (revision, limit) = (range.revision, range.limit);
        let query = read_stream_sql(sql);
        let stream = stream.to_owned();
        self.inner
            .readers
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&query)?;
                let rows = stmt.query_map(
                    params![stream, to_sql(revision), to_sql(limit as u64)],
                    row_event,
                )?;
                let events: Vec<RecordedEvent> = rows.collect::<rusqlite::Result<_>>()?;
                crate::chain::log_if_broken(&events);
                Ok(events)
            })
            .await
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.readers.read_all(from, limit).await
    }

    async fn last_position(&self) -> Result<Position, StoreError> {
        self.inner.readers.read(max_position).await
    }

    fn subscribe_all(&self, after: Position) -> Subscription {
        let live = match self.inner.live.upgrade() {
            Some(sender) => sender.subscribe(),
            // The writer is gone: a receiver that is already closed, so the
            // subscription catches up and then reports `Closed`.
            None => broadcast::channel(1).1,
        };
        catch_up_then_live(Arc::clone(&self.inner.readers), live, after)
    }

    fn write_failure(&self) -> Option<String> {
        self.inner.health.failure()
    }

    async fn chain_upgrade(&self) -> Result<Option<ChainUpgrade>, StoreError> {
        self.inner.readers.read(upgrade::read_upgrade).await
    }
}
