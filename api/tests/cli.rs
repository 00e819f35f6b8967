//! The `souk` binary's inspection commands against a data directory that a
//! real server wrote: `events`, `events --follow`, `replay --at`,
//! `projections rebuild|verify`, `token`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use souk_api::app::{spawn, Spawned};
use souk_api::config::Settings;
use souk_domain::{
    Actor, Command as DomainCommand, ConversationId, MessageContent, MessageId, MessageText,
    Participant, Role, Timestamp, UserId,
};

const SOUK: &str = env!("CARGO_BIN_EXE_souk");

fn souk(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(SOUK)
        .args(args)
        .env("SOUK_LOG", "warn")
        .output()
        .expect("souk runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn actor(id: &str, role: Role) -> Actor {
    Actor {
        id: UserId::parse(id).unwrap(),
        role,
        name: None,
    }
}

/// Starts a conversation and sends `n` messages through the real server's
/// actors; answers the conversation id.
async fn chat(app: &Spawned, customer: &str, vendor: &str, n: usize) -> ConversationId {
    let c = actor(customer, Role::Customer);
    let v = actor(vendor, Role::Vendor);
    let (id, start) = DomainCommand::start_conversation(
        Participant {
            id: c.id.clone(),
            name: None,
        },
        Participant {
            id: v.id.clone(),
            name: None,
        },
        None,
        Role::Customer,
        Timestamp::now(),
    );
    let registry = &app.state.registry;
    registry.execute(id, start).await.unwrap();
    for i in 0..n {
        let by = if i % 2 == 0 { c.clone() } else { v.clone() };
        registry
            .execute(
                id,
                DomainCommand::SendMessage {
                    by,
                    message_id: MessageId::new(),
                    content: MessageContent::Text(MessageText::parse(&format!("m{i}")).unwrap()),
                    client_message_id: None,
                    at: Timestamp::now(),
                },
            )
            .await
            .unwrap();
    }
    id
}

fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_replay_and_projections_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let app = spawn(Settings::for_tests(dir.path().to_path_buf())).unwrap();
    let a = chat(&app, "c-1", "v-1", 4).await;
    let b = chat(&app, "c-2", "v-1", 2).await;

    // --follow prints what the running server records after it started.
    let mut follower = Command::new(SOUK)
        .args([
            "events",
            "--data-dir",
            data,
            "--follow",
            "--conversation",
            &b.to_string(),
        ])
        .env("SOUK_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = BufReader::new(follower.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(
            rx.recv_timeout(Duration::from_secs(20))
                .expect("follow prints the past"),
        );
    }
    chat(&app, "c-2", "v-1", 1).await; // starts nothing new, one more message in b
    let live = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("follow prints new events");
    let live: Value = serde_json::from_str(&live).unwrap();
    assert_eq!(live["type"], "MessageSent");
    assert_eq!(live["stream"], format!("conversation-{b}"));
    follower.kill().unwrap();
    let _ = follower.wait();
    app.stop();

    let (ok, out, err) = souk(&["events", "--data-dir", data]);
    assert!(ok, "{err}");
    let all = lines(&out);
    assert_eq!(all.len(), 5 + 3 + 1);
    let positions: Vec<u64> = all
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (1..=9).collect::<Vec<_>>());
    assert_eq!(all[0]["type"], "ConversationStarted");
    assert_eq!(all[1]["data"]["text"], "m0");

    let (_, out, _) = souk(&[
        "events",
        "--data-dir",
        data,
        "--conversation",
        &a.to_string(),
        "--from",
        "3",
    ]);
    let only_a = lines(&out);
    assert_eq!(only_a.len(), 3);
    assert!(only_a
        .iter()
        .all(|e| e["stream"] == format!("conversation-{a}")));

    // Replay a to position 3: started + 2 messages.
    let (ok, out, err) = souk(&["replay", "--data-dir", data, &a.to_string(), "--at", "3"]);
    assert!(ok, "{err}");
    let state: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(state["messages"].as_array().unwrap().len(), 2);
    assert_eq!(state["sides"]["vendor"]["unread"], 1);
    assert_eq!(state["lastPosition"], 3);
    let (_, out, _) = souk(&["replay", "--data-dir", data, &a.to_string()]);
    let now: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(now["messages"].as_array().unwrap().len(), 4);
    // By time: the time of the third event.
    let t = all[2]["recordedAt"].as_str().unwrap();
    let (_, out, _) = souk(&["replay", "--data-dir", data, &a.to_string(), "--at", t]);
    let at_time: Value = serde_json::from_str(&out).unwrap();
    assert!(at_time["messages"].as_array().unwrap().len() >= 2);
    let (ok, _, err) = souk(&[
        "replay",
        "--data-dir",
        data,
        &a.to_string(),
        "--at",
        "yesterday",
    ]);
    assert!(!ok && err.contains("--at"), "{err}");
    let (ok, _, err) = souk(&["replay", "--data-dir", data, "not-a-uuid"]);
    assert!(!ok && err.contains("id"), "{err}");

    let (ok, out, err) = souk(&["projections", "--data-dir", data, "verify"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("no difference"), "{out}");
    let (ok, _, err) = souk(&["projections", "--data-dir", data, "rebuild"]);
    assert!(ok, "{err}");
    let (ok, out, _) = souk(&["projections", "verify", "--data-dir", data]);
    assert!(ok, "{out}");
}

/// `souk token --data-dir DATA` with more arguments.
fn mint(data: &str, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["token", "--data-dir", data];
    all.extend_from_slice(args);
    souk(&all)
}

#[test]
fn tokens_are_minted_with_the_data_directory_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    // No secret there yet: minting one the server would not know is refused.
    let (ok, out, err) = mint(data, &["--user", "c-42", "--role", "customer"]);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(err.contains("no signing secret"), "{err}");
    assert!(
        !dir.path().join(souk_api::auth::SECRET_FILE).exists(),
        "no secret is made by `souk token`"
    );
    // The server makes one on its first start.
    let keys = souk_api::auth::TokenKeys::load(dir.path(), None).unwrap();
    let (ok, out, err) = mint(
        data,
        &[
            "--user", "c-42", "--role", "customer", "--name", "Alice", "--ttl", "1h",
        ],
    );
    assert!(ok, "{err}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let p = rt.block_on(keys.verify(out.trim())).unwrap();
    assert_eq!(p.id.as_str(), "c-42");
    assert_eq!(p.role, Role::Customer);
    let (ok, _, err) = mint(data, &["--user", "c 42", "--role", "customer"]);
    assert!(!ok && err.contains("--user"), "{err}");
    let (ok, _, err) = mint(data, &["--user", "c-42", "--role", "admin"]);
    assert!(!ok && err.contains("--role"), "{err}");
    // Beyond the maximum lifetime the server would refuse it: refused here.
    let (ok, _, err) = mint(
        data,
        &["--user", "c-42", "--role", "customer", "--ttl", "60d"],
    );
    assert!(!ok && err.contains("at most"), "{err}");
    // A token passes the server's issuer and audience rules when given them.
    let (ok, out, err) = mint(
        data,
        &[
            "--user",
            "c-42",
            "--role",
            "customer",
            "--jwt-issuer",
            "https://id.example",
            "--jwt-audience",
            "souk",
        ],
    );
    assert!(ok, "{err}");
    let strict = keys.clone().with_rules(souk_api::auth::TokenSettings {
        jwt_issuer: Some("https://id.example".into()),
        jwt_audience: Some("souk".into()),
        ..Default::default()
    });
    assert!(rt.block_on(strict.verify(out.trim())).is_ok());
}
