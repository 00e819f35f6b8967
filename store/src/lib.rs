//! The event log of souk: one [`EventStore`] trait shaped like EventStoreDB,
//! and its backends.
//!
//! Streams are named `conversation-<uuid>`. Each event has a stream revision
//! (0, 1, 2, ... within its stream) and a global position (1, 2, 3, ... across
//! the log, strictly increasing). Events are stored as JSON text with their
//! type name, schema version, the time they were recorded and a hash that
//! chains each to its stream's previous event ([`chain`]); they are never
//! changed or deleted, and the chain shows if they were.
//!
//! Positions are strictly increasing in every backend; in the backends here
//! they are also contiguous (no holes), which the subscriptions use to
//! notice a missed live batch.
//!
//! # Layout
//! - this file: the trait and its types ([`NewEvent`], [`RecordedEvent`],
//!   [`ExpectedRevision`], [`StoreError`], ...), and the append checks every
//!   backend shares (a stream name, at least one event, a type, JSON data).
//! - [`sqlite`]: [`SqliteStore`], the embedded durable backend (the default):
//!   SQLite in WAL mode, `synchronous=FULL`, one writer thread committing
//!   appends in groups (one fsync per group, callers answered only once it
//!   is durable), a checkpointer thread, a pool of read-only connections.
//!   Its module docs explain why the writer is shaped that way.
//! - [`postgres`]: [`PostgresStore`], the log shared by several nodes in
//!   one PostgreSQL database: each node groups its appends into one
//!   transaction, positions are gap-free and in commit order across nodes
//!   (a log-head row locked by every appending transaction), live
//!   subscriptions are woken by `LISTEN/NOTIFY` with a poll as a safety
//!   net. All its work runs on a runtime of its own. Its module docs explain
//!   the choices and what they cost; [`postgres::pool`] gives other parts
//!   of souk a pool set up the same way, [`postgres::testing`] scratch
//!   databases for tests.
//! - [`chain`]: the hash chain that makes the log tamper-evident (every
//!   event's [`EventHash`] chains it to its stream's previous event): the
//!   exact bytes hashed, checks, and [`chain::verify`] over a store.
//! - [`memory`]: [`MemoryStore`], the in-memory backend for tests.
//! - [`contract`]: the behaviour every backend must show, as test cases any
//!   backend's tests can run ([`contract_tests!`]).
//! - [`testing`]: [`testing::Intercepted`], a store that runs every call of
//!   another through a test's hooks (to delay, fail, count or hold back
//!   calls), each defaulting to forwarding.
//! - `subscription` (private): the catch-up-then-live stream every backend
//!   builds [`EventStore::subscribe_all`] on.
//!
//! Both durable backends can [`import`](SqliteStore::import) a page of
//! another log exactly (positions, revisions, times, bytes, hashes), which
//! moves a log from one to the other.
#![forbid(unsafe_code)]

pub mod chain;
pub mod contract;
pub mod memory;
pub mod postgres;
pub mod sqlite;
mod subscription;
pub mod testing;

pub use chain::{ChainUpgrade, EventHash};
pub use memory::MemoryStore;
pub use postgres::{PostgresConfig, PostgresStore};
pub use sqlite::{SqliteConfig, SqliteStore, WriteFault, WriterStats};

use std::fmt;
use std::pin::Pin;

use async_trait::async_trait;
use futures::Stream;
use souk_domain::{ConversationEvent, DecodeError, Timestamp};
use thiserror::Error;

/// A global position in the log: 1 for the first event. 0 means "before the
/// first event".
pub type Position = u64;

/// A revision within a stream: 0 for its first event.
pub type Revision = u64;

/// What an append expects of the stream's current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedRevision {
    /// Append whatever the stream's state.
    Any,
    /// The stream must not exist (have no events).
    NoStream,
    /// The stream's last event must have exactly this revision.
    Exact(Revision),
}

impl fmt::Display for ExpectedRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::NoStream => f.write_str("no stream"),
            Self::Exact(r) => write!(f, "revision {r}"),
        }
    }
}

/// An event to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub event_type: String,
    pub version: u32,
    /// The payload, JSON text.
    pub data: String,
}

