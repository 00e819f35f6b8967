//! The node's writer: one task that commits appends in groups, one
//! PostgreSQL transaction per group, on a connection of its own.
//!
//! A group's transaction, in two round trips (statements of one round trip
//! are pipelined: sent together, executed in order):
//! 1. `BEGIN`; lock the log head row (`SELECT ... FOR UPDATE`), reading the
//!    last position and the server's clock; read the current revision of
//!    each stream of the group (one index probe each). The lock comes first,
//!    so under READ COMMITTED the second statement sees every transaction
//!    that committed before this one took the lock: the revisions it reads
//!    are current for as long as the lock is held.
//! 2. The writer checks each append's expected revision against those
//!    heads (updated as it goes, so two appends to one stream in one group
//!    see each other), places the accepted ones after the head, then sends
//!    one statement (insert every row with `unnest` of column arrays, move
//!    the head, `pg_notify` the new last position) and `COMMIT`.
//!
//! A conflicting append is answered with the typed conflict and written
//! nowhere; the rest of its group commits. Callers are answered only after
//! `COMMIT` returned (with `synchronous_commit` on, once it is durable).
//! When nothing is accepted the transaction is rolled back.
//!
//! Failures:
//! - the connection broke before `COMMIT` was sent: nothing was written;
//!   the group is tried once more on a new connection (a connection killed
//!   while idle is often only noticed by the next statement), then answered
//!   [`StoreError::Unavailable`];
//! - a statement of the second round trip was refused by the server (only
//!   a bug or a foreign writer could do that): the transaction is rolled
//!   back; a group of several appends is retried one append per
//!   transaction, so the bad one fails alone;
//! - the connection broke or timed out after `COMMIT` was sent: whether it
//!   committed is unknown, so the callers get `Unavailable`, never a
//!   success (the append may still be in the log: the next append with an
//!   exact expected revision finds out);
//! - every round trip is bounded by [`PostgresConfig::io_timeout`], getting
//!   a connection by [`PostgresConfig::connect_timeout`]: a node that lost
//!   PostgreSQL answers quickly, and tries again with the next group;
//! - a panic while committing a group answers its callers `Unavailable`
//!   and the writer goes on with the next group;
//! - a node cut off between the two round trips (a network that drops
//!   packets without closing the connection) would leave its transaction
//!   open on the server, holding the log head and stalling every other
//!   node until TCP noticed, hours later by default. The writer's
//!   connections therefore carry `idle_in_transaction_session_timeout`
//!   ([`idle_limit`]: half the I/O timeout): the server ends such a
//!   session itself and the other nodes go on within that time. Between
//!   its two round trips the writer only computes (micro- to milliseconds),
//!   so a live writer never comes near the limit.

/// How long the server lets a writer's transaction sit idle before it ends
/// the session: half of `io_timeout` (at least 100 ms), so that the other
/// nodes' writers, waiting up to their own `io_timeout` for the head, get
/// it back before they give up.
pub(super) fn idle_limit(io_timeout: std::time::Duration) -> std::time::Duration {
    (io_timeout / 2).max(std::time::Duration::from_millis(100))
}

/// `config` with the writer's session setting ([`idle_limit`]) added to
/// whatever options the URL gave.
pub(super) fn writer_connection(
    config: &tokio_postgres::Config,
    io_timeout: std::time::Duration,
) -> tokio_postgres::Config {
    let limit = format!(
        "-c idle_in_transaction_session_timeout={}",
        idle_limit(io_timeout).as_millis()
    );
    let mut config = config.clone();
    let options = match config.get_options() {
        Some(given) if !given.trim().is_empty() => format!("{given} {limit}"),
        _ => limit,
    };
    config.options(options);
    config
}

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::{ClientWrapper, Object, Pool};
use futures::FutureExt;
use souk_domain::Timestamp;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::connect::{describe, pool_unavailable};
use super::tail::Committed;
use super::{stored_hash, PostgresConfig, RuntimeGuard, Shared};
use crate::chain::{self, EventHash, PreparedLink};
use crate::subscription::Batch;
use crate::{
    check_expected, AppendResult, ExpectedRevision, NewEvent, Position, RecordedEvent, Revision,
    StoreError,
};

