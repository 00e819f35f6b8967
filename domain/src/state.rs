//! The state of one conversation, folded from its events by [`evolve`].

use std::collections::HashMap;

use crate::content::ProductCard;
use crate::event::{
    ConversationEvent, CurrentProductChanged, MessageSent, Participant, SupportAccessed,
};
use crate::ids::{ClientMessageId, ConversationId, MessageId, Role, UserId};
use crate::time::Timestamp;

/// What is known of a started conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationInfo {
    pub id: ConversationId,
    pub customer: Participant,
    pub vendor: Participant,
    /// The product the conversation was started from.
    pub product: Option<ProductCard>,
    /// The product currently discussed: `product` until a participant asks
    /// about another one ([`CurrentProductChanged`]).
    pub current_product: Option<ProductCard>,
    pub started_by: Role,
    pub created_at: Timestamp,
    /// Time of the last message, or of creation.
    pub updated_at: Timestamp,
}

impl ConversationInfo {
    /// The participant on `role`'s side.
    pub fn participant(&self, role: Role) -> &Participant {
        match role {
            Role::Customer => &self.customer,
            Role::Vendor => &self.vendor,
        }
    }

    fn participant_mut(&mut self, role: Role) -> &mut Participant {
        match role {
            Role::Customer => &mut self.customer,
            Role::Vendor => &mut self.vendor,
        }
    }

    /// The conversation as its start records it.
    pub(crate) fn started(e: &crate::event::ConversationStarted) -> Self {
        Self {
            id: e.conversation_id,
            customer: e.customer.clone(),
            vendor: e.vendor.clone(),
            product: e.product.clone(),
            current_product: e.product.clone(),
            started_by: e.started_by,
            created_at: e.at,
            updated_at: e.at,
        }
    }

    /// What a message changes: the last activity, and its sender's name.
    pub(crate) fn note_message(&mut self, e: &MessageSent) {
        self.updated_at = e.at;
        if let Some(name) = &e.sender_name {
            self.participant_mut(e.sender.role).name = Some(name.clone());
        }
    }

    /// What a read changes: its reader's name.
    pub(crate) fn note_read(&mut self, e: &crate::event::MessageRead) {
        if let Some(name) = &e.reader_name {
            self.participant_mut(e.reader_role).name = Some(name.clone());
        }
    }

    /// What asking about another product changes: the product discussed,
    /// and the asker's name.
    pub(crate) fn note_current_product(&mut self, e: &CurrentProductChanged) {
        self.current_product = Some(e.product.clone());
        if let Some(name) = &e.by_name {
            self.participant_mut(e.by.role).name = Some(name.clone());
        }
    }

    /// Whether `id` acting as `role` is one of the two participants.
    pub fn is_participant(&self, id: &UserId, role: Role) -> bool {
        &self.participant(role).id == id
    }
}

/// The state of a conversation. `Default` is the state before any event.
///
/// Per-side arrays are indexed by [`Role::index`] (customer 0, vendor 1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConversationState {
    pub info: Option<ConversationInfo>,
    /// Every message, `messages[i].seq == i + 1`.
    pub messages: Vec<MessageSent>,
    by_id: HashMap<MessageId, u64>,
    by_client_id: HashMap<(Role, ClientMessageId), u64>,
    /// Each side's read marker: it has read the other side's messages up to
    /// this seq (inclusive). Only moves forward.
    pub read_up_to: [u64; 2],
    /// Each side's marker history, `(seq, at)`, increasing in both; used to
    /// tell when a message was read.
    read_marks: [Vec<(u64, Timestamp)>; 2],
    /// Whether each side is typing.
    pub typing: [bool; 2],
    /// Every recorded read by an operator (support staff), oldest first.
    /// They change no message, marker or figure.
    pub support_accesses: Vec<SupportAccessed>,
    /// How many events have been applied.
    pub events_applied: u64,
}

impl ConversationState {
    /// Folds `events` into a new state.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a ConversationEvent>) -> Self {
        events.into_iter().fold(Self::default(), evolve)
    }

    /// The seq the next message gets.
    pub fn next_seq(&self) -> u64 {
        self.messages.len() as u64 + 1
    }

    pub fn message(&self, seq: u64) -> Option<&MessageSent> {
        seq.checked_sub(1)
            .and_then(|i| self.messages.get(i as usize))
    }

    pub fn message_by_id(&self, id: &MessageId) -> Option<&MessageSent> {
        self.by_id.get(id).and_then(|&seq| self.message(seq))
    }

    /// The message `role` already sent with this client id, if any.
    pub fn message_by_client_id(
        &self,
        role: Role,
        client_message_id: &ClientMessageId,
    ) -> Option<&MessageSent> {
        self.by_client_id
            .get(&(role, client_message_id.clone()))
            .and_then(|&seq| self.message(seq))
    }

    /// The last message sent by `role` with seq at most `max_seq`.
    pub fn last_message_from(&self, role: Role, max_seq: u64) -> Option<&MessageSent> {
        let end = (max_seq as usize).min(self.messages.len());
        self.messages[..end]
            .iter()
            .rev()
            .find(|m| m.sender.role == role)
    }

    /// How many messages of the other side `role` has not read.
    pub fn unread(&self, role: Role) -> u64 {
        let marker = self.read_up_to[role.index()];
        let from = (marker as usize).min(self.messages.len());
        crate::unread::count(
            self.messages[from..].iter().map(|m| (m.sender.role, m.seq)),
            role,
            marker,
        )
    }

    /// When the recipient of message `seq` read it, if they have.
    pub fn read_at(&self, seq: u64) -> Option<Timestamp> {
        let sender = self.message(seq)?.sender.role;
        let marks = &self.read_marks[sender.other().index()];
        let i = marks.partition_point(|&(s, _)| s < seq);
        marks.get(i).map(|&(_, at)| at)
    }

    /// When `role` last moved its read marker.
    pub fn last_read_at(&self, role: Role) -> Option<Timestamp> {
        self.read_marks[role.index()].last().map(|&(_, at)| at)
    }
}

/// Applies one event. Events are facts: this never fails; an event that does
/// not fit (which `decide` never produces) is applied as far as it can be.
pub fn evolve(mut state: ConversationState, event: &ConversationEvent) -> ConversationState {
    state.events_applied += 1;
    match event {
        ConversationEvent::ConversationStarted(e) => {
            state.info = Some(ConversationInfo::started(e));
        }
        ConversationEvent::MessageSent(e) => {
            if let Some(info) = state.info.as_mut() {
                info.note_message(e);
            }
            state.by_id.insert(e.message_id, e.seq);
            if let Some(cid) = &e.client_message_id {
                state
                    .by_client_id
                    .insert((e.sender.role, cid.clone()), e.seq);
            }
            state.messages.push(e.clone());
        }
        ConversationEvent::MessageRead(e) => {
            let side = e.reader_role.index();
            if e.up_to_seq > state.read_up_to[side] {
                state.read_up_to[side] = e.up_to_seq;
                state.read_marks[side].push((e.up_to_seq, e.at));
            }
            if let Some(info) = state.info.as_mut() {
                info.note_read(e);
            }
        }
        ConversationEvent::TypingStarted(e) => state.typing[e.role.index()] = true,
        ConversationEvent::TypingStopped(e) => state.typing[e.role.index()] = false,
        ConversationEvent::SupportAccessed(e) => state.support_accesses.push(e.clone()),
        ConversationEvent::CurrentProductChanged(e) => {
            if let Some(info) = state.info.as_mut() {
                info.note_current_product(e);
            }
        }
    }
    state
}
