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

use std::any::Any;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use souk_domain::Timestamp;
use tokio::sync::{broadcast, mpsc, oneshot, Semaphore};

use crate::subscription::{catch_up_then_live, Batch, PageSource};
use crate::{
    check_expected, validate_append, AppendResult, Direction, EventStore, ExpectedRevision,
    NewEvent, Position, ReadFrom, RecordedEvent, Revision, StoreError, Subscription,
};

/// Append requests that may wait for the writer before callers wait to send.
pub const REQUEST_QUEUE: usize = 16_384;

/// Read-only connections (and concurrent reads).
pub const READERS: usize = 4;

/// Stream heads the writer remembers; past this it forgets them all and
/// reloads lazily (a stream head costs one indexed lookup to reload).
const HEAD_CACHE: usize = 200_000;

/// The writer's page cache, in KiB: enough to keep the hot part of the
/// `(stream_id, revision)` index in memory instead of re-reading it, and no
/// more, since until the file reaches 1 GiB every commit scans the whole
/// cache (see the module docs).
const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// WAL pages after which the writer checkpoints itself (a public constant
/// only so the docs can name it). The checkpointer
/// thread normally copies the WAL into the database long before, so this
/// mostly finishes its work, letting the WAL start over from its beginning.
pub const WAL_AUTOCHECKPOINT_PAGES: i64 = 8192;

/// Events committed between two wake-ups of the checkpointer (about as many
/// WAL pages when appends go to many streams): often enough to keep the WAL
/// small, rarely enough that one-append commits do not each cost a
/// checkpoint and a second fsync.
const CHECKPOINT_EVERY_EVENTS: usize = 1024;

/// The schema version this code writes (`PRAGMA user_version`). Version 1
/// kept the stream name in every event row; [`open`](SqliteStore::open)
/// migrates such a file to version 2 (see [`migrate`]).
const SCHEMA_VERSION: i64 = 2;

/// Version 2: stream names interned in `streams`, so that each row of
/// `events` and each entry of its `(stream_id, revision)` index carries a
/// small integer instead of a ~50-byte name.
const STREAMS_TABLE: &str = "
CREATE TABLE IF NOT EXISTS streams (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
) STRICT;
";

/// The columns of `events`, after `CREATE TABLE <name>`: the migration
/// builds the table under another name first. `stream_id` is a `streams.id`,
/// written by the writer in the same transaction as the stream's first
/// event; it is deliberately not declared a foreign key, since the bundled
/// SQLite enforces foreign keys by default, which would cost a lookup in
/// `streams` per event.
const EVENTS_TABLE: &str = "(
    position    INTEGER PRIMARY KEY,
    stream_id   INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    event_type  TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    data        TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL
) STRICT";

/// Created by name (not as a table constraint), after the table is filled
/// when migrating.
const EVENTS_INDEX: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS events_stream_revision ON events (stream_id, revision)";

const INSERT: &str = "INSERT OR ROLLBACK INTO events \
    (position, stream_id, revision, event_type, version, data, recorded_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

const INSERT_STREAM: &str = "INSERT INTO streams (name) VALUES (?1)";

/// A stream's id and last revision, `None` if it has no events.
const HEAD_OF: &str = "SELECT id, (SELECT MAX(revision) FROM events WHERE stream_id = streams.id) \
    FROM streams WHERE name = ?1";

/// The columns of a [`RecordedEvent`], from `events AS e` and `streams AS s`.
const COLUMNS: &str =
    "e.position, s.name, e.revision, e.event_type, e.version, e.data, e.recorded_at";

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
    requests: Option<mpsc::Sender<Command>>,
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

enum Command {
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

/// A failure injected into the writer's commits, for the tests of how it
/// survives them ([`SqliteStore::inject_fault`]). A real full disk (a small
/// tmpfs) is what the tests use where they can; this covers what cannot be
/// provoked on demand. The failure is raised inside the transaction, after
/// the group's rows were written and before the commit, so the rollback of
/// a written group is exercised too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFault {
    /// `SQLITE_FULL` at every commit (and every attempt to write again)
    /// until cleared.
    DiskFull,
    /// `SQLITE_IOERR_WRITE` at every commit until cleared.
    Io,
    /// A panic inside the next commit, once.
    Panic,
}

/// The injected fault, shared by the handle and the writer: an atomic,
/// since the writer reads it at every commit.
#[derive(Default)]
struct FaultSwitch(AtomicU8);

impl FaultSwitch {
    const NONE: u8 = 0;
    const FULL: u8 = 1;
    const IO: u8 = 2;
    const PANIC: u8 = 3;

    fn set(&self, fault: Option<WriteFault>) {
        let code = match fault {
            None => Self::NONE,
            Some(WriteFault::DiskFull) => Self::FULL,
            Some(WriteFault::Io) => Self::IO,
            Some(WriteFault::Panic) => Self::PANIC,
        };
        self.0.store(code, Ordering::Relaxed);
    }

    /// The error to fail a write with, while `DiskFull` or `Io` is on.
    fn error(&self) -> rusqlite::Result<()> {
        use rusqlite::ffi;
        let (code, what) = match self.0.load(Ordering::Relaxed) {
            Self::FULL => (ffi::SQLITE_FULL, "database or disk is full (injected)"),
            Self::IO => (ffi::SQLITE_IOERR_WRITE, "disk I/O error (injected)"),
            _ => return Ok(()),
        };
        Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(code),
            Some(what.into()),
        ))
    }

    /// Right before a commit: the injected error, or the injected panic
    /// (which switches itself off).
    fn before_commit(&self) -> rusqlite::Result<()> {
        let panic = self
            .0
            .compare_exchange(
                Self::PANIC,
                Self::NONE,
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok();
        if panic {
            panic!("event log writer: injected panic");
        }
        self.error()
    }
}