/// Locks the head row; reads the last position and the server's clock in
/// milliseconds (truncated, as a [`Timestamp`] holds it). Taken under the
/// lock, the clock never goes back from one commit to the next (unless the
/// server's clock does).
const LOCK_HEAD: &str =
    "SELECT position, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint \
     FROM event_log_head FOR UPDATE";

/// The last revision and hash of each stream of `$1`, NULLs for a stream
/// without events: one backward probe of the `(stream, revision)` index
/// each. Read under the head lock, so they are the real predecessors of
/// whatever this transaction appends.
const STREAM_HEADS: &str = "SELECT s.stream, e.revision, e.hash \
     FROM unnest($1::text[]) AS s(stream) LEFT JOIN LATERAL ( \
         SELECT revision, hash FROM event_log WHERE stream = s.stream \
         ORDER BY revision DESC LIMIT 1 \
     ) AS e ON true";

/// Inserts the rows (one array per column, the hashes `$9`), moves the
/// head to `$8` and notifies the new head, in one statement.
const WRITE: &str = "WITH inserted AS ( \
         INSERT INTO event_log \
             (position, stream, revision, event_type, version, data, recorded_at, hash) \
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], \
                              $6::text[], $7::timestamptz[], $9::bytea[]) \
     ), head AS ( \
         UPDATE event_log_head SET position = $8 RETURNING position \
     ) \
     SELECT pg_notify('souk_event_log', position::text) FROM head";

/// What the log's writer task is asked to do.
pub(crate) enum WriterRequest {
    Append(AppendRequest),
    Import(ImportRequest),
    /// Commit what was sent before, stop, then answer.
    Close(oneshot::Sender<()>),
}

pub(crate) struct AppendRequest {
    pub(crate) stream: String,
    pub(crate) expected: ExpectedRevision,
    pub(crate) events: Vec<NewEvent>,
    /// Each event's own part of its hash, prepared on the appender's thread.
    pub(crate) links: Vec<PreparedLink>,
    pub(crate) reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

pub(crate) struct ImportRequest {
    /// Positions contiguous, checked by the caller.
    pub(crate) events: Vec<RecordedEvent>,
    pub(crate) reply: oneshot::Sender<Result<(), StoreError>>,
}

/// Why a transaction did not commit, or may not have.
enum Failure {
    /// Nothing was committed and the connection is gone: worth one more try
    /// on a new connection.
    Broken(StoreError),
    /// The server refused a statement; nothing was committed.
    Refused(StoreError),
    /// The request itself is wrong (an import that does not fit).
    Invalid(StoreError),
    /// Nothing committed, or unknown whether it did: answer `Unavailable`.
    Unavailable(StoreError),
}

impl Failure {
    fn into_error(self) -> StoreError {
        match self {
            Self::Broken(e) | Self::Refused(e) | Self::Invalid(e) | Self::Unavailable(e) => e,
        }
    }
}

/// The head row locked, with what was read under the lock.
struct Locked {
    position: Position,
    now: Timestamp,
    /// Last revision and hash of each stream asked about (`None`: no
    /// events).
    heads: HashMap<String, Option<(Revision, EventHash)>>,
}

/// Column arrays of the rows to insert.
#[derive(Default)]
struct Rows<'a> {
    positions: Vec<i64>,
    streams: Vec<&'a str>,
    revisions: Vec<i64>,
    types: Vec<&'a str>,
    versions: Vec<i64>,
    datas: Vec<&'a str>,
    times: Vec<DateTime<Utc>>,
    hashes: Vec<EventHash>,
}

impl<'a> Rows<'a> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        position: Position,
        stream: &'a str,
        revision: Revision,
        event_type: &'a str,
        version: u32,
        data: &'a str,
        at: Timestamp,
        hash: EventHash,
    ) {
        self.positions.push(to_sql(position));
        self.streams.push(stream);
        self.revisions.push(to_sql(revision));
        self.types.push(event_type);
        self.versions.push(i64::from(version));
        self.datas.push(data);
        self.times.push(at.datetime());
        self.hashes.push(hash);
    }

    fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

