//! Inserting a group's rows: [`INSERT_CHUNK`] rows per statement, so that
//! the fixed cost of executing a statement is shared (see the parent
//! module's docs).

use std::sync::LazyLock;

pub(super) const INSERT: &str = "INSERT OR ROLLBACK INTO events \
    (position, stream_id, revision, event_type, version, data, recorded_at, hash) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// One row of `events` to insert.
pub(super) struct Row<'a> {
    pub(super) position: i64,
    pub(super) stream_id: i64,
    pub(super) revision: i64,
    pub(super) event_type: &'a str,
    pub(super) version: u32,
    pub(super) data: &'a str,
    /// `recorded_at`, in milliseconds.
    pub(super) at: i64,
    pub(super) hash: [u8; 32],
}

/// Rows inserted by one execution of [`INSERT_CHUNK_SQL`]: executing a
/// statement has a fixed cost (binding aside), shared by its rows.
pub(super) const INSERT_CHUNK: usize = 32;

/// Columns bound per row.
pub(super) const INSERT_COLUMNS: usize = 8;

/// [`INSERT`] with [`INSERT_CHUNK`] rows.
pub(super) static INSERT_CHUNK_SQL: LazyLock<String> = LazyLock::new(|| {
    let row = "(?, ?, ?, ?, ?, ?, ?, ?)";
    format!(
        "INSERT OR ROLLBACK INTO events \
         (position, stream_id, revision, event_type, version, data, recorded_at, hash) \
         VALUES {}",
        vec![row; INSERT_CHUNK].join(", ")
    )
});

/// Inserts `rows` in order: [`INSERT_CHUNK`] rows per statement, then the
/// rest one by one.
pub(super) fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    rows: &[Row<'_>],
) -> rusqlite::Result<()> {
    fn bind(
        stmt: &mut rusqlite::CachedStatement<'_>,
        first: usize,
        row: &Row<'_>,
    ) -> rusqlite::Result<()> {
        stmt.raw_bind_parameter(first, row.position)?;
        stmt.raw_bind_parameter(first + 1, row.stream_id)?;
        stmt.raw_bind_parameter(first + 2, row.revision)?;
        stmt.raw_bind_parameter(first + 3, row.event_type)?;
        stmt.raw_bind_parameter(first + 4, row.version)?;
        stmt.raw_bind_parameter(first + 5, row.data)?;
        stmt.raw_bind_parameter(first + 6, row.at)?;
        stmt.raw_bind_parameter(first + 7, &row.hash[..])
    }
    let mut chunks = rows.chunks_exact(INSERT_CHUNK);
    if chunks.len() > 0 {
        let mut insert = tx.prepare_cached(&INSERT_CHUNK_SQL)?;
        for chunk in &mut chunks {
            for (i, row) in chunk.iter().enumerate() {
                bind(&mut insert, i * INSERT_COLUMNS + 1, row)?;
            }
            insert.raw_execute()?;
        }
    }
    if !chunks.remainder().is_empty() {
        let mut insert = tx.prepare_cached(INSERT)?;
        for row in chunks.remainder() {
            bind(&mut insert, 1, row)?;
            insert.raw_execute()?;
        }
    }
    Ok(())
}
