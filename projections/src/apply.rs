//! Applying events to the SQLite read models: one transaction per batch,
//! the checkpoint moved in the same transaction.
//!
//! Everything here is a function of the events alone (no clock, no
//! randomness), so replaying the log gives the same rows, whatever the batch
//! boundaries were. The figures that notifications carry are computed by
//! [`crate::live`] from the same events with the same rules.

use rusqlite::types::Value;
use rusqlite::{
    params, params_from_iter, Connection, OptionalExtension, Transaction, TransactionBehavior,
};
use souk_domain::{
    unread, ConversationEvent, ConversationId, ConversationStarted, CurrentProductChanged,
    DisplayName, MessageRead, MessageSent, Role,
};
use souk_store::{Position, RecordedEvent};

use crate::error::ProjectionError;
use crate::schema;
use crate::search;

/// A recorded event, decoded. `item` is `None` for streams that are not
/// conversations (none today; an EventStoreDB `$all` may carry system
/// streams): those only move the checkpoint.
#[derive(Clone, Debug)]
pub(crate) struct Decoded {
    pub position: Position,
    pub item: Option<(ConversationId, ConversationEvent)>,
}

/// Decodes one recorded event.
pub(crate) fn decode(event: &RecordedEvent) -> Result<Decoded, ProjectionError> {
    let Some(conversation) = ConversationId::from_stream_name(&event.stream) else {
        return Ok(Decoded {
            position: event.position,
            item: None,
        });
    };
    let decoded = event.decode().map_err(|source| ProjectionError::Decode {
        position: event.position,
        source,
    })?;
    Ok(Decoded {
        position: event.position,
        item: Some((conversation, decoded)),
    })
}

/// Decodes `events` up to the first that cannot be decoded, which is
/// returned as the failure (nothing after it is decoded).
pub(crate) fn decode_all(events: &[RecordedEvent]) -> (Vec<Decoded>, Option<ProjectionError>) {
    let mut decoded = Vec::with_capacity(events.len());
    for event in events {
        match decode(event) {
            Ok(d) => decoded.push(d),
            Err(e) => return (decoded, Some(e)),
        }
    }
    (decoded, None)
}

/// Applies `batch` in one transaction and moves the checkpoint to its last
/// position. Events at or before the stored checkpoint are skipped, so a
/// batch that overlaps what is already applied counts nothing twice.
/// `before_commit` runs last inside the transaction: an error from it rolls
/// everything back (the consumer's fault injection uses it). Returns the new
/// checkpoint.
pub(crate) fn apply_batch(
    conn: &mut Connection,
    batch: &[Decoded],
    before_commit: impl FnOnce() -> Result<(), ProjectionError>,
) -> Result<Position, ProjectionError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let position = apply_in(&tx, batch, schema::checkpoint(&tx)?)?;
    set_checkpoint(&tx, position)?;
    before_commit()?;
    tx.commit()?;
    Ok(position)
}

/// Applies the events of `batch` after `position` inside `tx`, without
/// moving the stored checkpoint; returns the position reached. The bulk
/// rebuild applies a whole log in one transaction this way.
pub(crate) fn apply_in(
    tx: &Transaction<'_>,
    batch: &[Decoded],
    mut position: Position,
) -> Result<Position, ProjectionError> {
    for decoded in batch {
        if decoded.position <= position {
            continue;
        }
        if let Some((conversation, event)) = &decoded.item {
            apply_event(tx, decoded.position, *conversation, event)?;
        }
        position = decoded.position;
    }
    Ok(position)
}

/// Stores the checkpoint.
pub(crate) fn set_checkpoint(
    tx: &Transaction<'_>,
    position: Position,
) -> Result<(), ProjectionError> {
    tx.prepare_cached("UPDATE checkpoint SET position = ?1 WHERE id = 1")?
        .execute([position as i64])?;
    Ok(())
}

/// The mutable part of a conversation row.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Conv {
    ids: [String; 2],
    names: [Option<String>; 2],
    active_at: [Option<i64>; 2],
    updated_at: i64,
    last_seq: u64,
    read_seq: [u64; 2],
    unread: [u64; 2],
    first_customer_seq: Option<u64>,
    first_customer_at: Option<i64>,
    first_response_at: Option<i64>,
}