/// Whether the writer can write, shared by the writer (which sets it) and
/// the handles (which report it). A mutex, not an atomic, to carry the
/// reason; it is taken only when the state changes and when someone asks.
#[derive(Default)]
struct Health {
    /// Why appends are refused now; `None` while the writer writes.
    failure: Mutex<Option<String>>,
}

impl Health {
    fn set(&self, failure: Option<String>) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = failure;
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Errors that say the file cannot be written now (a full disk, an I/O
/// error, a file that cannot be opened or locked), as opposed to an error
/// of one append: the writer then stops writing for a while instead of
/// failing every append in turn against the same wall.
fn is_storage_fault(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    matches!(
        e.sqlite_error_code(),
        Some(
            C::DiskFull
                | C::SystemIoFailure
                | C::CannotOpen
                | C::DatabaseCorrupt
                | C::NotADatabase
                | C::ReadOnly
                | C::OutOfMemory
                | C::DatabaseBusy
                | C::DatabaseLocked
                | C::FileLockingProtocolFailed
                | C::PermissionDenied
        )
    )
}

/// What a panic said, for the log.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

/// Wakes a thread parked in [`recv_until`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// What a wait on the request channel ended with.
enum Received {
    Command(Command),
    /// The channel is closed and drained.
    Closed,
    /// The deadline passed first.
    Timeout,
}

/// `blocking_recv` with a deadline, for the writer while it waits to try
/// writing again: tokio's receiver has no blocking receive with a timeout,
/// so it is polled with a waker that unparks this thread.
fn recv_until(rx: &mut mpsc::Receiver<Command>, deadline: Instant) -> Received {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match rx.poll_recv(&mut cx) {
            Poll::Ready(Some(command)) => return Received::Command(command),
            Poll::Ready(None) => return Received::Closed,
            Poll::Pending => {
                let now = Instant::now();
                if now >= deadline {
                    return Received::Timeout;
                }
                std::thread::park_timeout(deadline - now);
            }
        }
    }
}

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

        let (checkpoints, checkpointer) = spawn_checkpointer(path)?;
        let (requests, rx) = mpsc::channel(REQUEST_QUEUE);
        let (live, _) = broadcast::channel(config.live_buffer);
        let weak_live = live.downgrade();
        let counters = Arc::new(Counters::default());
        let health = Arc::new(Health::default());
        let faults = Arc::new(FaultSwitch::default());
        let (notifier, notifier_thread) = spawn_notifier(live.clone())?;
        let writer = Writer {
            path: path.to_owned(),
            notifier,
            notifier_thread: Some(notifier_thread),
            live,
            counters: Arc::clone(&counters),
            health: Arc::clone(&health),
            faults: Arc::clone(&faults),
            conn,
            rx,
            config,
            heads: HashMap::default(),
            next_position,
            needs_reload: false,
            reopen: false,
            failing: None,
            carry: None,
            closers: Vec::new(),
            imports: Vec::new(),
            checkpoints,
            checkpointer: Some(checkpointer),
            unchecked_events: 0,
        };
        let thread = std::thread::Builder::new()
            .name("souk-store-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(|e| unavailable("starting the writer thread", e))?;

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
    /// revisions, types, versions, payload bytes and times. The first event
    /// must come right after this log's last (so the first page goes into an
    /// empty log), positions must be contiguous, and each stream's revisions
    /// must continue it; otherwise [`StoreError::InvalidAppend`] and nothing
    /// is written. A page is one transaction. Live subscriptions see it.
    pub async fn import(&self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        crate::validate_import(events)?;
        if events.is_empty() {
            return Ok(());
        }
        let requests = self.inner.requests.as_ref().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        requests
            .send(Command::Import(ImportRequest {
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
            if requests.send(Command::Close(tx)).await.is_ok() {
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

fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let at = |e: rusqlite::Error| unavailable(&format!("opening {}", path.display()), e);
    let mut conn = Connection::open(path).map_err(at)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(at)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(at)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "{}: could not switch to WAL mode (got {mode})",
            path.display()
        )));
    }
    // FULL: in WAL mode, every commit fsyncs the WAL, so an acknowledged
    // append survives a power cut, not only a crash of the process.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(at)?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .map_err(at)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
        .map_err(at)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(at)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "{}: the event log has schema version {version}, newer than this build's {SCHEMA_VERSION}",
            path.display()
        )));
    }
    if version < SCHEMA_VERSION {
        create_or_migrate(&mut conn).map_err(|e| {
            unavailable(
                &format!(
                    "{}: creating or migrating the event log schema (version {version})",
                    path.display()
                ),
                e,
            )
        })?;
    }
    Ok(conn)
}

/// Brings a file of an older schema version (or a new, empty file) to
/// [`SCHEMA_VERSION`], in one transaction: either the whole log is
/// migrated or nothing changes.
fn create_or_migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Version 1 (or a version-1 file whose `user_version` was never set: the
    // first build created the table before setting it) has a `stream` column.
    let version_1: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('events') WHERE name = 'stream'",
        [],
        |r| r.get(0),
    )?;
    if version_1 {
        migrate(&tx)?;
    }
    tx.execute_batch(STREAMS_TABLE)?;
    tx.execute_batch(&format!("CREATE TABLE IF NOT EXISTS events {EVENTS_TABLE}"))?;
    tx.execute_batch(EVENTS_INDEX)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