/// PostgreSQL integers are `i64`; larger positions or revisions cannot
/// occur, and saturating keeps "past the end" meaning the same.
pub(crate) fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) struct Writer {
    pub(crate) rx: mpsc::Receiver<WriterRequest>,
    /// A pool of one: the writer's connection, made again when lost.
    pub(crate) pool: Pool,
    pub(crate) config: PostgresConfig,
    pub(crate) shared: Arc<Shared>,
    /// Each committed group, to the tail (which publishes it).
    pub(crate) committed: mpsc::Sender<Committed>,
    /// Whether anyone subscribes (the events of a group are copied for the
    /// tail only then).
    pub(crate) live: broadcast::WeakSender<Batch>,
    /// Keeps the store's runtime up until the writer has drained its queue.
    pub(crate) _runtime: Arc<RuntimeGuard>,
    pub(crate) conn: Option<Object>,
    pub(crate) carry: Option<AppendRequest>,
    pub(crate) closers: Vec<oneshot::Sender<()>>,
}

impl Writer {
    pub(crate) async fn run(mut self) {
        loop {
            let first = match self.next_command().await {
                None => break,
                Some(WriterRequest::Import(import)) => {
                    let result = self.import_guarded(&import.events).await;
                    let _ = import.reply.send(result);
                    continue;
                }
                Some(WriterRequest::Close(closer)) => {
                    self.start_closing(closer);
                    continue;
                }
                Some(WriterRequest::Append(first)) => first,
            };
            let mut group = vec![first];
            let mut imports = Vec::new();
            if self.config.group_commit {
                self.fill_group(&mut group, &mut imports);
            }
            let answers = match AssertUnwindSafe(self.commit_group(&group))
                .catch_unwind()
                .await
            {
                Ok(answers) => answers,
                Err(_) => {
                    self.after_panic();
                    vec![Err(panicked()); group.len()]
                }
            };
            for (request, answer) in group.into_iter().zip(answers) {
                let _ = request.reply.send(answer);
            }
            for import in imports {
                let result = self.import_guarded(&import.events).await;
                let _ = import.reply.send(result);
            }
        }
        for closer in self.closers.drain(..) {
            let _ = closer.send(());
        }
    }

    async fn import_guarded(&mut self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        match AssertUnwindSafe(self.import(events)).catch_unwind().await {
            Ok(result) => result,
            Err(_) => {
                self.after_panic();
                Err(panicked())
            }
        }
    }

    /// A panic may have left the connection inside a transaction that holds
    /// the log head (which would stop every node's appends): close it.
    fn after_panic(&mut self) {
        tracing::error!("the event log writer panicked; its connection is closed, it goes on");
        self.discard_connection();
    }

    async fn next_command(&mut self) -> Option<WriterRequest> {
        if let Some(carried) = self.carry.take() {
            return Some(WriterRequest::Append(carried));
        }
        self.rx.recv().await
    }

    fn start_closing(&mut self, closer: oneshot::Sender<()>) {
        // Refuse new sends; what is queued is still drained and committed.
        self.rx.close();
        self.closers.push(closer);
    }

