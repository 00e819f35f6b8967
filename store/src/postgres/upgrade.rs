//! Hashing a log written before the hash chain existed (schema version 1
//! to 2), once: inside the migration's transaction, under the migration's
//! advisory lock, so that one node does it while the others wait, and the
//! log is either fully hashed and of version 2, or unchanged.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use souk_domain::Timestamp;
use tokio_postgres::Transaction;

use crate::chain::{self, ChainUpgrade, EventHash};

/// Events read and updated per batch (one log line each).
const BATCH: i64 = 20_000;

/// Computes and writes the hash of every event of the log in position
/// order (each stream's revision order), in batches, keeping the last hash
/// of each stream; records how far and when in `event_log_chain_upgrade`
/// (nothing for an empty log).
pub(super) async fn hash_existing(tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    let total: i64 = tx
        .query_one("SELECT count(*) FROM event_log", &[])
        .await?
        .get(0);
    if total == 0 {
        return Ok(());
    }
    tracing::info!(
        "the PostgreSQL event log predates the hash chain: hashing its {total} events once \
         (schema version 2)"
    );
    let started = Instant::now();
    let read = tx
        .prepare(
            "SELECT position, stream, revision, event_type, version, data, recorded_at \
             FROM event_log WHERE position > $1 ORDER BY position LIMIT $2",
        )
        .await?;
    let update = tx
        .prepare(
            "UPDATE event_log AS e SET hash = u.hash \
             FROM unnest($1::bigint[], $2::bytea[]) AS u(position, hash) \
             WHERE e.position = u.position",
        )
        .await?;
    let mut heads: HashMap<String, EventHash> = HashMap::new();
    let (mut after, mut done) = (0i64, 0i64);
    loop {
        let rows = tx.query(&read, &[&after, &BATCH]).await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.get(0);
        let mut positions = Vec::with_capacity(rows.len());
        let mut hashes = Vec::with_capacity(rows.len());
        for row in &rows {
            let stream: &str = row.get(1);
            let prev = heads.get(stream).copied().unwrap_or(EventHash::GENESIS);
            let hash = chain::link(
                &prev,
                stream,
                row.get::<_, i64>(2) as u64,
                row.get(3),
                row.get::<_, i64>(4) as u32,
                row.get(5),
                &Timestamp::from_datetime(row.get::<_, DateTime<Utc>>(6)),
            );
            match heads.get_mut(stream) {
                Some(head) => *head = hash,
                None => {
                    heads.insert(stream.to_owned(), hash);
                }
            }
            positions.push(row.get::<_, i64>(0));
            hashes.push(hash.0.to_vec());
        }
        tx.execute(&update, &[&positions, &hashes]).await?;
        done += rows.len() as i64;
        tracing::info!(
            "hashing the event log: {done} of {total} events (up to position {after}), {:.1?}",
            started.elapsed()
        );
    }
    let at = Timestamp::now();
    tx.execute(
        "INSERT INTO event_log_chain_upgrade (hashed_through, hashed_at) VALUES ($1, $2)",
        &[&after, &at.datetime()],
    )
    .await?;
    tracing::info!(
        "the event log is hashed: {done} events in {} streams, up to position {after}, in {:.1?}",
        heads.len(),
        started.elapsed()
    );
    Ok(())
}

/// The query for what `event_log_chain_upgrade` records.
pub(super) const READ_UPGRADE: &str =
    "SELECT hashed_through, hashed_at FROM event_log_chain_upgrade LIMIT 1";

pub(super) fn row_upgrade(row: &tokio_postgres::Row) -> ChainUpgrade {
    ChainUpgrade {
        through: row.get::<_, i64>(0) as u64,
        at: Timestamp::from_datetime(row.get::<_, DateTime<Utc>>(1)),
    }
}
