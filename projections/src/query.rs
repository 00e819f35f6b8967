//! The queries behind the REST routes, as plain functions on a read
//! connection. Each multi-statement query runs in one read transaction, so
//! its parts (a page and the total beside it) come from one snapshot.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};
use souk_domain::{
    ConversationId, MessageId, MessageKind, ProductCard, Role, Sender, Timestamp, UserId,
};
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::search;
use crate::views::{
    ConversationPage, ConversationView, HistoryQuery, ListQuery, MessagePage, MessageView,
    ParticipantView, UnreadSummary, MAX_LIMIT,
};

const MESSAGE_COLUMNS: &str = "m.id, m.conversation_id, m.seq, m.sender_id, m.sender_role, \
     m.kind, m.text, m.product_json, m.client_message_id, m.sent_at, m.read_at";

/// A conversation and its last message (columns 12..23 are the message's,
/// 23 the conversation's current product).
const CONVERSATION_SELECT: &str = "SELECT c.id, c.customer_id, c.customer_name, \
     c.customer_active_at, c.vendor_id, c.vendor_name, c.vendor_active_at, c.product_json, \
     c.created_at, c.updated_at, c.customer_unread, c.vendor_unread, \
     m.id, m.conversation_id, m.seq, m.sender_id, m.sender_role, m.kind, m.text, \
     m.product_json, m.client_message_id, m.sent_at, m.read_at, c.current_product_json \
     FROM conversations c \
     LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_seq";

pub(crate) fn clamp_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_LIMIT)
}

fn corrupt(what: &str, value: impl std::fmt::Debug) -> ProjectionError {
    ProjectionError::Corrupt(format!("{what} {value:?}"))
}

fn user_id(s: &str) -> Result<UserId, ProjectionError> {
    UserId::parse(s).map_err(|_| corrupt("user id", s))
}

fn role(s: &str) -> Result<Role, ProjectionError> {
    Role::parse(s).map_err(|_| corrupt("role", s))
}

fn product(json: Option<&str>) -> Result<Option<ProductCard>, ProjectionError> {
    json.map(|j| serde_json::from_str(j).map_err(|_| corrupt("product card", j)))
        .transpose()
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// A message row as stored.
struct RawMessage {
    id: String,
    conversation_id: String,
    seq: i64,
    sender_id: String,
    sender_role: String,
    kind: String,
    text: Option<String>,
    product_json: Option<String>,
    client_message_id: Option<String>,
    sent_at: i64,
    read_at: Option<i64>,
}

impl RawMessage {
    /// Reads the [`MESSAGE_COLUMNS`] starting at column `at`; `None` when
    /// they are NULL (a conversation without messages).
    fn read(r: &Row<'_>, at: usize) -> rusqlite::Result<Option<Self>> {
        let Some(id) = r.get::<_, Option<String>>(at)? else {
            return Ok(None);
        };
        Ok(Some(Self {
            id,
            conversation_id: r.get(at + 1)?,
            seq: r.get(at + 2)?,
            sender_id: r.get(at + 3)?,
            sender_role: r.get(at + 4)?,
            kind: r.get(at + 5)?,
            text: r.get(at + 6)?,
            product_json: r.get(at + 7)?,
            client_message_id: r.get(at + 8)?,
            sent_at: r.get(at + 9)?,
            read_at: r.get(at + 10)?,
        }))
    }

    fn view(self) -> Result<MessageView, ProjectionError> {
        let kind: MessageKind = serde_json::from_value(serde_json::Value::String(self.kind))
            .map_err(|e| corrupt("message kind", e.to_string()))?;
        Ok(MessageView {
            id: MessageId::parse(&self.id).map_err(|_| corrupt("message id", &self.id))?,
            conversation_id: ConversationId::parse(&self.conversation_id)
                .map_err(|_| corrupt("conversation id", &self.conversation_id))?,
            seq: self.seq as u64,
            sender: Sender {
                id: user_id(&self.sender_id)?,
                role: role(&self.sender_role)?,
            },
            kind,
            text: self.text,
            product: product(self.product_json.as_deref())?,
            client_message_id: self.client_message_id,
            sent_at: ts(self.sent_at),
            read_at: self.read_at.map(ts),
        })
    }
}

/// A conversation row as stored, with its last message.
struct RawConversation {
    id: String,
    participants: [(String, Option<String>, Option<i64>); 2],
    product_json: Option<String>,
    current_product_json: Option<String>,
    created_at: i64,
    updated_at: i64,
    unread: [i64; 2],
    last: Option<RawMessage>,
}

impl RawConversation {
    fn read(r: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            participants: [
                (r.get(1)?, r.get(2)?, r.get(3)?),
                (r.get(4)?, r.get(5)?, r.get(6)?),
            ],
            product_json: r.get(7)?,
            created_at: r.get(8)?,
            updated_at: r.get(9)?,
            unread: [r.get(10)?, r.get(11)?],
            last: RawMessage::read(r, 12)?,
            current_product_json: r.get(23)?,
        })
    }

    fn view(self, viewer: Role) -> Result<ConversationView, ProjectionError> {
        let [customer, vendor] = self.participants;
        let participant = |(id, name, active): (String, Option<String>, Option<i64>)| {
            Ok::<_, ProjectionError>(ParticipantView {
                id: user_id(&id)?,
                name: name.unwrap_or(id),
                online: false,
                last_seen_at: None,
                last_active_at: active.map(ts),
            })
        };
        Ok(ConversationView {
            id: ConversationId::parse(&self.id)
                .map_err(|_| corrupt("conversation id", &self.id))?,
            customer: participant(customer)?,
            vendor: participant(vendor)?,
            product: product(self.product_json.as_deref())?,
            current_product: product(self.current_product_json.as_deref())?,
            last_message: self.last.map(RawMessage::view).transpose()?,
            unread_count: self.unread[viewer.index()].max(0) as u64,
            created_at: ts(self.created_at),
            updated_at: ts(self.updated_at),
            search_match: None,
        })
    }
}

