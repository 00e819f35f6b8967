//! The notifications published last, kept in memory for a receiver that
//! lagged (missed some of the broadcast): it takes them from here, exactly
//! as they were published, instead of rebuilding each from the log and the
//! read models (four queries per event, each waiting for the read models
//! to catch up: about 9 ms per event when it happened under overload).

use std::collections::VecDeque;
use std::sync::Arc;

use souk_store::Position;

use crate::views::Notification;

/// A bounded run of the latest notifications, in log order.
pub(crate) struct Recent {
    capacity: usize,
    kept: VecDeque<Arc<Notification>>,
    /// Every notification published after this position is in `kept`: it is
    /// where publishing started, then the position of the last one dropped.
    complete_after: Position,
}

impl Recent {
    /// Empty; notifications will be published after `from`.
    pub(crate) fn new(capacity: usize, from: Position) -> Self {
        Self {
            capacity: capacity.max(1),
            kept: VecDeque::with_capacity(capacity.max(1)),
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
        if self.kept.len() == self.capacity {
            if let Some(dropped) = self.kept.pop_front() {
                self.complete_after = dropped.position;
            }
        }
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
        let mut r = Recent::new(4, 10);
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
        let mut r = Recent::new(3, 0);
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
        let mut r = Recent::new(8, 0);
        for p in [1, 2, 3, 2, 3, 4] {
            r.push(at(p));
        }
        assert_eq!(positions(r.between(0, 10)), Some(vec![1, 2, 3, 4]));
    }
}
