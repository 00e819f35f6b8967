//! The unread rule: the one definition every unread figure of souk follows
//! (the conversation state, the actor's compact state, the read models and
//! the live figures that travel with each notification).
//!
//! A message is **unread by a participant** when the other side sent it and
//! its seq is after that participant's read marker (the seq of the last
//! message they marked read, 0 before any). Reading moves the marker
//! forward only; one's own messages are never unread by oneself. So a
//! participant's unread count in a conversation is the number of the other
//! side's messages after their marker, and their inbox total is the sum of
//! that over their conversations on one side.
//!
//! The read models state the same rule in SQL (`seq > marker AND
//! sender_role = <the other side>`); their tests compare every figure with
//! a recount by [`is_unread`] over the log.

use crate::ids::Role;

/// Whether a message of `sender` at `seq` is unread by `reader`, whose read
/// marker is at `marker`.
pub fn is_unread(sender: Role, seq: u64, reader: Role, marker: u64) -> bool {
    sender != reader && seq > marker
}

/// How many of `messages` (sender and seq of each) are unread by `reader`
/// with its marker at `marker`.
pub fn count<I>(messages: I, reader: Role, marker: u64) -> u64
where
    I: IntoIterator<Item = (Role, u64)>,
{
    messages
        .into_iter()
        .filter(|&(sender, seq)| is_unread(sender, seq, reader, marker))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_other_sides_messages_after_the_marker_are_unread() {
        use Role::{Customer, Vendor};
        assert!(is_unread(Vendor, 3, Customer, 2));
        assert!(!is_unread(Vendor, 2, Customer, 2), "at the marker: read");
        assert!(!is_unread(Customer, 3, Customer, 0), "one's own message");
        let messages = [(Customer, 1), (Vendor, 2), (Vendor, 3), (Customer, 4)];
        assert_eq!(count(messages, Customer, 0), 2);
        assert_eq!(count(messages, Customer, 2), 1);
        assert_eq!(count(messages, Vendor, 1), 1);
        assert_eq!(count(messages, Vendor, 4), 0);
    }
}