    /// Adds every append already waiting, up to the group size; imports
    /// met on the way run after the group.
    fn fill_group(&mut self, group: &mut Vec<AppendRequest>, imports: &mut Vec<ImportRequest>) {
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
                Ok(WriterRequest::Import(import)) => imports.push(import),
                Ok(WriterRequest::Close(closer)) => self.start_closing(closer),
                Err(_) => return,
            }
        }
    }

    /// Commits `group`; one answer per request, in order.
    async fn commit_group(
        &mut self,
        group: &[AppendRequest],
    ) -> Vec<Result<AppendResult, StoreError>> {
        let mut outcome = self.append_once(group).await;
        if let Err(Failure::Broken(e)) = &outcome {
            tracing::info!("event log connection lost before commit ({e}); trying again");
            outcome = self.append_once(group).await;
        }
        match outcome {
            Ok(answers) => answers,
            Err(Failure::Refused(e)) if group.len() > 1 => {
                tracing::warn!(
                    "event log group of {} appends refused ({e}); retrying them one by one",
                    group.len()
                );
                let mut answers = Vec::with_capacity(group.len());
                for request in group {
                    let answer = match self.append_once(std::slice::from_ref(request)).await {
                        Ok(mut one) => one.pop().unwrap_or_else(|| Err(panicked())),
                        Err(e) => Err(e.into_error()),
                    };
                    answers.push(answer);
                }
                answers
            }
            Err(failure) => {
                let e = failure.into_error();
                tracing::warn!("event log append failed: {e}");
                vec![Err(e); group.len()]
            }
        }
    }

    /// The writer's connection, made if needed.
    async fn client(&mut self) -> Result<&Object, Failure> {
        if self.conn.as_ref().is_some_and(|c| c.is_closed()) {
            self.discard_connection();
        }
        if self.conn.is_none() {
            let conn = self.pool.get().await.map_err(|e| {
                self.shared.mark(false);
                Failure::Unavailable(pool_unavailable("connecting to PostgreSQL", &e))
            })?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_ref().expect("just set"))
    }

    /// Closes the connection for good (not back into the pool): after an
    /// error or a timeout its state is unknown.
    fn discard_connection(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }

    /// A failed round trip: drops the connection unless the server itself
    /// answered (then it is still good), and says how the caller may go on.
    fn failed(
        &mut self,
        context: &str,
        error: Option<tokio_postgres::Error>,
        sent_commit: bool,
    ) -> Failure {
        let message = match &error {
            Some(e) => format!("{context}: {}", describe(e)),
            None => format!(
                "{context}: no answer from PostgreSQL within {:?}",
                self.config.io_timeout
            ),
        };
        let refused = error
            .as_ref()
            .is_some_and(|e| e.as_db_error().is_some() && !connection_lost(e));
        if refused {
            // The server answered: it is up, the connection usable (the
            // transaction ended: a failed COMMIT rolls back, and an aborted
            // transaction's COMMIT answers ROLLBACK).
            self.shared.mark(true);
            return Failure::Refused(StoreError::Unavailable(message));
        }
        self.shared.mark(false);
        self.discard_connection();
        if sent_commit {
            Failure::Unavailable(StoreError::Unavailable(format!(
                "{message} (the append may or may not be committed)"
            )))
        } else {
            Failure::Broken(StoreError::Unavailable(message))
        }
    }

    /// Round trip 1: `BEGIN`, lock the head, read the heads of `streams`.
    async fn lock(&mut self, streams: &[&str]) -> Result<Locked, Failure> {
        let io_timeout = self.config.io_timeout;
        let client = self.client().await?;
        let result = tokio::time::timeout(io_timeout, lock_round_trip(client, streams)).await;
        match result {
            Ok(Ok(locked)) => {
                self.shared.mark(true);
                Ok(locked)
            }
            Ok(Err(e)) => {
                let failure = self.failed("starting an event log transaction", Some(e), false);
                if matches!(failure, Failure::Refused(_)) {
                    // The transaction is aborted, not ended.
                    self.rollback().await;
                }
                Err(failure)
            }
            Err(_) => Err(self.failed("starting an event log transaction", None, false)),
        }
    }

    /// Round trip 2: write `rows`, move the head to `last`, notify, commit.
    async fn write(&mut self, rows: &Rows<'_>, last: Position) -> Result<(), Failure> {
        let io_timeout = self.config.io_timeout;
        let client = self.client().await?;
        let result = tokio::time::timeout(io_timeout, write_round_trip(client, rows, last)).await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.failed("committing to the event log", Some(e), true)),
            Err(_) => Err(self.failed("committing to the event log", None, true)),
        }
    }

    /// Ends a transaction that wrote nothing.
    async fn rollback(&mut self) {
        let io_timeout = self.config.io_timeout;
        let Some(client) = self.conn.as_ref() else {
            return;
        };
        let result = tokio::time::timeout(io_timeout, client.batch_execute("ROLLBACK")).await;
        if !matches!(result, Ok(Ok(()))) {
            self.discard_connection();
        }
    }

    /// One transaction for `group`.
    async fn append_once(
        &mut self,
        group: &[AppendRequest],
    ) -> Result<Vec<Result<AppendResult, StoreError>>, Failure> {
        let mut streams: Vec<&str> = group.iter().map(|r| r.stream.as_str()).collect();
        streams.sort_unstable();
        streams.dedup();
        let Locked {
            position,
            now,
            mut heads,
        } = self.lock(&streams).await?;
        #[cfg(test)]
        if group.iter().any(|r| r.stream == tests::PANIC_STREAM) {
            panic!("a panic injected by a test, with the log head locked");
        }
        #[cfg(test)]
        if group.iter().any(|r| r.stream == tests::STALL_STREAM) {
            tests::STALLED.notify_one();
            tests::RELEASE.notified().await;
        }

        let mut next = position + 1;
        let mut rows = Rows::default();
        let mut placed = Vec::with_capacity(group.len());
        for request in group {
            let head = heads.entry(request.stream.clone()).or_insert(None);
            let revision = head.map(|(r, _)| r);
            if let Err(conflict) = check_expected(&request.stream, request.expected, revision) {
                placed.push(Err(conflict));
                continue;
            }
            let first_revision = revision.map_or(0, |r| r + 1);
            let first_position = next;
            let mut prev = head.map_or(EventHash::GENESIS, |(_, h)| h);
            let mut hashes = Vec::with_capacity(request.events.len());
            for (i, (event, link)) in request.events.iter().zip(&request.links).enumerate() {
                let revision = first_revision + i as u64;
                prev = link.finish(revision, &now, &prev);
                hashes.push(prev);
                rows.push(
                    next,
                    &request.stream,
                    revision,
                    &event.event_type,
                    event.version,
                    &event.data,
                    now,
                    prev,
                );
                next += 1;
            }
            let count = request.events.len() as u64;
            *head = Some((first_revision + count - 1, prev));
            placed.push(Ok(AppendResult {
                next_expected_revision: first_revision + count - 1,
                first_position,
                position: first_position + count - 1,
                recorded_at: now,
                hashes,
            }));
        }
        if rows.is_empty() {
            self.rollback().await;
            return Ok(placed);
        }
        self.write(&rows, next - 1).await?;
        let accepted = placed.iter().filter(|p| p.is_ok()).count() as u64;
        self.count(accepted, rows.positions.len() as u64);

        let events = self.wants_events().then(|| {
            let mut recorded = Vec::with_capacity(rows.positions.len());
            for (request, answer) in group.iter().zip(&placed) {
                let Ok(answer) = answer else { continue };
                let first_revision =
                    answer.next_expected_revision + 1 - request.events.len() as u64;
                recorded.extend(request.events.iter().zip(&answer.hashes).enumerate().map(
                    |(i, (e, hash))| RecordedEvent {
                        stream: request.stream.clone(),
                        revision: first_revision + i as u64,
                        position: answer.first_position + i as u64,
                        event_type: e.event_type.clone(),
                        version: e.version,
                        data: e.data.clone(),
                        recorded_at: now,
                        hash: *hash,
                    },
                ));
            }
            Batch::from(recorded)
        });
        self.publish(next - 1, events);
        Ok(placed)
    }

    /// Writes `events` (a page of another log, positions contiguous) after
    /// the log's last event, with their positions, revisions and times.
    async fn import(&mut self, events: &[RecordedEvent]) -> Result<(), StoreError> {
        let mut result = self.import_once(events).await;
        if let Err(Failure::Broken(e)) = &result {
            tracing::info!("event log connection lost before commit ({e}); trying again");
            result = self.import_once(events).await;
        }
        result.map_err(Failure::into_error)
    }

    async fn import_once(&mut self, events: &[RecordedEvent]) -> Result<(), Failure> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return Ok(());
        };
        let mut streams: Vec<&str> = events.iter().map(|e| e.stream.as_str()).collect();
        streams.sort_unstable();
        streams.dedup();
        let Locked {
            position,
            mut heads,
            ..
        } = self.lock(&streams).await?;
        if first.position != position + 1 {
            self.rollback().await;
            return Err(Failure::Invalid(StoreError::InvalidAppend(format!(
                "import: the log ends at position {position}, so the next imported event must \
                 have position {}, not {} (import into an empty log, page after page)",
                position + 1,
                first.position
            ))));
        }
        let mut rows = Rows::default();
        for event in events {
            let head = heads.entry(event.stream.clone()).or_insert(None);
            let expected = head.map_or(0, |(r, _)| r + 1);
            if event.revision != expected {
                self.rollback().await;
                return Err(Failure::Invalid(StoreError::InvalidAppend(format!(
                    "import: event at position {} has revision {} of {}, expected {expected}",
                    event.position, event.revision, event.stream
                ))));
            }
            let prev = head.map_or(EventHash::GENESIS, |(_, h)| h);
            if let Err(broken) = chain::check(prev, std::slice::from_ref(event)) {
                self.rollback().await;
                return Err(Failure::Invalid(StoreError::InvalidAppend(format!(
                    "import: {broken}"
                ))));
            }
            *head = Some((event.revision, event.hash));
            rows.push(
                event.position,
                &event.stream,
                event.revision,
                &event.event_type,
                event.version,
                &event.data,
                event.recorded_at,
                event.hash,
            );
        }
        self.write(&rows, last.position).await?;
        self.count(0, rows.positions.len() as u64);
        let batch = self.wants_events().then(|| Batch::from(events.to_vec()));
        self.publish(last.position, batch);
        Ok(())
    }

    fn count(&self, appends: u64, events: u64) {
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        self.shared.appends.fetch_add(appends, Ordering::Relaxed);
        self.shared.events.fetch_add(events, Ordering::Relaxed);
    }

    fn wants_events(&self) -> bool {
        self.live
            .upgrade()
            .is_some_and(|live| live.receiver_count() > 0)
    }

    /// Hands a committed group to the tail. A full queue drops it: the
    /// group's notification (and the poll) wake the tail anyway, which then
    /// reads it from the log.
    fn publish(&self, last: Position, events: Option<Batch>) {
        let _ = self.committed.try_send(Committed { last, events });
    }
}

