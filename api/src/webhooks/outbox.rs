//! The outbox: deliveries recorded and not yet made, in the `outbox` table
//! (see [`super::db`]). Recording happens in the consumer's and the
//! scheduler's transactions; the sender asks for the heads of the groups
//! (the oldest delivery of each endpoint and conversation) that are due,
//! and reports each try: made (the row goes), failed (tries and the next
//! attempt move), or failed for the last time (the row becomes a dead
//! letter, and the group's next delivery becomes its head).

use rusqlite::{params, Connection};

use super::error::WebhookError;

/// A delivery to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    /// `Souk-Webhook-Id`: `<position>-<kind>`.
    pub id: String,
    pub endpoint: String,
    /// The conversation id (deliveries of one go out in order).
    pub conversation: String,
    pub kind: String,
    /// The JSON body, signed and sent as is on every try.
    pub body: String,
}

/// A recorded delivery, as the sender makes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Its place in the outbox (the order of recording).
    pub seq: i64,
    pub id: String,
    pub endpoint: String,
    pub conversation: String,
    pub kind: String,
    pub body: String,
    /// Tries made so far.
    pub tries: u32,
    /// When it is due (Unix ms).
    pub next_attempt_ms: i64,
}

impl Delivery {
    /// The group it belongs to: one endpoint and one conversation.
    pub fn group(&self) -> (String, String) {
        (self.endpoint.clone(), self.conversation.clone())
    }
}

/// Records `deliveries`, due at `now_ms`; one already recorded (same id and
/// endpoint) is left as it is. Runs inside the caller's transaction.
pub fn record(
    conn: &Connection,
    deliveries: &[NewDelivery],
    now_ms: i64,
) -> Result<(), WebhookError> {
    let mut insert = conn.prepare_cached(
        "INSERT OR IGNORE INTO outbox (id, endpoint, conversation, kind, body, next_attempt_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for d in deliveries {
        insert.execute(params![
            d.id,
            d.endpoint,
            d.conversation,
            d.kind,
            d.body,
            now_ms
        ])?;
    }
    Ok(())
}

/// The heads of the groups due at `now_ms`, soonest first, at most
/// `limit`, leaving out the groups in `busy` (a try under way).
pub fn due_heads(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
    busy: &std::collections::HashSet<(String, String)>,
) -> Result<Vec<Delivery>, WebhookError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, endpoint, conversation, kind, body, tries, next_attempt_ms FROM outbox
         WHERE seq IN (SELECT MIN(seq) FROM outbox GROUP BY endpoint, conversation)
           AND next_attempt_ms <= ?1
         ORDER BY next_attempt_ms, seq
         LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now_ms, (limit + busy.len()) as i64], |r| {
        Ok(Delivery {
            seq: r.get(0)?,
            id: r.get(1)?,
            endpoint: r.get(2)?,
            conversation: r.get(3)?,
            kind: r.get(4)?,
            body: r.get(5)?,
            tries: r.get(6)?,
            next_attempt_ms: r.get(7)?,
        })
    })?;
    let mut out = Vec::new();
    for row in rows {
        let d = row?;
        if !busy.contains(&d.group()) {
            out.push(d);
        }
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

/// The delivery at `seq` was made: it leaves the outbox.
pub fn delivered(conn: &Connection, seq: i64) -> Result<(), WebhookError> {
    conn.execute("DELETE FROM outbox WHERE seq = ?1", params![seq])?;
    Ok(())
}

/// A try of the delivery at `seq` failed with `error`. With `retry_at`
/// (Unix ms) it is tried again then; without, it becomes a dead letter.
pub fn failed(
    conn: &mut Connection,
    seq: i64,
    error: &str,
    retry_at: Option<i64>,
    now_ms: i64,
) -> Result<(), WebhookError> {
    let tx = conn.transaction()?;
    match retry_at {
        Some(at) => {
            tx.execute(
                "UPDATE outbox SET tries = tries + 1, next_attempt_ms = ?2, last_error = ?3
                 WHERE seq = ?1",
                params![seq, at, error],
            )?;
        }
        None => {
            tx.execute(
                "INSERT OR REPLACE INTO dead_letters
                   (seq, id, endpoint, conversation, kind, body, tries, last_error, died_at_ms)
                 SELECT seq, id, endpoint, conversation, kind, body, tries + 1, ?2, ?3
                 FROM outbox WHERE seq = ?1",
                params![seq, error, now_ms],
            )?;
            tx.execute("DELETE FROM outbox WHERE seq = ?1", params![seq])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Deliveries pending and dead letters.
pub fn counts(conn: &Connection) -> Result<(u64, u64), WebhookError> {
    Ok(conn.query_row(
        "SELECT (SELECT COUNT(*) FROM outbox), (SELECT COUNT(*) FROM dead_letters)",
        [],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
    )?)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::webhooks::db;

    fn d(id: &str, conversation: &str) -> NewDelivery {
        NewDelivery {
            id: id.into(),
            endpoint: "http://e/".into(),
            conversation: conversation.into(),
            kind: "message.created".into(),
            body: format!("{{\"id\":\"{id}\"}}"),
        }
    }

    #[test]
    fn one_head_per_conversation_waits_for_its_retry_and_dies_after_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = db::open(&dir.path().join(db::FILE_NAME)).unwrap();
        record(
            &conn,
            &[d("1-a", "c1"), d("2-a", "c1"), d("3-a", "c2")],
            100,
        )
        .unwrap();
        record(&conn, &[d("1-a", "c1")], 100).unwrap();
        assert_eq!(counts(&conn).unwrap(), (3, 0), "a repeat is ignored");
        let none = HashSet::new();
        let heads: Vec<String> = due_heads(&conn, 100, 10, &none)
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(heads, ["1-a", "3-a"]);
        let busy = HashSet::from([("http://e/".to_owned(), "c2".to_owned())]);
        assert_eq!(due_heads(&conn, 100, 10, &busy).unwrap().len(), 1);

        let head = due_heads(&conn, 100, 10, &none).unwrap().remove(0);
        failed(&mut conn, head.seq, "HTTP 500", Some(500), 100).unwrap();
        let heads: Vec<String> = due_heads(&conn, 499, 10, &none)
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(heads, ["3-a"], "c1 waits for its head's retry");
        let again: Vec<Delivery> = due_heads(&conn, 500, 10, &none)
            .unwrap()
            .into_iter()
            .filter(|d| d.conversation == "c1")
            .collect();
        assert_eq!((again[0].id.as_str(), again[0].tries), ("1-a", 1));

        failed(&mut conn, head.seq, "HTTP 500", None, 600).unwrap();
        assert_eq!(counts(&conn).unwrap(), (2, 1));
        let heads: Vec<String> = due_heads(&conn, 600, 10, &none)
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(heads, ["2-a", "3-a"], "the next one goes after a death");
        delivered(&conn, again[0].seq + 1).unwrap();
        assert_eq!(counts(&conn).unwrap(), (1, 1));
    }
}
