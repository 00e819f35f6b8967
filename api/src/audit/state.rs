//! A conversation's state at a point of its stream: the events read from
//! the log (in pages, only as far as asked) folded by the domain's
//! `evolve`. `souk replay` and the state routes (participants' and
//! operators') share it.

use serde::Serialize;
use serde_json::Value;
use souk_domain::{
    ClientMessageId, ConversationId, ConversationState, DecodeError, MessageId, MessageKind,
    MessageText, Participant, ProductCard, Role, Sender, Timestamp,
};
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

    /// The body of the state routes, to serialize: [`state_json`] plus
    /// `at`, `lastRevision`, `event` (the event at `at`, as an `/events`
    /// item) and `chainValid` (whether the hash chain of the events folded
    /// holds). Serialized straight from the state, without building a
    /// `serde_json::Value` of every message first.
    pub fn to_json(&self) -> StateJson<'_> {
        let mut body = state_json(self.id, &self.replayed.state, self.replayed.last.as_ref());
        body.at = Some(AtFields {
            at: self.at(),
            last_revision: self.last_revision,
            event: self
                .replayed
                .last
                .as_ref()
                .map_or(Value::Null, super::event::event_item),
            chain_valid: self.replayed.chain_valid,
        });
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
pub fn state_json<'a>(
    id: ConversationId,
    state: &'a ConversationState,
    last: Option<&RecordedEvent>,
) -> StateJson<'a> {
    let side = |role: Role| SideJson {
        read_up_to_seq: state.read_up_to[role.index()],
        unread: state.unread(role),
        typing: state.typing[role.index()],
        last_read_at: state.last_read_at(role),
    };
    let info = state.info.as_ref();
    StateJson {
        conversation_id: id,
        started: info.is_some(),
        customer: info.map(|i| &i.customer),
        vendor: info.map(|i| &i.vendor),
        product: info.and_then(|i| i.product.as_ref()),
        current_product: info.and_then(|i| i.current_product.as_ref()),
        created_at: info.map(|i| i.created_at),
        updated_at: info.map(|i| i.updated_at),
        events_applied: state.events_applied,
        last_position: last.map(|e| e.position),
        last_recorded_at: last.map(|e| e.recorded_at),
        sides: SidesJson {
            customer: side(Role::Customer),
            vendor: side(Role::Vendor),
        },
        messages: MessagesJson(state),
        at: None,
    }
}

/// What [`state_json`] answers (see docs/api.md, "Audit and replay").
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateJson<'a> {
    conversation_id: ConversationId,
    started: bool,
    customer: Option<&'a Participant>,
    vendor: Option<&'a Participant>,
    product: Option<&'a ProductCard>,
    /// The product discussed as of this event (`CurrentProductChanged`).
    current_product: Option<&'a ProductCard>,
    created_at: Option<Timestamp>,
    updated_at: Option<Timestamp>,
    events_applied: u64,
    last_position: Option<Position>,
    last_recorded_at: Option<Timestamp>,
    sides: SidesJson,
    messages: MessagesJson<'a>,
    /// The state routes' additions.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    at: Option<AtFields>,
}

impl StateJson<'_> {
    /// As a `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a state is plain data and always serializes")
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AtFields {
    at: Revision,
    last_revision: Revision,
    event: Value,
    chain_valid: bool,
}

#[derive(Serialize)]
struct SidesJson {
    customer: SideJson,
    vendor: SideJson,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SideJson {
    read_up_to_seq: u64,
    unread: u64,
    typing: bool,
    last_read_at: Option<Timestamp>,
}

/// Every message of a state, with when it was read.
struct MessagesJson<'a>(&'a ConversationState);

impl Serialize for MessagesJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let state = self.0;
        s.collect_seq(state.messages.iter().map(|m| MessageJson {
            seq: m.seq,
            id: &m.message_id,
            sender: &m.sender,
            kind: &m.kind,
            text: m.text.as_ref(),
            product: m.product.as_ref(),
            client_message_id: m.client_message_id.as_ref(),
            sent_at: m.at,
            read_at: state.read_at(m.seq),
        }))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageJson<'a> {
    seq: u64,
    id: &'a MessageId,
    sender: &'a Sender,
    kind: &'a MessageKind,
    text: Option<&'a MessageText>,
    product: Option<&'a ProductCard>,
    client_message_id: Option<&'a ClientMessageId>,
    sent_at: Timestamp,
    read_at: Option<Timestamp>,
}
