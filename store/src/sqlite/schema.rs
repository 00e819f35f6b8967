//! The event log's file: its schema (version 3: stream names interned,
//! each event's hash), the migrations from versions 1 and 2, and the write
//! connection's settings (WAL, `synchronous=FULL`, its page cache). See the
//! parent module for why the writer is shaped as it is.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::{unavailable, StoreError, WAL_AUTOCHECKPOINT_PAGES};

/// The writer's page cache, in KiB: enough to keep the hot part of the
/// `(stream_id, revision)` index in memory instead of re-reading it, and no
/// more, since until the file reaches 1 GiB every commit scans the whole
/// cache (see the module docs).
pub(super) const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// The schema version this code writes (`PRAGMA user_version`). Version 1
/// kept the stream name in every event row; version 2 had no hashes.
/// [`open`](super::SqliteStore::open) migrates such a file to version 3
/// (see [`migrate`] and [`super::upgrade`]).
pub(super) const SCHEMA_VERSION: i64 = 3;

/// Version 2: stream names interned in `streams`, so that each row of
/// `events` and each entry of its `(stream_id, revision)` index carries a
/// small integer instead of a ~50-byte name.
pub(super) const STREAMS_TABLE: &str = "
CREATE TABLE IF NOT EXISTS streams (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
) STRICT;
";

/// The columns of `events` in version 2, after `CREATE TABLE <name>`: the
/// migration from version 1 builds the table under another name first;
/// version 3 then adds [`HASH_COLUMN`]. `stream_id` is a `streams.id`,
/// written by the writer in the same transaction as the stream's first
/// event; it is deliberately not declared a foreign key, since the bundled
/// SQLite enforces foreign keys by default, which would cost a lookup in
/// `streams` per event.
pub(super) const EVENTS_TABLE: &str = "(
    position    INTEGER PRIMARY KEY,
    stream_id   INTEGER NOT NULL,
    revision    INTEGER NOT NULL,
    event_type  TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    data        TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL
) STRICT";

/// Version 3: each event's hash (32 bytes, see `crate::chain`), written
/// with the event. Added to the version-2 table, hence nullable in SQL;
/// never NULL once the file is open (a log of version 2 is hashed when it
/// is upgraded, in the same transaction).
pub(super) const HASH_COLUMN: &str = "ALTER TABLE events ADD COLUMN hash BLOB";

/// Version 3: at most one row, written when a log of version 2 that held
/// events was upgraded: events up to `hashed_through` were hashed then
/// (`hashed_at`, Unix milliseconds), not when they were appended.
pub(super) const CHAIN_UPGRADE_TABLE: &str = "
CREATE TABLE IF NOT EXISTS chain_upgrade (
    hashed_through INTEGER NOT NULL,
    hashed_at      INTEGER NOT NULL
) STRICT;
";

/// Created by name (not as a table constraint), after the table is filled
/// when migrating.
pub(super) const EVENTS_INDEX: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS events_stream_revision ON events (stream_id, revision)";

pub(super) const INSERT_STREAM: &str = "INSERT INTO streams (name) VALUES (?1)";

/// A stream's id, and its last event's revision and hash (NULL if it has
/// no events), along the `(stream_id, revision)` index.
pub(super) const HEAD_OF: &str = "SELECT s.id, e.revision, e.hash FROM streams AS s \
    LEFT JOIN events AS e ON e.stream_id = s.id \
    AND e.revision = (SELECT MAX(revision) FROM events WHERE stream_id = s.id) \
    WHERE s.name = ?1";

pub(super) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let at = |e: rusqlite::Error| unavailable(&format!("opening {}", path.display()), e);
    let mut conn = Connection::open(path).map_err(at)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(at)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(at)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "{}: could not switch to WAL mode (got {mode})",
            path.display()
        )));
    }
    // FULL: in WAL mode, every commit fsyncs the WAL, so an acknowledged
    // append survives a power cut, not only a crash of the process.
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(at)?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .map_err(at)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
        .map_err(at)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(at)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "{}: the event log has schema version {version}, newer than this build's {SCHEMA_VERSION}",
            path.display()
        )));
    }
    if version < SCHEMA_VERSION {
        create_or_migrate(&mut conn).map_err(|e| {
            unavailable(
                &format!(
                    "{}: creating or migrating the event log schema (version {version})",
                    path.display()
                ),
                e,
            )
        })?;
    }
    Ok(conn)
}

/// Brings a file of an older schema version (or a new, empty file) to
/// [`SCHEMA_VERSION`], in one transaction: either the whole log is
/// migrated (and hashed) or nothing changes.
pub(super) fn create_or_migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Version 1 (or a version-1 file whose `user_version` was never set: the
    // first build created the table before setting it) has a `stream` column.
    let version_1: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('events') WHERE name = 'stream'",
        [],
        |r| r.get(0),
    )?;
    if version_1 {
        migrate(&tx)?;
    }
    tx.execute_batch(STREAMS_TABLE)?;
    tx.execute_batch(&format!("CREATE TABLE IF NOT EXISTS events {EVENTS_TABLE}"))?;
    tx.execute_batch(EVENTS_INDEX)?;
    tx.execute_batch(CHAIN_UPGRADE_TABLE)?;
    let has_hash: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('events') WHERE name = 'hash'",
        [],
        |r| r.get(0),
    )?;
    if !has_hash {
        tx.execute_batch(HASH_COLUMN)?;
        super::upgrade::hash_existing(&tx)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()
}

/// Version 1 to 2, inside the caller's transaction: intern the stream names
/// (ids in order of each stream's first event), copy the events in position
/// order into a new table, drop the old one (and its index) and give the new
/// one its name. The caller then creates the index, faster on a full table
/// than entry by entry.
pub(super) fn migrate(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(STREAMS_TABLE)?;
    tx.execute_batch(&format!(
        "
        INSERT INTO streams (name)
            SELECT stream FROM events GROUP BY stream ORDER BY MIN(position);
        CREATE TABLE events_v2 {EVENTS_TABLE};
        INSERT INTO events_v2
            SELECT e.position, s.id, e.revision, e.event_type, e.version, e.data, e.recorded_at
            FROM events AS e CROSS JOIN streams AS s ON s.name = e.stream
            ORDER BY e.position;
        DROP TABLE events;
        ALTER TABLE events_v2 RENAME TO events;
        "
    ))
}

pub(super) fn max_position(conn: &Connection) -> rusqlite::Result<u64> {
    let max: Option<i64> = conn.query_row("SELECT MAX(position) FROM events", [], |r| r.get(0))?;
    Ok(max.map_or(0, |p| p as u64))
}