fn load_conv(tx: &Transaction<'_>, id: &str) -> Result<Option<Conv>, ProjectionError> {
    let mut stmt = tx.prepare_cached(
        "SELECT customer_id, vendor_id, customer_name, vendor_name, customer_active_at,
                vendor_active_at, updated_at, last_seq, customer_read_seq, vendor_read_seq,
                customer_unread, vendor_unread, first_customer_seq, first_customer_at,
                first_response_at
         FROM conversations WHERE id = ?1",
    )?;
    Ok(stmt
        .query_row([id], |r| {
            Ok(Conv {
                ids: [r.get(0)?, r.get(1)?],
                names: [r.get(2)?, r.get(3)?],
                active_at: [r.get(4)?, r.get(5)?],
                updated_at: r.get(6)?,
                last_seq: r.get::<_, i64>(7)? as u64,
                read_seq: [r.get::<_, i64>(8)? as u64, r.get::<_, i64>(9)? as u64],
                unread: [r.get::<_, i64>(10)? as u64, r.get::<_, i64>(11)? as u64],
                first_customer_seq: r.get::<_, Option<i64>>(12)?.map(|s| s as u64),
                first_customer_at: r.get(13)?,
                first_response_at: r.get(14)?,
            })
        })
        .optional()?)
}

/// Writes what changed in a conversation row since `before` was loaded.
///
/// Only the columns that changed are assigned: SQLite rewrites the entry of
/// every index one of whose columns is assigned, changed or not. So a typing
/// event writes nothing, a read leaves the list indexes (`updated_at`)
/// alone, and only the first customer message and the first response touch
/// the analytics index (`first_customer_at`). The statement is one of four,
/// each prepared once.
fn store_conv(
    tx: &Transaction<'_>,
    id: &str,
    before: &Conv,
    c: &Conv,
) -> Result<(), ProjectionError> {
    if before == c {
        return Ok(());
    }
    let listed = before.updated_at != c.updated_at;
    let firsts = (
        before.first_customer_seq,
        before.first_customer_at,
        before.first_response_at,
    ) != (
        c.first_customer_seq,
        c.first_customer_at,
        c.first_response_at,
    );
    let int = |v: Option<i64>| v.map_or(Value::Null, Value::Integer);
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    let mut sql = String::from(
        "UPDATE conversations SET customer_name = ?, vendor_name = ?, \
         customer_active_at = ?, vendor_active_at = ?, last_seq = ?, customer_read_seq = ?, \
         vendor_read_seq = ?, customer_unread = ?, vendor_unread = ?",
    );
    let mut args = vec![
        text(&c.names[0]),
        text(&c.names[1]),
        int(c.active_at[0]),
        int(c.active_at[1]),
        Value::Integer(c.last_seq as i64),
        Value::Integer(c.read_seq[0] as i64),
        Value::Integer(c.read_seq[1] as i64),
        Value::Integer(c.unread[0] as i64),
        Value::Integer(c.unread[1] as i64),
    ];
    if listed {
        sql.push_str(", updated_at = ?");
        args.push(Value::Integer(c.updated_at));
    }
    if firsts {
        sql.push_str(", first_customer_seq = ?, first_customer_at = ?, first_response_at = ?");
        args.push(int(c.first_customer_seq.map(|s| s as i64)));
        args.push(int(c.first_customer_at));
        args.push(int(c.first_response_at));
    }
    sql.push_str(" WHERE id = ?");
    args.push(Value::Text(id.to_owned()));
    tx.prepare_cached(&sql)?.execute(params_from_iter(args))?;
    Ok(())
}

/// Adds `delta` to a user's unread total on one side.
fn inbox_add(
    tx: &Transaction<'_>,
    user: &str,
    role: Role,
    delta: i64,
) -> Result<(), ProjectionError> {
    tx.prepare_cached(
        "INSERT INTO inboxes (user_id, role, unread) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id, role) DO UPDATE SET unread = unread + excluded.unread",
    )?
    .execute(params![user, role.as_str(), delta])?;
    Ok(())
}

