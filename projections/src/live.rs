//! The figures that travel with each notification (unread counts per
//! conversation and per inbox, the participants, the message), kept in
//! memory so that a notification can be published as soon as its event
//! arrives from the log, before the SQLite read models commit it.
//!
//! # Why in memory
//!
//! The relay speaks only after the projections computed an event's figures.
//! Computing them in the SQLite transaction put that transaction's commit
//! (and, every few hundred milliseconds, a WAL checkpoint) on the path of
//! every delivered message. Here they are a function of the events as well,
//! following exactly the rules of `apply` (the SQLite side), so both agree
//! after every event; the tests compare every notification with a recount
//! from the log and with the queries.
//!
//! # Loading and forgetting
//!
//! The cache starts empty. A conversation (or an inbox) that is not in it is
//! loaded from the read models, after the consumer made sure that they
//! committed every event handed to them so far (so what is loaded is exactly
//! the state before the batch in hand). The cache is forgotten as a whole
//! past [`MAX_CACHED`] conversations, at such a point, and refills the same
//! way.
//!
//! A conversation's unread messages are kept as their seqs (per recipient,
//! ascending), so that a read up to a seq can recount what remains, as the
//! SQLite side does with `COUNT(*)`; memory grows with unread messages, not
//! with history.

use std::collections::{HashMap, HashSet, VecDeque};

use rusqlite::{params, Connection, OptionalExtension};
use souk_domain::{unread, ConversationEvent, ConversationId, Role, UserId};
use souk_store::Position;

use crate::apply::Decoded;
use crate::error::ProjectionError;
use crate::views::{MessageView, Notification};

/// Conversations kept before the cache is forgotten.
pub(crate) const MAX_CACHED: usize = 200_000;

/// One conversation's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Figures {
    /// The customer's and the vendor's ids ([`Role::index`]).
    ids: [UserId; 2],
    last_seq: u64,
    read_seq: [u64; 2],
    /// For each side, the seqs of the other side's messages after its read
    /// marker, ascending: its unread messages.
    unread: [VecDeque<u64>; 2],
}

impl Figures {
    fn unread_counts(&self) -> [u64; 2] {
        [self.unread[0].len() as u64, self.unread[1].len() as u64]
    }
}

/// What must be loaded before a batch can be applied.
#[derive(Debug, Default)]
pub(crate) struct Missing {
    conversations: Vec<ConversationId>,
    inboxes: Vec<(UserId, Role)>,
}

impl Missing {
    pub(crate) fn is_empty(&self) -> bool {
        self.conversations.is_empty() && self.inboxes.is_empty()
    }
}

/// What [`load`] read from the read models.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    conversations: Vec<(ConversationId, Option<Figures>)>,
    inboxes: Vec<((UserId, Role), u64)>,
}

/// The cache of figures; owned by the consumer task.
#[derive(Debug, Default)]
pub(crate) struct LiveFigures {
    conversations: HashMap<ConversationId, Figures>,
    /// Conversations that the read models do not have (yet): an event of
    /// one that was never started is skipped, as the SQLite side does.
    absent: HashSet<ConversationId>,
    inboxes: HashMap<(UserId, Role), u64>,
}

impl LiveFigures {
    /// Whether the cache should be forgotten at the next load.
    pub(crate) fn is_full(&self) -> bool {
        self.conversations.len() + self.absent.len() > MAX_CACHED
    }

    /// Forgets everything (it is reloaded on demand).
    pub(crate) fn clear(&mut self) {
        self.conversations.clear();
        self.absent.clear();
        self.inboxes.clear();
    }

