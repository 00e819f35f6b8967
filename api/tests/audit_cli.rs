//! `souk audit verify` and `souk audit verify-transcript`, run as the
//! built binary against a log written through the store, then edited
//! behind souk's back: the embedded log, and a PostgreSQL one (that test
//! needs `SOUK_TEST_PG_URL`, like the cluster tests).

use std::process::Command;

use souk_api::audit::transcript::{self, GeneratedBy};
use souk_domain::{
    Actor, Command as DomainCommand, ConversationId, ConversationState, MessageContent, MessageId,
    MessageText, Participant, Role, Timestamp, UserId,
};
use souk_store::{EventStore, ExpectedRevision, NewEvent};

const SOUK: &str = env!("CARGO_BIN_EXE_souk");

/// Runs souk: exit code, stdout, stderr.
fn souk(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(SOUK)
        .args(args)
        .env("SOUK_LOG", "warn")
        .output()
        .expect("souk runs");
    (
        out.status.code().expect("an exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts the conversation of `customer` and `vendor` and sends `n`
/// messages `m0`, `m1`, ... through the domain's decide into `store`.
async fn chat(store: &dyn EventStore, customer: &str, vendor: &str, n: usize) -> ConversationId {
    let person = |id: &str| Participant {
        id: UserId::parse(id).unwrap(),
        name: None,
    };
    let (id, start) = DomainCommand::start_conversation(
        person(customer),
        person(vendor),
        None,
        Role::Customer,
        Timestamp::now(),
    );
    let mut state = ConversationState::default();
    let mut commands = vec![start];
    for i in 0..n {
        let (by, role) = if i % 2 == 0 {
            (customer, Role::Customer)
        } else {
            (vendor, Role::Vendor)
        };
        commands.push(DomainCommand::SendMessage {
            by: Actor {
                id: UserId::parse(by).unwrap(),
                role,
                name: None,
            },
            message_id: MessageId::new(),
            content: MessageContent::Text(MessageText::parse(&format!("m{i}")).unwrap()),
            client_message_id: None,
            at: Timestamp::now(),
        });
    }
    for command in commands {
        let events = souk_domain::decide(&state, &command).unwrap();
        let new = events.iter().map(NewEvent::from_domain).collect();
        store
            .append(&id.stream_name(), ExpectedRevision::Any, new)
            .await
            .unwrap();
        for e in &events {
            state = souk_domain::evolve(state, e);
        }
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_finds_an_edited_row_and_transcripts_verify_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let store = souk_api::app::open_store(dir.path()).unwrap();
    let a = chat(&store, "c-1", "v-1", 4).await; // positions 1-5
    let b = chat(&store, "c-2", "v-1", 2).await; // positions 6-8
    let by = GeneratedBy {
        id: "c-1".into(),
        role: "customer".into(),
        name: None,
    };
    let t = transcript::build(&store, a, by, Timestamp::now())
        .await
        .unwrap();
    store.close().await;
    drop(store);

    // Intact: exit 0, a summary.
    let (code, out, err) = souk(&["audit", "verify", "--data-dir", data]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("intact: 8 events in 2 streams"), "{out}");
    let (code, out, _) = souk(&[
        "audit",
        "verify",
        "--data-dir",
        data,
        "--conversation",
        &a.to_string(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("intact: 5 events in 1 stream checked"),
        "{out}"
    );
    assert!(
        out.contains(&format!("last revision 4, final hash {}", t.final_hash)),
        "{out}"
    );

    // Transcripts, JSON and HTML, verify offline; an edited one does not.
    let json = dir.path().join("t.json");
    let html = dir.path().join("t.html");
    std::fs::write(&json, t.to_canonical()).unwrap();
    std::fs::write(&html, souk_api::audit::html::render(&t)).unwrap();
    for file in [&json, &html] {
        let (code, out, err) = souk(&["audit", "verify-transcript", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains(&t.final_hash.to_string()), "{out}");
    }
    let edited = String::from_utf8(t.to_canonical())
        .unwrap()
        .replace("m1", "m9");
    std::fs::write(&json, edited).unwrap();
    let (code, out, _) = souk(&["audit", "verify-transcript", json.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("NOT VERIFIED") && out.contains("revision 2"),
        "{out}"
    );
    let (code, _, err) = souk(&["audit", "verify-transcript", "/nonexistent/t.json"]);
    assert_eq!(code, 2, "{err}");

    // Edit the second message of a (revision 2, position 3) in the file.
    let db = rusqlite::Connection::open(dir.path().join("events.db")).unwrap();
    let changed = db
        .execute(
            "UPDATE events SET data = replace(data, '\"m1\"', '\"m7\"') WHERE position = 3",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    drop(db);
    let (code, out, err) = souk(&["audit", "verify", "--data-dir", data]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!(
            "BROKEN: the hash chain of conversation-{a} breaks at revision 2 (position 3)"
        )),
        "{out}"
    );
    // The other conversation is intact on its own.
    let (code, out, _) = souk(&[
        "audit",
        "verify",
        "--data-dir",
        data,
        "--conversation",
        &b.to_string(),
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = souk(&[
        "audit",
        "verify",
        "--data-dir",
        data,
        "--conversation",
        &a.to_string(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("revision 2"), "{out}");

    // Nothing to check: exit 2.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = souk(&[
        "audit",
        "verify",
        "--data-dir",
        empty.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no event log"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_reads_a_postgresql_log() {
    let url = souk_store::postgres::testing::scratch_database().await;
    let store = souk_api::app::open_postgres(&url).await.unwrap();
    let a = chat(&store, "c-1", "v-1", 3).await; // positions 1-4
    chat(&store, "c-2", "v-2", 1).await; // positions 5-6
    store.close().await;

    let (code, out, err) = souk(&["audit", "verify", "--log-url", &url]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("intact: 6 events in 2 streams"), "{out}");

    let pool = souk_store::postgres::pool(&url, 1).unwrap();
    pool.get()
        .await
        .unwrap()
        .batch_execute(
            "UPDATE event_log SET data = replace(data, '\"m2\"', '\"m5\"') WHERE position = 4",
        )
        .await
        .unwrap();
    let (code, out, err) = souk(&["audit", "verify", "--log-url", &url]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!(
            "BROKEN: the hash chain of conversation-{a} breaks at revision 3 (position 4)"
        )),
        "{out}"
    );
}
