//! The writer side shared by the live consumer, [`rebuild`] and [`verify`].
//!
//! # Bulk building
//!
//! A rebuild does not replay the log through the live consumer's path (a
//! transaction per batch in WAL mode, every index kept up to date row by
//! row): it fills a new scratch file in **one** transaction with no journal
//! and no syncing, applies the events with the very same code (`apply`), so
//! the rows are exactly those of live application, creates the indexes that
//! only queries use at the end, and then renames the finished file over the
//! live one. Reading the log runs on its own task, one page ahead of
//! applying, and decodes there.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use serde::Serialize;
use souk_store::{EventStore, Position};
use tokio::sync::mpsc;

use crate::apply::{self, Decoded};
use crate::error::ProjectionError;
use crate::fault::FaultSwitch;
use crate::file::{self, Scratch};
use crate::schema;

/// Events read from the log per page while rebuilding.
const REPLAY_PAGE: usize = 2000;
/// Pages read ahead of the one being applied.
const READ_AHEAD: usize = 4;

/// The one connection that writes a read-model file. Applying runs on a
/// blocking thread; the connection travels there and back.
pub(crate) struct ReadModelWriter {
    conn: Option<Connection>,
    position: Position,
    faults: Option<Arc<FaultSwitch>>,
}

impl ReadModelWriter {
    /// Opens the file, dropping its read models first when `reset`; every
    /// commit first asks `faults` whether to fail.
    pub(crate) async fn open(
        path: PathBuf,
        reset: bool,
        faults: Option<Arc<FaultSwitch>>,
    ) -> Result<Self, ProjectionError> {
        tokio::task::spawn_blocking(move || {
            let mut conn = schema::open_writer(&path)?;
            if reset {
                schema::reset(&mut conn)?;
            }
            let position = schema::checkpoint(&conn)?;
            Ok(Self {
                conn: Some(conn),
                position,
                faults,
            })
        })
        .await?
    }

    /// The position of the last applied event.
    pub(crate) fn position(&self) -> Position {
        self.position
    }

    /// Applies decoded events in one transaction. On failure nothing of
    /// them is applied (the transaction rolls back).
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
        let faults = self.faults.clone();
        let (conn, result) = tokio::task::spawn_blocking(move || {
            let result = apply::apply_batch(&mut conn, &decoded, || match &faults {
                Some(f) => Ok(f.check()?),
                None => Ok(()),
            });
            (conn, result)
        })
        .await?;
        self.conn = Some(conn);
        self.position = result?;
        Ok(self.position)
    }
}

/// Where a bulk build stands, for progress reports: the position applied
/// and the position it builds up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub position: Position,
    pub target: Position,
}

/// What [`build`] made.
pub(crate) struct Built {
    /// The last position applied.
    pub position: Position,
    /// The event that could not be decoded, where the build stopped
    /// (everything before it is in the file).
    pub undecodable: Option<ProjectionError>,
}