    /// What `batch` needs that the cache does not hold.
    pub(crate) fn missing(&self, batch: &[Decoded]) -> Missing {
        let mut missing = Missing::default();
        let mut seen = HashSet::new();
        for (conversation, event) in batch.iter().filter_map(|d| d.item.as_ref()) {
            let known =
                self.conversations.contains_key(conversation) || self.absent.contains(conversation);
            if !known && seen.insert(*conversation) {
                missing.conversations.push(*conversation);
            }
            if let ConversationEvent::ConversationStarted(s) = event {
                for key in [
                    (s.customer.id.clone(), Role::Customer),
                    (s.vendor.id.clone(), Role::Vendor),
                ] {
                    if !self.inboxes.contains_key(&key) && !missing.inboxes.contains(&key) {
                        missing.inboxes.push(key);
                    }
                }
            }
        }
        missing
    }

    /// Adds what [`load`] read. Inboxes already cached are kept: they are
    /// at least as recent.
    pub(crate) fn insert(&mut self, loaded: Loaded) {
        for (key, unread) in loaded.inboxes {
            self.inboxes.entry(key).or_insert(unread);
        }
        for (id, figures) in loaded.conversations {
            match figures {
                Some(f) => {
                    for (side, role) in [(0, Role::Customer), (1, Role::Vendor)] {
                        debug_assert!(
                            self.inboxes.contains_key(&(f.ids[side].clone(), role)),
                            "a loaded conversation comes with its inboxes"
                        );
                    }
                    self.absent.remove(&id);
                    self.conversations.insert(id, f);
                }
                None => {
                    self.absent.insert(id);
                }
            }
        }
    }

    fn total(&self, id: &UserId, role: Role) -> u64 {
        self.inboxes.get(&(id.clone(), role)).copied().unwrap_or(0)
    }

    fn inbox_add(&mut self, id: &UserId, role: Role, delta: i64) {
        let n = self.inboxes.entry((id.clone(), role)).or_insert(0);
        *n = n.saturating_add_signed(delta);
    }

    /// Applies one event (whose conversation and inboxes were loaded, see
    /// [`LiveFigures::missing`]) and returns its notification; `None` for
    /// an event of a conversation that was never started (or of a stream
    /// that is not a conversation).
    pub(crate) fn apply(&mut self, decoded: &Decoded) -> Option<Notification> {
        let (conversation, event) = decoded.item.as_ref()?;
        let mut message = None;
        match event {
            ConversationEvent::ConversationStarted(s) => {
                if !self.conversations.contains_key(conversation) {
                    // The first start stands; a second one changes nothing.
                    self.absent.remove(conversation);
                    self.conversations.insert(
                        *conversation,
                        Figures {
                            ids: [s.customer.id.clone(), s.vendor.id.clone()],
                            last_seq: 0,
                            read_seq: [0, 0],
                            unread: Default::default(),
                        },
                    );
                    self.inbox_add(&s.customer.id, Role::Customer, 0);
                    self.inbox_add(&s.vendor.id, Role::Vendor, 0);
                }
            }
            ConversationEvent::MessageSent(m) => {
                let f = self.conversations.get_mut(conversation)?;
                // A seq recorded before is a duplicate: the first stands.
                if m.seq > f.last_seq {
                    f.last_seq = m.seq;
                    let to = m.sender.role.other();
                    if unread::is_unread(m.sender.role, m.seq, to, f.read_seq[to.index()]) {
                        f.unread[to.index()].push_back(m.seq);
                        let recipient = f.ids[to.index()].clone();
                        self.inbox_add(&recipient, to, 1);
                    }
                    message = Some(MessageView::from_event(*conversation, m));
                }
            }
            ConversationEvent::MessageRead(r) => {
                let f = self.conversations.get_mut(conversation)?;
                let side = r.reader_role.index();
                if r.up_to_seq > f.read_seq[side] {
                    f.read_seq[side] = r.up_to_seq;
                    let before = f.unread[side].len();
                    let (reader, sender) = (r.reader_role, r.reader_role.other());
                    while f.unread[side]
                        .front()
                        .is_some_and(|s| !unread::is_unread(sender, *s, reader, r.up_to_seq))
                    {
                        f.unread[side].pop_front();
                    }
                    let delta = before - f.unread[side].len();
                    if delta > 0 {
                        let reader = f.ids[side].clone();
                        self.inbox_add(&reader, r.reader_role, -(delta as i64));
                    }
                }
            }
            // No figure changes: the product discussed moves no count.
            ConversationEvent::TypingStarted(_)
            | ConversationEvent::TypingStopped(_)
            | ConversationEvent::SupportAccessed(_)
            | ConversationEvent::CurrentProductChanged(_) => {}
        }
        let f = self.conversations.get(conversation)?;
        Some(Notification {
            position: decoded.position,
            conversation_id: *conversation,
            customer_id: f.ids[0].clone(),
            vendor_id: f.ids[1].clone(),
            event: event.clone(),
            message,
            unread: f.unread_counts(),
            total_unread: [
                self.total(&f.ids[0], Role::Customer),
                self.total(&f.ids[1], Role::Vendor),
            ],
        })
    }
}

