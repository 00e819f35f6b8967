//! The relay's bookkeeping of joins with catch-up, kept apart from sockets so
//! that its rules are tested on their own.
//!
//! A socket that joins a conversation with `sinceSeq` is put in the room at
//! once, at some relay position R, and a catch-up task replays from the read
//! models the messages after `sinceSeq`. While it runs, every event the relay
//! would emit to that socket about that conversation is **held** (in order)
//! instead. When the catch-up is done, the held events are emitted, then
//! live ones: the socket sees the conversation in log order after the
//! replayed messages.
//!
//! The read models are never behind the relay (a notification is published
//! after its transaction commits) but may be ahead of it, so the catch-up may
//! replay a message whose notification the relay has not processed yet. The
//! catch-up therefore ends with a **watermark**: the highest seq the socket
//! now has (the newest seq the read models knew when the catch-up began, or
//! the last one it replayed, whichever is higher). A `receive_message` with
//! a seq at or below the watermark, held or live, is not emitted again. Once
//! the relay has relayed a message with a seq at or above the watermark, no
//! later notification can be at or below it (seqs grow in log order), and the
//! watermark is dropped.
//!
//! Together: every message after `sinceSeq` exactly once, in seq order (the
//! replay is ascending and ends at or above the watermark; live ones above
//! it arrive in log order), also while messages keep arriving.

use std::collections::HashMap;
use std::hash::Hash;

use souk_domain::ConversationId;

/// A join whose catch-up is running.
struct Joining<J, H> {
    generation: u64,
    /// What the relay needs to answer when it ends (the socket, the ack).
    waiter: J,
    /// Held events and their message seq, in relay order.
    held: Vec<(H, Option<u64>)>,
}

/// What to do with an event for one socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<H> {
    /// Emit it now.
    Emit(H),
    /// Held until the socket's catch-up of that conversation ends.
    Held,
    /// The socket already has this message (replayed by its catch-up).
    Duplicate,
}

/// A finished catch-up: who was waiting, and the held events to emit now
/// (duplicates of replayed messages removed).
pub struct Finished<J, H> {
    pub waiter: J,
    pub release: Vec<H>,
}

/// Joins in progress and watermarks, per (socket, conversation).
pub struct Book<S, J, H> {
    pending: HashMap<(S, ConversationId), Joining<J, H>>,
    marks: HashMap<ConversationId, HashMap<S, u64>>,
    next_generation: u64,
}

impl<S: Copy + Eq + Hash, J, H> Default for Book<S, J, H> {
    fn default() -> Self {
        Self {
            pending: HashMap::new(),
            marks: HashMap::new(),
            next_generation: 1,
        }
    }
}

