//! The checkpointer thread: copies the WAL back into the database file in
//! the background, woken by the writer (see the parent module's docs), and
//! survives failed checkpoints and panics.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::fault::panic_message;
use super::{unavailable, StoreError};

pub(super) fn open_checkpointer(path: &Path) -> Result<Connection, StoreError> {
    let at = |e: rusqlite::Error| unavailable(&format!("opening {}", path.display()), e);
    let conn = Connection::open(path).map_err(at)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(at)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(at)?;
    // It only ever checkpoints: never let it start one on its own.
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .map_err(at)?;
    Ok(conn)
}

/// Starts the checkpointer thread (at open, and again should it ever be
/// gone); returns what wakes it.
pub(super) fn spawn_checkpointer(
    path: &Path,
) -> Result<(std::sync::mpsc::SyncSender<()>, JoinHandle<()>), StoreError> {
    let conn = open_checkpointer(path)?;
    let (checkpoints, wake_ups) = std::sync::mpsc::sync_channel(1);
    let path = path.to_owned();
    let thread = std::thread::Builder::new()
        .name("souk-store-checkpoint".to_owned())
        .spawn(move || checkpoint_while_woken(&path, Some(conn), wake_ups))
        .map_err(|e| unavailable("starting the checkpointer thread", e))?;
    Ok((checkpoints, thread))
}

/// The checkpointer thread: after each wake-up from the writer, copies the
/// WAL's new pages into the database file and syncs it (a PASSIVE
/// checkpoint, which never blocks the writer nor the readers). Doing it here
/// takes that copying and its fsync off the writer's thread; the writer's
/// own automatic checkpoint then has little left to do. Ends when the
/// writer drops its end of the channel, and not before: a failed checkpoint
/// (a full disk, an I/O error) is retried at the next wake-up on a fresh
/// connection, and a panic is caught and logged.
pub(super) fn checkpoint_while_woken(
    path: &Path,
    mut conn: Option<Connection>,
    wake_ups: std::sync::mpsc::Receiver<()>,
) {
    while wake_ups.recv().is_ok() {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| checkpoint(path, &mut conn))) {
            tracing::error!(
                "the event store checkpointer panicked ({}); it goes on with a fresh connection",
                panic_message(&*panic)
            );
            conn = None;
        }
    }
    if let Some(Err((_, e))) = conn.map(Connection::close) {
        tracing::warn!("closing the event store checkpoint connection: {e}");
    }
}

/// One checkpoint, on `conn` (opened first if it is `None`); a connection
/// that failed for a reason other than being busy is dropped, so that the
/// next checkpoint starts on a fresh one.
pub(super) fn checkpoint(path: &Path, conn: &mut Option<Connection>) {
    let ready = match conn {
        Some(ready) => ready,
        None => match open_checkpointer(path) {
            Ok(opened) => conn.insert(opened),
            Err(e) => {
                tracing::warn!("event store checkpoint: {e}");
                return;
            }
        },
    };
    let result = ready.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    match result {
        Ok(()) => {}
        // The writer is checkpointing: its own checkpoints keep the WAL
        // bounded anyway.
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            tracing::debug!("event store checkpoint: {e}");
        }
        Err(e) => {
            tracing::warn!("event store checkpoint failed, retried at the next wake-up: {e}");
            *conn = None;
        }
    }
}
