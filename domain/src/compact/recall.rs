//! [`Recall`]: the messages older than an actor's window that a batch of
//! reads needs, found by reading the conversation's stream backwards.
//!
//! The actor feeds every message of the stream to [`Recall::see`], newest
//! first, until it answers `true` (or the stream's start). What is found is
//! what the log says, with each message's rank among its side's messages
//! (how many that side had sent up to it): an unread count needs it when a
//! marker moves there. Pure: the reading is the actor's.
//!
//! An id the conversation does not have would be looked for down to the
//! stream's start. Message ids are v7 UUIDs, made by the node just before it
//! records the message, so an id's time bounds where its message can be:
//! once the reading reaches events recorded more than an hour
//! ([`ID_TIME_MARGIN_MILLIS`]) before that time, the message is not further
//! down ([`Recall::recorded`]).

use crate::ids::{MessageId, Role};
use crate::time::Timestamp;

/// How much later than an event's recording time an id's time may be for
/// its message to be recorded before that event: twice the clock skew
/// allowed between nodes (30 minutes), once between the node that made the
/// id and the one that recorded it, once between recording nodes.
const ID_TIME_MARGIN_MILLIS: i64 = 60 * 60 * 1000;

/// The time in a v7 id, in Unix milliseconds; `None` for other UUIDs (no
/// server made them, but nothing is assumed of them).
fn id_millis(id: &MessageId) -> Option<i64> {
    let uuid = id.uuid();
    if uuid.get_version() != Some(uuid::Version::SortRand) {
        return None;
    }
    let (secs, nanos) = uuid.get_timestamp()?.to_unix();
    i64::try_from(secs)
        .ok()?
        .checked_mul(1000)?
        .checked_add(i64::from(nanos / 1_000_000))
}

/// A message older than the window, as the log has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OldMessage {
    pub seq: u64,
    pub id: MessageId,
    pub role: Role,
    /// How many messages of `role` have seq at most `seq`.
    pub ordinal: u64,
}

/// What a batch needs from the log, and what was found of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recall {
    /// The oldest message the state knows by id: only older ones are
    /// looked at.
    first_recent_seq: u64,
    /// How many messages each side sent before it.
    sent_before: [u64; 2],
    /// How many of those were seen so far (the newest ones).
    seen: [u64; 2],
    /// Ids to find, each with the side reading it and its marker then.
    ids: Vec<(MessageId, Role, u64)>,
    /// The last message of a side with seq at most the given one.
    last: Vec<(Role, u64)>,
    found: Vec<OldMessage>,
}

impl Recall {
    /// Nothing asked yet, for a state whose window starts at
    /// `first_recent_seq` after `sent_before` messages of each side.
    pub(crate) fn new(first_recent_seq: u64, sent_before: [u64; 2]) -> Self {
        Self {
            first_recent_seq,
            sent_before,
            seen: [0; 2],
            ids: Vec::new(),
            last: Vec::new(),
            found: Vec::new(),
        }
    }

    /// Asks for message `id`, read by `reader` whose marker is at `marker`
    /// (and, when it is the reader's own message, the other side's last one
    /// at or before it that the marker has not passed).
    pub(crate) fn find(&mut self, id: MessageId, reader: Role, marker: u64) {
        if !self.ids.iter().any(|(i, r, _)| *i == id && *r == reader) {
            self.ids.push((id, reader, marker));
        }
    }

    /// Asks for the last message of `role` with seq at most `max_seq`.
    pub(crate) fn last_from(&mut self, role: Role, max_seq: u64) {
        if !self.last.contains(&(role, max_seq)) {
            self.last.push((role, max_seq));
        }
    }

    pub(crate) fn wants_anything(&self) -> bool {
        !self.ids.is_empty() || !self.last.is_empty()
    }

    /// Whether everything asked was found (or cannot be found any more).
    pub fn is_done(&self) -> bool {
        !self.wants_anything()
    }

    /// Where to stop reading backwards: messages at or after this seq are
    /// known to the state already.
    pub fn first_recent_seq(&self) -> u64 {
        self.first_recent_seq
    }

    /// The events still to be read were recorded before `at` (give or take
    /// the clock skew): ids whose time is later than `at` by more than
    /// [`ID_TIME_MARGIN_MILLIS`] are not among them and are no longer looked
    /// for.
    /// Answers whether everything asked has been found (or given up).
    pub fn recorded(&mut self, at: Timestamp) -> bool {
        let limit = at.millis().saturating_add(ID_TIME_MARGIN_MILLIS);
        self.ids
            .retain(|(id, _, _)| id_millis(id).is_none_or(|t| t <= limit));
        self.is_done()
    }

    /// Sees the next older message of the stream (message `seq`, `id`, sent
    /// by `role`); messages must come newest first, each once. Answers
    /// whether everything asked has been found.
    pub fn see(&mut self, seq: u64, id: MessageId, role: Role) -> bool {
        if seq >= self.first_recent_seq {
            return self.is_done();
        }
        let side = role.index();
        // The messages of `role` seen before were all later than this one.
        let ordinal = self.sent_before[side].saturating_sub(self.seen[side]);
        self.seen[side] += 1;
        let message = OldMessage {
            seq,
            id,
            role,
            ordinal,
        };
        let mut keep = false;
        let mut i = 0;
        while i < self.ids.len() {
            let (wanted, reader, marker) = self.ids[i];
            if wanted != id {
                i += 1;
                continue;
            }
            self.ids.swap_remove(i);
            keep = true;
            // Reading one's own message reads up to the other side's last
            // before it; not needed when the marker is already past it.
            if role == reader && marker < seq {
                self.last_from(reader.other(), seq);
            }
        }
        let before = self.last.len();
        self.last.retain(|&(r, max)| !(r == role && seq <= max));
        keep |= self.last.len() != before;
        if keep {
            self.found.push(message);
        }
        self.is_done()
    }

    /// The messages found.
    pub(crate) fn into_found(self) -> Vec<OldMessage> {
        self.found
    }

    /// The messages found so far (for tests and logs).
    pub fn found(&self) -> &[OldMessage] {
        &self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 60 * 60 * 1000;
    const NOW: i64 = 1_795_687_200_000;

    fn v7_at(millis: i64) -> MessageId {
        MessageId::from_uuid(
            uuid::Builder::from_unix_timestamp_millis(millis as u64, &[7; 10]).into_uuid(),
        )
    }

    #[test]
    fn an_id_is_not_looked_for_among_events_recorded_long_before_its_time() {
        let mut recall = Recall::new(10, [5, 4]);
        let (fresh, other) = (v7_at(NOW), MessageId::from_uuid(uuid::Uuid::from_u128(42)));
        assert_eq!(id_millis(&fresh), Some(NOW));
        assert_eq!(id_millis(&other), None, "not a v7 id");
        recall.find(fresh, Role::Customer, 0);
        recall.find(other, Role::Customer, 0);
        // Recorded within the margin before the id's time: still looked for.
        assert!(!recall.recorded(Timestamp::from_millis(NOW - HOUR)));
        assert_eq!(recall.ids.len(), 2);
        // Further back: given up; the id that carries no time never is.
        assert!(!recall.recorded(Timestamp::from_millis(NOW - HOUR - 1)));
        assert_eq!(recall.ids.len(), 1);
        assert_eq!(recall.ids[0].0, other);
        // Nothing found: the read of `fresh` is refused as unknown.
        assert!(recall.found().is_empty());
    }
}
