//! The notifications published last, kept in memory for a receiver that
//! lagged (missed some of the broadcast): it takes them from here, exactly
//! as they were published, instead of rebuilding each from the log and the
//! read models (four queries per event, each waiting for the read models
//! to catch up: about 9 ms per event when it happened under overload).

use std::collections::VecDeque;
use std::sync::Arc;

use souk_domain::{ConversationEvent, ProductCard};
use souk_store::Position;

use crate::views::Notification;

/// A bounded run of the latest notifications, in log order: at most
/// `capacity` of them, and at most about `max_bytes` (see [`weight`]).
pub(crate) struct Recent {
    capacity: usize,
    max_bytes: usize,
    /// The weight of what is kept.
    bytes: usize,
    kept: VecDeque<Arc<Notification>>,
    /// Every notification published after this position is in `kept`: it is
    /// where publishing started, then the position of the last one dropped.
    complete_after: Position,
}

impl Recent {
    /// Empty; notifications will be published after `from`.
    pub(crate) fn new(capacity: usize, max_bytes: usize, from: Position) -> Self {
        Self {
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
            kept: VecDeque::new(),
            complete_after: from,
        }
    }

    /// Keeps a notification just published, dropping the oldest when full.
    /// One at or before the last kept (a restarted consumer publishing
    /// again what it had) is already there and ignored.
    pub(crate) fn push(&mut self, n: Arc<Notification>) {
        if self
            .kept
            .back()
            .is_some_and(|last| n.position <= last.position)
            || n.position <= self.complete_after
        {
            return;
        }
        let w = weight(&n);
        while self.kept.len() >= self.capacity
            || (!self.kept.is_empty() && self.bytes + w > self.max_bytes)
        {
            let Some(dropped) = self.kept.pop_front() else {
                break;
            };
            self.bytes -= weight(&dropped);
            self.complete_after = dropped.position;
        }
        self.bytes += w;
        self.kept.push_back(n);
    }

    /// The notifications of the events after `after` and before `before`,
    /// or `None` when some of them were already dropped.
    pub(crate) fn between(
        &self,
        after: Position,
        before: Position,
    ) -> Option<Vec<Arc<Notification>>> {
        if after < self.complete_after {
            return None;
        }
        let start = self.kept.partition_point(|n| n.position <= after);
        Some(
            self.kept
                .range(start..)
                .take_while(|n| n.position < before)
                .cloned()
                .collect(),
        )
    }
}

/// About how many bytes a kept notification holds: the structure, and the
/// message's text and product card twice (in the event and in the message
/// view); a card counts as 512 bytes.
fn weight(n: &Notification) -> usize {
    fn card(p: &Option<ProductCard>) -> usize {
        if p.is_some() {
            512
        } else {
            0
        }
    }
    let event = match &n.event {
        ConversationEvent::MessageSent(m) => {
            m.text.as_ref().map_or(0, |t| t.as_str().len()) + card(&m.product)
        }
        _ => 0,
    };
    let view = n.message.as_ref().map_or(0, |m| {
        m.text.as_ref().map_or(0, String::len) + card(&m.product)
    });
    std::mem::size_of::<Notification>() + event + view
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_domain::{ConversationEvent, ConversationId, Role, Timestamp, Typing, UserId};

    fn at(position: Position) -> Arc<Notification> {
        let (c, v) = (UserId::parse("c-1").unwrap(), UserId::parse("v-1").unwrap());
        Arc::new(Notification {
            position,
            conversation_id: ConversationId::for_pair(&c, &v),
            customer_id: c.clone(),
            vendor_id: v,
            event: ConversationEvent::TypingStarted(Typing {
                user_id: c,
                role: Role::Customer,
                reason: None,
                at: Timestamp::from_millis(1_795_000_000_000),
            }),
            message: None,
            unread: [0, 0],
            total_unread: [0, 0],
        })
    }

    fn positions(v: Option<Vec<Arc<Notification>>>) -> Option<Vec<Position>> {
        v.map(|v| v.iter().map(|n| n.position).collect())
    }

    #[test]
    fn what_is_kept_is_given_back_in_order_between_the_bounds() {
        let mut r = Recent::new(4, usize::MAX, 10);
        // Positions without a notification (other streams) leave gaps.
        for p in [11, 12, 14, 17] {
            r.push(at(p));
        }
        assert_eq!(positions(r.between(10, 100)), Some(vec![11, 12, 14, 17]));
        assert_eq!(positions(r.between(11, 17)), Some(vec![12, 14]));
        assert_eq!(positions(r.between(13, 14)), Some(vec![]));
        assert_eq!(positions(r.between(17, 100)), Some(vec![]));
        // Before where publishing started: not known here.
        assert_eq!(positions(r.between(9, 100)), None);
    }

    #[test]
    fn once_a_notification_is_dropped_nothing_before_it_is_answered() {
        let mut r = Recent::new(3, usize::MAX, 0);
        for p in 1..=5 {
            r.push(at(p));
        }
        // 1 and 2 were dropped: after 2, everything is still here.
        assert_eq!(positions(r.between(2, 10)), Some(vec![3, 4, 5]));
        assert_eq!(positions(r.between(1, 10)), None);
        assert_eq!(positions(r.between(0, 4)), None);
    }

    #[test]
    fn a_notification_published_again_is_kept_once() {
        let mut r = Recent::new(8, usize::MAX, 0);
        for p in [1, 2, 3, 2, 3, 4] {
            r.push(at(p));
        }
        assert_eq!(positions(r.between(0, 10)), Some(vec![1, 2, 3, 4]));
    }

    #[test]
    fn the_oldest_are_dropped_to_stay_within_the_bytes() {
        let each = weight(&at(1));
        // Room for two and a half: the third push drops the first.
        let mut r = Recent::new(100, each * 5 / 2, 0);
        for p in 1..=3 {
            r.push(at(p));
        }
        assert_eq!(positions(r.between(1, 10)), Some(vec![2, 3]));
        assert_eq!(positions(r.between(0, 10)), None);
        assert_eq!(r.bytes, 2 * each);
        // One heavier than the whole budget is still kept, alone.
        let mut r = Recent::new(100, each / 2, 0);
        r.push(at(1));
        r.push(at(2));
        assert_eq!(positions(r.between(1, 10)), Some(vec![2]));
    }
}
