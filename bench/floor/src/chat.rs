//! The chat state the floor keeps, in memory: conversations (who takes part,
//! the next `seq`, each side's unread count) and each user's unread total.
//! No message is stored: the floor relays and forgets (no history, no
//! catch-up, no de-duplication by `clientMessageId`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::auth::{valid_id, Role, User};

/// A refusal, with the codes and the JSON shape of docs/api.md.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: "invalid_request",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            code: "not_found",
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self.code {
            "invalid_request" => 400,
            "unauthorized" => 401,
            "forbidden" => 403,
            "not_found" => 404,
            "payload_too_large" => 413,
            _ => 500,
        }
    }
}

pub const TEXT_MAX: usize = 4000;
pub const CLIENT_ID_MAX: usize = 64;

/// One conversation.
pub struct Conversation {
    pub id: Uuid,
    /// Indexed by [`Role::index`].
    pub users: [String; 2],
    pub names: [Option<String>; 2],
    pub created_at: String,
    counters: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    seq: u64,
    unread: [u64; 2],
}

impl Conversation {
    pub fn takes_part(&self, user: &User) -> bool {
        self.users[user.role.index()] == user.id
    }
}

/// Everything the floor keeps.
#[derive(Default)]
pub struct Chat {
    conversations: RwLock<HashMap<Uuid, Arc<Conversation>>>,
    by_pair: Mutex<HashMap<(String, String), Uuid>>,
    totals: Mutex<HashMap<(Role, String), u64>>,
}

/// `POST {side}/conversation`'s body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenBody {
    pub customer_id: Option<String>,
    pub customer_name: Option<String>,
    pub vendor_id: Option<String>,
    pub vendor_name: Option<String>,
}

/// `send_message`'s payload (and `POST {side}/send`'s body).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    pub conversation_id: String,
    pub text: Option<String>,
    pub client_message_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Sender<'a> {
    id: &'a str,
    role: &'static str,
}

/// The Message of docs/api.md (text messages only).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    id: Uuid,
    conversation_id: Uuid,
    seq: u64,
    sender: Sender<'a>,
    kind: &'static str,
    text: &'a str,
    product: Option<()>,
    client_message_id: Option<&'a str>,
    sent_at: &'a str,
    read_at: Option<()>,
}

