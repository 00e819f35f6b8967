//! Commands: what a participant asks a conversation to do.
//!
//! Commands carry everything `decide` needs, including the time and the id of a
//! new message, so that `decide` stays a pure function.

use crate::content::{MessageContent, ProductCard};
use crate::event::{Participant, TypingStopReason};
use crate::ids::{ClientMessageId, ConversationId, DisplayName, MessageId, Role, UserId};
use crate::time::Timestamp;

/// The authenticated user behind a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub id: UserId,
    pub role: Role,
    /// The display name from the token, recorded when the user acts.
    pub name: Option<DisplayName>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Open the conversation of a customer-vendor pair (or get it if it exists).
    StartConversation {
        conversation_id: ConversationId,
        customer: Participant,
        vendor: Participant,
        product: Option<ProductCard>,
        by: Role,
        at: Timestamp,
    },
    /// Send a message. `message_id` is used only if a new message is recorded.
    SendMessage {
        by: Actor,
        message_id: MessageId,
        content: MessageContent,
        client_message_id: Option<ClientMessageId>,
        at: Timestamp,
    },
    /// Mark `up_to` and every earlier message of the other side as read.
    MarkRead {
        by: Actor,
        up_to: MessageId,
        at: Timestamp,
    },
    /// Mark every message of the other side as read.
    MarkAllRead {
        by: Actor,
        at: Timestamp,
    },
    StartTyping {
        by: Actor,
        at: Timestamp,
    },
    StopTyping {
        by: Actor,
        reason: TypingStopReason,
        at: Timestamp,
    },
}

impl Command {
    /// The user acting, when the command has one.
    pub fn actor(&self) -> Option<&Actor> {
        match self {
            Command::StartConversation { .. } => None,
            Command::SendMessage { by, .. }
            | Command::MarkRead { by, .. }
            | Command::MarkAllRead { by, .. }
            | Command::StartTyping { by, .. }
            | Command::StopTyping { by, .. } => Some(by),
        }
    }
}
