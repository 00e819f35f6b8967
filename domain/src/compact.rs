//! [`CompactState`]: what a conversation's actor keeps in memory to decide,
//! and [`Facts`], what [`decide`](crate::decide()) asks of a state.
//!
//! [`ConversationState`](crate::ConversationState) keeps every message whole
//! (text, product card, names): right for `souk replay` and for tests, but an
//! actor holding it grows with its conversation's history, about half a
//! kilobyte per message (a 20,000-message conversation held 20 MB). To
//! decide, an actor needs far less, and none of it grows with the history:
//! - the next `seq`, the read markers, who is typing, the participants;
//! - how many messages each side sent, and how many of the other side's each
//!   side has read (the unread counts);
//! - the id and side of the last [`RECENT_MESSAGES`] messages: a read names
//!   a message by id, nearly always a recent one;
//! - the `clientMessageId`s recently used, to recognise a retried send: the
//!   last [`IDEMPOTENCY_WINDOW`] of the conversation (a retry comes seconds
//!   after its original, not a thousand messages later);
//! - the conversation's last [`SUPPORT_ACCESS_MEMORY`] support accesses
//!   (operator, reason, time), to recognise a repeated access;
//! - nothing of the text, products or names of past messages.
//!
//! A read of an older message (or of an id the conversation does not have)
//! is looked up in the log: before deciding a batch, the actor asks
//! [`CompactState::recall_for`] which messages older than the window the
//! batch's reads need, reads its stream backwards feeding each message to the
//! [`Recall`], and hands the result to [`CompactState::remember`]. `decide`
//! stays pure: it asks the state, which answers from its window or from what
//! was recalled. [`CompactState::trim`] then forgets the recalled messages
//! and brings the window back to its size; until then the window only grows,
//! so whatever the recall was asked for stays answerable for the whole batch.
//!
//! So a conversation's actor holds under 60 KB whatever its length (by its
//! own count, [`CompactState::heap_bytes`]: the two windows, client ids kept
//! as 16-byte keys), where it held 20 MB for 20,000 messages with their
//! text, and then 16 bytes and a bit more per message with ids and sides of
//! all, plus about 224 KB of client id strings. The two states answer [`Facts`] alike for every history
//! within the idempotency window, which the property tests check by deciding
//! every generated command against both, with a small window and the recall
//! the actor does.

use std::collections::{HashMap, VecDeque};

use crate::command::Command;
use crate::event::ConversationEvent;
use crate::ids::{ClientMessageId, MessageId, Role, UserId};
use crate::state::{ConversationInfo, ConversationState};
use crate::support::{SupportReason, SUPPORT_ACCESS_MEMORY};
use crate::time::Timestamp;

mod recall;
pub use recall::{OldMessage, Recall};

/// How many of a conversation's most recent `clientMessageId`s are
/// remembered: a retry with an older one is recorded as a new message.
pub const IDEMPOTENCY_WINDOW: usize = 1000;

/// How many of a conversation's most recent messages an actor knows by id
/// (between batches): a read of an older one is looked up in the log.
pub const RECENT_MESSAGES: usize = 1000;

/// A side's `clientMessageId` as the window keeps it: 16 bytes whatever its
/// length (up to 64 characters), a name-based UUID (SHA-1) of the side and
/// the id. Two different ids of a side getting the same key would take
/// the second send for a retry of the first; by chance that is about as
/// likely as two random UUIDs being equal, and a key made to collide on
/// purpose only turns its maker's own message into a retry of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct ClientKey(uuid::Uuid);

/// The namespace of [`ClientKey`]s.
const CLIENT_KEY_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x8d3f_27c1_5b0e_4a96_b1d2_6e7f_0c4a_93e5);

