//! [`CompactState`]: what a conversation's actor keeps in memory to decide,
//! and [`Facts`], what [`decide`](crate::decide()) asks of a state.
//!
//! [`ConversationState`](crate::ConversationState) keeps every message whole
//! (text, product card, names): right for `souk replay` and for tests, but an
//! actor holding it grows with its conversation's history, about half a
//! kilobyte per message (a 20,000-message conversation held 20 MB). To
//! decide, an actor needs far less:
//! - the next `seq`, the read markers, who is typing, the participants;
//! - for each message, its id (a read names one) and its side (unread
//!   counts, and which message a read marker stops at): 16 bytes and one
//!   bit;
//! - the `clientMessageId`s recently used, to recognise a retried send: the
//!   last [`IDEMPOTENCY_WINDOW`] of the conversation (a retry comes seconds
//!   after its original, not a thousand messages later);
//! - the conversation's last [`SUPPORT_ACCESS_MEMORY`] support accesses
//!   (operator, reason, time), to recognise a repeated access;
//! - nothing of the text, products or names of past messages.
//!
//! So a 20,000-message conversation costs an actor under 1 MB (its ids with
//! a growing vector's slack, and the client-id window) instead of 20 MB. The two states answer [`Facts`] alike for every history within the
//! window, which the property tests check by deciding every generated
//! command against both.

use std::collections::{HashMap, VecDeque};

use crate::event::ConversationEvent;
use crate::ids::{ClientMessageId, MessageId, Role, UserId};
use crate::state::{ConversationInfo, ConversationState};
use crate::support::{SupportReason, SUPPORT_ACCESS_MEMORY};
use crate::time::Timestamp;

/// How many of a conversation's most recent `clientMessageId`s are
/// remembered: a retry with an older one is recorded as a new message.
pub const IDEMPOTENCY_WINDOW: usize = 1000;

/// What [`decide`](crate::decide()) needs to know of a conversation.
pub trait Facts {
    fn info(&self) -> Option<&ConversationInfo>;
    fn is_typing(&self, role: Role) -> bool;
    /// `role`'s read marker: it has read the other side up to this seq.
    fn read_up_to(&self, role: Role) -> u64;
    /// The seq the next message gets.
    fn next_seq(&self) -> u64;
    /// The seq of the message `role` sent with this client id, if known.
    fn client_message_seq(&self, role: Role, client_message_id: &ClientMessageId) -> Option<u64>;
    /// The seq of the message with this id.
    fn seq_of(&self, id: &MessageId) -> Option<u64>;
    /// The last message sent by `role` with seq at most `max_seq`: its seq
    /// and id.
    fn last_message_from(&self, role: Role, max_seq: u64) -> Option<(u64, MessageId)>;
    /// When `operator` last recorded an access for `reason`, among the
    /// conversation's last [`SUPPORT_ACCESS_MEMORY`] support accesses.
    fn last_support_access(&self, operator: &UserId, reason: &SupportReason) -> Option<Timestamp>;
}

impl Facts for ConversationState {
    fn info(&self) -> Option<&ConversationInfo> {
        self.info.as_ref()
    }

    fn is_typing(&self, role: Role) -> bool {
        self.typing[role.index()]
    }

    fn read_up_to(&self, role: Role) -> u64 {
        self.read_up_to[role.index()]
    }

    fn next_seq(&self) -> u64 {
        ConversationState::next_seq(self)
    }

    fn client_message_seq(&self, role: Role, client_message_id: &ClientMessageId) -> Option<u64> {
        self.message_by_client_id(role, client_message_id)
            .map(|m| m.seq)
    }

    fn seq_of(&self, id: &MessageId) -> Option<u64> {
        self.message_by_id(id).map(|m| m.seq)
    }

    fn last_message_from(&self, role: Role, max_seq: u64) -> Option<(u64, MessageId)> {
        ConversationState::last_message_from(self, role, max_seq).map(|m| (m.seq, m.message_id))
    }

    fn last_support_access(&self, operator: &UserId, reason: &SupportReason) -> Option<Timestamp> {
        self.support_accesses
            .iter()
            .rev()
            .take(SUPPORT_ACCESS_MEMORY)
            .find(|a| &a.operator.id == operator && &a.reason == reason)
            .map(|a| a.at)
    }
}