/// The search document kind holding `role`'s name, and who may find it.
fn name_doc(role: Role) -> (&'static str, &'static str) {
    match role {
        // A customer's name is searched by the vendor, and vice versa.
        Role::Customer => ("customer_name", "vendor"),
        Role::Vendor => ("vendor_name", "customer"),
    }
}

/// A searchable document of a conversation; `ids` are its customer's and
/// vendor's (who may find it follows from `visible_to`).
struct Doc<'a> {
    conversation: &'a str,
    ids: [&'a str; 2],
    kind: &'a str,
    seq: u64,
    visible_to: &'a str,
}

fn insert_doc(tx: &Transaction<'_>, doc: Doc<'_>, body: &str) -> Result<(), ProjectionError> {
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO search_docs (conversation_id, kind, seq, visible_to, body)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            doc.conversation,
            doc.kind,
            doc.seq as i64,
            doc.visible_to,
            body
        ])?;
    if inserted == 1 {
        let rowid = tx.last_insert_rowid();
        tx.prepare_cached(
            "INSERT INTO search_index (rowid, owner, conv, body) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            rowid,
            search::owners(doc.visible_to, doc.ids, doc.seq == 0),
            search::conversation_token(doc.conversation),
            body
        ])?;
    }
    Ok(())
}

/// Replaces the body of a conversation-level document (`seq` 0); whether
/// there was one.
fn update_doc(tx: &Transaction<'_>, doc: Doc<'_>, body: &str) -> Result<bool, ProjectionError> {
    let rowid: Option<i64> = tx
        .prepare_cached(
            "UPDATE search_docs SET body = ?3 WHERE conversation_id = ?1 AND seq = 0 AND kind = ?2
             RETURNING rowid",
        )?
        .query_row(params![doc.conversation, doc.kind, body], |r| r.get(0))
        .optional()?;
    if let Some(rowid) = rowid {
        tx.prepare_cached("DELETE FROM search_index WHERE rowid = ?1")?
            .execute([rowid])?;
        tx.prepare_cached(
            "INSERT INTO search_index (rowid, owner, conv, body) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            rowid,
            search::owners(doc.visible_to, doc.ids, doc.seq == 0),
            search::conversation_token(doc.conversation),
            body
        ])?;
    }
    Ok(rowid.is_some())
}

/// Records `name` as `role`'s latest name, if it is new.
fn set_name(
    tx: &Transaction<'_>,
    conversation: &str,
    conv: &mut Conv,
    role: Role,
    name: &DisplayName,
) -> Result<(), ProjectionError> {
    let side = role.index();
    if conv.names[side].as_deref() == Some(name.as_str()) {
        return Ok(());
    }
    conv.names[side] = Some(name.as_str().to_owned());
    let (kind, visible_to) = name_doc(role);
    let doc = Doc {
        conversation,
        ids: [&conv.ids[0], &conv.ids[1]],
        kind,
        seq: 0,
        visible_to,
    };
    update_doc(tx, doc, &search::normalize(name.as_str())).map(|_| ())
}

fn apply_event(
    tx: &Transaction<'_>,
    position: Position,
    conversation: ConversationId,
    event: &ConversationEvent,
) -> Result<(), ProjectionError> {
    let id = conversation.to_string();
    match event {
        ConversationEvent::ConversationStarted(e) => start(tx, conversation, &id, e)?,
        other => {
            let Some(mut conv) = load_conv(tx, &id)? else {
                tracing::warn!(
                    position,
                    %conversation,
                    event = other.event_type(),
                    "event of a conversation that was never started; skipped"
                );
                return Ok(());
            };
            let before = conv.clone();
            match other {
                ConversationEvent::MessageSent(e) => send(tx, conversation, &id, &mut conv, e)?,
                ConversationEvent::MessageRead(e) => read(tx, &id, &mut conv, e)?,
                ConversationEvent::CurrentProductChanged(e) => {
                    change_product(tx, &id, &mut conv, e)?
                }
                // Typing and support accesses change no read model; they
                // only move the checkpoint.
                ConversationEvent::TypingStarted(_)
                | ConversationEvent::TypingStopped(_)
                | ConversationEvent::SupportAccessed(_) => {}
                ConversationEvent::ConversationStarted(_) => unreachable!("matched above"),
            }
            store_conv(tx, &id, &before, &conv)?;
        }
    }
    Ok(())
}