async fn lock_round_trip(
    client: &ClientWrapper,
    streams: &[&str],
) -> Result<Locked, tokio_postgres::Error> {
    // Prepared once per connection (deadpool's statement cache); the three
    // requests below then go out together.
    let lock_head = client.prepare_cached(LOCK_HEAD).await?;
    let stream_heads = client.prepare_cached(STREAM_HEADS).await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&streams];
    let (_, head, stream_rows) = futures::try_join!(
        client.batch_execute("BEGIN"),
        client.query_one(&lock_head, &[]),
        client.query(&stream_heads, &params),
    )?;
    let position: i64 = head.get(0);
    let millis: i64 = head.get(1);
    let heads = stream_rows
        .iter()
        .map(|row| {
            let revision: Option<i64> = row.get(1);
            let head = revision.map(|r| (r as Revision, stored_hash(row.get(2))));
            (row.get::<_, String>(0), head)
        })
        .collect();
    Ok(Locked {
        position: position as Position,
        now: Timestamp::from_millis(millis),
        heads,
    })
}

async fn write_round_trip(
    client: &ClientWrapper,
    rows: &Rows<'_>,
    last: Position,
) -> Result<(), tokio_postgres::Error> {
    let write = client.prepare_cached(WRITE).await?;
    let last = to_sql(last);
    let hashes: Vec<&[u8]> = rows.hashes.iter().map(|h| &h.0[..]).collect();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
        &rows.positions,
        &rows.streams,
        &rows.revisions,
        &rows.types,
        &rows.versions,
        &rows.datas,
        &rows.times,
        &last,
        &hashes,
    ];
    let (_, ()) = futures::try_join!(
        client.query(&write, &params),
        client.batch_execute("COMMIT"),
    )?;
    Ok(())
}

