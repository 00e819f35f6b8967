//! Events: the facts recorded in a conversation's stream.
//!
//! Each event has a stable type name ([`ConversationEvent::event_type`]) and a
//! schema version ([`ConversationEvent::version`]); it is stored as the JSON of
//! its payload (camelCase, the shape the audit route shows). Reading goes
//! through [`ConversationEvent::decode`], the one place where an older schema
//! version would be upcast to the current one.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::content::{MessageKind, ProductCard};
use crate::ids::{ClientMessageId, ConversationId, DisplayName, MessageId, Role, UserId};
use crate::support::{Operator, SupportReason, SupportView};
use crate::time::Timestamp;
use crate::MessageText;

/// A participant as recorded when the conversation started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub id: UserId,
    pub name: Option<DisplayName>,
}

/// Who sent a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sender {
    pub id: UserId,
    pub role: Role,
}

/// A customer and a vendor started talking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationStarted {
    pub conversation_id: ConversationId,
    pub customer: Participant,
    pub vendor: Participant,
    /// The product the conversation was started from.
    pub product: Option<ProductCard>,
    /// Which side opened it.
    pub started_by: Role,
    pub at: Timestamp,
}

/// A message was sent; `seq` is its place in the conversation (1, 2, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSent {
    pub message_id: MessageId,
    pub seq: u64,
    pub sender: Sender,
    /// The sender's display name at the time, from their token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<DisplayName>,
    pub kind: MessageKind,
    pub text: Option<MessageText>,
    pub product: Option<ProductCard>,
    pub client_message_id: Option<ClientMessageId>,
    pub at: Timestamp,
}

/// A participant read every message of the other side up to `up_to_seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRead {
    pub reader_id: UserId,
    pub reader_role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader_name: Option<DisplayName>,
    /// The read marker moves to this seq (inclusive).
    pub up_to_seq: u64,
    /// The message at `up_to_seq`.
    pub up_to_message_id: MessageId,
    /// True when the reader asked to read everything (`PUT .../read`).
    #[serde(default)]
    pub all: bool,
    pub at: Timestamp,
}

/// Why typing stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TypingStopReason {
    /// The typist said so.
    Stopped,
    /// Five seconds passed without a new start.
    Expired,
    /// The typist sent a message.
    MessageSent,
}

/// A participant started or stopped typing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Typing {
    pub user_id: UserId,
    pub role: Role,
    /// Present when typing stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<TypingStopReason>,
    pub at: Timestamp,
}

/// A member of the support staff read the conversation (see
/// [`crate::support`]). It changes no message, marker or figure: it is there
/// for the participants (and auditors) to see who read, when, why and what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportAccessed {
    pub operator: Operator,
    pub reason: SupportReason,
    pub view: SupportView,
    pub at: Timestamp,
}

/// A participant asked about a product other than the one the conversation
/// is currently about (opening the conversation from that product's page):
/// from now on the conversation is about `product`. The product the
/// conversation was started from stays as its start recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentProductChanged {
    pub product: ProductCard,
    /// Who asked about it.
    pub by: Sender,
    /// Their display name at the time, from their token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_name: Option<DisplayName>,
    pub at: Timestamp,
}

/// Everything that can happen in a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConversationEvent {
    ConversationStarted(ConversationStarted),
    MessageSent(MessageSent),
    MessageRead(MessageRead),
    TypingStarted(Typing),
    TypingStopped(Typing),
    SupportAccessed(SupportAccessed),
    CurrentProductChanged(CurrentProductChanged),
}

/// An event whose stored form could not be read.
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("unknown event type {0}")]
    UnknownType(String),
    #[error("unsupported version {version} of {event_type}")]
    UnsupportedVersion { event_type: String, version: u32 },
    #[error("malformed {event_type}: {source}")]
    Malformed {
        event_type: String,
        source: serde_json::Error,
    },
}

impl ConversationEvent {
    pub const CONVERSATION_STARTED: &'static str = "ConversationStarted";
    pub const MESSAGE_SENT: &'static str = "MessageSent";
    pub const MESSAGE_READ: &'static str = "MessageRead";
    pub const TYPING_STARTED: &'static str = "TypingStarted";
    pub const TYPING_STOPPED: &'static str = "TypingStopped";
    pub const SUPPORT_ACCESSED: &'static str = "SupportAccessed";
    pub const CURRENT_PRODUCT_CHANGED: &'static str = "CurrentProductChanged";

    /// The stable type name stored beside the payload.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::ConversationStarted(_) => Self::CONVERSATION_STARTED,
            Self::MessageSent(_) => Self::MESSAGE_SENT,
            Self::MessageRead(_) => Self::MESSAGE_READ,
            Self::TypingStarted(_) => Self::TYPING_STARTED,
            Self::TypingStopped(_) => Self::TYPING_STOPPED,
            Self::SupportAccessed(_) => Self::SUPPORT_ACCESSED,
            Self::CurrentProductChanged(_) => Self::CURRENT_PRODUCT_CHANGED,
        }
    }

    /// The schema version this code writes. Every type is at version 1.
    pub fn version(&self) -> u32 {
        1
    }

    /// When it happened.
    pub fn at(&self) -> Timestamp {
        match self {
            Self::ConversationStarted(e) => e.at,
            Self::MessageSent(e) => e.at,
            Self::MessageRead(e) => e.at,
            Self::TypingStarted(e) | Self::TypingStopped(e) => e.at,
            Self::SupportAccessed(e) => e.at,
            Self::CurrentProductChanged(e) => e.at,
        }
    }

    /// The payload as stored: JSON text.
    pub fn to_json(&self) -> String {
        let v = match self {
            Self::ConversationStarted(e) => serde_json::to_string(e),
            Self::MessageSent(e) => serde_json::to_string(e),
            Self::MessageRead(e) => serde_json::to_string(e),
            Self::TypingStarted(e) | Self::TypingStopped(e) => serde_json::to_string(e),
            Self::SupportAccessed(e) => serde_json::to_string(e),
            Self::CurrentProductChanged(e) => serde_json::to_string(e),
        };
        v.expect("event payloads are plain data and always serialize")
    }

    /// Reads a stored event, upcasting older versions.
    pub fn decode(event_type: &str, version: u32, data: &str) -> Result<Self, DecodeError> {
        if version != 1 {
            return Err(DecodeError::UnsupportedVersion {
                event_type: event_type.to_owned(),
                version,
            });
        }
        fn parse<T: serde::de::DeserializeOwned>(
            event_type: &str,
            data: &str,
        ) -> Result<T, DecodeError> {
            serde_json::from_str(data).map_err(|source| DecodeError::Malformed {
                event_type: event_type.to_owned(),
                source,
            })
        }
        Ok(match event_type {
            Self::CONVERSATION_STARTED => Self::ConversationStarted(parse(event_type, data)?),
            Self::MESSAGE_SENT => Self::MessageSent(parse(event_type, data)?),
            Self::MESSAGE_READ => Self::MessageRead(parse(event_type, data)?),
            Self::TYPING_STARTED => Self::TypingStarted(parse(event_type, data)?),
            Self::TYPING_STOPPED => Self::TypingStopped(parse(event_type, data)?),
            Self::SUPPORT_ACCESSED => Self::SupportAccessed(parse(event_type, data)?),
            Self::CURRENT_PRODUCT_CHANGED => Self::CurrentProductChanged(parse(event_type, data)?),
            other => return Err(DecodeError::UnknownType(other.to_owned())),
        })
    }
}