/// The conversation, if `viewer` is its participant on `role`'s side.
pub(crate) fn conversation(
    conn: &Connection,
    id: ConversationId,
    viewer: &UserId,
    role: Role,
) -> Result<Option<ConversationView>, ProjectionError> {
    let sql = format!(
        "{CONVERSATION_SELECT} WHERE c.id = ?1 AND c.{}_id = ?2",
        role.as_str()
    );
    let raw = conn
        .prepare_cached(&sql)?
        .query_row(
            params![id.to_string(), viewer.as_str()],
            RawConversation::read,
        )
        .optional()?;
    raw.map(|r| r.view(role)).transpose()
}

/// The cursor of the page after a row: its `(updated_at, id)`, hex-encoded
/// so that clients treat it as opaque.
fn encode_cursor(updated_at: i64, id: &str) -> String {
    format!("{updated_at}:{id}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), ProjectionError> {
    let bytes = cursor.as_bytes();
    if !bytes.len().is_multiple_of(2) || bytes.len() > 256 {
        return Err(ProjectionError::InvalidCursor);
    }
    let raw: Vec<u8> = bytes
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or(ProjectionError::InvalidCursor)
        })
        .collect::<Result<_, _>>()?;
    let text = String::from_utf8(raw).map_err(|_| ProjectionError::InvalidCursor)?;
    let (at, id) = text.split_once(':').ok_or(ProjectionError::InvalidCursor)?;
    let at: i64 = at.parse().map_err(|_| ProjectionError::InvalidCursor)?;
    let id = Uuid::try_parse(id).map_err(|_| ProjectionError::InvalidCursor)?;
    Ok((at, ConversationId::from_uuid(id).to_string()))
}

