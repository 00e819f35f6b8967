//! The actor's conversations with the log: fold a stream into a state,
//! append a batch and get back what was recorded, and look up the older
//! messages that a batch's reads name.

use std::sync::Arc;

use souk_domain::compact::Recall;
use souk_domain::{CompactState, ConversationEvent, Timestamp};
use souk_store::{
    Direction, EventStore, ExpectedRevision, NewEvent, Position, ReadFrom, RecordedEvent, Revision,
    StoreError,
};

/// How many events one `read_stream` call asks for while loading.
const PAGE: usize = 512;

/// A conversation's state as far as the log has it, and where the log is.
#[derive(Debug, Default)]
pub(crate) struct Folded {
    /// What the actor keeps to decide: counts, and windows of the recent
    /// messages' ids and sides and of recent client ids, not the messages'
    /// text (see [`CompactState`]).
    pub state: CompactState,
    /// Revision of the stream's last event; `None` when the stream is empty,
    /// so the next append expects `NoStream`.
    pub revision: Option<Revision>,
    /// Global position of the stream's last event, 0 when empty.
    pub position: Position,
    /// For each side, the time of its latest `TypingStarted`: the start the
    /// expiry of typing that was on when the state was loaded counts from.
    pub last_typing_start: [Option<Timestamp>; 2],
}

impl Folded {
    /// The revision the next append must find.
    pub fn expected(&self) -> ExpectedRevision {
        self.revision
            .map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact)
    }

    /// Applies one event (from the log, or just decided).
    pub fn apply(&mut self, event: &ConversationEvent) {
        if let ConversationEvent::TypingStarted(t) = event {
            self.last_typing_start[t.role.index()] = Some(t.at);
        }
        self.state.apply(event);
    }
}

/// Reads `stream` from its start, in pages, and folds it.
///
/// An event that cannot be decoded is reported as
/// [`StoreError::Unavailable`]: the conversation cannot be served until the
/// log (or this code) is fixed, and nothing may be decided on a partial state.
pub(crate) async fn load(store: Arc<dyn EventStore>, stream: String) -> Result<Folded, StoreError> {
    catch_up(store, stream, Folded::default()).await
}

/// Applies to `folded` what the stream holds after it (another node's
/// writes, in a cluster): the events from its revision + 1 on; then trims
/// the state to its windows. When a read among those events moved a marker
/// to a message older than the state's window (the unread count then needs
/// what the state forgot), the stream is folded again from its start.
pub(crate) async fn catch_up(
    store: Arc<dyn EventStore>,
    stream: String,
    folded: Folded,
) -> Result<Folded, StoreError> {
    let mut folded = fold(store.clone(), &stream, folded).await?;
    if !folded.state.is_complete() {
        // Folded from the start nothing is forgotten until the end.
        folded = fold(store, &stream, Folded::default()).await?;
    }
    folded.state.trim();
    Ok(folded)
}

/// Applies to `folded` the events of `stream` after its revision.
async fn fold(
    store: Arc<dyn EventStore>,
    stream: &str,
    mut folded: Folded,
) -> Result<Folded, StoreError> {
    let stream = stream.to_owned();
    let mut next: Revision = folded.revision.map_or(0, |r| r + 1);
    loop {
        let page = store
            .read_stream(&stream, ReadFrom::Revision(next), Direction::Forwards, PAGE)
            .await?;
        for recorded in &page {
            if recorded.revision != next {
                return Err(StoreError::Unavailable(format!(
                    "{stream}: expected revision {next}, read {}",
                    recorded.revision
                )));
            }
            let event = recorded.decode().map_err(|e| {
                StoreError::Unavailable(format!(
                    "{stream} revision {}: cannot decode {}: {e}",
                    recorded.revision, recorded.event_type
                ))
            })?;
            folded.apply(&event);
            folded.revision = Some(recorded.revision);
            folded.position = recorded.position;
            next = recorded.revision + 1;
        }
        if page.len() < PAGE {
            return Ok(folded);
        }
    }
}

/// Reads `stream` backwards from its end, feeding each message to `recall`
/// until it has everything it asked for or the stream's start is reached.
/// Each event's recording time is told first: an id (v7, so it carries the
/// time it was made) is not looked for among events recorded more than an
/// hour before its time, so an unknown fresh id costs a short read, not the
/// whole stream. Only message events are decoded.
pub(crate) async fn recall(
    store: Arc<dyn EventStore>,
    stream: String,
    mut recall: Recall,
) -> Result<Recall, StoreError> {
    let mut from = ReadFrom::End;
    loop {
        let page = store
            .read_stream(&stream, from, Direction::Backwards, PAGE)
            .await?;
        for recorded in &page {
            // Older events than this one were recorded before it: ids made
            // long after cannot be there (an unknown id is not looked for
            // down to the stream's start).
            if recall.recorded(recorded.recorded_at) {
                return Ok(recall);
            }
            if recorded.event_type != ConversationEvent::MESSAGE_SENT {
                continue;
            }
            let event = recorded.decode().map_err(|e| {
                StoreError::Unavailable(format!(
                    "{stream} revision {}: cannot decode {}: {e}",
                    recorded.revision, recorded.event_type
                ))
            })?;
            if let ConversationEvent::MessageSent(m) = event {
                if recall.see(m.seq, m.message_id, m.sender.role) {
                    return Ok(recall);
                }
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE && last.revision > 0 => {
                from = ReadFrom::Revision(last.revision - 1);
            }
            _ => return Ok(recall),
        }
    }
}

/// Appends `events` to `stream` if it is at `expected`, and returns them as
/// recorded.
///
/// When the store numbered the batch's positions consecutively (the embedded
/// log does, one writer) and answered each event's hash, the recorded
/// events are built from the append's answer; otherwise (a clustered log may
/// leave gaps between positions) they are read back from the stream.
pub(crate) async fn append(
    store: Arc<dyn EventStore>,
    stream: String,
    expected: ExpectedRevision,
    events: Vec<NewEvent>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let count = events.len() as u64;
    let result = store.append(&stream, expected, events.clone()).await?;
    let first_revision = (result.next_expected_revision + 1)
        .checked_sub(count)
        .ok_or_else(|| {
            StoreError::Unavailable(format!(
                "{stream}: append of {count} events answered revision {}",
                result.next_expected_revision
            ))
        })?;
    if result.position.checked_sub(result.first_position) == Some(count - 1)
        && result.hashes.len() as u64 == count
    {
        return Ok(events
            .into_iter()
            .enumerate()
            .map(|(i, e)| RecordedEvent {
                stream: stream.clone(),
                revision: first_revision + i as u64,
                position: result.first_position + i as u64,
                event_type: e.event_type,
                version: e.version,
                data: e.data,
                recorded_at: result.recorded_at,
                hash: result.hashes[i],
            })
            .collect());
    }
    let recorded = store
        .read_stream(
            &stream,
            ReadFrom::Revision(first_revision),
            Direction::Forwards,
            count as usize,
        )
        .await?;
    if recorded.len() as u64 != count {
        return Err(StoreError::Unavailable(format!(
            "{stream}: read back {} of the {count} events just appended",
            recorded.len()
        )));
    }
    Ok(recorded)
}