/// Reads what is missing from the read models (a reader connection, which
/// sees their last commit).
pub(crate) fn load(conn: &Connection, missing: &Missing) -> Result<Loaded, ProjectionError> {
    let mut loaded = Loaded::default();
    let mut inboxes: Vec<(UserId, Role)> = missing.inboxes.clone();
    for id in &missing.conversations {
        let figures = load_conversation(conn, *id)?;
        if let Some(f) = &figures {
            for (side, role) in [(0, Role::Customer), (1, Role::Vendor)] {
                let key = (f.ids[side].clone(), role);
                if !inboxes.contains(&key) {
                    inboxes.push(key);
                }
            }
        }
        loaded.conversations.push((*id, figures));
    }
    let mut stmt =
        conn.prepare_cached("SELECT unread FROM inboxes WHERE user_id = ?1 AND role = ?2")?;
    for key in inboxes {
        let n: Option<i64> = stmt
            .query_row(params![key.0.as_str(), key.1.as_str()], |r| r.get(0))
            .optional()?;
        loaded.inboxes.push((key, n.unwrap_or(0).max(0) as u64));
    }
    Ok(loaded)
}

fn load_conversation(
    conn: &Connection,
    id: ConversationId,
) -> Result<Option<Figures>, ProjectionError> {
    let key = id.to_string();
    let row = conn
        .prepare_cached(
            "SELECT customer_id, vendor_id, last_seq, customer_read_seq, vendor_read_seq
             FROM conversations WHERE id = ?1",
        )?
        .query_row([&key], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .optional()?;
    let Some((customer, vendor, last_seq, customer_read, vendor_read)) = row else {
        return Ok(None);
    };
    let parse = |s: &str| {
        UserId::parse(s).map_err(|e| ProjectionError::Corrupt(format!("user id {s:?}: {e}")))
    };
    let read_seq = [customer_read as u64, vendor_read as u64];
    let mut unread: [VecDeque<u64>; 2] = Default::default();
    for role in [Role::Customer, Role::Vendor] {
        // The other side's messages after this side's marker.
        let mut stmt = conn.prepare_cached(
            "SELECT seq FROM messages
             WHERE conversation_id = ?1 AND seq > ?2 AND sender_role = ?3
             ORDER BY seq",
        )?;
        let seqs = stmt.query_map(
            params![key, read_seq[role.index()] as i64, role.other().as_str()],
            |r| r.get::<_, i64>(0),
        )?;
        for seq in seqs {
            unread[role.index()].push_back(seq? as u64);
        }
    }
    Ok(Some(Figures {
        ids: [parse(&customer)?, parse(&vendor)?],
        last_seq: last_seq as u64,
        read_seq,
        unread,
    }))
}

/// The last position in `batch`, or `after` when it is empty.
pub(crate) fn last_position(batch: &[Decoded], after: Position) -> Position {
    batch.last().map_or(after, |d| d.position)
}
