//! Hashing a log written before the hash chain existed (schema version 2
//! to 3), once, when it is opened: inside the migration's transaction, so
//! the file is either fully hashed and of version 3, or unchanged.

use std::collections::HashMap;
use std::time::Instant;

use souk_domain::Timestamp;

use crate::chain::{self, ChainUpgrade, EventHash};

/// Events read and updated per batch (one log line each).
const BATCH: i64 = 20_000;

/// Computes and writes the hash of every event of the log, in position
/// order (which is each stream's revision order), in batches, keeping the
/// last hash of each stream; then records in `chain_upgrade` up to which
/// position the log was hashed, and when. An empty log records nothing.
pub(super) fn hash_existing(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let total: i64 = tx.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
    if total == 0 {
        return Ok(());
    }
    tracing::info!(
        "the event log predates the hash chain: hashing its {total} events once (schema version 3)"
    );
    let started = Instant::now();
    let mut heads: HashMap<i64, EventHash> = HashMap::new();
    let mut after = 0i64;
    let mut done = 0i64;
    let mut read = tx.prepare(
        "SELECT e.position, e.stream_id, s.name, e.revision, e.event_type, e.version, e.data, \
         e.recorded_at FROM events AS e CROSS JOIN streams AS s ON s.id = e.stream_id \
         WHERE e.position > ?1 ORDER BY e.position LIMIT ?2",
    )?;
    let mut update = tx.prepare("UPDATE events SET hash = ?1 WHERE position = ?2")?;
    loop {
        let mut hashed: Vec<(i64, EventHash)> = Vec::new();
        let mut rows = read.query([after, BATCH])?;
        while let Some(row) = rows.next()? {
            let position: i64 = row.get(0)?;
            let stream_id: i64 = row.get(1)?;
            let prev = heads.get(&stream_id).copied().unwrap_or(EventHash::GENESIS);
            let hash = chain::link(
                &prev,
                row.get_ref(2)?.as_str()?,
                row.get::<_, i64>(3)? as u64,
                row.get_ref(4)?.as_str()?,
                row.get(5)?,
                row.get_ref(6)?.as_str()?,
                &Timestamp::from_millis(row.get(7)?),
            );
            heads.insert(stream_id, hash);
            hashed.push((position, hash));
        }
        drop(rows);
        let Some(&(last, _)) = hashed.last() else {
            break;
        };
        for (position, hash) in &hashed {
            update.execute(rusqlite::params![&hash.0[..], position])?;
        }
        after = last;
        done += hashed.len() as i64;
        tracing::info!(
            "hashing the event log: {done} of {total} events (up to position {after}), {:.1?}",
            started.elapsed()
        );
    }
    let upgrade = ChainUpgrade {
        through: after as u64,
        at: Timestamp::now(),
    };
    tx.execute(
        "INSERT INTO chain_upgrade (hashed_through, hashed_at) VALUES (?1, ?2)",
        [after, upgrade.at.millis()],
    )?;
    tracing::info!(
        "the event log is hashed: {done} events in {} streams, up to position {after}, in {:.1?}",
        heads.len(),
        started.elapsed()
    );
    Ok(())
}

/// What `chain_upgrade` records, if anything.
pub(super) fn read_upgrade(conn: &rusqlite::Connection) -> rusqlite::Result<Option<ChainUpgrade>> {
    use rusqlite::OptionalExtension;
    conn.query_row(
        "SELECT hashed_through, hashed_at FROM chain_upgrade",
        [],
        |r| {
            Ok(ChainUpgrade {
                through: r.get::<_, i64>(0)? as u64,
                at: Timestamp::from_millis(r.get(1)?),
            })
        },
    )
    .optional()
}
