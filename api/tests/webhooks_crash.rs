//! Webhooks survive `kill -9`: the `souk` binary is killed while deliveries
//! are under way to a slow receiver; started again, it delivers every
//! event, none lost, a repeat only with the same id and body, each
//! conversation still in order.

mod webhooks_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use webhooks_support::{check_deliveries, Answer, Receiver};

const SOUK: &str = env!("CARGO_BIN_EXE_souk");
const SECRET: &str = "webhook-secret-for-the-crash";
const JWT_SECRET: &str = "jwt-secret-for-the-crash-test";
const WAIT: Duration = Duration::from_secs(30);

/// `souk serve` on free ports; answers the child and its HTTP address.
fn serve(dir: &Path, url: &str) -> (Child, String) {
    let mut child = Command::new(SOUK)
        .arg("serve")
        .env("SOUK_DATA_DIR", dir)
        .env("SOUK_HTTP_ADDR", "127.0.0.1:0")
        .env("SOUK_SOCKET_ADDR", "127.0.0.1:0")
        .env("SOUK_JWT_SECRET", JWT_SECRET)
        .env("SOUK_WEBHOOK_URL", url)
        .env("SOUK_WEBHOOK_SECRET", SECRET)
        .env("SOUK_WEBHOOK_BACKOFF", "20ms")
        .env("SOUK_WEBHOOK_BACKOFF_MAX", "200ms")
        .env("SOUK_WEBHOOK_MAX_TRIES", "1000")
        .env("SOUK_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("souk starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let listening: Value = serde_json::from_str(&line).expect("the listening line");
    (child, listening["http"].as_str().unwrap().to_owned())
}

fn token(dir: &Path, user: &str) -> String {
    let out = Command::new(SOUK)
        .args(["token", "--data-dir", dir.to_str().unwrap(), "--jwt-secret"])
        .args([JWT_SECRET, "--user", user, "--role", "customer"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn post(http: &str, token: &str, path: &str, body: Value) -> Value {
    let res = reqwest::Client::new()
        .post(format!("http://{http}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.unwrap()
}

/// Every delivery id of the data directory's log, with its conversation.
fn expected(dir: &Path) -> Vec<(String, String)> {
    let out = Command::new(SOUK)
        .args(["events", "--data-dir", dir.to_str().unwrap()])
        .env("SOUK_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let e: Value = serde_json::from_str(l).unwrap();
            let kind = match e["type"].as_str().unwrap() {
                "ConversationStarted" => "conversation.started",
                "MessageSent" => "message.created",
                "MessageRead" => "message.read",
                _ => return None,
            };
            let stream = e["stream"].as_str().unwrap();
            Some((
                format!("{}-{kind}", e["position"]),
                stream.trim_start_matches("conversation-").to_owned(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_mid_way_loses_no_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start().await;
    // Slow answers: deliveries are under way when souk dies.
    receiver.answer(Answer::slow(Duration::from_millis(150)));
    let (mut souk, http) = serve(dir.path(), &receiver.url());
    let mut owed = 0;
    for customer in ["c-1", "c-2"] {
        let token = token(dir.path(), customer);
        let conversation = post(
            &http,
            &token,
            "/api/chat/conversation",
            json!({ "vendorId": "v-1" }),
        )
        .await;
        owed += 1;
        for m in 0..6 {
            let body = json!({ "conversationId": conversation["id"], "text": format!("m{m}") });
            post(&http, &token, "/api/chat/send", body).await;
            owed += 1;
        }
    }
    receiver
        .wait(WAIT, "some deliveries before the kill", |r| r.len() >= 3)
        .await;
    souk.kill().unwrap(); // SIGKILL
    souk.wait().unwrap();
    let before = receiver.accepted().len();
    assert!(
        before < owed,
        "killed mid-way: {before} of {owed} delivered"
    );

    receiver.answer(Answer::OK);
    let (mut souk, _) = serve(dir.path(), &receiver.url());
    receiver
        .wait(WAIT, "every event after the restart", |r| {
            let ids: std::collections::BTreeSet<&str> = r
                .iter()
                .filter(|r| r.answered == 200)
                .map(|r| r.id.as_str())
                .collect();
            ids.len() == owed
        })
        .await;
    souk.kill().unwrap();
    souk.wait().unwrap();
    let want = expected(dir.path());
    assert_eq!(want.len(), owed);
    check_deliveries(SECRET, &receiver.received(), &want);
    receiver.down().await;
}
