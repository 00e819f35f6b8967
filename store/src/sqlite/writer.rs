//! The writer thread: group commit, expected revisions checked in memory,
//! contiguous positions, and what it does when the disk fails or it
//! panics (see the parent module's docs).

use std::any::Any;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use souk_domain::Timestamp;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::checkpointer::spawn_checkpointer;
use super::fault::{is_storage_fault, panic_message, FaultSwitch, Health};
use super::insert::{insert_rows, Row};
use super::notifier::{refuse, spawn_notifier, Committed};
use super::readers::stored_hash;
use super::schema::{max_position, open_writer, HEAD_OF, INSERT_STREAM, SCHEMA_VERSION};
use super::{
    check_expected, to_sql, unavailable, AppendRequest, Counters, ImportRequest, Position,
    RecordedEvent, Revision, SqliteConfig, StoreError, WriterRequest, RETRY_FIRST, RETRY_MAX,
};
use crate::chain::{self, EventHash};
use crate::subscription::Batch;

/// Stream heads the writer remembers; past this it forgets them all and
/// reloads lazily (a stream head costs one indexed lookup to reload).
const HEAD_CACHE: usize = 200_000;

/// Events committed between two wake-ups of the checkpointer (about as many
/// WAL pages when appends go to many streams): often enough to keep the WAL
/// small, rarely enough that one-append commits do not each cost a
/// checkpoint and a second fsync.
const CHECKPOINT_EVERY_EVENTS: usize = 1024;

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
    Request(WriterRequest),
    /// The channel is closed and drained.
    Closed,
    /// The deadline passed first.
    Timeout,
}

/// `blocking_recv` with a deadline, for the writer while it waits to try
/// writing again: tokio's receiver has no blocking receive with a timeout,
/// so it is polled with a waker that unparks this thread.
fn recv_until(rx: &mut mpsc::Receiver<WriterRequest>, deadline: Instant) -> Received {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match rx.poll_recv(&mut cx) {
            Poll::Ready(Some(command)) => return Received::Request(command),
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

/// The writer thread's state.
struct Writer {
    /// The database file, to reopen the connection after a failure.
    path: PathBuf,
    conn: Connection,
    rx: mpsc::Receiver<WriterRequest>,
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

/// What the writer thread starts from.
pub(super) struct Start {
    /// The database file, reopened after a failure.
    pub(super) path: PathBuf,
    /// The write connection, opened (and the schema checked) by the caller.
    pub(super) conn: Connection,
    /// The position the next event will get.
    pub(super) next_position: Position,
    pub(super) rx: mpsc::Receiver<WriterRequest>,
    pub(super) config: SqliteConfig,
    /// The live feed; the handles keep only weak senders, so that live
    /// subscriptions end once the writer is gone.
    pub(super) live: broadcast::Sender<Batch>,
    pub(super) counters: Arc<Counters>,
    pub(super) health: Arc<Health>,
    pub(super) faults: Arc<FaultSwitch>,
}

/// Starts the checkpointer, the notifier and the writer threads.
pub(super) fn start(start: Start) -> Result<JoinHandle<()>, StoreError> {
    let (checkpoints, checkpointer) = spawn_checkpointer(&start.path)?;
    let (notifier, notifier_thread) = spawn_notifier(start.live.clone())?;
    let writer = Writer {
        path: start.path,
        notifier,
        notifier_thread: Some(notifier_thread),
        live: start.live,
        counters: start.counters,
        health: start.health,
        faults: start.faults,
        conn: start.conn,
        rx: start.rx,
        config: start.config,
        heads: HashMap::default(),
        next_position: start.next_position,
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
    std::thread::Builder::new()
        .name("souk-store-writer".to_owned())
        .spawn(move || writer.run())
        .map_err(|e| unavailable("starting the writer thread", e))
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
    /// Its last event's hash; [`EventHash::GENESIS`] if it has no events.
    hash: EventHash,
}

/// A stream's head as `streams` and `events` have it (`HEAD_OF`); a stream
/// with no row yet has neither an id nor a revision.
fn read_head(head_of: &mut rusqlite::CachedStatement<'_>, stream: &str) -> rusqlite::Result<Head> {
    let head = head_of
        .query_row([stream], |r| {
            Ok(Head {
                id: Some(r.get(0)?),
                revision: r.get::<_, Option<i64>>(1)?.map(|r| r as Revision),
                hash: stored_hash(r.get_ref(2)?),
            })
        })
        .optional()?;
    Ok(head.unwrap_or(Head {
        id: None,
        revision: None,
        hash: EventHash::GENESIS,
    }))
}

/// Where an accepted append landed, and its events' hashes.
pub(super) struct Placed {
    pub(super) first_revision: Revision,
    pub(super) first_position: Position,
    pub(super) hashes: Vec<EventHash>,
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
            Received::Request(WriterRequest::Append(first)) => first,
            Received::Request(_) | Received::Timeout => return true,
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
            return Received::Request(WriterRequest::Append(carried));
        }
        loop {
            let received = match deadline {
                None => match self.rx.blocking_recv() {
                    Some(command) => Received::Request(command),
                    None => Received::Closed,
                },
                Some(deadline) => recv_until(&mut self.rx, deadline),
            };
            match received {
                Received::Request(WriterRequest::Import(import)) => {
                    let result = self.import(&import.events);
                    let _ = import.reply.send(result);
                }
                Received::Request(WriterRequest::Close(closer)) => self.start_closing(closer),
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
                Ok(WriterRequest::Append(request)) => {
                    if events + request.events.len() > self.config.max_batch_events {
                        self.carry = Some(request);
                        return;
                    }
                    events += request.events.len();
                    group.push(request);
                }
                // Run after the group, in the order they came.
                Ok(WriterRequest::Import(import)) => self.imports.push(import),
                Ok(WriterRequest::Close(closer)) => self.start_closing(closer),
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
                        let loaded = read_head(&mut head_of, stream)?;
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
                if let Err(broken) = chain::check(head.hash, std::slice::from_ref(event)) {
                    return Ok(Err(StoreError::InvalidAppend(format!("import: {broken}"))));
                }
                head.hash = event.hash;
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
                    hash: event.hash.0,
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
                        let loaded = read_head(&mut head_of, stream)?;
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
                let first_revision = head.revision.map_or(0, |r| r + 1);
                let first_position = next_position;
                let mut hashes = Vec::with_capacity(request.events.len());
                for (i, (event, link)) in request.events.iter().zip(&request.links).enumerate() {
                    let revision = first_revision + i as u64;
                    head.hash = link.finish(revision, &recorded_at, &head.hash);
                    hashes.push(head.hash);
                    rows.push(Row {
                        position: to_sql(first_position + i as u64),
                        stream_id,
                        revision: to_sql(revision),
                        event_type: &event.event_type,
                        version: event.version,
                        data: &event.data,
                        at: recorded_at.millis(),
                        hash: head.hash.0,
                    });
                }
                let placed = Placed {
                    first_revision,
                    first_position,
                    hashes,
                };
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