/// Version 1 to 2, inside the caller's transaction: intern the stream names
/// (ids in order of each stream's first event), copy the events in position
/// order into a new table, drop the old one (and its index) and give the new
/// one its name. The caller then creates the index, faster on a full table
/// than entry by entry.
fn migrate(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(STREAMS_TABLE)?;
    tx.execute_batch(&format!(
        "
        INSERT INTO streams (name)
            SELECT stream FROM events GROUP BY stream ORDER BY MIN(position);
        CREATE TABLE events_v2 {EVENTS_TABLE};
        INSERT INTO events_v2
            SELECT e.position, s.id, e.revision, e.event_type, e.version, e.data, e.recorded_at
            FROM events AS e CROSS JOIN streams AS s ON s.name = e.stream
            ORDER BY e.position;
        DROP TABLE events;
        ALTER TABLE events_v2 RENAME TO events;
        "
    ))
}

fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let at = |e: rusqlite::Error| unavailable(&format!("opening {}", path.display()), e);
    let conn = Connection::open(path).map_err(at)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(at)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(at)?;
    // It only ever checkpoints: never let it start one on its own.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(at)?;
    Ok(conn)
}

/// Starts the checkpointer thread (at open, and again should it ever be
/// gone); returns what wakes it.
fn spawn_checkpointer(
    path: &Path,
) -> Result<(std::sync::mpsc::SyncSender<()>, JoinHandle<()>), StoreError> {
    let conn = open_checkpointer(path)?;
    let (checkpoints, wake_ups) = std::sync::mpsc::sync_channel(1);
    let path = path.to_owned();
    let thread = std::thread::Builder::new()
        .name("souk-store-checkpoint".to_owned())
        .spawn(move || checkpoint_while_woken(&path, Some(conn), wake_ups))
        .map_err(|e| unavailable("starting the checkpointer thread", e))?;
    Ok((checkpoints, thread))
}

/// The checkpointer thread: after each wake-up from the writer, copies the
/// WAL's new pages into the database file and syncs it (a PASSIVE
/// checkpoint, which never blocks the writer nor the readers). Doing it here
/// takes that copying and its fsync off the writer's thread; the writer's
/// own automatic checkpoint then has little left to do. Ends when the
/// writer drops its end of the channel, and not before: a failed checkpoint
/// (a full disk, an I/O error) is retried at the next wake-up on a fresh
/// connection, and a panic is caught and logged.
fn checkpoint_while_woken(
    path: &Path,
    mut conn: Option<Connection>,
    wake_ups: std::sync::mpsc::Receiver<()>,
) {
    while wake_ups.recv().is_ok() {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| checkpoint(path, &mut conn))) {
            tracing::error!(
                "the event store checkpointer panicked ({}); it goes on with a fresh connection",
                panic_message(&*panic)
            );
            conn = None;
        }
    }
    if let Some(Err((_, e))) = conn.map(Connection::close) {
        tracing::warn!("closing the event store checkpoint connection: {e}");
    }
}

/// One checkpoint, on `conn` (opened first if it is `None`); a connection
/// that failed for a reason other than being busy is dropped, so that the
/// next checkpoint starts on a fresh one.
fn checkpoint(path: &Path, conn: &mut Option<Connection>) {
    let ready = match conn {
        Some(ready) => ready,
        None => match open_checkpointer(path) {
            Ok(opened) => conn.insert(opened),
            Err(e) => {
                tracing::warn!("event store checkpoint: {e}");
                return;
            }
        },
    };
    let result = ready.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    match result {
        Ok(()) => {}
        // The writer is checkpointing: its own checkpoints keep the WAL
        // bounded anyway.
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            tracing::debug!("event store checkpoint: {e}");
        }
        Err(e) => {
            tracing::warn!("event store checkpoint failed, retried at the next wake-up: {e}");
            *conn = None;
        }
    }
}

fn max_position(conn: &Connection) -> rusqlite::Result<u64> {
    let max: Option<i64> = conn.query_row("SELECT MAX(position) FROM events", [], |r| r.get(0))?;
    Ok(max.map_or(0, |p| p as u64))
}

/// The writer thread's state.
struct Writer {
    /// The database file, to reopen the connection after a failure.
    path: PathBuf,
    conn: Connection,
    rx: mpsc::Receiver<Command>,
    /// To the notifier thread, which answers callers and publishes.
    notifier: std::sync::mpsc::SyncSender<Committed>,
    notifier_thread: Option<JoinHandle<()>>,
    /// The live feed, to start another notifier should it ever be gone.
    live: broadcast::Sender<Batch>,
    /// Told whether the writer writes (see [`SqliteStore::is_available`]).
    health: Arc<Health>,
    /// Failures injected by tests, checked before each commit.
    faults: Arc<FaultSwitch>,
    /// The file could not be written: appends are refused at once until
    /// the next attempt.
    failing: Option<Failing>,
    /// The write connection is replaced by a fresh one before the next
    /// write (after a panic, or after a storage failure, which may leave
    /// SQLite's connection in a state it does not leave by itself).
    reopen: bool,
    config: SqliteConfig,
    /// Id and committed head of each stream seen.
    heads: HashMap<String, Head, foldhash::fast::RandomState>,
    /// The position the next event will get.
    next_position: Position,
    /// A transaction failed: reload `heads` and `next_position` from the
    /// database before writing again.
    needs_reload: bool,
    /// A request taken from the queue that did not fit in the last group.
    carry: Option<AppendRequest>,
    /// Callers of `close`, answered once the writer has stopped.
    closers: Vec<oneshot::Sender<()>>,
    /// Imports met while filling a group, run after it.
    imports: Vec<ImportRequest>,
    counters: Arc<Counters>,
    /// Wakes the checkpointer after a commit; a channel of one slot, so
    /// wake-ups coalesce while it works.
    checkpoints: std::sync::mpsc::SyncSender<()>,
    checkpointer: Option<JoinHandle<()>>,
    /// Events committed since the checkpointer was last woken.
    unchecked_events: usize,
}

