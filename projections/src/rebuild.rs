//! The writer side shared by the live consumer, [`rebuild`] and [`verify`].

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rusqlite::Connection;
use serde::Serialize;
use souk_store::{EventStore, Position, RecordedEvent};

use crate::apply::{self, Decoded};
use crate::error::ProjectionError;
use crate::schema;

/// Events read from the log per page while replaying.
const REPLAY_PAGE: usize = 1000;

/// The one connection that writes a read-model file. Applying runs on a
/// blocking thread; the connection travels there and back.
pub(crate) struct Writer {
    conn: Option<Connection>,
    position: Position,
}

impl Writer {
    /// Opens the file, dropping its read models first when `reset`.
    pub(crate) async fn open(path: PathBuf, reset: bool) -> Result<Self, ProjectionError> {
        tokio::task::spawn_blocking(move || {
            let mut conn = schema::open_writer(&path)?;
            if reset {
                schema::reset(&mut conn)?;
            }
            let position = schema::checkpoint(&conn)?;
            Ok(Self {
                conn: Some(conn),
                position,
            })
        })
        .await?
    }

    /// The position of the last applied event.
    pub(crate) fn position(&self) -> Position {
        self.position
    }

    /// Decodes and applies `events` in one transaction. An event that
    /// cannot be decoded is returned as `Ok(Some(_))`: everything before it
    /// was applied and committed, nothing after it.
    pub(crate) async fn apply(
        &mut self,
        events: &[RecordedEvent],
    ) -> Result<Option<ProjectionError>, ProjectionError> {
        let (decoded, failure) = apply::decode_all(events);
        self.apply_decoded(decoded).await?;
        Ok(failure)
    }

    /// Applies decoded events in one transaction.
    pub(crate) async fn apply_decoded(
        &mut self,
        decoded: Vec<Decoded>,
    ) -> Result<Position, ProjectionError> {
        if decoded.is_empty() {
            return Ok(self.position);
        }
        let mut conn = self.conn.take().ok_or_else(|| {
            ProjectionError::Task("the writer connection was lost by a failed task".into())
        })?;
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = apply::apply_batch(&mut conn, &decoded);
            (conn, result)
        })
        .await?;
        self.conn = Some(conn);
        self.position = result?;
        Ok(self.position)
    }

    fn into_connection(self) -> Option<Connection> {
        self.conn
    }
}

/// Applies the log from the writer's checkpoint up to `up_to` (included).
async fn replay(
    writer: &mut Writer,
    store: &dyn EventStore,
    up_to: Position,
) -> Result<Position, ProjectionError> {
    while writer.position() < up_to {
        let page = store.read_all(writer.position() + 1, REPLAY_PAGE).await?;
        let page: Vec<RecordedEvent> = page
            .into_iter()
            .take_while(|e| e.position <= up_to)
            .collect();
        if page.is_empty() {
            break;
        }
        if let Some(e) = writer.apply(&page).await? {
            return Err(e);
        }
    }
    Ok(writer.position())
}

/// Drops every read model of the file at `path` and rebuilds them from the
/// log, up to the log's end when the rebuild starts; returns the position
/// reached.
///
/// Meant for a stopped server (or before [`crate::Projections::start`]): a
/// consumer running on the same file at the same time would interleave its
/// own batches. The rebuild commits page by page with its checkpoint, so an
/// interrupted rebuild is simply continued by the next consumer.
pub fn rebuild(
    path: &Path,
    store: Arc<dyn EventStore>,
) -> impl Future<Output = Result<Position, ProjectionError>> + Send + 'static {
    let path = path.to_owned();
    async move {
        let end = store.last_position().await?;
        let mut writer = Writer::open(path, true).await?;
        replay(&mut writer, store.as_ref(), end).await
    }
}

/// One row that differs between the live read models and a rebuild.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Difference {
    pub table: String,
    pub key: String,
    /// The live row (a JSON array of its columns), `None` when missing.
    pub live: Option<String>,
    /// The rebuilt row, `None` when missing.
    pub rebuilt: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |r: &Option<String>| r.clone().unwrap_or_else(|| "(missing)".into());
        write!(
            f,
            "{} {}: live {} rebuilt {}",
            self.table,
            self.key,
            show(&self.live),
            show(&self.rebuilt)
        )
    }
}

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// The live checkpoint that the rebuild was taken up to.
    pub position: Position,
    /// Rows compared (live and rebuilt together).
    pub rows_compared: u64,
    /// The first [`VerifyReport::MAX_LISTED`] differences.
    pub differences: Vec<Difference>,
    /// Differences beyond those listed.
    pub omitted: u64,
}

impl VerifyReport {
    pub const MAX_LISTED: usize = 1000;

    /// Whether the live read models equal the rebuilt ones.
    pub fn is_consistent(&self) -> bool {
        self.differences.is_empty() && self.omitted == 0
    }
}