fn start(
    tx: &Transaction<'_>,
    conversation: ConversationId,
    id: &str,
    e: &ConversationStarted,
) -> Result<(), ProjectionError> {
    if e.conversation_id != conversation {
        tracing::warn!(
            stream = %conversation,
            payload = %e.conversation_id,
            "ConversationStarted names another conversation than its stream; the stream wins"
        );
    }
    let at = e.at.millis();
    let active = |role: Role| (e.started_by == role).then_some(at);
    let product_json = e
        .product
        .as_ref()
        .map(|p| serde_json::to_string(p).expect("a product card always serializes"));
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO conversations (
                id, customer_id, vendor_id, customer_name, vendor_name, customer_active_at,
                vendor_active_at, product_id, product_name, product_json, current_product_json,
                started_by, created_at, updated_at, last_seq, customer_read_seq,
                vendor_read_seq, customer_unread, vendor_unread)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?12, 0, 0, 0, 0, 0)",
        )?
        .execute(params![
            id,
            e.customer.id.as_str(),
            e.vendor.id.as_str(),
            e.customer.name.as_ref().map(|n| n.as_str()),
            e.vendor.name.as_ref().map(|n| n.as_str()),
            active(Role::Customer),
            active(Role::Vendor),
            e.product.as_ref().map(|p| p.id.as_str()),
            e.product.as_ref().map(|p| p.name.as_str()),
            product_json,
            e.started_by.as_str(),
            at,
        ])?;
    if inserted == 0 {
        tracing::warn!(%conversation, "conversation started twice; the first start stands");
        return Ok(());
    }
    inbox_add(tx, e.customer.id.as_str(), Role::Customer, 0)?;
    inbox_add(tx, e.vendor.id.as_str(), Role::Vendor, 0)?;
    let ids = [e.customer.id.as_str(), e.vendor.id.as_str()];
    let doc = |kind, visible_to| Doc {
        conversation: id,
        ids,
        kind,
        seq: 0,
        visible_to,
    };
    for (role, p) in [(Role::Customer, &e.customer), (Role::Vendor, &e.vendor)] {
        let shown = p.name.as_ref().map_or(p.id.as_str(), |n| n.as_str());
        let (kind, visible_to) = name_doc(role);
        insert_doc(tx, doc(kind, visible_to), &search::normalize(shown))?;
    }
    if let Some(p) = &e.product {
        insert_doc(tx, doc("product", "both"), &search::normalize(&p.name))?;
    }
    Ok(())
}

fn send(
    tx: &Transaction<'_>,
    conversation: ConversationId,
    id: &str,
    conv: &mut Conv,
    e: &MessageSent,
) -> Result<(), ProjectionError> {
    let from = e.sender.role;
    let to = from.other();
    let product_json = e
        .product
        .as_ref()
        .map(|p| serde_json::to_string(p).expect("a product card always serializes"));
    let kind = serde_json::to_value(e.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .expect("a message kind serializes as a string");
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO messages (
                conversation_id, seq, id, vendor_id, sender_id, sender_role, kind, text,
                product_json, client_message_id, sent_at, read_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, NULL)",
        )?
        .execute(params![
            id,
            e.seq as i64,
            e.message_id.to_string(),
            conv.ids[Role::Vendor.index()],
            e.sender.id.as_str(),
            from.as_str(),
            kind,
            e.text.as_ref().map(|t| t.as_str()),
            product_json,
            e.client_message_id.as_ref().map(|c| c.as_str()),
            e.at.millis(),
        ])?;
    if inserted == 0 {
        tracing::warn!(%conversation, seq = e.seq, "message recorded twice; the first stands");
        return Ok(());
    }
    // A message the recipient's marker already covers (which `decide` never
    // produces) is not unread; its `read_at` stays unknown.
    if unread::is_unread(from, e.seq, to, conv.read_seq[to.index()]) {
        conv.unread[to.index()] += 1;
        inbox_add(tx, &conv.ids[to.index()], to, 1)?;
    }
    let at = e.at.millis();
    conv.updated_at = at;
    conv.last_seq = conv.last_seq.max(e.seq);
    conv.active_at[from.index()] = Some(at);
    if let Some(name) = &e.sender_name {
        set_name(tx, id, conv, from, name)?;
    }
    match from {
        Role::Customer if conv.first_customer_seq.is_none() => {
            conv.first_customer_seq = Some(e.seq);
            conv.first_customer_at = Some(at);
        }
        Role::Vendor
            if conv.first_response_at.is_none()
                && conv.first_customer_seq.is_some_and(|s| s < e.seq) =>
        {
            conv.first_response_at = Some(at);
        }
        _ => {}
    }
    let body = search::message_body(
        e.text.as_ref().map(|t| t.as_str()),
        e.product.as_ref().map(|p| p.name.as_str()),
    );
    if !body.is_empty() {
        let doc = Doc {
            conversation: id,
            ids: [&conv.ids[0], &conv.ids[1]],
            kind: "message",
            seq: e.seq,
            visible_to: "both",
        };
        insert_doc(tx, doc, &body)?;
    }
    Ok(())
}

