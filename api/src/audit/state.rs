//! A conversation's state at a point of its stream: the events read from
//! the log (in pages, only as far as asked) folded by the domain's
//! `evolve`. `souk replay` and the state routes (participants' and
//! operators') share it.

use serde_json::{json, Value};
use souk_domain::{ConversationId, ConversationState, DecodeError, Role, Timestamp};
use souk_store::chain::{self, EventHash};
use souk_store::{Direction, EventStore, Position, ReadFrom, RecordedEvent, Revision, StoreError};

use crate::error::ApiError;

/// Events read from the log per query while folding.
const PAGE: usize = 1000;

/// Where a fold stops (the event it names is included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// The whole stream.
    End,
    /// Up to this stream revision.
    Revision(Revision),
    /// Up to this global position.
    Position(Position),
    /// Up to the last event recorded at or before this time.
    Time(Timestamp),
}

impl Until {
    fn includes(&self, e: &RecordedEvent) -> bool {
        match *self {
            Self::End => true,
            Self::Revision(r) => e.revision <= r,
            Self::Position(p) => e.position <= p,
            Self::Time(t) => e.recorded_at <= t,
        }
    }

    /// How many more events a page may hold when the next one to read is
    /// `next`: a fold up to a revision reads no further than it.
    fn page(&self, next: Revision) -> usize {
        match *self {
            Self::Revision(r) if next > r => 0,
            Self::Revision(r) => (r - next).saturating_add(1).min(PAGE as u64) as usize,
            _ => PAGE,
        }
    }
}

/// What a fold found.
#[derive(Clone, Debug, Default)]
pub struct Replayed {
    /// The state after the last event folded.
    pub state: ConversationState,
    /// The last event folded; `None` when none was.
    pub last: Option<RecordedEvent>,
    /// Whether the hash chain of the events folded holds: each one's hash
    /// is the link of the one before it (the first of the stream's, of
    /// the chain's start). Always from revision 0, as every fold is.
    pub chain_valid: bool,
}

/// Why a fold failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event the domain cannot read (a bug, or a log from a newer
    /// souk).
    #[error("the event at revision {revision} (position {position}) cannot be decoded: {source}")]
    Decode {
        revision: Revision,
        position: Position,
        source: DecodeError,
    },
}

impl From<ReplayError> for ApiError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::Store(e) => e.into(),
            e @ ReplayError::Decode { .. } => ApiError::internal("replay", &e),
        }
    }
}

/// Folds conversation `id`'s stream from its first event up to `until`,
/// reading it in pages and no further than `until` asks (a fold up to
/// revision 10 reads 11 events).
pub async fn fold(
    store: &dyn EventStore,
    id: ConversationId,
    until: Until,
) -> Result<Replayed, ReplayError> {
    fold_each(store, id, until, |_| {}).await
}

/// [`fold`], showing `each` every event folded, in order.
pub async fn fold_each(
    store: &dyn EventStore,
    id: ConversationId,
    until: Until,
    mut each: impl FnMut(&RecordedEvent),
) -> Result<Replayed, ReplayError> {
    let stream = id.stream_name();
    let mut replayed = Replayed {
        chain_valid: true,
        ..Replayed::default()
    };
    let mut next: Revision = 0;
    // The hash the next event must chain to; `None` once a link broke.
    let mut prev = Some(EventHash::GENESIS);
    loop {
        let asked = until.page(next);
        if asked == 0 {
            break;
        }
        let page = store
            .read_stream(
                &stream,
                ReadFrom::Revision(next),
                Direction::Forwards,
                asked,
            )
            .await?;
        let Some(tail) = page.last() else { break };
        next = tail.revision + 1;
        let more = page.len() == asked;
        for e in page {
            if !until.includes(&e) {
                return Ok(replayed);
            }
            prev = prev.and_then(|p| chain::check(p, std::slice::from_ref(&e)).ok());
            replayed.chain_valid = prev.is_some();
            let event = e.decode().map_err(|source| ReplayError::Decode {
                revision: e.revision,
                position: e.position,
                source,
            })?;
            replayed.state = souk_domain::evolve(std::mem::take(&mut replayed.state), &event);
            each(&e);
            replayed.last = Some(e);
        }
        if !more {
            break;
        }
    }
    Ok(replayed)
}

