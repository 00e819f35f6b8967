//! The webhooks' own SQLite file, `<data-dir>/webhooks.db` (WAL,
//! `synchronous=FULL`): its tables, opening it, the checkpoint, and [`Db`],
//! the handle the tasks share.
//!
//! # Tables
//!
//! - `checkpoint (id = 1, position)`: the last log position the consumer
//!   turned into deliveries. It moves in the same transaction as the rows
//!   it produced, so a restart resumes exactly after it.
//! - `outbox`: deliveries to make. `seq` (AUTOINCREMENT, never reused) is
//!   the order they were recorded in; `id` is `Souk-Webhook-Id`, unique per
//!   `endpoint`; `conversation` groups them (one conversation's deliveries
//!   to one endpoint go out one at a time, in `seq` order); `tries`,
//!   `next_attempt_ms` (Unix milliseconds) and `last_error` are the retry
//!   state of the group's head.
//! - `dead_letters`: deliveries that failed `--webhook-max-tries` times,
//!   with their outbox `seq`, until `souk webhooks retry` puts them back.
//! - `reminders`: the unread reminders due, one per conversation and side
//!   (see [`super::reminder`]).
//!
//! The server and `souk webhooks status|retry` may use the file at the
//! same time: WAL lets readers go on, and writers wait for each other
//! (`busy_timeout`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use souk_store::Position;

use super::error::WebhookError;

/// The file name in the data directory.
pub const FILE_NAME: &str = "webhooks.db";

/// How long a writer waits for another (the CLI, the server) to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    conversation TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT,
    UNIQUE (id, endpoint)
);
CREATE INDEX IF NOT EXISTS outbox_groups ON outbox (endpoint, conversation, seq);
CREATE TABLE IF NOT EXISTS dead_letters (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    conversation TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    tries INTEGER NOT NULL,
    last_error TEXT,
    died_at_ms INTEGER NOT NULL,
    UNIQUE (id, endpoint)
);
CREATE TABLE IF NOT EXISTS reminders (
    conversation TEXT NOT NULL,
    recipient_role TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    PRIMARY KEY (conversation, recipient_role)
);
CREATE INDEX IF NOT EXISTS reminders_due ON reminders (due_ms);
";

/// Opens (creating if needed) the file at `path` with its tables.
pub fn open(path: &Path) -> Result<Connection, WebhookError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// The consumer's checkpoint; `None` before the first start.
pub fn checkpoint(conn: &Connection) -> Result<Option<Position>, WebhookError> {
    let position: Option<i64> = conn
        .query_row("SELECT position FROM checkpoint WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(position.map(|p| p as Position))
}

/// Sets the checkpoint when there is none yet (the first start: webhooks
/// report what happens from then on); answers the checkpoint.
pub fn start_checkpoint(conn: &Connection, at: Position) -> Result<Position, WebhookError> {
    conn.execute(
        "INSERT OR IGNORE INTO checkpoint (id, position) VALUES (1, ?1)",
        params![at as i64],
    )?;
    Ok(checkpoint(conn)?.unwrap_or(at))
}

/// Moves the checkpoint inside the caller's transaction.
pub fn set_checkpoint(conn: &Connection, position: Position) -> Result<(), WebhookError> {
    conn.execute(
        "INSERT INTO checkpoint (id, position) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET position = excluded.position",
        params![position as i64],
    )?;
    Ok(())
}

/// The file, shared by the consumer, the sender and the reminder
/// scheduler of one server. Each call runs on a blocking thread; one
/// connection serves them in turn (their transactions are short).
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    pub fn open(path: &Path) -> Result<Self, WebhookError> {
        Ok(Self {
            conn: Arc::new(Mutex::new(open(path)?)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    pub async fn call<T, F>(&self, f: F) -> Result<T, WebhookError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, WebhookError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic inside `f` rolled its transaction back when it
            // unwound: the connection is still sound.
            let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await?
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    souk_domain::Timestamp::now().millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_checkpoint_is_kept_and_then_moved() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(checkpoint(&conn).unwrap(), None);
        assert_eq!(start_checkpoint(&conn, 7).unwrap(), 7);
        assert_eq!(start_checkpoint(&conn, 99).unwrap(), 7, "kept");
        set_checkpoint(&conn, 12).unwrap();
        drop(conn);
        let conn = open(&dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(checkpoint(&conn).unwrap(), Some(12));
    }
}