fn read(
    tx: &Transaction<'_>,
    id: &str,
    conv: &mut Conv,
    e: &MessageRead,
) -> Result<(), ProjectionError> {
    let reader = e.reader_role;
    let side = reader.index();
    let sender = reader.other().as_str();
    if e.up_to_seq > conv.read_seq[side] {
        tx.prepare_cached(
            "UPDATE messages SET read_at = ?1
             WHERE conversation_id = ?2 AND seq > ?3 AND seq <= ?4 AND sender_role = ?5
               AND read_at IS NULL",
        )?
        .execute(params![
            e.at.millis(),
            id,
            conv.read_seq[side] as i64,
            e.up_to_seq as i64,
            sender
        ])?;
        conv.read_seq[side] = e.up_to_seq;
        // Recounted rather than decremented: the count is exactly the rule
        // of `souk_domain::unread` (messages of the other side after the
        // marker), in SQL.
        let remaining: i64 = tx
            .prepare_cached(
                "SELECT COUNT(*) FROM messages
                 WHERE conversation_id = ?1 AND seq > ?2 AND sender_role = ?3",
            )?
            .query_row(params![id, e.up_to_seq as i64, sender], |r| r.get(0))?;
        let delta = remaining - conv.unread[side] as i64;
        conv.unread[side] = remaining as u64;
        if delta != 0 {
            inbox_add(tx, &conv.ids[side], reader, delta)?;
        }
    }
    conv.active_at[side] = Some(e.at.millis());
    if let Some(name) = &e.reader_name {
        set_name(tx, id, conv, reader, name)?;
    }
    Ok(())
}

/// The conversation is about another product from now on: its row keeps
/// the card (the list and the conversation show it as `currentProduct`;
/// `product` stays the one it was started from). The asker acted.
fn change_product(
    tx: &Transaction<'_>,
    id: &str,
    conv: &mut Conv,
    e: &CurrentProductChanged,
) -> Result<(), ProjectionError> {
    let json = serde_json::to_string(&e.product).expect("a product card always serializes");
    tx.prepare_cached("UPDATE conversations SET current_product_json = ?1 WHERE id = ?2")?
        .execute(params![json, id])?;
    // The product now discussed is found by its name, as the one the
    // conversation was started from is (that one stays findable too).
    let doc = || Doc {
        conversation: id,
        ids: [&conv.ids[0], &conv.ids[1]],
        kind: "current_product",
        seq: 0,
        visible_to: "both",
    };
    let body = search::normalize(&e.product.name);
    if !update_doc(tx, doc(), &body)? {
        insert_doc(tx, doc(), &body)?;
    }
    conv.active_at[e.by.role.index()] = Some(e.at.millis());
    if let Some(name) = &e.by_name {
        set_name(tx, id, conv, e.by.role, name)?;
    }
    Ok(())
}