impl<S: Copy + Eq + Hash, J, H> Book<S, J, H> {
    /// Starts holding events of `conversation` for `socket`. Returns the
    /// join's generation, or gives `waiter` back if that socket is already
    /// catching up on that conversation.
    pub fn begin(&mut self, socket: S, conversation: ConversationId, waiter: J) -> Result<u64, J> {
        let key = (socket, conversation);
        if self.pending.contains_key(&key) {
            return Err(waiter);
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.pending.insert(
            key,
            Joining {
                generation,
                waiter,
                held: Vec::new(),
            },
        );
        Ok(generation)
    }

    /// Routes one event about `conversation` for `socket`; `seq` is the
    /// message's seq for `receive_message`.
    pub fn route(
        &mut self,
        socket: S,
        conversation: ConversationId,
        seq: Option<u64>,
        item: H,
    ) -> Verdict<H> {
        if let Some(p) = self.pending.get_mut(&(socket, conversation)) {
            p.held.push((item, seq));
            return Verdict::Held;
        }
        if let (Some(seq), Some(marks)) = (seq, self.marks.get(&conversation)) {
            if marks.get(&socket).is_some_and(|w| seq <= *w) {
                return Verdict::Duplicate;
            }
        }
        Verdict::Emit(item)
    }

    /// Ends a catch-up that reached `watermark`. `None` when that join is no
    /// longer pending (left, gone, or superseded).
    pub fn finish(
        &mut self,
        socket: S,
        conversation: ConversationId,
        generation: u64,
        watermark: u64,
    ) -> Option<Finished<J, H>> {
        let p = self.take(socket, conversation, generation)?;
        let release = p
            .held
            .into_iter()
            .filter(|(_, seq)| !seq.is_some_and(|s| s <= watermark))
            .map(|(item, _)| item)
            .collect();
        if watermark > 0 {
            self.marks
                .entry(conversation)
                .or_default()
                .insert(socket, watermark);
        }
        Some(Finished {
            waiter: p.waiter,
            release,
        })
    }

    /// Ends a catch-up that failed: the held events are dropped (the socket
    /// leaves the room). `None` when that join is no longer pending.
    pub fn fail(&mut self, socket: S, conversation: ConversationId, generation: u64) -> Option<J> {
        self.take(socket, conversation, generation)
            .map(|p| p.waiter)
    }

    fn take(
        &mut self,
        socket: S,
        conversation: ConversationId,
        generation: u64,
    ) -> Option<Joining<J, H>> {
        let key = (socket, conversation);
        if self.pending.get(&key)?.generation != generation {
            return None;
        }
        self.pending.remove(&key)
    }

    /// The socket left the conversation's room: forget its join in progress
    /// (returned, to be answered) and its watermark.
    pub fn leave(&mut self, socket: S, conversation: ConversationId) -> Option<J> {
        self.drop_mark(socket, conversation);
        self.pending
            .remove(&(socket, conversation))
            .map(|p| p.waiter)
    }

    /// The socket is gone: forget everything about it.
    pub fn forget(&mut self, socket: S) {
        self.pending.retain(|(s, _), _| *s != socket);
        self.marks.retain(|_, m| {
            m.remove(&socket);
            !m.is_empty()
        });
    }

    /// The relay relayed message `seq` of `conversation`: watermarks at or
    /// below it can no longer matter.
    pub fn passed(&mut self, conversation: ConversationId, seq: u64) {
        if let Some(m) = self.marks.get_mut(&conversation) {
            m.retain(|_, w| *w > seq);
            if m.is_empty() {
                self.marks.remove(&conversation);
            }
        }
    }

    fn drop_mark(&mut self, socket: S, conversation: ConversationId) {
        if let Some(m) = self.marks.get_mut(&conversation) {
            m.remove(&socket);
            if m.is_empty() {
                self.marks.remove(&conversation);
            }
        }
    }

    /// Joins in progress and watermarks held (for tests and logs).
    pub fn sizes(&self) -> (usize, usize) {
        (
            self.pending.len(),
            self.marks.values().map(HashMap::len).sum(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_domain::UserId;

    fn conv(n: u8) -> ConversationId {
        ConversationId::for_pair(
            &UserId::parse(&format!("c-{n}")).unwrap(),
            &UserId::parse("v").unwrap(),
        )
    }

    type B = Book<u32, &'static str, &'static str>;

    #[test]
    fn events_are_held_during_a_catch_up_and_released_in_order_without_duplicates() {
        let mut b = B::default();
        let c = conv(1);
        let g = b.begin(7, c, "ack").unwrap();
        // Live during the catch-up: seq 5 (also replayed), a read, seq 6.
        assert_eq!(b.route(7, c, Some(5), "m5"), Verdict::Held);
        assert_eq!(b.route(7, c, None, "read"), Verdict::Held);
        assert_eq!(b.route(7, c, Some(6), "m6"), Verdict::Held);
        // Another socket and another conversation are not affected.
        assert_eq!(b.route(8, c, Some(6), "m6"), Verdict::Emit("m6"));
        assert_eq!(b.route(7, conv(2), Some(1), "x"), Verdict::Emit("x"));
        // The catch-up replayed up to 5.
        let f = b.finish(7, c, g, 5).unwrap();
        assert_eq!(f.waiter, "ack");
        assert_eq!(f.release, ["read", "m6"]);
        // A late live notification of a replayed message is not emitted again.
        assert_eq!(b.route(7, c, Some(4), "m4"), Verdict::Duplicate);
        assert_eq!(b.route(7, c, None, "typing"), Verdict::Emit("typing"));
        assert_eq!(b.route(7, c, Some(7), "m7"), Verdict::Emit("m7"));
    }

    #[test]
    fn watermarks_go_once_the_relay_passes_them() {
        let mut b = B::default();
        let c = conv(1);
        let g = b.begin(1, c, "a").unwrap();
        b.finish(1, c, g, 9).unwrap();
        assert_eq!(b.sizes(), (0, 1));
        b.passed(c, 8);
        assert_eq!(b.sizes(), (0, 1));
        assert_eq!(b.route(1, c, Some(9), "m9"), Verdict::Duplicate);
        b.passed(c, 9);
        assert_eq!(b.sizes(), (0, 0));
    }

    #[test]
    fn a_second_join_while_one_runs_is_refused() {
        let mut b = B::default();
        let c = conv(1);
        b.begin(1, c, "first").unwrap();
        assert_eq!(b.begin(1, c, "second"), Err("second"));
        assert!(b.begin(2, c, "other socket").is_ok());
    }

    #[test]
    fn stale_generations_finish_nothing() {
        let mut b = B::default();
        let c = conv(1);
        let g1 = b.begin(1, c, "first").unwrap();
        assert_eq!(b.leave(1, c), Some("first"));
        let g2 = b.begin(1, c, "second").unwrap();
        assert!(b.finish(1, c, g1, 3).is_none());
        assert!(b.fail(1, c, g1).is_none());
        assert_eq!(b.route(1, c, Some(4), "m4"), Verdict::Held);
        assert_eq!(b.fail(1, c, g2), Some("second"));
        assert_eq!(b.route(1, c, Some(5), "m5"), Verdict::Emit("m5"));
        assert_eq!(b.sizes(), (0, 0));
    }

    #[test]
    fn a_gone_socket_is_forgotten() {
        let mut b = B::default();
        let (c1, c2) = (conv(1), conv(2));
        b.begin(1, c1, "a").unwrap();
        let g = b.begin(1, c2, "b").unwrap();
        b.finish(1, c2, g, 3).unwrap();
        let g = b.begin(2, c2, "c").unwrap();
        b.finish(2, c2, g, 3).unwrap();
        assert_eq!(b.sizes(), (1, 2));
        b.forget(1);
        assert_eq!(b.sizes(), (0, 1));
        assert_eq!(b.route(2, c2, Some(3), "m3"), Verdict::Duplicate);
    }

    #[test]
    fn a_zero_watermark_keeps_nothing() {
        let mut b = B::default();
        let c = conv(1);
        let g = b.begin(1, c, "a").unwrap();
        b.route(1, c, Some(1), "m1");
        let f = b.finish(1, c, g, 0).unwrap();
        assert_eq!(f.release, ["m1"]);
        assert_eq!(b.sizes(), (0, 0));
    }
}