/// A message sent: serialized once, and the recipient's figures.
pub struct Sent {
    pub conversation_id: Uuid,
    pub message: Box<RawValue>,
    pub recipient: (Role, String),
    pub unread_count: u64,
    pub total_unread: u64,
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Chat {
    /// Opens (or finds) the conversation of `user` with the other side's
    /// user named in `body`; `true` when it is new.
    pub fn open(
        &self,
        user: &User,
        body: &OpenBody,
    ) -> Result<(Arc<Conversation>, bool), ApiError> {
        let (other_id, other_name) = match user.role {
            Role::Customer => (&body.vendor_id, &body.vendor_name),
            Role::Vendor => (&body.customer_id, &body.customer_name),
        };
        let field = format!("{}Id", user.role.other().as_str());
        let other_id = other_id
            .as_deref()
            .ok_or_else(|| ApiError::invalid(format!("{field}: required")))?;
        if !valid_id(other_id) {
            return Err(ApiError::invalid(format!(
                "{field}: 1 to 128 of [A-Za-z0-9_.:@-]"
            )));
        }
        let mut users = [String::new(), String::new()];
        let mut names = [None, None];
        users[user.role.index()] = user.id.clone();
        names[user.role.index()] = user.name.clone();
        users[user.role.other().index()] = other_id.to_owned();
        names[user.role.other().index()] = other_name.clone();
        let pair = (users[0].clone(), users[1].clone());
        let mut by_pair = self.by_pair.lock().expect("never poisoned");
        if let Some(id) = by_pair.get(&pair) {
            let c = self.conversations.read().expect("never poisoned")[id].clone();
            return Ok((c, false));
        }
        let c = Arc::new(Conversation {
            id: Uuid::new_v4(),
            users,
            names,
            created_at: now(),
            counters: Mutex::new(Counters::default()),
        });
        by_pair.insert(pair, c.id);
        self.conversations
            .write()
            .expect("never poisoned")
            .insert(c.id, c.clone());
        Ok((c, true))
    }

    /// The conversation if `user` takes part in it, else `not_found`.
    pub fn own(&self, user: &User, id: &str) -> Result<Arc<Conversation>, ApiError> {
        let missing = || ApiError::not_found(format!("conversation {id} not found"));
        let uuid =
            Uuid::parse_str(id).map_err(|_| ApiError::invalid("conversationId: must be a UUID"))?;
        let c = self
            .conversations
            .read()
            .expect("never poisoned")
            .get(&uuid)
            .cloned()
            .ok_or_else(missing)?;
        if c.takes_part(user) {
            Ok(c)
        } else {
            Err(missing())
        }
    }

    /// Checks and numbers a message, counts it unread for the recipient,
    /// and serializes it once.
    pub fn send(&self, user: &User, body: &SendBody) -> Result<Sent, ApiError> {
        let c = self.own(user, &body.conversation_id)?;
        let text = body
            .text
            .as_deref()
            .ok_or_else(|| ApiError::invalid("a message needs text"))?
            .trim();
        if text.is_empty() {
            return Err(ApiError::invalid("text: must not be empty"));
        }
        if text.chars().count() > TEXT_MAX {
            return Err(ApiError::invalid(format!(
                "text: at most {TEXT_MAX} characters"
            )));
        }
        if body
            .client_message_id
            .as_deref()
            .is_some_and(|id| id.chars().count() > CLIENT_ID_MAX)
        {
            return Err(ApiError::invalid(format!(
                "clientMessageId: at most {CLIENT_ID_MAX} characters"
            )));
        }
        let to = user.role.other();
        let recipient = c.users[to.index()].clone();
        let (seq, unread_count) = {
            let mut k = c.counters.lock().expect("never poisoned");
            k.seq += 1;
            k.unread[to.index()] += 1;
            (k.seq, k.unread[to.index()])
        };
        let total_unread = {
            let mut totals = self.totals.lock().expect("never poisoned");
            let t = totals.entry((to, recipient.clone())).or_default();
            *t += 1;
            *t
        };
        let sent_at = now();
        let message = Message {
            id: Uuid::now_v7(),
            conversation_id: c.id,
            seq,
            sender: Sender {
                id: &user.id,
                role: user.role.as_str(),
            },
            kind: "text",
            text,
            product: None,
            client_message_id: body.client_message_id.as_deref(),
            sent_at: &sent_at,
            read_at: None,
        };
        let message = serde_json::value::to_raw_value(&message)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        Ok(Sent {
            conversation_id: c.id,
            message,
            recipient: (to, recipient),
            unread_count,
            total_unread,
        })
    }

    /// The unread count of `role` in `c`.
    pub fn unread(&self, c: &Conversation, role: Role) -> u64 {
        c.counters.lock().expect("never poisoned").unread[role.index()]
    }
}

/// The personal room of a user (all their sockets).
pub fn personal_room(role: Role, id: &str) -> String {
    format!("user:{}:{id}", role.as_str())
}

/// A conversation's room.
pub fn chat_room(id: Uuid) -> String {
    format!("chat:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, role: Role) -> User {
        User {
            id: id.into(),
            role,
            name: None,
        }
    }

    fn send(conversation: Uuid, text: &str) -> SendBody {
        SendBody {
            conversation_id: conversation.to_string(),
            text: Some(text.into()),
            client_message_id: Some("m-1".into()),
        }
    }

    #[test]
    fn one_conversation_per_pair_and_unread_counts_per_recipient() {
        let chat = Chat::default();
        let c = user("c-1", Role::Customer);
        let v = user("v-1", Role::Vendor);
        let body = OpenBody {
            customer_id: None,
            customer_name: None,
            vendor_id: Some("v-1".into()),
            vendor_name: Some("Bolt".into()),
        };
        let (conv, created) = chat.open(&c, &body).unwrap();
        assert!(created);
        let (again, created) = chat
            .open(
                &v,
                &OpenBody {
                    customer_id: Some("c-1".into()),
                    customer_name: None,
                    vendor_id: None,
                    vendor_name: None,
                },
            )
            .unwrap();
        assert!(!created);
        assert_eq!(again.id, conv.id);

        let first = chat.send(&c, &send(conv.id, "  hi ")).unwrap();
        let second = chat.send(&c, &send(conv.id, "there")).unwrap();
        assert_eq!(second.recipient, (Role::Vendor, "v-1".to_owned()));
        assert_eq!((second.unread_count, second.total_unread), (2, 2));
        let m: serde_json::Value = serde_json::from_str(first.message.get()).unwrap();
        assert_eq!(m["text"], "hi");
        assert_eq!(m["seq"], 1);
        assert_eq!(m["sender"]["role"], "customer");
        assert_eq!(m["clientMessageId"], "m-1");
        assert_eq!(m["readAt"], serde_json::Value::Null);
        assert!(m["id"].as_str().unwrap().as_bytes()[14] == b'7', "UUID v7");
        assert_eq!(chat.unread(&conv, Role::Vendor), 2);
        assert_eq!(chat.unread(&conv, Role::Customer), 0);
    }

    #[test]
    fn strangers_and_bad_input_are_refused() {
        let chat = Chat::default();
        let c = user("c-1", Role::Customer);
        let body = OpenBody {
            customer_id: None,
            customer_name: None,
            vendor_id: Some("v-1".into()),
            vendor_name: None,
        };
        let (conv, _) = chat.open(&c, &body).unwrap();
        let stranger = user("c-2", Role::Customer);
        assert_eq!(
            chat.send(&stranger, &send(conv.id, "hi"))
                .err()
                .unwrap()
                .code,
            "not_found"
        );
        assert_eq!(
            chat.send(&c, &send(conv.id, "   ")).err().unwrap().code,
            "invalid_request"
        );
        let long = "x".repeat(TEXT_MAX + 1);
        assert_eq!(
            chat.send(&c, &send(conv.id, &long)).err().unwrap().code,
            "invalid_request"
        );
        let mut not_uuid = send(conv.id, "hi");
        not_uuid.conversation_id = "nope".into();
        assert_eq!(
            chat.send(&c, &not_uuid).err().unwrap().code,
            "invalid_request"
        );
        let no_other = OpenBody {
            customer_id: None,
            customer_name: None,
            vendor_id: None,
            vendor_name: None,
        };
        assert_eq!(
            chat.open(&c, &no_other).err().unwrap().code,
            "invalid_request"
        );
        // Nothing was counted for the refused sends.
        assert_eq!(chat.unread(&conv, Role::Vendor), 0);
    }
}