/// Whether `e` means the connection is gone, even when the server said so
/// itself (a backend terminated by an administrator or a server shutting
/// down reports a FATAL error, then closes).
pub(crate) fn connection_lost(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            matches!(db.severity(), "FATAL" | "PANIC")
                || code.starts_with("08")
                || code.starts_with("57P")
        }
        // An I/O error, a closed connection: nothing more the server said.
        None => true,
    }
}

fn panicked() -> StoreError {
    StoreError::Unavailable("the event log writer failed unexpectedly (it goes on)".to_owned())
}

#[cfg(test)]
mod tests {
    use crate::postgres::testing::scratch_database;
    use crate::{
        EventStore, ExpectedRevision, NewEvent, PostgresConfig, PostgresStore, StoreError,
    };

    /// Appends to this stream panic in the writer, with the head locked.
    pub(super) const PANIC_STREAM: &str = "test-panic-in-writer";
    /// Appends to this stream stop the writer with the head locked (its
    /// transaction open, the connection silent), saying so on [`STALLED`],
    /// until [`RELEASE`] lets it go on.
    pub(super) const STALL_STREAM: &str = "test-stall-in-writer";
    pub(super) static STALLED: tokio::sync::Notify = tokio::sync::Notify::const_new();
    pub(super) static RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