/// Why and since when the writer cannot write, and when it tries again.
struct Failing {
    /// What refused appends are answered.
    error: StoreError,
    since: Instant,
    /// The wait before the next attempt, doubled after each failed one.
    backoff: Duration,
    retry_at: Instant,
    /// Appends refused meanwhile (for the log line when it writes again).
    refused: u64,
}

/// What the writer knows of a stream.
#[derive(Clone, Copy)]
struct Head {
    /// Its row in `streams`; `None` until its first event is written.
    id: Option<i64>,
    /// Its last event's revision; `None` if it has no events.
    revision: Option<Revision>,
}

/// Where an accepted append landed.
#[derive(Clone, Copy)]
struct Placed {
    first_revision: Revision,
    first_position: Position,
}

impl Writer {
    /// Commits groups until the channel is closed and drained. A panic in
    /// one step fails only what that step held (its callers' answers are
    /// dropped, which they see as [`StoreError::Unavailable`]); the writer
    /// then goes on with a fresh connection and state reloaded from disk.
    fn run(mut self) {
        loop {
            match catch_unwind(AssertUnwindSafe(|| self.step())) {
                Ok(true) => {}
                Ok(false) => break,
                Err(panic) => self.after_panic(&*panic),
            }
        }
        let Writer {
            conn,
            closers,
            checkpoints,
            checkpointer,
            notifier,
            notifier_thread,
            live,
            ..
        } = self;
        // Every caller answered and every event published before `close`
        // returns.
        drop(notifier);
        if let Some(notifier) = notifier_thread {
            if notifier.join().is_err() {
                tracing::error!("the event store notifier thread panicked");
            }
        }
        // The last strong sender once the notifier is gone: live
        // subscriptions end.
        drop(live);
        drop(checkpoints);
        if let Some(checkpointer) = checkpointer {
            if checkpointer.join().is_err() {
                tracing::error!("the event store checkpointer thread panicked");
            }
        }
        if let Err((_, e)) = conn.close() {
            tracing::warn!("closing the event store write connection: {e}");
        }
        for closer in closers {
            let _ = closer.send(());
        }
    }

    /// Takes the next group and commits it, or, while failing, tries to
    /// write again when it is time. `false` once the channel is closed and
    /// drained.
    fn step(&mut self) -> bool {
        let retry_at = self.failing.as_ref().map(|f| f.retry_at);
        if retry_at.is_some_and(|at| Instant::now() >= at) {
            self.try_again();
            return true;
        }
        let first = match self.next_request(retry_at) {
            Received::Command(Command::Append(first)) => first,
            Received::Command(_) | Received::Timeout => return true,
            Received::Closed => return false,
        };
        let mut group = vec![first];
        if self.config.group_commit {
            self.fill_group(&mut group);
        }
        self.commit_group(group);
        for import in std::mem::take(&mut self.imports) {
            let result = self.import(&import.events);
            let _ = import.reply.send(result);
        }
        true
    }

    /// After a panic in [`step`](Self::step): the transaction it may have
    /// left open was rolled back as it unwound; the connection is replaced
    /// and the state reloaded from disk at once.
    fn after_panic(&mut self, panic: &(dyn Any + Send)) {
        tracing::error!(
            "the event store writer panicked ({}); the appends it held are refused, \
             it goes on with a fresh connection",
            panic_message(panic)
        );
        self.reopen = true;
        self.needs_reload = true;
        if let Err(e) = self.ready_to_write() {
            tracing::warn!("the event store writer could not start again yet: {e}");
        }
    }

    /// Blocks for the next append (until `deadline`, if any), running the
    /// imports and closes met on the way. [`Received::Closed`] once the
    /// channel is closed and drained.
    fn next_request(&mut self, deadline: Option<Instant>) -> Received {
        if let Some(carried) = self.carry.take() {
            return Received::Command(Command::Append(carried));
        }
        loop {
            let received = match deadline {
                None => match self.rx.blocking_recv() {
                    Some(command) => Received::Command(command),
                    None => Received::Closed,
                },
                Some(deadline) => recv_until(&mut self.rx, deadline),
            };
            match received {
                Received::Command(Command::Import(import)) => {
                    let result = self.import(&import.events);
                    let _ = import.reply.send(result);
                }
                Received::Command(Command::Close(closer)) => self.start_closing(closer),
                other => return other,
            }
        }
    }

    fn start_closing(&mut self, closer: oneshot::Sender<()>) {
        // Refuse new sends; what is queued is still drained and committed.
        self.rx.close();
        self.closers.push(closer);
    }

    /// Adds every request already waiting, up to the group size.
    fn fill_group(&mut self, group: &mut Vec<AppendRequest>) {
        let mut events: usize = group.iter().map(|r| r.events.len()).sum();
        while events < self.config.max_batch_events {
            match self.rx.try_recv() {
                Ok(Command::Append(request)) => {
                    if events + request.events.len() > self.config.max_batch_events {
                        self.carry = Some(request);
                        return;
                    }
                    events += request.events.len();
                    group.push(request);
                }
                // Run after the group, in the order they came.
                Ok(Command::Import(import)) => self.imports.push(import),
                Ok(Command::Close(closer)) => self.start_closing(closer),
                Err(_) => return,
            }
        }
    }

    /// `Ok` when the next write may go to disk: not failing, the connection
    /// fresh if it had to be replaced, the state reloaded if it may be
    /// stale. Otherwise the error to refuse appends with (a failure to
    /// reopen or reload starts the writer failing).
    fn ready_to_write(&mut self) -> Result<(), StoreError> {
        if let Some(failing) = &self.failing {
            return Err(failing.error.clone());
        }
        self.reopen_and_reload().map_err(|e| self.fail(e))
    }

