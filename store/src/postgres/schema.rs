//! The versioned schema of the shared log: migrations as SQL files under
//! `sql/`, applied in order at start, each in its own transaction with its
//! version recorded in `event_log_schema`. Version 2 (the hash chain) also
//! runs code in its transaction: hashing the events already there (see
//! `upgrade`), then making the column `NOT NULL`.
//!
//! Several nodes may start at once against a new database: each takes a
//! session-level advisory lock ([`MIGRATION_LOCK`]) on its own connection
//! before looking at the schema, so exactly one creates or migrates it and
//! the others then find it current. The lock goes with the connection, so
//! a node that dies while migrating does not block the others. A database
//! whose schema is newer than this build's is refused rather than written
//! with assumptions that may no longer hold.

use tokio_postgres::Client;

use super::connect::unavailable;
use crate::StoreError;

/// Version and name of each migration, in order, with its SQL.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "event log", include_str!("sql/001_event_log.sql")),
    (2, "event hash", include_str!("sql/002_event_hash.sql")),
];

/// The version whose migration adds the hash chain.
const HASH_VERSION: i32 = 2;

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The advisory lock key ("souk log" in ASCII) held while migrating.
pub(crate) const MIGRATION_LOCK: i64 = 0x736f_756b_206c_6f67;

const VERSIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS event_log_schema (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

/// Creates or migrates the schema on `client` (a connection of its own:
/// the lock is the session's). Returns the version found before.
pub(crate) async fn migrate(client: &mut Client) -> Result<i32, StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| unavailable("waiting for the schema migration lock", &e))?;
    let result = migrate_locked(client).await;
    // On error the caller drops the connection, which releases the lock too.
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| unavailable("releasing the schema migration lock", &e))?;
    result
}

async fn migrate_locked(client: &mut Client) -> Result<i32, StoreError> {
    client
        .batch_execute(VERSIONS_TABLE)
        .await
        .map_err(|e| unavailable("creating event_log_schema", &e))?;
    let found: i32 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM event_log_schema",
            &[],
        )
        .await
        .map_err(|e| unavailable("reading the schema version", &e))?
        .get(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(format!(
            "the PostgreSQL event log has schema version {found}, newer than this build's \
             {SCHEMA_VERSION}: upgrade souk"
        )));
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, ..)| *v > found) {
        let at = |e: tokio_postgres::Error| {
            unavailable(
                &format!("migrating the event log to version {version} ({name})"),
                &e,
            )
        };
        let tx = client.transaction().await.map_err(at)?;
        tx.batch_execute(sql).await.map_err(at)?;
        if *version == HASH_VERSION {
            super::upgrade::hash_existing(&tx).await.map_err(at)?;
            tx.batch_execute("ALTER TABLE event_log ALTER COLUMN hash SET NOT NULL")
                .await
                .map_err(at)?;
        }
        tx.execute(
            "INSERT INTO event_log_schema (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await
        .map_err(at)?;
        tx.commit().await.map_err(at)?;
        tracing::info!("PostgreSQL event log schema at version {version} ({name})");
    }
    Ok(found)
}
