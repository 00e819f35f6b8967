//! The contract suite against every backend of this crate.

mod memory {
    souk_store::contract_tests!(souk_store::MemoryStore::new);
}

/// A SqliteStore in a temporary directory that lives as long as any clone.
#[derive(Clone)]
struct TempSqlite {
    store: souk_store::SqliteStore,
    _dir: std::sync::Arc<tempfile::TempDir>,
}

impl TempSqlite {
    fn open(config: souk_store::SqliteConfig) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = souk_store::SqliteStore::open(&dir.path().join("events.db"), config)
            .expect("open the store");
        Self {
            store,
            _dir: std::sync::Arc::new(dir),
        }
    }
}

#[async_trait::async_trait]
impl souk_store::EventStore for TempSqlite {
    async fn append(
        &self,
        stream: &str,
        expected: souk_store::ExpectedRevision,
        events: Vec<souk_store::NewEvent>,
    ) -> Result<souk_store::AppendResult, souk_store::StoreError> {
        self.store.append(stream, expected, events).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: souk_store::ReadFrom,
        direction: souk_store::Direction,
        limit: usize,
    ) -> Result<Vec<souk_store::RecordedEvent>, souk_store::StoreError> {
        self.store.read_stream(stream, from, direction, limit).await
    }

    async fn read_all(
        &self,
        from: souk_store::Position,
        limit: usize,
    ) -> Result<Vec<souk_store::RecordedEvent>, souk_store::StoreError> {
        self.store.read_all(from, limit).await
    }

    async fn last_position(&self) -> Result<souk_store::Position, souk_store::StoreError> {
        self.store.last_position().await
    }

    fn subscribe_all(&self, after: souk_store::Position) -> souk_store::Subscription {
        self.store.subscribe_all(after)
    }

    async fn chain_upgrade(
        &self,
    ) -> Result<Option<souk_store::ChainUpgrade>, souk_store::StoreError> {
        self.store.chain_upgrade().await
    }
}

/// The default configuration, as the server runs it.
mod sqlite {
    use super::TempSqlite;

    souk_store::contract_tests!(|| TempSqlite::open(souk_store::SqliteConfig::default()));
}

/// Tiny groups and a tiny live buffer: many groups per test, and live
/// subscribers that fall behind all the time.
mod sqlite_small_groups {
    use super::TempSqlite;

    souk_store::contract_tests!(|| TempSqlite::open(souk_store::SqliteConfig {
        max_batch_events: 3,
        group_commit: true,
        live_buffer: 2,
    }));
}

/// One transaction per append.
mod sqlite_no_group_commit {
    use super::TempSqlite;

    souk_store::contract_tests!(|| TempSqlite::open(souk_store::SqliteConfig {
        group_commit: false,
        ..souk_store::SqliteConfig::default()
    }));
}