/// A conversation as its actor keeps it: see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactState {
    pub info: Option<ConversationInfo>,
    /// Each message's id: `ids[seq - 1]`.
    ids: Vec<MessageId>,
    /// Each message's side, one bit a message (set: the vendor's).
    vendor_bits: Vec<u64>,
    /// The recent client ids, with their message's seq, and their order of
    /// arrival (oldest first) to forget the oldest.
    client_ids: HashMap<(Role, ClientMessageId), u64>,
    client_order: VecDeque<(Role, ClientMessageId)>,
    /// Each side's read marker (see [`ConversationState::read_up_to`]).
    pub read_up_to: [u64; 2],
    /// When each side's marker last moved.
    last_read_at: [Option<Timestamp>; 2],
    /// Whether each side is typing.
    pub typing: [bool; 2],
    /// The last [`SUPPORT_ACCESS_MEMORY`] support accesses, oldest first:
    /// who, why, when.
    support_accesses: VecDeque<(UserId, SupportReason, Timestamp)>,
    /// How many events have been applied.
    pub events_applied: u64,
}

impl CompactState {
    /// Folds `events` into a new state.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a ConversationEvent>) -> Self {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }

    /// The seq of the last message (0 when there is none).
    pub fn last_seq(&self) -> u64 {
        self.ids.len() as u64
    }

    /// The id of message `seq`.
    pub fn message_id(&self, seq: u64) -> Option<MessageId> {
        seq.checked_sub(1)
            .and_then(|i| self.ids.get(i as usize))
            .copied()
    }

    /// The side of message `seq`.
    pub fn sender_role(&self, seq: u64) -> Option<Role> {
        (1..=self.last_seq())
            .contains(&seq)
            .then(|| self.side_of(seq - 1))
    }

    /// How many messages of the other side `role` has not read.
    pub fn unread(&self, role: Role) -> u64 {
        let from = self.read_up_to[role.index()].min(self.last_seq());
        let vendor = self.count_vendor(from, self.last_seq());
        let all = self.last_seq() - from;
        match role {
            // The customer's unread are the vendor's messages, and back.
            Role::Customer => vendor,
            Role::Vendor => all - vendor,
        }
    }

    /// When `role` last moved its read marker.
    pub fn last_read_at(&self, role: Role) -> Option<Timestamp> {
        self.last_read_at[role.index()]
    }

    /// The bytes this state holds on the heap, roughly (for a memory budget
    /// of live actors).
    pub fn heap_bytes(&self) -> usize {
        let client_entry = std::mem::size_of::<(Role, ClientMessageId)>() + 64 + 16;
        let access_entry = std::mem::size_of::<(UserId, SupportReason, Timestamp)>();
        let accesses: usize = self
            .support_accesses
            .iter()
            .map(|(id, reason, _)| access_entry + id.as_str().len() + reason.as_str().len())
            .sum();
        self.ids.capacity() * std::mem::size_of::<MessageId>()
            + self.vendor_bits.capacity() * 8
            + self.client_order.len() * client_entry * 2
            + accesses
            + 512
    }

    /// Applies one event (as [`crate::evolve`] does for the full state).
    pub fn apply(&mut self, event: &ConversationEvent) {
        self.events_applied += 1;
        match event {
            ConversationEvent::ConversationStarted(e) => {
                self.info = Some(ConversationInfo::started(e));
            }
            ConversationEvent::MessageSent(e) => {
                if let Some(info) = self.info.as_mut() {
                    info.note_message(e);
                }
                let i = self.ids.len();
                self.ids.push(e.message_id);
                if i.is_multiple_of(64) {
                    self.vendor_bits.push(0);
                }
                if e.sender.role == Role::Vendor {
                    self.vendor_bits[i / 64] |= 1 << (i % 64);
                }
                if let Some(cid) = &e.client_message_id {
                    self.remember_client_id(e.sender.role, cid.clone(), e.seq);
                }
            }
            ConversationEvent::MessageRead(e) => {
                let side = e.reader_role.index();
                if e.up_to_seq > self.read_up_to[side] {
                    self.read_up_to[side] = e.up_to_seq;
                    self.last_read_at[side] = Some(e.at);
                }
                if let Some(info) = self.info.as_mut() {
                    info.note_read(e);
                }
            }
            ConversationEvent::TypingStarted(e) => self.typing[e.role.index()] = true,
            ConversationEvent::TypingStopped(e) => self.typing[e.role.index()] = false,
            ConversationEvent::SupportAccessed(e) => {
                self.support_accesses
                    .push_back((e.operator.id.clone(), e.reason.clone(), e.at));
                if self.support_accesses.len() > SUPPORT_ACCESS_MEMORY {
                    self.support_accesses.pop_front();
                }
            }
            ConversationEvent::CurrentProductChanged(e) => {
                if let Some(info) = self.info.as_mut() {
                    info.note_current_product(e);
                }
            }
        }
    }