    fn event() -> NewEvent {
        NewEvent {
            event_type: "Tested".to_owned(),
            version: 1,
            data: "{}".to_owned(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_fails_its_group_and_the_writer_and_the_log_go_on() {
        let url = scratch_database().await;
        let config = PostgresConfig {
            io_timeout: std::time::Duration::from_secs(2),
            ..PostgresConfig::default()
        };
        let a = PostgresStore::connect(&url, config).await.unwrap();
        let b = PostgresStore::connect(&url, config).await.unwrap();
        for round in 0..3 {
            let failed = a
                .append(PANIC_STREAM, ExpectedRevision::Any, vec![event()])
                .await;
            assert!(
                matches!(failed, Err(StoreError::Unavailable(_))),
                "{failed:?}"
            );
            // The head it held is free for the other node at once (not
            // only once this node appends again), and the writer goes on.
            b.append("conversation-b", ExpectedRevision::Any, vec![event()])
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            a.append("conversation-a", ExpectedRevision::Any, vec![event()])
                .await
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
        let log = b.read_all(1, 100).await.unwrap();
        let positions: Vec<u64> = log.iter().map(|e| e.position).collect();
        assert_eq!(positions, [1, 2, 3, 4, 5, 6]);
        assert!(log.iter().all(|e| e.stream != PANIC_STREAM));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_gone_silent_mid_transaction_frees_the_head_within_its_idle_limit() {
        use std::time::{Duration, Instant};
        let url = scratch_database().await;
        let silent = PostgresConfig {
            io_timeout: Duration::from_millis(600),
            ..PostgresConfig::default()
        };
        // Waits for the head far longer than the silent node's idle limit.
        let patient = PostgresConfig {
            io_timeout: Duration::from_secs(20),
            ..PostgresConfig::default()
        };
        let a = PostgresStore::connect(&url, silent).await.unwrap();
        let b = PostgresStore::connect(&url, patient).await.unwrap();
        let stalled = tokio::spawn(async move {
            let result = a
                .append(STALL_STREAM, ExpectedRevision::Any, vec![event()])
                .await;
            (a, result)
        });
        STALLED.notified().await;
        let started = Instant::now();
        b.append("conversation-b", ExpectedRevision::Any, vec![event()])
            .await
            .unwrap();
        let waited = started.elapsed();
        // The server ended `a`'s session after 300 ms idle in its
        // transaction; without the limit `b` would wait until released.
        assert!(waited < Duration::from_secs(5), "waited {waited:?}");
        RELEASE.notify_one();
        let (a, result) = stalled.await.unwrap();
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        a.append("conversation-a", ExpectedRevision::Any, vec![event()])
            .await
            .unwrap();
        let log = b.read_all(1, 100).await.unwrap();
        let streams: Vec<&str> = log.iter().map(|e| e.stream.as_str()).collect();
        assert_eq!(streams, ["conversation-b", "conversation-a"]);
    }

    #[test]
    fn the_idle_limit_is_half_the_io_timeout_and_keeps_the_urls_options() {
        use std::str::FromStr;
        use std::time::Duration;
        assert_eq!(
            super::idle_limit(Duration::from_secs(3)),
            Duration::from_millis(1500)
        );
        assert_eq!(
            super::idle_limit(Duration::from_millis(10)),
            Duration::from_millis(100)
        );
        let given =
            tokio_postgres::Config::from_str("postgres://u@h/d?options=-c%20search_path%3Dx")
                .unwrap();
        let config = super::writer_connection(&given, Duration::from_secs(1));
        assert_eq!(
            config.get_options(),
            Some("-c search_path=x -c idle_in_transaction_session_timeout=500")
        );
    }
}