/// Builds complete read models of the log up to `up_to` (included) into a
/// new file at `path` (see the module docs); `progress` hears of every page
/// applied. The file is complete (indexes, schema version, WAL mode) and on
/// disk when this returns `Ok`.
pub(crate) async fn build(
    path: PathBuf,
    store: Arc<dyn EventStore>,
    up_to: Position,
    mut progress: impl FnMut(Progress) + Send + 'static,
) -> Result<Built, ProjectionError> {
    let (pages, mut inbox) = mpsc::channel::<Result<Vec<Decoded>, ProjectionError>>(READ_AHEAD);
    // Reads and decodes the log, a page ahead of applying.
    let reader = tokio::spawn(async move {
        let mut from = 1;
        while from <= up_to {
            let page = match store.read_all(from, REPLAY_PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    let _ = pages.send(Err(e.into())).await;
                    return;
                }
            };
            let page: Vec<_> = page
                .into_iter()
                .take_while(|e| e.position <= up_to)
                .collect();
            let Some(last) = page.last() else { return };
            from = last.position + 1;
            let (decoded, undecodable) = apply::decode_all(&page);
            if pages.send(Ok(decoded)).await.is_err() {
                return;
            }
            if let Some(e) = undecodable {
                let _ = pages.send(Err(e)).await;
                return;
            }
        }
    });
    let built = tokio::task::spawn_blocking(move || -> Result<Built, ProjectionError> {
        let mut conn = schema::open_bulk(&path)?;
        let tx = conn.transaction()?;
        let mut position = 0;
        let mut undecodable = None;
        while let Some(page) = inbox.blocking_recv() {
            match page {
                Ok(decoded) => {
                    position = apply::apply_in(&tx, &decoded, position)?;
                    progress(Progress {
                        position,
                        target: up_to,
                    });
                }
                Err(e @ ProjectionError::Decode { .. }) => {
                    undecodable = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        apply::set_checkpoint(&tx, position)?;
        tx.commit()?;
        schema::finish_bulk(conn, &path)?;
        Ok(Built {
            position,
            undecodable,
        })
    })
    .await;
    reader.abort();
    built?
}

/// Rebuilds the read models of the file at `path` from the log, up to the
/// log's end when the rebuild starts, and returns the position reached.
/// Whatever the file held is replaced, even a file SQLite cannot open.
///
/// Meant for a stopped server (a running one rebuilds by itself what it
/// finds missing or damaged). The new file is built under a scratch name
/// and renamed into place when complete: an interrupted rebuild leaves the
/// old file as it was.
pub fn rebuild(
    path: &Path,
    store: Arc<dyn EventStore>,
) -> impl Future<Output = Result<Position, ProjectionError>> + Send + 'static {
    rebuild_with_progress(path, store, |_| {})
}

/// [`rebuild`], telling `progress` how far it got after every page (a few
/// thousand events).
pub fn rebuild_with_progress(
    path: &Path,
    store: Arc<dyn EventStore>,
    progress: impl FnMut(Progress) + Send + 'static,
) -> impl Future<Output = Result<Position, ProjectionError>> + Send + 'static {
    let path = path.to_owned();
    async move {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let end = store.last_position().await?;
        let scratch = Scratch::next_to(&path, "rebuild");
        let built = build(scratch.0.clone(), store, end, progress).await?;
        if let Some(e) = built.undecodable {
            return Err(e);
        }
        let (from, to) = (scratch.0.clone(), path.clone());
        tokio::task::spawn_blocking(move || file::install(&from, &to)).await??;
        Ok(built.position)
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
    /// The log's end when the verification started: read models whose
    /// checkpoint stays before it lag (a difference).
    pub log_end: Position,
    /// Rows compared (live and rebuilt together).
    pub rows_compared: u64,
    /// The first [`VerifyReport::MAX_LISTED`] differences.
    pub differences: Vec<Difference>,
    /// Differences beyond those listed.
    pub omitted: u64,
}

impl VerifyReport {
    pub const MAX_LISTED: usize = 1000;

    /// Whether the live read models equal the rebuilt ones and hold the
    /// whole log.
    pub fn is_consistent(&self) -> bool {
        self.differences.is_empty() && self.omitted == 0 && self.lag() == 0
    }

    /// How many events of the log the live read models miss.
    pub fn lag(&self) -> Position {
        self.log_end.saturating_sub(self.position)
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
         vendor_active_at, product_id, product_name, product_json, current_product_json, \
         started_by, created_at, updated_at, last_seq, customer_read_seq, vendor_read_seq, \
         customer_unread, vendor_unread, first_customer_seq, first_customer_at, \
         first_response_at)",
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
        log_end: 0,
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

/// How long [`verify`] gives read models that are behind the log's end to
/// reach it (a running server commits within [`crate::WRITE_BEHIND`])
/// before it calls them lagging.
const VERIFY_SETTLE: Duration = Duration::from_secs(2);
/// How often it looks meanwhile.
const VERIFY_POLL: Duration = Duration::from_millis(20);

/// Rebuilds the read models into a scratch file next to `path`, up to the
/// live checkpoint, and lists every row that differs (table, key, live row,
/// rebuilt row). Read models that lag the log (their checkpoint is still
/// before the log's end, as read first, after [`VERIFY_SETTLE`]) differ in
/// their `checkpoint` row: live, their position; rebuilt, the log's end.
/// The live file is read in one snapshot, so a consumer may keep running
/// meanwhile; the scratch file is removed afterwards.
pub async fn verify(
    path: &Path,
    store: Arc<dyn EventStore>,
) -> Result<VerifyReport, ProjectionError> {
    let log_end = store.last_position().await?;
    let live_path = path.to_owned();
    let deadline = tokio::time::Instant::now() + VERIFY_SETTLE;
    let (live, position) = loop {
        let live_path = live_path.clone();
        let (conn, position) = tokio::task::spawn_blocking(move || {
            let conn = schema::open_reader(&live_path)?;
            // The snapshot starts at the first read and lasts until COMMIT.
            conn.execute_batch("BEGIN")?;
            let position = schema::checkpoint(&conn)?;
            Ok::<_, ProjectionError>((conn, position))
        })
        .await??;
        if position >= log_end || tokio::time::Instant::now() >= deadline {
            break (conn, position);
        }
        drop(conn);
        tokio::time::sleep(VERIFY_POLL).await;
    };

    let scratch = Scratch::next_to(path, "verify");
    let built = build(scratch.0.clone(), store, position, |_| {}).await?;
    if let Some(e) = built.undecodable {
        return Err(e);
    }
    let rebuilt_path = scratch.0.clone();
    let mut report = tokio::task::spawn_blocking(move || {
        let rebuilt = schema::open_reader(&rebuilt_path)?;
        let report = compare(&live, &rebuilt);
        live.execute_batch("COMMIT")?;
        report
    })
    .await??;
    report.log_end = log_end;
    if position < log_end {
        report.differences.insert(
            0,
            Difference {
                table: "checkpoint".into(),
                key: "1".into(),
                live: Some(format!("[{position}]")),
                rebuilt: Some(format!("[{log_end}]")),
            },
        );
        if report.differences.len() > VerifyReport::MAX_LISTED {
            report.differences.pop();
            report.omitted += 1;
        }
    }
    drop(scratch);
    Ok(report)
}