    fn remember_client_id(&mut self, role: Role, cid: ClientMessageId, seq: u64) {
        let key = (role, cid);
        if self.client_ids.insert(key.clone(), seq).is_none() {
            self.client_order.push_back(key);
        }
        while self.client_order.len() > IDEMPOTENCY_WINDOW {
            if let Some(oldest) = self.client_order.pop_front() {
                self.client_ids.remove(&oldest);
            }
        }
    }

    /// The side of the message at index `i` (seq `i + 1`).
    fn side_of(&self, i: u64) -> Role {
        let i = i as usize;
        if self.vendor_bits[i / 64] >> (i % 64) & 1 == 1 {
            Role::Vendor
        } else {
            Role::Customer
        }
    }

    /// Vendor messages among seqs `from + 1 ..= to`.
    fn count_vendor(&self, from: u64, to: u64) -> u64 {
        let (mut i, end) = (from as usize, to as usize);
        let mut n = 0u64;
        while i < end {
            let (word, bit) = (i / 64, i % 64);
            let span = (64 - bit).min(end - i);
            let mask = if span == 64 {
                u64::MAX
            } else {
                ((1u64 << span) - 1) << bit
            };
            n += u64::from((self.vendor_bits[word] & mask).count_ones());
            i += span;
        }
        n
    }
}

impl Facts for CompactState {
    fn info(&self) -> Option<&ConversationInfo> {
        self.info.as_ref()
    }

    fn is_typing(&self, role: Role) -> bool {
        self.typing[role.index()]
    }

    fn read_up_to(&self, role: Role) -> u64 {
        self.read_up_to[role.index()]
    }

    fn next_seq(&self) -> u64 {
        self.last_seq() + 1
    }

    fn client_message_seq(&self, role: Role, client_message_id: &ClientMessageId) -> Option<u64> {
        self.client_ids
            .get(&(role, client_message_id.clone()))
            .copied()
    }

    fn seq_of(&self, id: &MessageId) -> Option<u64> {
        // Newest first: a read names a recent message nearly always.
        self.ids.iter().rposition(|m| m == id).map(|i| i as u64 + 1)
    }

    fn last_message_from(&self, role: Role, max_seq: u64) -> Option<(u64, MessageId)> {
        let end = max_seq.min(self.last_seq());
        (0..end)
            .rev()
            .find(|&i| self.side_of(i) == role)
            .map(|i| (i + 1, self.ids[i as usize]))
    }

    fn last_support_access(&self, operator: &UserId, reason: &SupportReason) -> Option<Timestamp> {
        self.support_accesses
            .iter()
            .rev()
            .find(|(id, r, _)| id == operator && r == reason)
            .map(|&(_, _, at)| at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_vendor_bits_across_words() {
        let mut s = CompactState::default();
        // 200 messages, every third from the vendor.
        for i in 0..200usize {
            if i.is_multiple_of(64) {
                s.vendor_bits.push(0);
            }
            if i % 3 == 0 {
                s.vendor_bits[i / 64] |= 1 << (i % 64);
            }
            s.ids.push(MessageId::new());
        }
        for (from, to) in [
            (0, 200),
            (5, 70),
            (63, 65),
            (64, 128),
            (100, 100),
            (0, 1),
            (199, 200),
        ] {
            let expected = (from..to).filter(|i| i % 3 == 0).count() as u64;
            assert_eq!(
                s.count_vendor(from as u64, to as u64),
                expected,
                "{from}..{to}"
            );
        }
    }
}