    /// Replaces the connection if it has to be, reloads the state if it
    /// may be stale.
    fn reopen_and_reload(&mut self) -> Result<(), StoreError> {
        if self.reopen {
            // The old connection is closed as it is dropped; a failure to
            // close it (say, to checkpoint on a full disk) changes nothing.
            self.conn = open_writer(&self.path)?;
            self.reopen = false;
            self.needs_reload = true;
        }
        if self.needs_reload {
            self.reload()
                .map_err(|e| unavailable("reloading the event log state", e))?;
        }
        Ok(())
    }

    /// The file cannot be written: refuse appends at once until the next
    /// attempt (backing off), say so to [`Health`], and replace the
    /// connection and reload the state before writing again. Returns the
    /// error to answer with.
    fn fail(&mut self, error: StoreError) -> StoreError {
        let now = Instant::now();
        match &mut self.failing {
            Some(failing) => {
                failing.backoff = (failing.backoff * 2).min(RETRY_MAX);
                failing.retry_at = now + failing.backoff;
                failing.error = error.clone();
                tracing::debug!(
                    "the event log still cannot be written ({error}); next attempt in {:?}",
                    failing.backoff
                );
            }
            None => {
                tracing::error!(
                    "the event log cannot be written ({error}); appends are refused \
                     until it can, trying again in the background"
                );
                self.failing = Some(Failing {
                    error: error.clone(),
                    since: now,
                    backoff: RETRY_FIRST,
                    retry_at: now + RETRY_FIRST,
                    refused: 0,
                });
            }
        }
        self.health.set(Some(error.to_string()));
        self.reopen = true;
        self.needs_reload = true;
        error
    }

    /// While failing, when it is time: a fresh connection, the state
    /// reloaded, and one small write committed (the schema version written
    /// again: one page through the WAL and its fsync), so that the log is
    /// said to be writable again only once it is, even with no append to
    /// try.
    fn try_again(&mut self) {
        let Some(failing) = self.failing.take() else {
            return;
        };
        let attempt = self.reopen_and_reload().and_then(|()| {
            self.probe()
                .map_err(|e| unavailable("writing to the event log", e))
        });
        match attempt {
            Ok(()) => {
                self.health.set(None);
                tracing::info!(
                    "the event log is written again, after {:.1?} ({} appends refused meanwhile)",
                    failing.since.elapsed(),
                    failing.refused
                );
            }
            Err(e) => {
                // Counting from the first failure, backing off further.
                self.failing = Some(failing);
                self.fail(e);
            }
        }
    }

