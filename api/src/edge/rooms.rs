//! Room names. Every socket is in its user's personal room; a socket that
//! joined a conversation is also in that conversation's room.
//!
//! A personal room is named by role and id (`user:customer:c-42`): a customer
//! and a vendor may share an id string in a marketplace without sharing
//! sockets (the same keying as [`crate::presence`]). User ids cannot contain
//! spaces or `/`, and the prefixes differ, so two names never collide.

use souk_domain::{ConversationId, Role, UserId};

/// The personal room of `user` acting as `role`: all their tabs and devices.
pub fn personal(role: Role, user: &UserId) -> String {
    format!("user:{}:{}", role.as_str(), user.as_str())
}

/// The room of a conversation: the sockets that joined it.
pub fn conversation(id: ConversationId) -> String {
    format!("conversation:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_rooms_are_keyed_by_role_and_id() {
        let id = UserId::parse("c-42").unwrap();
        assert_eq!(personal(Role::Customer, &id), "user:customer:c-42");
        assert_eq!(personal(Role::Vendor, &id), "user:vendor:c-42");
        assert_ne!(personal(Role::Customer, &id), personal(Role::Vendor, &id));
    }

    #[test]
    fn conversation_rooms_carry_the_uuid() {
        let c = UserId::parse("c").unwrap();
        let v = UserId::parse("v").unwrap();
        let id = ConversationId::for_pair(&c, &v);
        assert_eq!(conversation(id), format!("conversation:{}", id.uuid()));
        assert!(!conversation(id).starts_with("user:"));
    }
}
