//! Commands: what a participant (or, to record a support access, an
//! operator) asks a conversation to do.
//!
//! Commands carry everything `decide` needs, including the time and the id of a
//! new message, so that `decide` stays a pure function.

use crate::content::{MessageContent, ProductCard};
use crate::event::{Participant, TypingStopReason};
use crate::ids::{ClientMessageId, ConversationId, DisplayName, MessageId, Role, UserId};
use crate::support::{Operator, SupportReason, SupportView};
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
    /// The participant asks about `product`: when the conversation is
    /// currently about another product (or none), it is from now on about
    /// this one. Asking about the current product again records nothing.
    ChangeCurrentProduct {
        by: Actor,
        product: ProductCard,
        at: Timestamp,
    },
    /// Record that an operator (support staff, not a participant) reads the
    /// conversation's `view` for `reason`. A repeat within
    /// [`SUPPORT_ACCESS_WINDOW`](crate::SUPPORT_ACCESS_WINDOW) records
    /// nothing.
    RecordSupportAccess {
        operator: Operator,
        reason: SupportReason,
        view: SupportView,
        at: Timestamp,
    },
}

impl Command {
    /// Opens the conversation of `customer` and `vendor`, whose id is derived
    /// from the pair ([`ConversationId::for_pair`]); answers that id with the
    /// command.
    pub fn start_conversation(
        customer: Participant,
        vendor: Participant,
        product: Option<ProductCard>,
        by: Role,
        at: Timestamp,
    ) -> (ConversationId, Command) {
        let conversation_id = ConversationId::for_pair(&customer.id, &vendor.id);
        let command = Command::StartConversation {
            conversation_id,
            customer,
            vendor,
            product,
            by,
            at,
        };
        (conversation_id, command)
    }

    /// The participant acting, when the command has one (a start names
    /// both participants; a support access, an operator).
    pub fn actor(&self) -> Option<&Actor> {
        match self {
            Command::StartConversation { .. } | Command::RecordSupportAccess { .. } => None,
            Command::SendMessage { by, .. }
            | Command::MarkRead { by, .. }
            | Command::MarkAllRead { by, .. }
            | Command::StartTyping { by, .. }
            | Command::StopTyping { by, .. }
            | Command::ChangeCurrentProduct { by, .. } => Some(by),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_names_the_pair_s_conversation() {
        let participant = |id: &str| Participant {
            id: UserId::parse(id).unwrap(),
            name: None,
        };
        let (id, command) = Command::start_conversation(
            participant("c-1"),
            participant("v-1"),
            None,
            Role::Customer,
            Timestamp::from_millis(0),
        );
        let pair = ConversationId::for_pair(
            &UserId::parse("c-1").unwrap(),
            &UserId::parse("v-1").unwrap(),
        );
        assert_eq!(id, pair);
        assert!(matches!(
            command,
            Command::StartConversation { conversation_id, .. } if conversation_id == pair
        ));
    }
}