    /// The smallest write that goes through the WAL and its fsync, and
    /// changes nothing.
    fn probe(&mut self) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        self.faults.error()?;
        tx.commit()
    }

    /// Writes and commits `group`, then hands it to the notifier, which
    /// answers every caller and publishes what was committed.
    fn commit_group(&mut self, group: Vec<AppendRequest>) {
        if let Err(err) = self.ready_to_write() {
            self.refuse(group, &err);
            return;
        }
        let recorded_at = Timestamp::now();
        match self.write(&group, recorded_at) {
            Ok(outcomes) => self.notify(Committed {
                imported: Vec::new(),
                group,
                outcomes,
                recorded_at,
            }),
            Err(e) if is_storage_fault(&e) => {
                let err = self.fail(unavailable("writing to the event log", e));
                self.refuse(group, &err);
            }
            Err(e) => {
                self.needs_reload = true;
                if group.len() > 1 {
                    tracing::warn!(
                        "event store group of {} appends failed ({e}); retrying them one by one",
                        group.len()
                    );
                    for request in group {
                        self.commit_group(vec![request]);
                    }
                } else {
                    tracing::error!("event store append failed: {e}");
                    refuse(group, &unavailable("writing to the event log", e));
                }
            }
        }
    }

    /// Answers every caller of `group` with `error`, counting them while
    /// failing.
    fn refuse(&mut self, group: Vec<AppendRequest>, error: &StoreError) {
        if let Some(failing) = &mut self.failing {
            failing.refused += group.len() as u64;
        }
        refuse(group, error);
    }

    /// Hands a committed group to the notifier; should the notifier be
    /// gone (it catches its panics, so it should not be), starts another
    /// and hands it the group.
    fn notify(&mut self, committed: Committed) {
        let Err(std::sync::mpsc::SendError(committed)) = self.notifier.send(committed) else {
            return;
        };
        tracing::error!("the event store notifier thread is gone; starting another");
        if let Some(gone) = self.notifier_thread.take() {
            let _ = gone.join();
        }
        match spawn_notifier(self.live.clone()) {
            Ok((notifier, thread)) => {
                self.notifier = notifier;
                self.notifier_thread = Some(thread);
                // A new thread's channel is empty and open.
                let _ = self.notifier.send(committed);
            }
            Err(e) => {
                // Committed, but its callers cannot be told so.
                tracing::error!("the event store notifier could not be started again: {e}");
                refuse(committed.group, &e);
            }
        }
    }

    /// Appends a page of another log exactly, in one transaction, after
    /// checking that it starts right after this log's last position and
    /// that each stream's revisions continue it.
    fn import(&mut self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(());
        };
        self.ready_to_write()?;
        if first.position != self.next_position {
            return Err(StoreError::InvalidAppend(format!(
                "import: the log ends at position {}, so the next imported event must have \
                 position {}, not {} (import into an empty log, page after page)",
                self.next_position - 1,
                self.next_position,
                first.position
            )));
        }
        // Heads are updated as the page is checked: reload them unless it
        // commits.
        self.needs_reload = true;
        let result = match self.write_import(events) {
            Ok(checked) => checked,
            Err(e) if is_storage_fault(&e) => {
                Err(self.fail(unavailable("importing into the event log", e)))
            }
            Err(e) => Err(unavailable("importing into the event log", e)),
        };
        if let Err(e) = &result {
            tracing::warn!("event log import failed: {e}");
            return result;
        }
        self.needs_reload = false;
        self.next_position = last.position + 1;
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        self.counters
            .events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        self.notify(Committed {
            imported: events.to_vec(),
            group: Vec::new(),
            outcomes: Vec::new(),
            recorded_at: last.recorded_at,
        });
        Ok(())
    }

    /// The page in one transaction: `Err` when SQLite fails, `Ok(Err)` when
    /// the page does not continue the log (nothing is then written).
    fn write_import(
        &mut self,
        events: &[RecordedEvent],
    ) -> rusqlite::Result<Result<(), StoreError>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut rows = Vec::with_capacity(events.len());
        {
            let mut head_of = tx.prepare_cached(HEAD_OF)?;
            let mut insert_stream = tx.prepare_cached(INSERT_STREAM)?;
            for event in events {
                let stream = event.stream.as_str();
                let head = match self.heads.get_mut(stream) {
                    Some(head) => head,
                    None => {
                        let loaded = head_of
                            .query_row([stream], |r| {
                                Ok(Head {
                                    id: Some(r.get(0)?),
                                    revision: r.get::<_, Option<i64>>(1)?.map(|r| r as Revision),
                                })
                            })
                            .optional()?
                            .unwrap_or(Head {
                                id: None,
                                revision: None,
                            });
                        self.heads.entry(stream.to_owned()).or_insert(loaded)
                    }
                };
                let expected = head.revision.map_or(0, |r| r + 1);
                if event.revision != expected {
                    return Ok(Err(StoreError::InvalidAppend(format!(
                        "import: event at position {} has revision {} of {stream}, expected {expected}",
                        event.position, event.revision
                    ))));
                }
                let stream_id = match head.id {
                    Some(id) => id,
                    None => {
                        insert_stream.execute([stream])?;
                        let id = tx.last_insert_rowid();
                        head.id = Some(id);
                        id
                    }
                };
                head.revision = Some(event.revision);
                rows.push(Row {
                    position: to_sql(event.position),
                    stream_id,
                    revision: to_sql(event.revision),
                    event_type: &event.event_type,
                    version: event.version,
                    data: &event.data,
                    at: event.recorded_at.millis(),
                });
            }
        }
        insert_rows(&tx, &rows)?;
        self.faults.before_commit()?;
        tx.commit()?;
        Ok(Ok(()))
    }

    fn wake_checkpointer(&mut self) {
        use std::sync::mpsc::TrySendError;
        match self.checkpoints.try_send(()) {
            // A full slot means a wake-up is already pending: as good.
            Ok(()) | Err(TrySendError::Full(())) => {}
            // It catches its panics, so it should not be gone; if it is,
            // the next wake-up goes to a new one.
            Err(TrySendError::Disconnected(())) => {
                tracing::error!("the event store checkpointer thread is gone; starting another");
                if let Some(gone) = self.checkpointer.take() {
                    let _ = gone.join();
                }
                match spawn_checkpointer(&self.path) {
                    Ok((checkpoints, thread)) => {
                        self.checkpoints = checkpoints;
                        self.checkpointer = Some(thread);
                    }
                    Err(e) => tracing::warn!("the event store checkpointer could not start: {e}"),
                }
            }
        }
    }

    fn reload(&mut self) -> rusqlite::Result<()> {
        self.heads.clear();
        self.next_position = max_position(&self.conn)? + 1;
        self.needs_reload = false;
        Ok(())
    }

    /// One transaction for the whole group: checks each request against its
    /// stream's head (as left by the requests before it in the group),
    /// inserts the accepted ones, commits. `heads` is updated as the group is
    /// written, so on error the caller must have the state reloaded
    /// (`needs_reload`); `next_position` only moves on success.
    fn write(
        &mut self,
        group: &[AppendRequest],
        recorded_at: Timestamp,
    ) -> rusqlite::Result<Vec<Result<Placed, StoreError>>> {
        if self.heads.len() > HEAD_CACHE {
            self.heads.clear();
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut next_position = self.next_position;
        let mut outcomes = Vec::with_capacity(group.len());
        let mut rows: Vec<Row<'_>> = Vec::new();
        {
            let mut head_of = tx.prepare_cached(HEAD_OF)?;
            let mut insert_stream = tx.prepare_cached(INSERT_STREAM)?;
            for request in group {
                let stream = request.stream.as_str();
                let head = match self.heads.get_mut(stream) {
                    Some(head) => head,
                    None => {
                        let loaded = head_of
                            .query_row([stream], |r| {
                                Ok(Head {
                                    id: Some(r.get(0)?),
                                    revision: r.get::<_, Option<i64>>(1)?.map(|r| r as Revision),
                                })
                            })
                            .optional()?
                            .unwrap_or(Head {
                                id: None,
                                revision: None,
                            });
                        self.heads.entry(stream.to_owned()).or_insert(loaded)
                    }
                };
                if let Err(conflict) = check_expected(stream, request.expected, head.revision) {
                    outcomes.push(Err(conflict));
                    continue;
                }
                let stream_id = match head.id {
                    Some(id) => id,
                    None => {
                        insert_stream.execute([stream])?;
                        let id = tx.last_insert_rowid();
                        head.id = Some(id);
                        id
                    }
                };
                let placed = Placed {
                    first_revision: head.revision.map_or(0, |r| r + 1),
                    first_position: next_position,
                };
                rows.extend(request.events.iter().enumerate().map(|(i, event)| Row {
                    position: to_sql(placed.first_position + i as u64),
                    stream_id,
                    revision: to_sql(placed.first_revision + i as u64),
                    event_type: &event.event_type,
                    version: event.version,
                    data: &event.data,
                    at: recorded_at.millis(),
                }));
                let count = request.events.len() as u64;
                next_position += count;
                head.revision = Some(placed.first_revision + count - 1);
                outcomes.push(Ok(placed));
            }
        }
        insert_rows(&tx, &rows)?;
        self.faults.before_commit()?;
        tx.commit()?;
        self.unchecked_events += (next_position - self.next_position) as usize;
        if self.unchecked_events >= CHECKPOINT_EVERY_EVENTS {
            self.wake_checkpointer();
            self.unchecked_events = 0;
        }

        let accepted = outcomes.iter().filter(|o| o.is_ok()).count() as u64;
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        self.counters.appends.fetch_add(accepted, Ordering::Relaxed);
        self.counters
            .events
            .fetch_add(next_position - self.next_position, Ordering::Relaxed);
        self.next_position = next_position;
        Ok(outcomes)
    }
}