fn inbox_total(conn: &Connection, viewer: &UserId, role: Role) -> Result<u64, ProjectionError> {
    let n: Option<i64> = conn
        .prepare_cached("SELECT unread FROM inboxes WHERE user_id = ?1 AND role = ?2")?
        .query_row(params![viewer.as_str(), role.as_str()], |r| r.get(0))
        .optional()?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// A page of `viewer`'s conversations on `role`'s side, newest activity first
/// (`updated_at` descending, then id descending), after the cursor; with a
/// search, the matching ones, newest match first (see [`crate::search`]).
///
/// Paging is by key (`updated_at`, id; with a search, the match's rank and
/// id), so a page never repeats a row of an earlier one, except a
/// conversation whose activity moved it up between the two requests: it
/// shows again at the top, which is where it now is.
pub(crate) fn conversations(
    conn: &mut Connection,
    viewer: &UserId,
    role: Role,
    query: &ListQuery,
) -> Result<ConversationPage, ProjectionError> {
    let limit = clamp_limit(query.limit);
    // An empty `cursor=` is the first page, as if it were absent.
    let after = query
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()?;
    if let Some(search) = query.search.as_deref().filter(|s| !search::is_blank(s)) {
        return searched(conn, viewer, role, search, after, limit);
    }
    let side = role.as_str();
    let mut sql = format!("{CONVERSATION_SELECT} WHERE c.{side}_id = ?");
    let mut args: Vec<Value> = vec![Value::Text(viewer.as_str().to_owned())];
    if let Some((at, id)) = after {
        sql.push_str(" AND (c.updated_at, c.id) < (?, ?)");
        args.push(Value::Integer(at));
        args.push(Value::Text(id));
    }
    sql.push_str(" ORDER BY c.updated_at DESC, c.id DESC LIMIT ?");
    args.push(Value::Integer(limit as i64 + 1));

    let tx = conn.transaction()?;
    let mut raws = {
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), RawConversation::read)?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let total_unread = inbox_total(&tx, viewer, role)?;
    tx.finish()?;

    let next_cursor = if raws.len() > limit {
        raws.truncate(limit);
        raws.last().map(|r| encode_cursor(r.updated_at, &r.id))
    } else {
        None
    };
    let conversations = raws
        .into_iter()
        .map(|r| r.view(role))
        .collect::<Result<_, _>>()?;
    Ok(ConversationPage {
        conversations,
        next_cursor,
        total_unread,
    })
}

/// A page of a search's answer: the conversations [`search::find`] ranks,
/// each with its match, read in one transaction with the unread total.
fn searched(
    conn: &mut Connection,
    viewer: &UserId,
    role: Role,
    search: &str,
    after: Option<(i64, String)>,
    limit: usize,
) -> Result<ConversationPage, ProjectionError> {
    let terms = search::terms(search);
    let tx = conn.transaction()?;
    let mut found = search::find(&tx, viewer.as_str(), role, &terms, after, limit + 1)?;
    let next_cursor = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|f| encode_cursor(f.rank, &f.conversation))
    } else {
        None
    };
    let mut conversations = Vec::with_capacity(found.len());
    {
        let sql = format!(
            "{CONVERSATION_SELECT} WHERE c.id = ?1 AND c.{}_id = ?2",
            role.as_str()
        );
        let mut stmt = tx.prepare_cached(&sql)?;
        for f in found {
            let raw = stmt
                .query_row(
                    params![f.conversation, viewer.as_str()],
                    RawConversation::read,
                )
                .optional()?;
            if let Some(raw) = raw {
                let mut view = raw.view(role)?;
                view.search_match = f.matched;
                conversations.push(view);
            }
        }
    }
    let total_unread = inbox_total(&tx, viewer, role)?;
    tx.finish()?;
    Ok(ConversationPage {
        conversations,
        next_cursor,
        total_unread,
    })
}

fn seq_arg(seq: u64) -> Value {
    Value::Integer(i64::try_from(seq).unwrap_or(i64::MAX))
}