impl NewEvent {
    pub fn from_domain(event: &ConversationEvent) -> Self {
        Self {
            event_type: event.event_type().to_owned(),
            version: event.version(),
            data: event.to_json(),
        }
    }
}

/// An event as recorded in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    pub stream: String,
    pub revision: Revision,
    pub position: Position,
    pub event_type: String,
    pub version: u32,
    /// The payload, JSON text, exactly as stored.
    pub data: String,
    pub recorded_at: Timestamp,
    /// Chains this event to its stream's previous one (see [`chain`]).
    pub hash: EventHash,
}

impl RecordedEvent {
    /// The domain event, upcast to the current schema.
    pub fn decode(&self) -> Result<ConversationEvent, DecodeError> {
        ConversationEvent::decode(&self.event_type, self.version, &self.data)
    }
}

/// What an append wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendResult {
    /// The revision of the last event written: the stream's new current
    /// revision, to pass as `Exact` to the next append.
    pub next_expected_revision: Revision,
    /// The global position of the first event written.
    pub first_position: Position,
    /// The global position of the last event written.
    pub position: Position,
    /// When the batch was recorded.
    pub recorded_at: Timestamp,
    /// The hash of each event written, in order (see [`chain`]).
    pub hashes: Vec<EventHash>,
}

/// Where a stream read starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFrom {
    /// Revision 0. Forwards: the whole stream. Backwards: from revision 0
    /// down, so at most that one event.
    Start,
    /// The last event. Forwards: at most that one event. Backwards: the
    /// whole stream, newest first.
    End,
    /// This revision, included.
    Revision(Revision),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Forwards,
    Backwards,
}

/// A failure of the log. None of these is a domain decision. `Clone`, so
/// that one failed group can answer each of its callers.
#[derive(Clone, Debug, Error)]
pub enum StoreError {
    /// The stream was not at the expected revision. `actual` is its current
    /// revision, `None` when it has no events. Maps to `409 conflict` when it
    /// survives the actor's one retry.
    #[error("stream {stream}: expected {expected}, found {}", actual.map_or("no stream".to_owned(), |r| format!("revision {r}")))]
    WrongExpectedRevision {
        stream: String,
        expected: ExpectedRevision,
        actual: Option<Revision>,
    },
    /// The append was empty or malformed (a caller bug). Maps to 500.
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    /// The backend failed (disk, database, network). Maps to `503 unavailable`.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// The store was shut down. Maps to `503 unavailable`.
    #[error("event store is closed")]
    Closed,
}

/// A live feed of recorded events in position order, without gaps or repeats.
pub type Subscription = Pin<Box<dyn Stream<Item = Result<RecordedEvent, StoreError>> + Send>>;

