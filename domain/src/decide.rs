//! [`decide`]: which events a command yields, given the state. Pure.

use crate::command::{Actor, Command};
use crate::compact::Facts;
use crate::error::DomainError;
use crate::event::{
    ConversationEvent, ConversationStarted, CurrentProductChanged, MessageRead, MessageSent,
    Sender, SupportAccessed, Typing, TypingStopReason,
};
use crate::state::ConversationInfo;
use crate::support::SUPPORT_ACCESS_WINDOW;

/// Decides what `command` records. An empty list means the command is already
/// satisfied (an existing conversation, a repeated send, a read marker that is
/// already there, typing that is already on, the product already being
/// discussed, a support access that repeats one recorded less than
/// [`SUPPORT_ACCESS_WINDOW`] before): nothing new is recorded.
///
/// `state` is any state that knows the [`Facts`]: the full
/// [`ConversationState`](crate::ConversationState) or an actor's
/// [`CompactState`](crate::CompactState); both decide alike.
pub fn decide<S: Facts + ?Sized>(
    state: &S,
    command: &Command,
) -> Result<Vec<ConversationEvent>, DomainError> {
    if let Command::StartConversation {
        conversation_id,
        customer,
        vendor,
        product,
        by,
        at,
    } = command
    {
        return match state.info() {
            None => Ok(vec![ConversationEvent::ConversationStarted(
                ConversationStarted {
                    conversation_id: *conversation_id,
                    customer: customer.clone(),
                    vendor: vendor.clone(),
                    product: product.clone(),
                    started_by: *by,
                    at: *at,
                },
            )]),
            Some(info) if info.customer.id == customer.id && info.vendor.id == vendor.id => {
                Ok(vec![])
            }
            Some(_) => Err(DomainError::ParticipantsMismatch),
        };
    }

    let info = state.info().ok_or(DomainError::ConversationNotFound)?;

    if let Command::RecordSupportAccess {
        operator,
        reason,
        view,
        at,
    } = command
    {
        let window = SUPPORT_ACCESS_WINDOW.as_millis() as i64;
        let repeat = state
            .last_support_access(&operator.id, reason)
            .is_some_and(|before| at.millis() - before.millis() < window);
        return Ok(if repeat {
            vec![]
        } else {
            vec![ConversationEvent::SupportAccessed(SupportAccessed {
                operator: operator.clone(),
                reason: reason.clone(),
                view: *view,
                at: *at,
            })]
        });
    }

    let by = command
        .actor()
        .expect("every participant's command has an actor");
    check_participant(info, by)?;

    match command {
        Command::StartConversation { .. } | Command::RecordSupportAccess { .. } => {
            unreachable!("handled above")
        }
        Command::SendMessage {
            message_id,
            content,
            client_message_id,
            at,
            ..
        } => {
            if let Some(cid) = client_message_id {
                if state.client_message_seq(by.role, cid).is_some() {
                    return Ok(vec![]);
                }
            }
            let mut events = Vec::with_capacity(2);
            if state.is_typing(by.role) {
                events.push(ConversationEvent::TypingStopped(typing(
                    by,
                    Some(TypingStopReason::MessageSent),
                    *at,
                )));
            }
            events.push(ConversationEvent::MessageSent(MessageSent {
                message_id: *message_id,
                seq: state.next_seq(),
                sender: Sender {
                    id: by.id.clone(),
                    role: by.role,
                },
                sender_name: by.name.clone(),
                kind: content.kind(),
                text: content.text().cloned(),
                product: content.product().cloned(),
                client_message_id: client_message_id.clone(),
                at: *at,
            }));
            Ok(events)
        }
        Command::MarkRead { up_to, at, .. } => {
            let target = state.seq_of(up_to).ok_or(DomainError::MessageNotFound)?;
            Ok(read_up_to(state, by, target, false, *at))
        }
        Command::MarkAllRead { at, .. } => {
            Ok(read_up_to(state, by, state.next_seq() - 1, true, *at))
        }
        Command::StartTyping { at, .. } => Ok(if state.is_typing(by.role) {
            vec![]
        } else {
            vec![ConversationEvent::TypingStarted(typing(by, None, *at))]
        }),
        Command::ChangeCurrentProduct { product, at, .. } => {
            // The same product is the same id: a card whose other fields
            // moved (a new price) is still the product being discussed.
            let same = info
                .current_product
                .as_ref()
                .is_some_and(|current| current.id == product.id);
            Ok(if same {
                vec![]
            } else {
                vec![ConversationEvent::CurrentProductChanged(
                    CurrentProductChanged {
                        product: product.clone(),
                        by: Sender {
                            id: by.id.clone(),
                            role: by.role,
                        },
                        by_name: by.name.clone(),
                        at: *at,
                    },
                )]
            })
        }
        Command::StopTyping { reason, at, .. } => Ok(if state.is_typing(by.role) {
            vec![ConversationEvent::TypingStopped(typing(
                by,
                Some(*reason),
                *at,
            ))]
        } else {
            vec![]
        }),
    }
}

fn check_participant(info: &ConversationInfo, by: &Actor) -> Result<(), DomainError> {
    if info.is_participant(&by.id, by.role) {
        Ok(())
    } else {
        Err(DomainError::NotAParticipant)
    }
}

/// Moves `by`'s marker to the last message of the other side at or before
/// `max_seq`, if that is further than it is.
fn read_up_to<S: Facts + ?Sized>(
    state: &S,
    by: &Actor,
    max_seq: u64,
    all: bool,
    at: crate::Timestamp,
) -> Vec<ConversationEvent> {
    let Some((last_seq, last_id)) = state.last_message_from(by.role.other(), max_seq) else {
        return vec![];
    };
    if last_seq <= state.read_up_to(by.role) {
        return vec![];
    }
    vec![ConversationEvent::MessageRead(MessageRead {
        reader_id: by.id.clone(),
        reader_role: by.role,
        reader_name: by.name.clone(),
        up_to_seq: last_seq,
        up_to_message_id: last_id,
        all,
        at,
    })]
}

fn typing(by: &Actor, reason: Option<TypingStopReason>, at: crate::Timestamp) -> Typing {
    Typing {
        user_id: by.id.clone(),
        role: by.role,
        reason,
        at,
    }
}
