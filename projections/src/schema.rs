//! The read-model database: its tables, its connections, its checkpoint.
//!
//! Times are stored as milliseconds since the epoch (`INTEGER`), ids as
//! text, roles as `customer`/`vendor`, product cards as their JSON.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use souk_store::Position;

use crate::error::ProjectionError;

/// Bumped whenever the tables change shape or what they hold for an event.
/// A file of another version is
/// dropped and rebuilt from the log on open: read models are disposable.
pub(crate) const SCHEMA_VERSION: i64 = 7;

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 64;

/// The page cache of a bulk rebuild, in KiB (SQLite's negative
/// `cache_size`): 256 MiB, so that the tables being filled stay in memory
/// (the measure example's 365,000 events take 8 % less CPU than with
/// 128 MiB; the memory is held only while a rebuild runs).
const BULK_CACHE_KIB: i64 = -256 * 1024;

/// How long a connection waits for another one's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The tables, with the indexes that applying events needs (primary keys,
/// `messages.id`, the conversation-level search documents).
const TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS checkpoint (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL
);
INSERT OR IGNORE INTO checkpoint (id, position) VALUES (1, 0);

CREATE TABLE IF NOT EXISTS conversations (
    id                 TEXT PRIMARY KEY,
    customer_id        TEXT NOT NULL,
    vendor_id          TEXT NOT NULL,
    customer_name      TEXT,
    vendor_name        TEXT,
    customer_active_at INTEGER,
    vendor_active_at   INTEGER,
    product_id         TEXT,
    product_name       TEXT,
    product_json       TEXT,
    current_product_json TEXT,
    started_by         TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    last_seq           INTEGER NOT NULL,
    customer_read_seq  INTEGER NOT NULL,
    vendor_read_seq    INTEGER NOT NULL,
    customer_unread    INTEGER NOT NULL,
    vendor_unread      INTEGER NOT NULL,
    first_customer_seq INTEGER,
    first_customer_at  INTEGER,
    first_response_at  INTEGER
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS messages (
    conversation_id   TEXT NOT NULL,
    seq               INTEGER NOT NULL,
    id                TEXT NOT NULL UNIQUE,
    vendor_id         TEXT NOT NULL,
    sender_id         TEXT NOT NULL,
    sender_role       TEXT NOT NULL,
    kind              TEXT NOT NULL,
    text              TEXT,
    product_json      TEXT,
    client_message_id TEXT,
    sent_at           INTEGER NOT NULL,
    read_at           INTEGER,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS inboxes (
    user_id TEXT NOT NULL,
    role    TEXT NOT NULL,
    unread  INTEGER NOT NULL,
    PRIMARY KEY (user_id, role)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS search_docs (
    rowid           INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    kind            TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    visible_to      TEXT NOT NULL,
    body            TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS search_docs_of_conversation
    ON search_docs (conversation_id, kind) WHERE seq = 0;
CREATE VIRTUAL TABLE IF NOT EXISTS search_index USING fts5(
    owner, conv, body, content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3'
);
"#;

/// The indexes that only queries use: a bulk rebuild creates them once
/// at the end, far faster than keeping them up to date row by row.
const QUERY_INDEXES: &str = r#"
CREATE INDEX IF NOT EXISTS conversations_by_customer
    ON conversations (customer_id, updated_at, id);
CREATE INDEX IF NOT EXISTS conversations_by_vendor
    ON conversations (vendor_id, updated_at, id);
CREATE INDEX IF NOT EXISTS conversations_by_vendor_created
    ON conversations (vendor_id, created_at);
CREATE INDEX IF NOT EXISTS conversations_by_vendor_first_customer
    ON conversations (vendor_id, first_customer_at);
CREATE INDEX IF NOT EXISTS messages_by_vendor_time
    ON messages (vendor_id, sent_at, sender_role, conversation_id);
"#;

/// Every table, for dropping.
const TABLE_NAMES: [&str; 6] = [
    "checkpoint",
    "conversations",
    "messages",
    "inboxes",
    "search_docs",
    "search_index",
];

fn configure(conn: &Connection) -> Result<(), ProjectionError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Applying an event uses about twenty distinct statements; the default
    // cache of 16 would re-prepare some of them for every event.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // WAL: readers never block the writer nor the writer the readers.
    // synchronous = NORMAL: a power cut may lose the last commits, but the
    // checkpoint is lost with them, so the consumer simply applies those
    // events again; the log, not this file, is the durable record.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    Ok(())
}

/// Opens (creating if needed) the file for writing and brings its schema to
/// [`SCHEMA_VERSION`], dropping a file of another version.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, ProjectionError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != SCHEMA_VERSION {
        if version != 0 {
            tracing::warn!(
                found = version,
                expected = SCHEMA_VERSION,
                "read models have another schema version; dropping them to rebuild from the log"
            );
        }
        reset(&mut conn)?;
    } else {
        create(&conn)?;
    }
    Ok(conn)
}

/// Opens a connection for queries.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, ProjectionError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Drops every read model and the checkpoint, and creates them empty, in one
/// transaction.
pub(crate) fn reset(conn: &mut Connection) -> Result<(), ProjectionError> {
    let tx = conn.transaction()?;
    for table in TABLE_NAMES {
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {table};"))?;
    }
    create(&tx)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Creates whatever is missing of the tables and their indexes.
fn create(conn: &Connection) -> Result<(), ProjectionError> {
    conn.execute_batch(TABLES)?;
    conn.execute_batch(QUERY_INDEXES)?;
    Ok(())
}

/// Opens a new file for a bulk rebuild: no journal and no syncing (the
/// file is scratch until it is complete and put in place, so a crash
/// meanwhile loses nothing but the scratch), an exclusive lock, a large page
/// cache, and the tables without their query indexes ([`finish_bulk`]
/// creates them).
pub(crate) fn open_bulk(path: &Path) -> Result<Connection, ProjectionError> {
    let conn = Connection::open(path)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", BULK_CACHE_KIB)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.execute_batch(TABLES)?;
    Ok(conn)
}

/// Completes a bulk-built file: its query indexes, its schema version, the
/// WAL journal that the live connections expect; then closes it and writes
/// it to the disk (it is about to replace the live file).
pub(crate) fn finish_bulk(conn: Connection, path: &Path) -> Result<(), ProjectionError> {
    conn.execute_batch(QUERY_INDEXES)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    conn.pragma_update(None, "locking_mode", "NORMAL")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.close().map_err(|(_, e)| e)?;
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

/// The position of the last applied event.
pub(crate) fn checkpoint(conn: &Connection) -> Result<Position, ProjectionError> {
    let p: Option<i64> = conn
        .query_row("SELECT position FROM checkpoint WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(p.unwrap_or(0).max(0) as Position)
}
