//! What each kind of event costs the read models' file: the tables and
//! indexes whose pages one commit writes. Every page a commit dirties is
//! written to the WAL (and later copied into the file at a checkpoint), so a
//! page written for nothing is CPU and disk spent on every event of that
//! kind.

mod common;

use std::collections::BTreeSet;

use common::*;
use rusqlite::{Connection, OpenFlags};
use souk_domain::{ConversationId, Role};

/// The WAL's length now, in bytes: where the next commit's frames start.
fn wal_end(w: &World) -> u64 {
    std::fs::metadata(wal_path(w)).map_or(0, |m| m.len())
}

fn wal_path(w: &World) -> std::path::PathBuf {
    let mut path = w.path().into_os_string();
    path.push("-wal");
    path.into()
}

/// The tables and indexes (by name) that own the pages written to the WAL
/// from byte `from` on.
fn written_since(w: &World, from: u64) -> BTreeSet<String> {
    let wal = std::fs::read(wal_path(w)).unwrap();
    // WAL header: 32 bytes, the page size big-endian at bytes 8..12; then
    // frames of a 24-byte header (the page number first) and one page.
    let page_size = u32::from_be_bytes(wal[8..12].try_into().unwrap()) as usize;
    let frame = 24 + page_size;
    let from = (from as usize).max(32);
    assert_eq!((from - 32) % frame, 0, "offset inside a frame");
    let pages: BTreeSet<u32> = wal[from..]
        .chunks_exact(frame)
        .map(|f| u32::from_be_bytes(f[0..4].try_into().unwrap()))
        .collect();
    let conn = Connection::open_with_flags(w.path(), OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut owner = conn
        .prepare("SELECT name FROM dbstat WHERE pageno = ?1")
        .unwrap();
    pages
        .into_iter()
        .map(|page| {
            owner
                .query_row([page], |r| r.get::<_, String>(0))
                .unwrap_or_else(|_| format!("page {page}"))
        })
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A conversation with a message each way, applied and committed.
async fn conversation(w: &mut World) -> ConversationId {
    let id = w
        .start(("c-1", Some("Alice")), ("v-1", Some("Bolt Bikes")), None)
        .await;
    w.send(id, Role::Customer, "is the red bike still there?")
        .await;
    w.send(id, Role::Vendor, "it is").await;
    w.sync().await;
    id
}

#[tokio::test]
async fn typing_writes_nothing_but_the_checkpoint() {
    let mut w = World::new().await;
    let id = conversation(&mut w).await;

    let from = wal_end(&w);
    w.typing(id, Role::Customer, true).await;
    w.sync().await;
    assert_eq!(written_since(&w, from), names(&["checkpoint"]));
}

#[tokio::test]
async fn a_read_leaves_the_list_and_analytics_indexes_alone() {
    let mut w = World::new().await;
    let id = conversation(&mut w).await;

    let from = wal_end(&w);
    w.read_all(id, Role::Vendor).await;
    w.sync().await;
    // The read marker and unread count (the row), the messages' readAt,
    // the inbox total: nothing that orders lists or feeds analytics.
    assert_eq!(
        written_since(&w, from),
        names(&["checkpoint", "conversations", "inboxes", "messages"])
    );
}

#[tokio::test]
async fn a_message_rewrites_the_analytics_index_only_when_it_is_a_first() {
    let mut w = World::new().await;
    let id = conversation(&mut w).await;

    // Not the first customer message, not the first response: the
    // first-response index stays as it is.
    let from = wal_end(&w);
    w.send(id, Role::Customer, "can I pick it up tomorrow?")
        .await;
    w.sync().await;
    let written = written_since(&w, from);
    assert!(
        !written.contains("conversations_by_vendor_first_customer"),
        "{written:?}"
    );
    // The list indexes move: the conversation has new activity.
    assert!(written.contains("conversations_by_customer"), "{written:?}");
    assert!(written.contains("conversations_by_vendor"), "{written:?}");
    // A message document, but no entry in the index of the
    // conversation-level documents (names and product).
    assert!(written.contains("search_docs"), "{written:?}");
    assert!(
        !written.contains("search_docs_of_conversation"),
        "{written:?}"
    );

    // In a new conversation the first customer message is a first.
    let other = w.start(("c-2", None), ("v-1", None), None).await;
    w.sync().await;
    let from = wal_end(&w);
    w.send(other, Role::Customer, "hello").await;
    w.sync().await;
    let written = written_since(&w, from);
    assert!(
        written.contains("conversations_by_vendor_first_customer"),
        "{written:?}"
    );
}
