//! Reads: a small pool of read-only connections used inside
//! `tokio::task::spawn_blocking`, and the queries (whose plans a test
//! checks).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rusqlite::{params, Connection, OpenFlags};
use souk_domain::Timestamp;
use tokio::sync::Semaphore;

use super::{to_sql, unavailable, Position, RecordedEvent, Revision, StoreError};
use crate::chain::EventHash;
use crate::subscription::PageSource;

/// The columns of a [`RecordedEvent`], from `events AS e` and `streams AS s`.
pub(super) const COLUMNS: &str =
    "e.position, s.name, e.revision, e.event_type, e.version, e.data, e.recorded_at, e.hash";

/// The read-only connections.
pub(super) struct Readers {
    pub(super) path: PathBuf,
    pub(super) idle: Mutex<Vec<Connection>>,
    /// Bounds concurrent reads, hence open connections, to [`READERS`].
    pub(super) permits: Semaphore,
}

impl Readers {
    /// Runs `f` on a read-only connection on tokio's blocking pool.
    pub(super) async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || readers.read_blocking(f))
            .await
            .map_err(|e| unavailable("reading the event log", e))?
    }

    fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.path)
                .map_err(|e| unavailable(&format!("opening {}", self.path.display()), e))?,
        };
        let out = f(&conn).map_err(|e| unavailable("reading the event log", e));
        // A connection that failed may be in a bad state: do not keep it.
        if out.is_ok() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
        out
    }

    pub(super) async fn read_all(
        self: &Arc<Self>,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&read_all_sql())?;
            let rows = stmt.query_map(params![to_sql(from), to_sql(limit as u64)], row_event)?;
            rows.collect()
        })
        .await
    }
}

/// Events from position `?1` on, at most `?2`. Forced join order (`CROSS
/// JOIN`): along `events` by position, each stream's name by its id.
pub(super) fn read_all_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM events AS e CROSS JOIN streams AS s ON s.id = e.stream_id \
         WHERE e.position >= ?1 ORDER BY e.position LIMIT ?2"
    )
}

/// Events of the stream named `?1`, `condition` on `e.revision` (with `?2`)
/// and its order, at most `?3`. Forced join order: the stream's id by its
/// name, then its events along the `(stream_id, revision)` index.
pub(super) fn read_stream_sql(condition: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM streams AS s CROSS JOIN events AS e ON e.stream_id = s.id \
         WHERE s.name = ?1 AND e.{condition} LIMIT ?3"
    )
}

pub(super) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

pub(super) fn row_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<RecordedEvent> {
    Ok(RecordedEvent {
        position: row.get::<_, i64>(0)? as Position,
        stream: row.get(1)?,
        revision: row.get::<_, i64>(2)? as Revision,
        event_type: row.get(3)?,
        version: row.get(4)?,
        data: row.get(5)?,
        recorded_at: Timestamp::from_millis(row.get(6)?),
        hash: stored_hash(row.get_ref(7)?),
    })
}

/// A hash as stored: 32 bytes. Anything else (only a file edited behind
/// the log's back holds anything else) reads as 32 zero bytes, which no
/// event's hash is: the read succeeds and `chain::verify` reports the
/// event (see the `chain` module docs).
pub(super) fn stored_hash(value: rusqlite::types::ValueRef<'_>) -> EventHash {
    value
        .as_blob_or_null()
        .ok()
        .flatten()
        .and_then(EventHash::from_slice)
        .unwrap_or(EventHash::GENESIS)
}

impl PageSource for Arc<Readers> {
    fn read_page(
        &self,
        from: Position,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<RecordedEvent>, StoreError>> {
        let readers = Arc::clone(self);
        Box::pin(async move { readers.read_all(from, limit).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::schema::open_writer;

    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn stream_reads_go_through_the_names_and_the_stream_revision_index() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("e.db")).unwrap();
        for condition in [
            "revision >= ?2 ORDER BY e.revision",
            "revision <= ?2 ORDER BY e.revision DESC",
        ] {
            let plan = plan(&conn, &read_stream_sql(condition));
            assert_eq!(plan.len(), 2, "{plan:?}");
            assert!(plan[0].contains("SEARCH s USING"), "{plan:?}");
            assert!(plan[0].contains("(name=?)"), "{plan:?}");
            assert!(
                plan[1].contains("SEARCH e USING INDEX events_stream_revision"),
                "{plan:?}"
            );
        }
    }

    #[test]
    fn log_reads_go_along_positions_and_look_names_up_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(&dir.path().join("e.db")).unwrap();
        let plan = plan(&conn, &read_all_sql());
        assert_eq!(plan.len(), 2, "{plan:?}");
        assert!(
            plan[0].contains("SEARCH e USING INTEGER PRIMARY KEY (rowid>?)"),
            "{plan:?}"
        );
        assert!(
            plan[1].contains("SEARCH s USING INTEGER PRIMARY KEY (rowid=?)"),
            "{plan:?}"
        );
    }
}