/// The event log. Every backend passes the contract suite in
/// [`contract`].
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` atomically if the stream is at `expected`.
    /// Answered only once the events are durable. `events` must not be empty.
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError>;

    /// Reads up to `limit` events of `stream` from `from` in `direction`
    /// (revisions ascending forwards, descending backwards). A stream that does
    /// not exist reads as empty.
    async fn read_stream(
        &self,
        stream: &str,
        from: ReadFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads up to `limit` events of the whole log with position `>= from`, in
    /// position order.
    async fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The position of the last durable event, 0 for an empty log.
    async fn last_position(&self) -> Result<Position, StoreError>;

    /// Every event with position `> after`: first those already recorded
    /// (catch-up), then live ones as they become durable, never a gap or a
    /// repeat. A subscriber that falls behind is caught up from the log, not
    /// dropped.
    fn subscribe_all(&self, after: Position) -> Subscription;

    /// Why the log refuses appends right now, as far as it knows without
    /// asking anyone; `None` when it takes them. Cheap: `/healthz` and
    /// `/metrics` ask it on every request. The embedded log says why while
    /// its writer cannot write and retries in the background
    /// ([`SqliteStore::is_available`]); a backend that only learns of a
    /// failure by trying (the default) says `None`, and its reads fail.
    fn write_failure(&self) -> Option<String> {
        None
    }

    /// When the hashes of a log written before the hash chain existed were
    /// computed (see [`ChainUpgrade`]); `None` when every event was hashed
    /// as it was appended (the default).
    async fn chain_upgrade(&self) -> Result<Option<ChainUpgrade>, StoreError> {
        Ok(None)
    }
}

/// Checks what every backend refuses before touching the log: an empty
/// stream name, an empty batch, an empty event type or a payload that is not
/// JSON.
pub(crate) fn validate_append(stream: &str, events: &[NewEvent]) -> Result<(), StoreError> {
    if stream.is_empty() {
        return Err(StoreError::InvalidAppend("empty stream name".to_owned()));
    }
    if events.is_empty() {
        return Err(StoreError::InvalidAppend(format!(
            "no events to append to {stream}"
        )));
    }
    for (i, event) in events.iter().enumerate() {
        if event.event_type.is_empty() {
            return Err(StoreError::InvalidAppend(format!(
                "event {i} for {stream} has an empty type"
            )));
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&event.data) {
            return Err(StoreError::InvalidAppend(format!(
                "event {i} ({}) for {stream} is not JSON: {e}",
                event.event_type
            )));
        }
    }
    Ok(())
}

/// What a SQL backend's `read_stream` asks its table for: revisions from
/// `revision` up (`ascending`) or down, at most `limit` of them. `None` when
/// `limit` is 0 (nothing to read). Forwards from [`ReadFrom::End`] is the
/// last event only: down from the top, one.
pub(crate) struct StreamRange {
    pub(crate) ascending: bool,
    pub(crate) revision: Revision,
    pub(crate) limit: usize,
}

pub(crate) fn stream_range(
    direction: Direction,
    from: ReadFrom,
    limit: usize,
) -> Option<StreamRange> {
    let (ascending, revision, limit) = match (direction, from) {
        (_, _) if limit == 0 => return None,
        (Direction::Forwards, ReadFrom::Start) => (true, 0, limit),
        (Direction::Forwards, ReadFrom::Revision(r)) => (true, r, limit),
        (Direction::Forwards, ReadFrom::End) => (false, u64::MAX, 1),
        (Direction::Backwards, ReadFrom::Start) => (false, 0, limit),
        (Direction::Backwards, ReadFrom::Revision(r)) => (false, r, limit),
        (Direction::Backwards, ReadFrom::End) => (false, u64::MAX, limit),
    };
    Some(StreamRange {
        ascending,
        revision,
        limit,
    })
}

/// Checks `expected` against a stream's current revision (`None`: no events).
pub(crate) fn check_expected(
    stream: &str,
    expected: ExpectedRevision,
    actual: Option<Revision>,
) -> Result<(), StoreError> {
    let ok = match expected {
        ExpectedRevision::Any => true,
        ExpectedRevision::NoStream => actual.is_none(),
        ExpectedRevision::Exact(r) => actual == Some(r),
    };
    if ok {
        Ok(())
    } else {
        Err(StoreError::WrongExpectedRevision {
            stream: stream.to_owned(),
            expected,
            actual,
        })
    }
}

/// Checks a page of events to import (another log's, as read): positions
/// contiguous from at least 1, and each event what an append would accept
/// (a stream name, a type, JSON data). Where the page must start, and the
/// revisions, are checked by the backend against its log.
pub(crate) fn validate_import(events: &[RecordedEvent]) -> Result<(), StoreError> {
    if events.first().is_some_and(|e| e.position == 0) {
        return Err(StoreError::InvalidAppend(
            "import: positions start at 1".to_owned(),
        ));
    }
    for pair in events.windows(2) {
        if pair[1].position != pair[0].position + 1 {
            return Err(StoreError::InvalidAppend(format!(
                "import: position {} is followed by {}; a page must be contiguous",
                pair[0].position, pair[1].position
            )));
        }
    }
    for event in events {
        if event.stream.is_empty() || event.event_type.is_empty() {
            return Err(StoreError::InvalidAppend(format!(
                "import: event at position {} has an empty stream name or type",
                event.position
            )));
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&event.data) {
            return Err(StoreError::InvalidAppend(format!(
                "import: event at position {} is not JSON: {e}",
                event.position
            )));
        }
    }
    Ok(())
}