/// A conversation as it was just after one event of its stream.
#[derive(Clone, Debug)]
pub struct StateAt {
    pub id: ConversationId,
    /// The stream's last revision when it was asked.
    pub last_revision: Revision,
    /// The state just after revision `at`; `replayed.last` is that event.
    pub replayed: Replayed,
}

impl StateAt {
    /// The revision the state is at.
    pub fn at(&self) -> Revision {
        self.replayed.last.as_ref().map_or(0, |e| e.revision)
    }

    /// The body of the state routes: [`state_json`] plus `at`,
    /// `lastRevision`, `event` (the event at `at`, as an `/events` item)
    /// and `chainValid` (whether the hash chain of the events folded
    /// holds).
    pub fn to_json(&self) -> Value {
        let mut body = state_json(self.id, &self.replayed.state, self.replayed.last.as_ref());
        body["at"] = json!(self.at());
        body["lastRevision"] = json!(self.last_revision);
        body["event"] = self
            .replayed
            .last
            .as_ref()
            .map_or(Value::Null, super::event::event_item);
        body["chainValid"] = json!(self.replayed.chain_valid);
        body
    }
}

/// Conversation `id` as it was just after the event at stream revision
/// `at` (default: its last), for the state routes. Does not check who
/// asks: the caller does (participants, operators). A conversation without
/// events is `404 not_found`; `at` beyond the last revision `400`.
pub async fn state_at(
    store: &dyn EventStore,
    id: ConversationId,
    at: Option<Revision>,
) -> Result<StateAt, ApiError> {
    let last_revision = store
        .read_stream(&id.stream_name(), ReadFrom::End, Direction::Forwards, 1)
        .await?
        .first()
        .map(|e| e.revision)
        .ok_or_else(|| ApiError::conversation_not_found(id))?;
    let at = at.unwrap_or(last_revision);
    if at > last_revision {
        return Err(ApiError::invalid(format!(
            "at: revision {at} is beyond the conversation's last revision {last_revision}"
        )));
    }
    let replayed = fold(store, id, Until::Revision(at)).await?;
    Ok(StateAt {
        id,
        last_revision,
        replayed,
    })
}

/// The state of a conversation as JSON: the body of `souk replay`, and of
/// the state routes with [`StateAt::to_json`]'s additions. `last` is the
/// last event folded.
pub fn state_json(
    id: ConversationId,
    state: &ConversationState,
    last: Option<&RecordedEvent>,
) -> Value {
    let side = |role: Role| {
        json!({
            "readUpToSeq": state.read_up_to[role.index()],
            "unread": state.unread(role),
            "typing": state.typing[role.index()],
            "lastReadAt": state.last_read_at(role),
        })
    };
    let messages: Vec<Value> = state
        .messages
        .iter()
        .map(|m| {
            json!({
                "seq": m.seq,
                "id": m.message_id,
                "sender": m.sender,
                "kind": m.kind,
                "text": m.text,
                "product": m.product,
                "clientMessageId": m.client_message_id,
                "sentAt": m.at,
                "readAt": state.read_at(m.seq),
            })
        })
        .collect();
    json!({
        "conversationId": id,
        "started": state.info.is_some(),
        "customer": state.info.as_ref().map(|i| &i.customer),
        "vendor": state.info.as_ref().map(|i| &i.vendor),
        "product": state.info.as_ref().and_then(|i| i.product.as_ref()),
        "createdAt": state.info.as_ref().map(|i| i.created_at),
        "updatedAt": state.info.as_ref().map(|i| i.updated_at),
        "eventsApplied": state.events_applied,
        "lastPosition": last.map(|e| e.position),
        "lastRecordedAt": last.map(|e| e.recorded_at),
        "sides": { "customer": side(Role::Customer), "vendor": side(Role::Vendor) },
        "messages": messages,
    })
}