/// Each compared table: its name, a text key that sorts the same in SQLite
/// and in Rust (bytewise), and the row as a JSON array.
const COMPARED: [(&str, &str, &str, &str); 6] = [
    (
        "checkpoint",
        "checkpoint",
        "CAST(id AS TEXT)",
        "json_array(position)",
    ),
    (
        "conversations",
        "conversations",
        "id",
        "json_array(customer_id, vendor_id, customer_name, vendor_name, customer_active_at, \
         vendor_active_at, product_id, product_name, product_json, started_by, created_at, \
         updated_at, last_seq, customer_read_seq, vendor_read_seq, customer_unread, \
         vendor_unread, first_customer_seq, first_customer_at, first_response_at)",
    ),
    (
        "messages",
        "messages",
        "conversation_id || '/' || printf('%020d', seq)",
        "json_array(id, vendor_id, sender_id, sender_role, kind, text, product_json, \
         client_message_id, sent_at, read_at)",
    ),
    (
        "inboxes",
        "inboxes",
        "user_id || '/' || role",
        "json_array(unread)",
    ),
    (
        "search_docs",
        "search_docs",
        "conversation_id || '/' || printf('%020d', seq) || '/' || kind",
        "json_array(rowid, visible_to, body)",
    ),
    // Every indexed rowid must belong to the same document in both.
    (
        "search_index",
        "search_index s LEFT JOIN search_docs d ON d.rowid = s.rowid",
        "printf('%020d', s.rowid)",
        "json_array(d.conversation_id, d.kind, d.seq)",
    ),
];

fn next(rows: &mut rusqlite::Rows<'_>) -> Result<Option<(String, String)>, ProjectionError> {
    Ok(match rows.next()? {
        Some(r) => Some((r.get(0)?, r.get(1)?)),
        None => None,
    })
}

/// Compares every table of `live` and `rebuilt`, walking both in key order.
fn compare(live: &Connection, rebuilt: &Connection) -> Result<VerifyReport, ProjectionError> {
    let mut report = VerifyReport {
        position: schema::checkpoint(live)?,
        rows_compared: 0,
        differences: Vec::new(),
        omitted: 0,
    };
    for (table, from, key, row) in COMPARED {
        let sql = format!("SELECT {key} AS k, {row} FROM {from} ORDER BY k");
        let mut a_stmt = live.prepare(&sql)?;
        let mut b_stmt = rebuilt.prepare(&sql)?;
        let mut a_rows = a_stmt.query([])?;
        let mut b_rows = b_stmt.query([])?;
        let mut a = next(&mut a_rows)?;
        let mut b = next(&mut b_rows)?;
        loop {
            let (key, live_row, rebuilt_row) = match (&a, &b) {
                (None, None) => break,
                (Some((ka, ra)), Some((kb, rb))) if ka == kb => {
                    report.rows_compared += 2;
                    let d = (ra != rb).then(|| (ka.clone(), Some(ra.clone()), Some(rb.clone())));
                    a = next(&mut a_rows)?;
                    b = next(&mut b_rows)?;
                    match d {
                        Some(d) => d,
                        None => continue,
                    }
                }
                (Some((ka, ra)), Some((kb, _))) if ka < kb => {
                    report.rows_compared += 1;
                    let d = (ka.clone(), Some(ra.clone()), None);
                    a = next(&mut a_rows)?;
                    d
                }
                (Some((ka, ra)), None) => {
                    report.rows_compared += 1;
                    let d = (ka.clone(), Some(ra.clone()), None);
                    a = next(&mut a_rows)?;
                    d
                }
                (_, Some((kb, rb))) => {
                    report.rows_compared += 1;
                    let d = (kb.clone(), None, Some(rb.clone()));
                    b = next(&mut b_rows)?;
                    d
                }
            };
            if report.differences.len() < VerifyReport::MAX_LISTED {
                report.differences.push(Difference {
                    table: table.to_owned(),
                    key,
                    live: live_row,
                    rebuilt: rebuilt_row,
                });
            } else {
                report.omitted += 1;
            }
        }
    }
    Ok(report)
}

/// Removes a scratch database and its WAL files when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            // Best effort: a leftover scratch file is harmless.
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
}

fn scratch_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "readmodels.db".into());
    path.with_file_name(format!(
        "{name}.verify-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Rebuilds the read models into a scratch file next to `path`, up to the
/// live checkpoint, and lists every row that differs (table, key, live row,
/// rebuilt row). The live file is read in one snapshot, so a consumer may
/// keep running meanwhile; the scratch file is removed afterwards.
pub async fn verify(
    path: &Path,
    store: Arc<dyn EventStore>,
) -> Result<VerifyReport, ProjectionError> {
    let live_path = path.to_owned();
    let (live, position) = tokio::task::spawn_blocking(move || {
        let conn = schema::open_reader(&live_path)?;
        // The snapshot starts at the first read and lasts until COMMIT.
        conn.execute_batch("BEGIN")?;
        let position = schema::checkpoint(&conn)?;
        Ok::<_, ProjectionError>((conn, position))
    })
    .await??;

    let scratch = Scratch(scratch_path(path));
    let mut writer = Writer::open(scratch.0.clone(), true).await?;
    replay(&mut writer, store.as_ref(), position).await?;
    let rebuilt = writer
        .into_connection()
        .ok_or_else(|| ProjectionError::Task("the scratch connection was lost".into()))?;
    let report = tokio::task::spawn_blocking(move || {
        let report = compare(&live, &rebuilt);
        live.execute_batch("COMMIT")?;
        drop(rebuilt);
        report
    })
    .await??;
    drop(scratch);
    Ok(report)
}
