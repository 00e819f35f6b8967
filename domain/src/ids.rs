//! Identifiers and small validated inputs. Each has a `parse` that returns a
//! typed error; once a value exists it is valid ("parse, don't validate").

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use uuid::Uuid;

use crate::error::InputError;
use crate::text::{self, Lines};

/// Namespace for the deterministic ids of customer-vendor conversations.
const CONVERSATION_NAMESPACE: Uuid = Uuid::from_u128(0x5a0c_6e2b_9d1f_4c77_a8e4_3b1d_0f5c_2a91);

/// A conversation id: a UUID.
///
/// There is one conversation per customer-vendor pair, and its id is derived
/// from the pair ([`ConversationId::for_pair`]), so that two nodes or two
/// requests opening the same pair at the same instant reach the same stream,
/// where optimistic concurrency makes exactly one of them start it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationId(Uuid);

impl ConversationId {
    pub fn parse(s: &str) -> Result<Self, InputError> {
        Uuid::try_parse(s.trim())
            .map(Self)
            .map_err(|_| InputError::new("conversationId", "must be a UUID"))
    }

    /// The id of the conversation between `customer` and `vendor`.
    pub fn for_pair(customer: &UserId, vendor: &UserId) -> Self {
        // Ids cannot contain '\n', so the joined name is unambiguous.
        let name = format!("{}\n{}", customer.as_str(), vendor.as_str());
        Self(Uuid::new_v5(&CONVERSATION_NAMESPACE, name.as_bytes()))
    }

    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn uuid(&self) -> Uuid {
        self.0
    }

    /// The name of this conversation's stream in the event log.
    pub fn stream_name(&self) -> String {
        format!("conversation-{}", self.0)
    }

    /// The conversation of a stream name made by [`Self::stream_name`].
    pub fn from_stream_name(stream: &str) -> Option<Self> {
        stream
            .strip_prefix("conversation-")
            .and_then(|s| Uuid::try_parse(s).ok())
            .map(Self)
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A message id: a UUID v7, so ids sort by time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(Uuid);

impl MessageId {
    /// A fresh v7 id. Ids are made outside `decide`, which stays pure.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(s: &str) -> Result<Self, InputError> {
        Uuid::try_parse(s.trim())
            .map(Self)
            .map_err(|_| InputError::new("messageId", "must be a UUID"))
    }

    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for MessageId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Checks an opaque marketplace id: 1 to 128 characters of `[A-Za-z0-9_.:@-]`.
fn check_opaque_id(field: &'static str, s: &str) -> Result<(), InputError> {
    if s.is_empty() || s.len() > 128 {
        return Err(InputError::new(field, "must be 1 to 128 characters"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'@' | b'-'))
    {
        return Err(InputError::new(
            field,
            "may only contain letters, digits and _ . : @ -",
        ));
    }
    Ok(())
}

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, InputError> {
                Self::parse_field($field, s)
            }

            /// Parses, naming `field` in the error.
            pub fn parse_field(field: &'static str, s: &str) -> Result<Self, InputError> {
                check_opaque_id(field, s)?;
                Ok(Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

opaque_id!(
    /// A customer or vendor id chosen by the marketplace.
    UserId,
    "userId"
);
opaque_id!(
    /// A product id chosen by the marketplace.
    ProductId,
    "product.id"
);

/// Which side of a conversation a user is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Vendor,
}

impl Role {
    pub fn parse(s: &str) -> Result<Self, InputError> {
        match s {
            "customer" => Ok(Role::Customer),
            "vendor" => Ok(Role::Vendor),
            _ => Err(InputError::new("role", "must be customer or vendor")),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Vendor => "vendor",
        }
    }

    /// The other side.
    pub fn other(&self) -> Role {
        match self {
            Role::Customer => Role::Vendor,
            Role::Vendor => Role::Customer,
        }
    }

    /// 0 for the customer, 1 for the vendor: an index into per-side arrays.
    pub fn index(&self) -> usize {
        match self {
            Role::Customer => 0,
            Role::Vendor => 1,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The sender's own id for a message, used to make retries idempotent:
/// 1 to 64 printable characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ClientMessageId(String);

impl ClientMessageId {
    pub fn parse(s: &str) -> Result<Self, InputError> {
        if s.is_empty() || s.chars().count() > 64 {
            return Err(InputError::new(
                "clientMessageId",
                "must be 1 to 64 characters",
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(InputError::new(
                "clientMessageId",
                "must not contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for ClientMessageId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A display name: 1 to 100 characters after trimming, one line of
/// readable characters ([`text::check`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(s: &str) -> Result<Self, InputError> {
        Self::parse_field("name", s)
    }

    pub fn parse_field(field: &'static str, s: &str) -> Result<Self, InputError> {
        let t = s.trim();
        if t.is_empty() || t.chars().count() > Self::MAX_CHARS {
            return Err(InputError::new(field, "must be 1 to 100 characters"));
        }
        text::check(field, t, Lines::One)?;
        Ok(Self(t.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for DisplayName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_follow_the_contract() {
        assert!(UserId::parse("c-42").is_ok());
        assert!(UserId::parse("a.b:c@d_e-f").is_ok());
        assert!(UserId::parse(&"x".repeat(128)).is_ok());
        assert!(UserId::parse(&"x".repeat(129)).is_err());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse("has space").is_err());
        assert!(UserId::parse("ümlaut").is_err());
        let err = UserId::parse_field("vendorId", "a b").unwrap_err();
        assert_eq!(err.field, "vendorId");
    }

    #[test]
    fn conversation_ids_are_stable_per_pair_and_distinct_across_pairs() {
        let c = UserId::parse("c-1").unwrap();
        let v = UserId::parse("v-1").unwrap();
        let w = UserId::parse("v-2").unwrap();
        assert_eq!(
            ConversationId::for_pair(&c, &v),
            ConversationId::for_pair(&c, &v)
        );
        assert_ne!(
            ConversationId::for_pair(&c, &v),
            ConversationId::for_pair(&c, &w)
        );
        assert_ne!(
            ConversationId::for_pair(&c, &v),
            ConversationId::for_pair(&v, &c)
        );
        let id = ConversationId::for_pair(&c, &v);
        assert_eq!(
            ConversationId::from_stream_name(&id.stream_name()),
            Some(id)
        );
    }

    #[test]
    fn uuids_are_parsed_with_a_named_field() {
        assert!(ConversationId::parse("not-a-uuid").is_err());
        assert_eq!(MessageId::parse("zzz").unwrap_err().field, "messageId");
        let m = MessageId::new();
        assert_eq!(MessageId::parse(&m.to_string()).unwrap(), m);
        assert_eq!(m.uuid().get_version_num(), 7);
    }

    #[test]
    fn client_message_ids_and_names_are_bounded() {
        assert!(ClientMessageId::parse("tab1-0005").is_ok());
        assert!(ClientMessageId::parse(&"é".repeat(64)).is_ok());
        assert!(ClientMessageId::parse(&"x".repeat(65)).is_err());
        assert!(ClientMessageId::parse("").is_err());
        assert_eq!(DisplayName::parse("  Alice ").unwrap().as_str(), "Alice");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"n".repeat(101)).is_err());
    }

    #[test]
    fn roles_round_trip() {
        assert_eq!(Role::parse("vendor").unwrap(), Role::Vendor);
        assert!(Role::parse("admin").is_err());
        assert_eq!(Role::Customer.other(), Role::Vendor);
        assert_eq!(
            serde_json::to_string(&Role::Customer).unwrap(),
            "\"customer\""
        );
    }
}