/// One row of `events` to insert.
struct Row<'a> {
    position: i64,
    stream_id: i64,
    revision: i64,
    event_type: &'a str,
    version: u32,
    data: &'a str,
    /// `recorded_at`, in milliseconds.
    at: i64,
}

/// Rows inserted by one execution of [`INSERT_CHUNK_SQL`]: executing a
/// statement has a fixed cost (binding aside), shared by its rows.
const INSERT_CHUNK: usize = 32;

/// Columns bound per row.
const INSERT_COLUMNS: usize = 7;

/// [`INSERT`] with [`INSERT_CHUNK`] rows.
static INSERT_CHUNK_SQL: LazyLock<String> = LazyLock::new(|| {
    let row = "(?, ?, ?, ?, ?, ?, ?)";
    format!(
        "INSERT OR ROLLBACK INTO events \
         (position, stream_id, revision, event_type, version, data, recorded_at) VALUES {}",
        vec![row; INSERT_CHUNK].join(", ")
    )
});

/// Inserts `rows` in order: [`INSERT_CHUNK`] rows per statement, then the
/// rest one by one.
fn insert_rows(tx: &rusqlite::Transaction<'_>, rows: &[Row<'_>]) -> rusqlite::Result<()> {
    fn bind(
        stmt: &mut rusqlite::CachedStatement<'_>,
        first: usize,
        row: &Row<'_>,
    ) -> rusqlite::Result<()> {
        stmt.raw_bind_parameter(first, row.position)?;
        stmt.raw_bind_parameter(first + 1, row.stream_id)?;
        stmt.raw_bind_parameter(first + 2, row.revision)?;
        stmt.raw_bind_parameter(first + 3, row.event_type)?;
        stmt.raw_bind_parameter(first + 4, row.version)?;
        stmt.raw_bind_parameter(first + 5, row.data)?;
        stmt.raw_bind_parameter(first + 6, row.at)
    }
    let mut chunks = rows.chunks_exact(INSERT_CHUNK);
    if chunks.len() > 0 {
        let mut insert = tx.prepare_cached(&INSERT_CHUNK_SQL)?;
        for chunk in &mut chunks {
            for (i, row) in chunk.iter().enumerate() {
                bind(&mut insert, i * INSERT_COLUMNS + 1, row)?;
            }
            insert.raw_execute()?;
        }
    }
    if !chunks.remainder().is_empty() {
        let mut insert = tx.prepare_cached(INSERT)?;
        for row in chunks.remainder() {
            bind(&mut insert, 1, row)?;
            insert.raw_execute()?;
        }
    }
    Ok(())
}

/// A committed group on its way to its callers.
struct Committed {
    /// An imported page, published as is (`group` is then empty).
    imported: Vec<RecordedEvent>,
    group: Vec<AppendRequest>,
    outcomes: Vec<Result<Placed, StoreError>>,
    recorded_at: Timestamp,
}

/// Committed groups the notifier may lag behind by before the writer waits.
const NOTIFY_QUEUE: usize = 64;

/// Starts the notifier thread (at open, and again should it ever be gone);
/// returns what feeds it.
fn spawn_notifier(
    live: broadcast::Sender<Batch>,
) -> Result<(std::sync::mpsc::SyncSender<Committed>, JoinHandle<()>), StoreError> {
    let (notifier, committed) = std::sync::mpsc::sync_channel(NOTIFY_QUEUE);
    let thread = std::thread::Builder::new()
        .name("souk-store-notify".to_owned())
        .spawn(move || notify_while_fed(committed, live))
        .map_err(|e| unavailable("starting the notifier thread", e))?;
    Ok((notifier, thread))
}

/// The notifier thread: answers the callers of each committed group and
/// publishes its events, in commit order. This work (a task wake-up per
/// append, an owned `RecordedEvent` per event when anyone subscribes) is
/// taken off the writer's thread, which is the one that bounds throughput.
/// Ends when the writer drops its end of the channel, and not before: a
/// panic is caught and logged (the callers of that group not yet answered
/// are told [`StoreError::Unavailable`] as their answers are dropped, and
/// live subscribers, missing its batch, read it from the log).
fn notify_while_fed(
    committed: std::sync::mpsc::Receiver<Committed>,
    live: broadcast::Sender<Batch>,
) {
    while let Ok(group) = committed.recv() {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| answer_and_publish(group, &live))) {
            tracing::error!(
                "the event store notifier panicked ({}); it goes on",
                panic_message(&*panic)
            );
        }
    }
}