impl ClientKey {
    fn of(role: Role, id: &ClientMessageId) -> Self {
        let mut name = Vec::with_capacity(id.as_str().len() + 1);
        name.push(role.index() as u8);
        name.extend_from_slice(id.as_str().as_bytes());
        Self(uuid::Uuid::new_v5(&CLIENT_KEY_NAMESPACE, &name))
    }
}

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactState {
    pub info: Option<ConversationInfo>,
    /// The most recent messages, oldest first: id and side. The last one
    /// has seq [`last_seq`](Self::last_seq). At most `window` between
    /// batches (see [`trim`](Self::trim)).
    recent: VecDeque<(MessageId, Role)>,
    /// How many messages `recent` keeps after a trim.
    window: usize,
    /// How many messages each side sent (customer 0, vendor 1).
    sent: [u64; 2],
    /// How many of them are older than `recent`.
    sent_before_recent: [u64; 2],
    /// How many of the other side's messages each side has read: those at
    /// or before its marker.
    read_count: [u64; 2],
    /// The recent client ids (by their [`ClientKey`]), with their message's
    /// seq, and their order of arrival (oldest first) to forget the oldest.
    client_ids: HashMap<ClientKey, u64>,
    client_order: VecDeque<ClientKey>,
    /// Each side's read marker (see [`ConversationState::read_up_to`]).
    pub read_up_to: [u64; 2],
    /// When each side's marker last moved.
    last_read_at: [Option<Timestamp>; 2],
    /// Whether each side is typing.
    pub typing: [bool; 2],
    /// The last [`SUPPORT_ACCESS_MEMORY`] support accesses, oldest first:
    /// who, why, when.
    support_accesses: VecDeque<(UserId, SupportReason, Timestamp)>,
    /// Messages older than `recent` looked up in the log for the batch
    /// being decided; empty between batches.
    recalled: Vec<OldMessage>,
    /// An event moved a marker to a message older than `recent` that was
    /// not recalled, so an unread count is unknown: the state must be folded
    /// again from the log (see [`is_complete`](Self::is_complete)).
    incomplete: bool,
    /// How many events have been applied.
    pub events_applied: u64,
}

impl Default for CompactState {
    fn default() -> Self {
        Self::with_window(RECENT_MESSAGES)
    }
}

impl CompactState {
    /// An empty state keeping the last `window` messages (at least one)
    /// between batches; the default is [`RECENT_MESSAGES`].
    pub fn with_window(window: usize) -> Self {
        Self {
            info: None,
            recent: VecDeque::new(),
            window: window.max(1),
            sent: [0; 2],
            sent_before_recent: [0; 2],
            read_count: [0; 2],
            client_ids: HashMap::new(),
            client_order: VecDeque::new(),
            read_up_to: [0; 2],
            last_read_at: [None; 2],
            typing: [false; 2],
            support_accesses: VecDeque::new(),
            recalled: Vec::new(),
            incomplete: false,
            events_applied: 0,
        }
    }

