//! Dead letters: deliveries that failed `--webhook-max-tries` times. They
//! stay in `dead_letters` (see [`super::db`]) until [`retry`] puts them back
//! in the outbox with their original place (`seq`), so that a retried
//! delivery goes out before any later delivery of its conversation that is
//! still pending. [`status`] is what `souk webhooks status` prints.
//!
//! Both work on the file while the server runs (it looks at the outbox at
//! least every second) or is stopped.

use rusqlite::{params, Connection};
use serde::Serialize;
use souk_store::Position;

use super::db;
use super::error::WebhookError;

/// A dead letter as `souk webhooks status` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: String,
    pub endpoint: String,
    pub conversation_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub tries: u32,
    pub last_error: Option<String>,
    pub died_at: souk_domain::Timestamp,
}

/// The state of the webhooks of a data directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The last log position turned into deliveries (`None`: webhooks never
    /// ran with this data directory).
    pub checkpoint: Option<Position>,
    /// The last position of the log.
    pub log_end: Position,
    /// Deliveries recorded and not yet made.
    pub pending: u64,
    /// Of those, how many failed at least once (retrying).
    pub retrying: u64,
    /// Unread reminders scheduled.
    pub reminders: u64,
    pub dead_letters: Vec<DeadLetter>,
}

/// The dead letters, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<DeadLetter>, WebhookError> {
    let mut stmt = conn.prepare(
        "SELECT id, endpoint, conversation, kind, tries, last_error, died_at_ms
         FROM dead_letters ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(DeadLetter {
            id: r.get(0)?,
            endpoint: r.get(1)?,
            conversation_id: r.get(2)?,
            kind: r.get(3)?,
            tries: r.get(4)?,
            last_error: r.get(5)?,
            died_at: souk_domain::Timestamp::from_millis(r.get(6)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The state of the file, with `log_end` read by the caller.
pub fn status(conn: &Connection, log_end: Position) -> Result<Status, WebhookError> {
    let (pending, retrying, reminders) = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM outbox), (SELECT COUNT(*) FROM outbox WHERE tries > 0),
                (SELECT COUNT(*) FROM reminders)",
        [],
        |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
            ))
        },
    )?;
    Ok(Status {
        checkpoint: db::checkpoint(conn)?,
        log_end,
        pending,
        retrying,
        reminders,
        dead_letters: list(conn)?,
    })
}

/// Which dead letters to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    /// Those with this delivery id (one per endpoint).
    Id(String),
    All,
}

/// Moves dead letters back to the outbox, due at `now_ms` with no tries
/// made; answers how many moved.
pub fn retry(conn: &mut Connection, which: &Which, now_ms: i64) -> Result<usize, WebhookError> {
    const MOVE: &str = "INSERT OR IGNORE INTO outbox
           (seq, id, endpoint, conversation, kind, body, tries, next_attempt_ms, last_error)
         SELECT seq, id, endpoint, conversation, kind, body, 0, ?1, last_error
         FROM dead_letters";
    let tx = conn.transaction()?;
    let moved = match which {
        Which::Id(id) => {
            let moved = tx.execute(&format!("{MOVE} WHERE id = ?2"), params![now_ms, id])?;
            tx.execute("DELETE FROM dead_letters WHERE id = ?1", params![id])?;
            moved
        }
        Which::All => {
            let moved = tx.execute(MOVE, params![now_ms])?;
            tx.execute("DELETE FROM dead_letters", [])?;
            moved
        }
    };
    tx.commit()?;
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::webhooks::outbox::{self, NewDelivery};

    #[test]
    fn a_retried_dead_letter_goes_before_the_later_ones_of_its_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = db::open(&dir.path().join(db::FILE_NAME)).unwrap();
        let new = |id: &str| NewDelivery {
            id: id.into(),
            endpoint: "http://e/".into(),
            conversation: "c1".into(),
            kind: "message.created".into(),
            body: "{}".into(),
        };
        outbox::record(
            &conn,
            &[new("1-message.created"), new("2-message.created")],
            0,
        )
        .unwrap();
        let head = outbox::due_heads(&conn, 0, 1, &HashSet::new())
            .unwrap()
            .remove(0);
        outbox::failed(&mut conn, head.seq, "connection refused", None, 5).unwrap();
        let st = status(&conn, 2).unwrap();
        assert_eq!((st.pending, st.dead_letters.len()), (1, 1));
        assert_eq!(st.dead_letters[0].id, "1-message.created");
        assert_eq!(st.dead_letters[0].tries, 1);

        assert_eq!(retry(&mut conn, &Which::Id("9-x".into()), 10).unwrap(), 0);
        assert_eq!(
            retry(&mut conn, &Which::Id("1-message.created".into()), 10).unwrap(),
            1
        );
        let head = outbox::due_heads(&conn, 10, 1, &HashSet::new())
            .unwrap()
            .remove(0);
        assert_eq!((head.id.as_str(), head.tries), ("1-message.created", 0));
        outbox::failed(&mut conn, head.seq, "HTTP 500", None, 11).unwrap();
        assert_eq!(retry(&mut conn, &Which::All, 12).unwrap(), 1);
        assert_eq!(status(&conn, 2).unwrap().dead_letters, vec![]);
    }
}