fn answer_and_publish(committed: Committed, live: &broadcast::Sender<Batch>) {
    let Committed {
        imported,
        group,
        outcomes,
        recorded_at,
    } = committed;
    let publish = live.receiver_count() > 0;
    let mut recorded = imported;
    for (request, outcome) in group.into_iter().zip(outcomes) {
        let placed = match outcome {
            Ok(placed) => placed,
            Err(conflict) => {
                let _ = request.reply.send(Err(conflict));
                continue;
            }
        };
        let count = request.events.len() as u64;
        let _ = request.reply.send(Ok(AppendResult {
            next_expected_revision: placed.first_revision + count - 1,
            first_position: placed.first_position,
            position: placed.first_position + count - 1,
            recorded_at,
        }));
        if publish {
            recorded.extend(
                request
                    .events
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| RecordedEvent {
                        stream: request.stream.clone(),
                        revision: placed.first_revision + i as u64,
                        position: placed.first_position + i as u64,
                        event_type: e.event_type,
                        version: e.version,
                        data: e.data,
                        recorded_at,
                    }),
            );
        }
    }
    if !recorded.is_empty() {
        // No receiver left is not an error.
        let _ = live.send(recorded.into());
    }
}

/// Answers every caller of `group` with `error`.
fn refuse(group: Vec<AppendRequest>, error: &StoreError) {
    for request in group {
        let _ = request.reply.send(Err(error.clone()));
    }
}

/// The read-only connections.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Bounds concurrent reads, hence open connections, to [`READERS`].
    permits: Semaphore,
}

impl Readers {
    /// Runs `f` on a read-only connection on tokio's blocking pool.
    async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || readers.read_blocking(f))
            .await
            .map_err(|e| unavailable("reading the event log", e))?
    }

    fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path)
                .map_err(|e| unavailable(&format!("opening {}", self.path.display()), e))?,
        };
        let out = f(&conn).map_err(|e| unavailable("reading the event log", e));
        // A connection that failed may be in a bad state: do not keep it.
        if out.is_ok() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
        out
    }

    async fn read_all(
        self: &Arc<Self>,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&read_all_sql())?;
            let rows = stmt.query_map(params![to_sql(from), to_sql(limit as u64)], row_event)?;
            rows.collect()
        })
        .await
    }
}

/// Events from position `?1` on, at most `?2`. Forced join order (`CROSS
/// JOIN`): along `events` by position, each stream's name by its id.
fn read_all_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM events AS e CROSS JOIN streams AS s ON s.id = e.stream_id \
         WHERE e.position >= ?1 ORDER BY e.position LIMIT ?2"
    )
}

/// Events of the stream named `?1`, `condition` on `e.revision` (with `?2`)
/// and its order, at most `?3`. Forced join order: the stream's id by its
/// name, then its events along the `(stream_id, revision)` index.
fn read_stream_sql(condition: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM streams AS s CROSS JOIN events AS e ON e.stream_id = s.id \
         WHERE s.name = ?1 AND e.{condition} LIMIT ?3"
    )
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

fn row_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordedEvent> {
    Ok(RecordedEvent {
        position: row.get::<_, i64>(0)? as Position,
        stream: row.get(1)?,
        revision: row.get::<_, i64>(2)? as Revision,
        event_type: row.get(3)?,
        version: row.get(4)?,
        data: row.get(5)?,
        recorded_at: Timestamp::from_millis(row.get(6)?),
    })
}

impl PageSource for Arc<Readers> {
    fn read_page(
        &self,
        from: Position,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<RecordedEvent>, StoreError>> {
        let readers = Arc::clone(self);
        Box::pin(async move { readers.read_all(from, limit).await })
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
            events,
            reply,
        };
        requests
            .send(Command::Append(request))
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
        let (sql, revision, limit) = match (direction, from) {
            (_, _) if limit == 0 => return Ok(Vec::new()),
            (Direction::Forwards, ReadFrom::Start) => {
                ("revision >= ?2 ORDER BY e.revision", 0, limit)
            }
            (Direction::Forwards, ReadFrom::Revision(r)) => {
                ("revision >= ?2 ORDER BY e.revision", r, limit)
            }
            // The last event only.
            (Direction::Forwards, ReadFrom::End) => {
                ("revision <= ?2 ORDER BY e.revision DESC", u64::MAX, 1)
            }
            (Direction::Backwards, ReadFrom::Start) => {
                ("revision <= ?2 ORDER BY e.revision DESC", 0, limit)
            }
            (Direction::Backwards, ReadFrom::Revision(r)) => {
                ("revision <= ?2 ORDER BY e.revision DESC", r, limit)
            }
            (Direction::Backwards, ReadFrom::End) => {
                ("revision <= ?2 ORDER BY e.revision DESC", u64::MAX, limit)
            }
        };
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
                rows.collect()
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn stream_reads_go_through_the_names_and_the_stream_revision_index() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("e.db")).unwrap();
        for condition in [
            "revision >= ?2 ORDER BY e.revision",
            "revision <= ?2 ORDER BY e.revision DESC",
        ] {
            let plan = plan(&conn, &read_stream_sql(condition));
            assert_eq!(plan.len(), 2, "{plan:?}");
            assert!(plan[0].contains("SEARCH s USING"), "{plan:?}");
            assert!(plan[0].contains("(name=?)"), "{plan:?}");
            assert!(
                plan[1].contains("SEARCH e USING INDEX events_stream_revision"),
                "{plan:?}"
            );
        }
    }

    #[test]
    fn log_reads_go_along_positions_and_look_names_up_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("e.db")).unwrap();
        let plan = plan(&conn, &read_all_sql());
        assert_eq!(plan.len(), 2, "{plan:?}");
        assert!(
            plan[0].contains("SEARCH e USING INTEGER PRIMARY KEY (rowid>?)"),
            "{plan:?}"
        );
        assert!(
            plan[1].contains("SEARCH s USING INTEGER PRIMARY KEY (rowid=?)"),
            "{plan:?}"
        );
    }
}