    /// Folds `events` into a new state, then trims it.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a ConversationEvent>) -> Self {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state.trim();
        state
    }

    /// The seq of the last message (0 when there is none).
    pub fn last_seq(&self) -> u64 {
        self.sent[0] + self.sent[1]
    }

    /// The seq of the oldest message known by id (`last_seq() + 1` when
    /// none is).
    pub fn first_recent_seq(&self) -> u64 {
        self.last_seq() + 1 - self.recent.len() as u64
    }

    /// The id of message `seq`, if it is among the recent ones.
    pub fn message_id(&self, seq: u64) -> Option<MessageId> {
        self.recent_index(seq).map(|i| self.recent[i].0)
    }

    /// The side of message `seq`, if it is among the recent ones.
    pub fn sender_role(&self, seq: u64) -> Option<Role> {
        self.recent_index(seq).map(|i| self.recent[i].1)
    }

    /// How many messages of the other side `role` has not read
    /// ([`crate::unread`]: the other side's messages after its marker, kept
    /// here as the other side's count less those at or before the marker;
    /// the property tests compare it with [`ConversationState::unread`]).
    ///
    /// [`ConversationState::unread`]: crate::ConversationState::unread
    pub fn unread(&self, role: Role) -> u64 {
        self.sent[role.other().index()].saturating_sub(self.read_count[role.index()])
    }

    /// When `role` last moved its read marker.
    pub fn last_read_at(&self, role: Role) -> Option<Timestamp> {
        self.last_read_at[role.index()]
    }

    /// False when an event could not be applied exactly (a marker moved to
    /// an old message that was not recalled): the state must then be folded
    /// again from the log before anything is decided on it.
    pub fn is_complete(&self) -> bool {
        !self.incomplete
    }

    /// The bytes this state holds on the heap, roughly (for a memory budget
    /// of live actors, and the `souk_actor_state_bytes` gauge). Bounded
    /// whatever the conversation's length: the windows of messages, client
    /// ids and support accesses, counted by what they hold (a buffer's
    /// spare room is not counted, so a copy of the state weighs the same).
    pub fn heap_bytes(&self) -> usize {
        // A key in the map with its seq (and the map's control byte), and
        // in the queue.
        let client_entry = 2 * std::mem::size_of::<ClientKey>() + 8 + 1;
        let access_entry = std::mem::size_of::<(UserId, SupportReason, Timestamp)>();
        let accesses: usize = self
            .support_accesses
            .iter()
            .map(|(id, reason, _)| access_entry + id.as_str().len() + reason.as_str().len())
            .sum();
        self.recent.len() * std::mem::size_of::<(MessageId, Role)>()
            + self.recalled.len() * std::mem::size_of::<OldMessage>()
            + self.client_order.len() * client_entry
            + accesses
            + 512
    }

    /// Applies one event (as [`crate::evolve`] does for the full state).
    /// Nothing is forgotten here: see [`trim`](Self::trim).
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
                self.recent.push_back((e.message_id, e.sender.role));
                self.sent[e.sender.role.index()] += 1;
                if let Some(cid) = &e.client_message_id {
                    self.remember_client_id(ClientKey::of(e.sender.role, cid), e.seq);
                }
            }
            ConversationEvent::MessageRead(e) => {
                let side = e.reader_role.index();
                if e.up_to_seq > self.read_up_to[side] {
                    self.read_up_to[side] = e.up_to_seq;
                    self.last_read_at[side] = Some(e.at);
                    match self.count_up_to(e.reader_role.other(), e.up_to_seq) {
                        Some(n) => self.read_count[side] = n,
                        None => self.incomplete = true,
                    }
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

    /// Ends a batch: forgets what was recalled for it and the messages
    /// beyond the window. Also after folding a stream.
    pub fn trim(&mut self) {
        self.recalled = Vec::new();
        while self.recent.len() > self.window {
            if let Some((_, role)) = self.recent.pop_front() {
                self.sent_before_recent[role.index()] += 1;
            }
        }
        // A fold of a long stream held every message for a moment.
        if self.recent.capacity() > 4 * self.window {
            self.recent.shrink_to(self.window);
        }
    }

    /// What the log must be asked before `commands` are decided, one after
    /// another, on this state: the messages older than the window that
    /// their reads name or stop at. `None` when the window answers them all.
    pub fn recall_for<'a>(
        &self,
        commands: impl IntoIterator<Item = &'a Command>,
    ) -> Option<Recall> {
        let mut recall = Recall::new(self.first_recent_seq(), self.sent_before_recent);
        for command in commands {
            match command {
                Command::MarkRead { by, up_to, .. } => match self.recent_seq_of(up_to) {
                    None => recall.find(*up_to, by.role, self.read_up_to[by.role.index()]),
                    Some(seq) => self.need_older(&mut recall, by.role, seq),
                },
                Command::MarkAllRead { by, .. } => {
                    self.need_older(&mut recall, by.role, self.last_seq());
                }
                _ => {}
            }
        }
        recall.wants_anything().then_some(recall)
    }

    /// What the log gave for [`recall_for`](Self::recall_for): answered by
    /// the state until the next [`trim`](Self::trim).
    pub fn remember(&mut self, recall: Recall) {
        self.recalled.extend(recall.into_found());
    }

    /// `reader` reads up to `seq`, a recent message: when no message of the
    /// other side is recent up to there but some are older and unread, the
    /// last of them is needed.
    fn need_older(&self, recall: &mut Recall, reader: Role, seq: u64) {
        let other = reader.other();
        let first = self.first_recent_seq();
        if self.last_recent_from(other, seq).is_some()
            || self.sent_before_recent[other.index()] == 0
            || self.read_up_to[reader.index()] + 1 >= first
        {
            return;
        }
        recall.last_from(other, first - 1);
    }

    fn recent_index(&self, seq: u64) -> Option<usize> {
        let first = self.first_recent_seq();
        (first..=self.last_seq())
            .contains(&seq)
            .then(|| (seq - first) as usize)
    }

    fn recent_seq_of(&self, id: &MessageId) -> Option<u64> {
        // Newest first: a read names a recent message nearly always.
        let first = self.first_recent_seq();
        self.recent
            .iter()
            .rposition(|(m, _)| m == id)
            .map(|i| first + i as u64)
    }

    /// The last recent message of `role` with seq at most `max_seq`.
    fn last_recent_from(&self, role: Role, max_seq: u64) -> Option<(u64, MessageId)> {
        let first = self.first_recent_seq();
        let end = max_seq.min(self.last_seq());
        if end < first {
            return None;
        }
        self.recent
            .range(..=(end - first) as usize)
            .rposition(|(_, r)| *r == role)
            .map(|i| (first + i as u64, self.recent[i].0))
    }

    /// How many messages of `side` have seq at most `seq`, when known.
    fn count_up_to(&self, side: Role, seq: u64) -> Option<u64> {
        let first = self.first_recent_seq();
        if seq >= self.last_seq() {
            return Some(self.sent[side.index()]);
        }
        if seq + 1 >= first {
            let within = (seq + 1 - first) as usize;
            let recent = self
                .recent
                .range(..within)
                .filter(|(_, r)| *r == side)
                .count() as u64;
            return Some(self.sent_before_recent[side.index()] + recent);
        }
        self.recalled
            .iter()
            .find(|m| m.seq == seq && m.role == side)
            .map(|m| m.ordinal)
    }

    fn remember_client_id(&mut self, key: ClientKey, seq: u64) {
        if self.client_ids.insert(key, seq).is_none() {
            self.client_order.push_back(key);
        }
        while self.client_order.len() > IDEMPOTENCY_WINDOW {
            if let Some(oldest) = self.client_order.pop_front() {
                self.client_ids.remove(&oldest);
            }
        }
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
            .get(&ClientKey::of(role, client_message_id))
            .copied()
    }

    fn seq_of(&self, id: &MessageId) -> Option<u64> {
        self.recent_seq_of(id)
            .or_else(|| self.recalled.iter().find(|m| &m.id == id).map(|m| m.seq))
    }

    fn last_message_from(&self, role: Role, max_seq: u64) -> Option<(u64, MessageId)> {
        if let Some(found) = self.last_recent_from(role, max_seq) {
            return Some(found);
        }
        if self.sent_before_recent[role.index()] == 0 {
            return None;
        }
        // Older: the recall holds the answer to every question the batch
        // asks (see `recall_for`), and no message of `role` between it and
        // `max_seq`, so the latest recalled one is it.
        self.recalled
            .iter()
            .filter(|m| m.role == role && m.seq <= max_seq)
            .max_by_key(|m| m.seq)
            .map(|m| (m.seq, m.id))
    }

    fn last_support_access(&self, operator: &UserId, reason: &SupportReason) -> Option<Timestamp> {
        self.support_accesses
            .iter()
            .rev()
            .find(|(id, r, _)| id == operator && r == reason)
            .map(|&(_, _, at)| at)
    }
}
