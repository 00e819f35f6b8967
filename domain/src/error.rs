//! The domain's two kinds of refusal: bad input ([`InputError`]) and a command
//! that the conversation rejects ([`DomainError`]). Neither is a technical
//! failure; those belong to the store and the api.

use thiserror::Error;

/// A value that could not be parsed: names the offending field.
/// Maps to `400 invalid_request`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct InputError {
    /// The field as it is named on the wire (`text`, `product.name`, ...).
    pub field: String,
    pub reason: String,
}

impl InputError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A command that the conversation refuses, given its state.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DomainError {
    /// The conversation has not been started. Maps to `404 not_found`.
    #[error("conversation not found")]
    ConversationNotFound,
    /// The acting user is not one of the two participants. Maps to
    /// `404 not_found`: existence is not leaked to outsiders.
    #[error("conversation not found")]
    NotAParticipant,
    /// The message named in a read is not in this conversation.
    /// Maps to `404 not_found`.
    #[error("message not found")]
    MessageNotFound,
    /// A start for this conversation id named other participants than the
    /// ones it was started with. Maps to `409 conflict`.
    #[error("conversation was started with other participants")]
    ParticipantsMismatch,
}
