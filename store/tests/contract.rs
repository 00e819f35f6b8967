//! The contract suite against every backend of this crate.

mod memory {
    souk_store::contract_tests!(souk_store::MemoryStore::new);
}