/// A page of history; see [`HistoryQuery`] for the shapes.
pub(crate) fn messages(
    conn: &Connection,
    id: ConversationId,
    query: &HistoryQuery,
) -> Result<MessagePage, ProjectionError> {
    let limit = clamp_limit(query.limit);
    let mut sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ?");
    let mut args = vec![Value::Text(id.to_string())];
    if let Some(after) = query.after {
        sql.push_str(" AND m.seq > ?");
        args.push(seq_arg(after));
    }
    if let Some(before) = query.before {
        sql.push_str(" AND m.seq < ?");
        args.push(seq_arg(before));
    }
    // With `after`, the page grows upwards from it; otherwise downwards from
    // `before` (or the end).
    let upwards = query.after.is_some();
    sql.push_str(if upwards {
        " ORDER BY m.seq ASC LIMIT ?"
    } else {
        " ORDER BY m.seq DESC LIMIT ?"
    });
    args.push(Value::Integer(limit as i64 + 1));
    let mut raws = {
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| RawMessage::read(r, 0))?;
        rows.filter_map(Result::transpose)
            .collect::<Result<Vec<_>, _>>()?
    };
    let has_more = raws.len() > limit;
    raws.truncate(limit);
    if !upwards {
        raws.reverse();
    }
    Ok(MessagePage {
        messages: raws
            .into_iter()
            .map(RawMessage::view)
            .collect::<Result<_, _>>()?,
        has_more,
    })
}

pub(crate) fn message(
    conn: &Connection,
    id: MessageId,
) -> Result<Option<MessageView>, ProjectionError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = ?1");
    let raw = conn
        .prepare_cached(&sql)?
        .query_row([id.to_string()], |r| RawMessage::read(r, 0))
        .optional()?
        .flatten();
    raw.map(RawMessage::view).transpose()
}

pub(crate) fn message_by_seq(
    conn: &Connection,
    id: ConversationId,
    seq: u64,
) -> Result<Option<MessageView>, ProjectionError> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = ?1 AND m.seq = ?2"
    );
    let raw = conn
        .prepare_cached(&sql)?
        .query_row(params![id.to_string(), seq_arg(seq)], |r| {
            RawMessage::read(r, 0)
        })
        .optional()?
        .flatten();
    raw.map(RawMessage::view).transpose()
}

/// `viewer`'s unread total on `role`'s side and the conversations that
/// make it up.
pub(crate) fn unread(
    conn: &mut Connection,
    viewer: &UserId,
    role: Role,
) -> Result<UnreadSummary, ProjectionError> {
    let side = role.as_str();
    let tx = conn.transaction()?;
    let total = inbox_total(&tx, viewer, role)?;
    let conversations = {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT id, {side}_unread FROM conversations WHERE {side}_id = ?1 AND {side}_unread > 0"
        ))?;
        let rows = stmt.query_map([viewer.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        rows.collect::<Result<BTreeMap<_, _>, _>>()?
    };
    tx.finish()?;
    Ok(UnreadSummary {
        total,
        conversations,
    })
}

/// Everyone who shares a conversation with `user` acting as `role`, sorted.
pub(crate) fn counterparts(
    conn: &Connection,
    user: &UserId,
    role: Role,
) -> Result<Vec<UserId>, ProjectionError> {
    let sql = format!(
        "SELECT DISTINCT {other}_id FROM conversations WHERE {side}_id = ?1 ORDER BY 1",
        other = role.other().as_str(),
        side = role.as_str()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let ids = stmt
        .query_map([user.as_str()], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    ids.iter().map(|s| user_id(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let id = ConversationId::from_uuid(Uuid::from_u128(42)).to_string();
        let c = encode_cursor(1_795_000_000_123, &id);
        assert!(c.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(decode_cursor(&c).unwrap(), (1_795_000_000_123, id.clone()));
        for bad in [
            "",
            "zz",
            "abc",
            "3a",
            &encode_cursor(1, "not-a-uuid"),
            &c[1..],
        ] {
            assert!(
                matches!(decode_cursor(bad), Err(ProjectionError::InvalidCursor)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn limits_are_clamped() {
        assert_eq!(clamp_limit(0), 1);
        assert_eq!(clamp_limit(30), 30);
        assert_eq!(clamp_limit(1000), MAX_LIMIT);
    }
}
