//! The PostgreSQL backend: the contract suite, and what only a shared log
//! has (several nodes, i.e. store handles, on one database; losing and
//! regaining PostgreSQL). Needs `SOUK_TEST_PG_URL` (see
//! `souk_store::postgres::testing`); each test uses a database of its own.

use souk_store::postgres::testing::scratch_database_blocking;
use souk_store::{PostgresConfig, PostgresStore};

fn store(config: PostgresConfig) -> PostgresStore {
    PostgresStore::connect_blocking(&scratch_database_blocking(), config).expect("connect")
}

/// The default configuration, as a node runs it.
mod contract {
    souk_store::contract_tests!(|| super::store(souk_store::PostgresConfig::default()));
}

/// Tiny groups and a tiny live buffer: many groups per test, and live
/// subscribers that fall behind all the time.
mod contract_small_groups {
    souk_store::contract_tests!(|| super::store(souk_store::PostgresConfig {
        max_batch_events: 3,
        live_buffer: 2,
        pool_size: 2,
        ..souk_store::PostgresConfig::default()
    }));
}

/// One transaction per append.
mod contract_no_group_commit {
    souk_store::contract_tests!(|| super::store(souk_store::PostgresConfig {
        group_commit: false,
        ..souk_store::PostgresConfig::default()
    }));
}
