//! The wire shapes of the audit routes (docs/api.md, "Audit and replay"):
//! the state at a revision and the dispute transcript. Like
//! [`super::schemas`], these only describe: the answers are made by
//! [`crate::audit`].
#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

use super::schemas::{MessageKind, ProductCard, RecordedEvent, Sender};

/// A participant as recorded in the log: the latest name recorded, or none.
#[derive(Serialize, ToSchema)]
pub struct RecordedParticipant {
    pub id: String,
    #[schema(required)]
    pub name: Option<String>,
}

/// One side's markers at that point.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StateSide {
    /// It has read the other side's messages up to this seq.
    pub read_up_to_seq: u64,
    /// The other side's messages it has not read.
    pub unread: u64,
    pub typing: bool,
    #[schema(required, format = DateTime)]
    pub last_read_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StateSides {
    pub customer: StateSide,
    pub vendor: StateSide,
}

/// A message as it was at that point.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StateMessage {
    pub seq: u64,
    #[schema(format = Uuid)]
    pub id: String,
    pub sender: Sender,
    pub kind: MessageKind,
    #[schema(required)]
    pub text: Option<String>,
    #[schema(required)]
    pub product: Option<ProductCard>,
    #[schema(required)]
    pub client_message_id: Option<String>,
    #[schema(format = DateTime)]
    pub sent_at: String,
    /// When the other side had read it by that point; null: unread then.
    #[schema(required, format = DateTime)]
    pub read_at: Option<String>,
}

/// A conversation just after the event at stream revision `at`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StateAt {
    #[schema(format = Uuid)]
    pub conversation_id: String,
    /// Whether the conversation had started by then (revision 0 starts it).
    pub started: bool,
    #[schema(required)]
    pub customer: Option<RecordedParticipant>,
    #[schema(required)]
    pub vendor: Option<RecordedParticipant>,
    #[schema(required)]
    pub product: Option<ProductCard>,
    /// The product discussed as of that event (`CurrentProductChanged`).
    #[schema(required)]
    pub current_product: Option<ProductCard>,
    #[schema(required, format = DateTime)]
    pub created_at: Option<String>,
    #[schema(required, format = DateTime)]
    pub updated_at: Option<String>,
    /// Events folded: `at + 1`.
    pub events_applied: u64,
    #[schema(required)]
    pub last_position: Option<u64>,
    #[schema(required, format = DateTime)]
    pub last_recorded_at: Option<String>,
    pub sides: StateSides,
    pub messages: Vec<StateMessage>,
    /// The revision the state is at.
    pub at: u64,
    /// The stream's last revision when asked.
    pub last_revision: u64,
    /// The event at `at`.
    pub event: RecordedEvent,
    /// Whether the hash chain of the events folded (revisions 0 to `at`)
    /// holds.
    pub chain_valid: bool,
}

/// A participant in a transcript.
#[derive(Serialize, ToSchema)]
pub struct TranscriptParticipant {
    pub id: String,
    #[schema(required)]
    pub name: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptConversation {
    #[schema(format = Uuid)]
    pub id: String,
    pub customer: TranscriptParticipant,
    pub vendor: TranscriptParticipant,
    #[schema(required)]
    pub product: Option<ProductCard>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Who asked for the transcript.
#[derive(Serialize, ToSchema)]
pub struct GeneratedBy {
    pub id: String,
    /// `customer`, `vendor` or `operator`.
    pub role: String,
    #[schema(required)]
    pub name: Option<String>,
}

/// One event of a transcript, exactly as stored.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TranscriptEvent {
    pub stream: String,
    pub revision: u64,
    pub position: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    /// The payload's JSON text, exactly as stored (a string).
    pub data: String,
    #[schema(format = DateTime)]
    pub recorded_at: String,
    /// 64 lowercase hex digits.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: String,
}

/// A dispute transcript, `souk-transcript/1`: the file is exactly the
/// canonical serialization of this object (docs/api.md, "Audit and
/// replay").
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transcript {
    /// `souk-transcript/1`.
    pub format: String,
    pub conversation: TranscriptConversation,
    pub generated_by: GeneratedBy,
    #[schema(format = DateTime)]
    pub generated_at: String,
    pub events: Vec<TranscriptEvent>,
    /// The last event's hash.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub final_hash: String,
    /// SHA-256 (lowercase hex) of the canonical serialization of the rest.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub digest: String,
}
