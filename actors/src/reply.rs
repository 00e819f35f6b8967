//! What a caller gets back: [`CommandReply`] or [`ActorError`].

use souk_domain::{ConversationInfo, DomainError, MessageSent, Timestamp};
use souk_store::{Position, RecordedEvent, StoreError};
use thiserror::Error;

/// The answer to one command, sent once the events it recorded are durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandReply {
    /// The events this command recorded (empty when nothing new was recorded:
    /// an existing conversation, a repeated clientMessageId, a read marker
    /// already there, typing already on, a support access repeated within
    /// its window).
    pub recorded: Vec<RecordedEvent>,
    /// Global log position of the conversation's latest event after the
    /// command (so callers can wait for projections to reach it:
    /// read-your-writes). 0 if the conversation has no events.
    pub position: Position,
    /// True when the command recorded a new conversation (StartConversation)
    /// or a new message (SendMessage).
    pub created: bool,
    /// For SendMessage: the message recorded now.
    pub message: Option<MessageSent>,
    /// For a SendMessage with a clientMessageId already used (nothing
    /// recorded): the seq of the earlier message, for the caller to read it
    /// from the read models (the actor keeps no message text).
    pub duplicate_of: Option<u64>,
    /// The conversation's info after the command (participants, product,
    /// times).
    pub info: Option<ConversationInfo>,
    /// The acting user's unread count in this conversation after the command
    /// (for StartConversation: the side that started it; for a support
    /// access: 0, an operator reads nothing as a participant).
    pub unread: u64,
    /// When the acting user's read marker last moved (None if never, and
    /// for a support access).
    pub last_read_at: Option<Timestamp>,
}

/// Why a command got no [`CommandReply`].
///
/// A refusal by the conversation ([`ActorError::Domain`]) is not a failure;
/// the other variants are technical and say nothing about the command itself.
#[derive(Debug, Error)]
pub enum ActorError {
    /// The conversation refused the command. `404` or `409` depending on the
    /// variant (see [`DomainError`]).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The stream kept moving under the actor: still conflicting after every
    /// reload-and-retry. Maps to `409 conflict`.
    #[error("conflict: {0}")]
    Conflict(StoreError),
    /// The log failed (or a stored event could not be read back). Maps to
    /// `503 unavailable`.
    #[error(transparent)]
    Store(StoreError),
    /// The actor's mailbox is closed (shutdown, or its arbiter is gone). Maps
    /// to `503 unavailable`.
    #[error("conversation actor unavailable")]
    Unavailable,
}
