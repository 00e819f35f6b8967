//! `souk log copy` round trip, embedded log → PostgreSQL → embedded log,
//! through the real binary: every event arrives exactly (stream, revision,
//! position, type, version, payload bytes, time), a non-empty target is
//! refused, and `events`, `replay` and `projections` work against the
//! PostgreSQL copy. Needs `SOUK_TEST_PG_URL`.

use std::process::Command;

use souk_api::app::{open_postgres, open_store, spawn};
use souk_api::config::Settings;
use souk_domain::{
    Command as DomainCommand, MessageContent, MessageId, MessageText, Participant, Role, Timestamp,
    UserId,
};
use souk_store::postgres::testing::scratch_database;
use souk_store::{EventStore, RecordedEvent};

const SOUK: &str = env!("CARGO_BIN_EXE_souk");

fn souk(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(SOUK)
        .args(args)
        .env("SOUK_LOG", "warn")
        .env_remove("SOUK_LOG_URL")
        .output()
        .expect("souk runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn everything(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    loop {
        let page = store.read_all(all.len() as u64 + 1, 500).await.unwrap();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_copied_to_postgres_and_back_is_the_same_log() {
    let url = scratch_database().await;
    let (one, two, three) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (dir1, dir2, dir3) = (
        one.path().to_str().unwrap(),
        two.path().to_str().unwrap(),
        three.path().to_str().unwrap(),
    );

    // A deployment on the embedded log: three conversations, with messages
    // whose text needs escaping.
    let app = spawn(Settings::for_tests(one.path().to_path_buf())).unwrap();
    let mut ids = Vec::new();
    for k in 0..3 {
        let customer = UserId::parse(&format!("c-{k}")).unwrap();
        let vendor = UserId::parse("v-1").unwrap();
        let (id, start) = DomainCommand::start_conversation(
            Participant {
                id: customer.clone(),
                name: None,
            },
            Participant {
                id: vendor,
                name: None,
            },
            None,
            Role::Customer,
            Timestamp::now(),
        );
        app.state.registry.execute(id, start).await.unwrap();
        for i in 0..5 {
            let send = DomainCommand::SendMessage {
                by: souk_domain::Actor {
                    id: customer.clone(),
                    role: Role::Customer,
                    name: None,
                },
                message_id: MessageId::new(),
                content: MessageContent::Text(
                    MessageText::parse(&format!("m{i} «ü» \"quoted\" \\ {k}")).unwrap(),
                ),
                client_message_id: None,
                at: Timestamp::now(),
            };
            app.state.registry.execute(id, send).await.unwrap();
        }
        ids.push(id);
    }
    app.stop();
    let original = everything(&open_store(one.path()).unwrap()).await;
    assert_eq!(original.len(), 18);

    let (ok, _, err) = souk(&["log", "copy", "--from", dir1, "--to", &url]);
    assert!(ok, "{err}");
    assert!(
        err.contains("copied 18 events"),
        "progress on stderr: {err}"
    );
    let shared = open_postgres(&url).await.unwrap();
    assert_eq!(
        everything(&shared).await,
        original,
        "exactly, into PostgreSQL"
    );

    // The target is not empty any more: refused, nothing changed.
    let (ok, _, err) = souk(&["log", "copy", "--from", dir1, "--to", &url]);
    assert!(!ok);
    assert!(err.contains("already holds 18 events"), "{err}");
    assert_eq!(shared.last_position().await.unwrap(), 18);

    let (ok, _, err) = souk(&["log", "copy", "--from", &url, "--to", dir2, "--batch", "7"]);
    assert!(ok, "{err}");
    let back = everything(&open_store(two.path()).unwrap()).await;
    assert_eq!(back, original, "exactly, back into an embedded log");

    // A source that is not a log is refused rather than read as empty.
    let missing = three.path().join("nothing-here");
    let (ok, _, err) = souk(&[
        "log",
        "copy",
        "--from",
        missing.to_str().unwrap(),
        "--to",
        dir3,
    ]);
    assert!(!ok && err.contains("no event log there"), "{err}");

    // The inspection commands work against the shared log.
    let (ok, out, err) = souk(&["events", "--log-url", &url]);
    assert!(ok, "{err}");
    let (_, from_dir, _) = souk(&["events", "--data-dir", dir1]);
    assert_eq!(out, from_dir);
    let (ok, out, err) = souk(&["replay", "--log-url", &url, &ids[1].to_string()]);
    assert!(ok, "{err}");
    let state: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(state["messages"].as_array().unwrap().len(), 5);
    let (ok, _, err) = souk(&[
        "projections",
        "--data-dir",
        dir3,
        "--log-url",
        &url,
        "rebuild",
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = souk(&[
        "projections",
        "--data-dir",
        dir3,
        "--log-url",
        &url,
        "verify",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("no difference"), "{out}");
}
