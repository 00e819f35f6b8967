//! Webhooks against a real HTTP receiver started by the test (see
//! `webhooks_support`): every delivery signed, one id per event, in order
//! per conversation; an endpoint down then up, answering 500, answering too
//! slowly; dead letters and `souk webhooks status|retry`; a restart mid-way
//! (with events recorded while webhooks were off) resuming without loss,
//! duplicates only with the same id; the unread reminder only for unread
//! messages of an offline recipient. Backoffs are tens of milliseconds and
//! every wait is bounded.

mod webhooks_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;
use souk_api::app::{spawn, Spawned};
use souk_api::config::Settings;
use souk_api::webhooks::{Kind, WebhookSettings};
use souk_domain::{
    Actor, Command as DomainCommand, ConversationId, MessageContent, MessageId, MessageText,
    Participant, Role, Timestamp, UserId,
};
use webhooks_support::{check_deliveries, check_signature, Answer, Receiver};

const SOUK: &str = env!("CARGO_BIN_EXE_souk");
const SECRET: &str = "webhook-secret-for-tests";
const WAIT: Duration = Duration::from_secs(20);

fn settings(dir: &Path, url: &str) -> Settings {
    let mut s = Settings::for_tests(dir.to_path_buf());
    s.webhooks = WebhookSettings {
        urls: vec![url.to_owned()],
        secret: Some(SECRET.to_owned()),
        events: Vec::new(),
        reminder_after: Duration::from_secs(3600),
        max_tries: 1000,
        // Generous: only the slow-endpoint test shortens it.
        timeout: Duration::from_secs(5),
        backoff: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
    };
    s
}

fn actor(id: &str, role: Role) -> Actor {
    Actor {
        id: UserId::parse(id).unwrap(),
        role,
        name: None,
    }
}

async fn start(app: &Spawned, customer: &str, vendor: &str) -> ConversationId {
    let (id, command) = DomainCommand::start_conversation(
        Participant {
            id: UserId::parse(customer).unwrap(),
            name: None,
        },
        Participant {
            id: UserId::parse(vendor).unwrap(),
            name: Some(souk_domain::DisplayName::parse("Bolt Bikes").unwrap()),
        },
        None,
        Role::Customer,
        Timestamp::now(),
    );
    app.state.registry.execute(id, command).await.unwrap();
    id
}

/// Sends `text` as `by`; answers when it was sent.
async fn send(app: &Spawned, id: ConversationId, by: &Actor, text: &str) -> Timestamp {
    let at = Timestamp::now();
    app.state
        .registry
        .execute(
            id,
            DomainCommand::SendMessage {
                by: by.clone(),
                message_id: MessageId::new(),
                content: MessageContent::Text(MessageText::parse(text).unwrap()),
                client_message_id: None,
                at,
            },
        )
        .await
        .unwrap();
    at
}

async fn read_all(app: &Spawned, id: ConversationId, by: &Actor) {
    app.state
        .registry
        .execute(
            id,
            DomainCommand::MarkAllRead {
                by: by.clone(),
                at: Timestamp::now(),
            },
        )
        .await
        .unwrap();
}

/// Every delivery id the log calls for (but reminders), with its
/// conversation, in log order.
async fn expected(app: &Spawned) -> Vec<(String, String)> {
    let events = app.state.store.read_all(1, 100_000).await.unwrap();
    events
        .iter()
        .filter_map(|e| {
            let kind = match e.event_type.as_str() {
                "ConversationStarted" => Kind::ConversationStarted,
                "MessageSent" => Kind::MessageCreated,
                "MessageRead" => Kind::MessageRead,
                _ => return None,
            };
            let conversation = e.stream.strip_prefix("conversation-").unwrap().to_owned();
            Some((format!("{}-{kind}", e.position), conversation))
        })
        .collect()
}

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

fn status(dir: &Path) -> Value {
    let (ok, out, err) = souk(&["webhooks", "status", "--data-dir", dir.to_str().unwrap()]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

async fn until(within: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "waited {within:?} for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn stop(app: Spawned) {
    tokio::task::block_in_place(|| app.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_unique_and_in_order_per_conversation() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    // A few slow answers shuffle the conversations against each other.
    receiver.then([
        Answer::slow(Duration::from_millis(40)),
        Answer::OK,
        Answer::slow(Duration::from_millis(10)),
    ]);
    let app = spawn(settings(dir.path(), &receiver.url())).unwrap();
    let mut writers = Vec::new();
    for i in 0..3 {
        let (customer, vendor) = (format!("c-{i}"), format!("v-{i}"));
        let app_ref = &app;
        writers.push(async move {
            let id = start(app_ref, &customer, &vendor).await;
            let (c, v) = (
                actor(&customer, Role::Customer),
                actor(&vendor, Role::Vendor),
            );
            for m in 0..6 {
                let by = if m % 3 == 2 { &v } else { &c };
                send(app_ref, id, by, &format!("m{m}")).await;
            }
            read_all(app_ref, id, &v).await;
        });
    }
    futures::future::join_all(writers).await;
    let want = expected(&app).await;
    assert_eq!(want.len(), 3 * 8);
    receiver
        .wait(WAIT, "every event", |r| {
            r.iter().filter(|r| r.answered == 200).count() >= want.len()
        })
        .await;
    let received = receiver.received();
    check_deliveries(SECRET, &received, &want);
    assert_eq!(received.len(), want.len(), "no repeat when all went well");

    // The contract's shapes.
    let started = received
        .iter()
        .find(|r| r.json["type"] == "conversation.started")
        .unwrap();
    assert_eq!(started.json["data"]["vendor"]["name"], "Bolt Bikes");
    let message = received
        .iter()
        .find(|r| r.json["type"] == "message.created")
        .unwrap();
    let data = &message.json["data"];
    assert_eq!(data["seq"], 1);
    assert_eq!(data["text"], "m0");
    assert_eq!(data["sender"]["role"], "customer");
    assert_eq!(message.json["occurredAt"], data["sentAt"]);
    assert_eq!(data["conversationId"], message.json["conversationId"]);
    let read = received
        .iter()
        .find(|r| r.json["type"] == "message.read")
        .unwrap();
    assert_eq!(read.json["data"]["reader"]["role"], "vendor");
    assert_eq!(
        read.json["data"]["upToSeq"], 5,
        "the last of the customer's"
    );

    let metrics = &app.state.metrics.webhooks;
    until(WAIT, "the pending gauge at 0", || {
        metrics.pending.load(Ordering::Relaxed) == 0
    })
    .await;
    let text = reqwest::get(format!("http://{}/metrics", app.http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(&format!("\nsouk_webhook_deliveries_total {}\n", want.len())),
        "{text}"
    );
    assert!(text.contains("\nsouk_webhook_lag 0\n"), "{text}");
    assert!(text.contains("\nsouk_webhook_pending 0\n"), "{text}");
    assert!(text.contains("\nsouk_webhook_dead_letters 0\n"), "{text}");
    stop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_down_then_failing_then_slow_gets_everything_with_retries() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start_down().await;
    let mut s = settings(dir.path(), &receiver.url());
    s.webhooks.timeout = Duration::from_millis(500);
    let app = spawn(s).unwrap();
    let id = start(&app, "c-1", "v-1").await;
    let other = start(&app, "c-2", "v-1").await;
    let c = actor("c-1", Role::Customer);
    for m in 0..4 {
        send(&app, id, &c, &format!("m{m}")).await;
        send(&app, other, &actor("c-2", Role::Customer), &format!("o{m}")).await;
    }
    let metrics = &app.state.metrics.webhooks;
    until(WAIT, "tries refused while the port is closed", || {
        metrics.failed_tries.load(Ordering::Relaxed) >= 6
    })
    .await;
    assert_eq!(metrics.delivered.load(Ordering::Relaxed), 0);

    // Up, but the first answers are 500s, then one too slow for the 500 ms
    // timeout (the receiver did get it: a duplicate, with the same id).
    receiver.then([
        Answer::status(500),
        Answer::status(503),
        Answer::slow(Duration::from_millis(1500)),
    ]);
    receiver.up().await;
    let want = expected(&app).await;
    receiver
        .wait(WAIT, "every event after the failures", |r| {
            let ids: BTreeSet<&str> = r
                .iter()
                .filter(|r| r.answered == 200)
                .map(|r| r.id.as_str())
                .collect();
            ids.len() == want.len()
        })
        .await;
    let received = receiver.received();
    check_deliveries(SECRET, &received, &want);
    let accepted = receiver.accepted();
    assert!(
        accepted.len() > want.len(),
        "the slow answer was delivered again: {} for {}",
        accepted.len(),
        want.len()
    );
    assert!(
        received
            .iter()
            .any(|r| r.answered == 200 && r.attempt != "1"),
        "deliveries after failures carry their attempt number"
    );
    stop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_dies_after_max_tries_and_souk_webhooks_retry_delivers_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let receiver = Receiver::start().await;
    receiver.answer(Answer::status(500));
    let mut s = settings(dir.path(), &receiver.url());
    s.webhooks.max_tries = 3;
    s.webhooks.events = vec![Kind::MessageCreated];
    let app = spawn(s).unwrap();
    let id = start(&app, "c-1", "v-1").await;
    let c = actor("c-1", Role::Customer);
    send(&app, id, &c, "lost at first").await;
    let metrics = &app.state.metrics.webhooks;
    until(WAIT, "a dead letter", || {
        metrics.dead_letters.load(Ordering::Relaxed) == 1
    })
    .await;
    assert_eq!(receiver.received().len(), 3, "three tries, then it died");
    let dead_id = receiver.received()[0].id.clone();
    assert!(dead_id.ends_with("-message.created"), "{dead_id}");

    // The CLI sees it while the server runs.
    let st = status(dir.path());
    assert_eq!(st["deadLetters"].as_array().unwrap().len(), 1, "{st}");
    assert_eq!(st["deadLetters"][0]["id"], dead_id.as_str());
    assert_eq!(st["deadLetters"][0]["tries"], 3);
    assert_eq!(st["deadLetters"][0]["lastError"], "HTTP 500");
    assert_eq!(st["pending"], 0);

    // The conversation goes on without it.
    receiver.answer(Answer::OK);
    send(&app, id, &c, "after the death").await;
    receiver
        .wait(WAIT, "the next message", |r| {
            r.iter()
                .any(|r| r.answered == 200 && r.json["data"]["seq"] == 2)
        })
        .await;

    let (ok, _, err) = souk(&["webhooks", "retry", "--data-dir", data, "--id", "9999-none"]);
    assert!(!ok, "an unknown id is an error: {err}");
    let (ok, _, err) = souk(&["webhooks", "retry", "--data-dir", data, "--id", &dead_id]);
    assert!(ok, "{err}");
    receiver
        .wait(WAIT, "the retried dead letter", |r| {
            r.iter().any(|r| r.answered == 200 && r.id == dead_id)
        })
        .await;
    for r in receiver.received() {
        check_signature(SECRET, &r);
    }
    // The retried one arrives after the conversation went on without it.
    let accepted: Vec<String> = receiver.accepted().into_iter().map(|r| r.id).collect();
    let mut want: Vec<String> = expected(&app)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| id.ends_with("-message.created"))
        .collect();
    want.reverse();
    assert_eq!(accepted, want);
    until(WAIT, "no dead letter", || {
        metrics.dead_letters.load(Ordering::Relaxed) == 0
    })
    .await;
    let st = status(dir.path());
    assert_eq!(st["deadLetters"], serde_json::json!([]), "{st}");
    let text = reqwest::get(format!("http://{}/metrics", app.http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("\nsouk_webhook_dead_lettered_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("\nsouk_webhook_failed_tries_total 3\n"),
        "{text}"
    );
    stop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_way_resumes_where_it_stopped_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::start().await;
    let c = actor("c-1", Role::Customer);
    let v = actor("v-1", Role::Vendor);

    // First run: some delivered, then the endpoint goes away with
    // deliveries owed.
    let app = spawn(settings(dir.path(), &receiver.url())).unwrap();
    let id = start(&app, "c-1", "v-1").await;
    for m in 0..5 {
        send(&app, id, &c, &format!("first {m}")).await;
    }
    receiver
        .wait(WAIT, "the first run's events", |r| r.len() >= 6)
        .await;
    receiver.down().await;
    for m in 0..5 {
        send(&app, id, &v, &format!("owed {m}")).await;
    }
    let stats = &app.state.metrics.webhooks;
    let failed_before = stats.failed_tries.load(Ordering::Relaxed);
    until(WAIT, "a refused try", || {
        stats.failed_tries.load(Ordering::Relaxed) > failed_before
    })
    .await;
    let end = app.state.store.last_position().await.unwrap();
    until(WAIT, "the consumer at the log's end", || {
        stats.checkpoint.load(Ordering::Relaxed) == end
    })
    .await;
    stop(app);
    let st = status(dir.path());
    assert_eq!(st["pending"], 5, "{st}");
    assert_eq!(st["checkpoint"], end, "{st}");

    // Second run without webhooks: events the consumer has not seen.
    let app = spawn(Settings::for_tests(dir.path().to_path_buf())).unwrap();
    for m in 0..3 {
        send(&app, id, &c, &format!("while off {m}")).await;
    }
    read_all(&app, id, &v).await;
    let other = start(&app, "c-2", "v-1").await;
    send(&app, other, &actor("c-2", Role::Customer), "hello").await;
    stop(app);
    let st = status(dir.path());
    assert_eq!(st["checkpoint"], end, "{st}");
    assert_eq!(st["logEnd"], end + 6, "{st}");

    // Third run, the endpoint back: everything owed and everything since.
    receiver.up().await;
    let app = spawn(settings(dir.path(), &receiver.url())).unwrap();
    let want = expected(&app).await;
    receiver
        .wait(WAIT, "everything after the restart", |r| {
            let ids: BTreeSet<&str> = r
                .iter()
                .filter(|r| r.answered == 200)
                .map(|r| r.id.as_str())
                .collect();
            ids.len() == want.len()
        })
        .await;
    check_deliveries(SECRET, &receiver.received(), &want);
    let mut seen = BTreeMap::new();
    for r in receiver.accepted() {
        *seen.entry(r.id).or_insert(0) += 1;
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.len() <= 1,
        "at most the try cut by the stop is repeated: {repeated:?}"
    );
    until(WAIT, "an empty outbox", || {
        app.state.metrics.webhooks.pending.load(Ordering::Relaxed) == 0
    })
    .await;
    stop(app);
    let st = status(dir.path());
    assert_eq!(st["pending"], 0, "{st}");
    assert_eq!(st["checkpoint"], st["logEnd"], "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unread_reminder_fires_once_for_unread_messages_of_an_offline_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    let mut s = settings(dir.path(), &receiver.url());
    s.webhooks.events = vec![Kind::UnreadReminder];
    let after = Duration::from_millis(600);
    s.webhooks.reminder_after = after;
    let app = spawn(s).unwrap();
    let presence = &app.state.presence;
    let online = UserId::parse("v-online").unwrap();
    presence.connected(&online, Role::Vendor);

    // Unread by an offline vendor: reminded, once, with both messages.
    let unread = start(&app, "c-a", "v-offline").await;
    let c_a = actor("c-a", Role::Customer);
    let first_at = send(&app, unread, &c_a, "is it available?").await;
    send(&app, unread, &c_a, "hello?").await;
    // Read in time: no reminder.
    let read = start(&app, "c-b", "v-reader").await;
    send(&app, read, &actor("c-b", Role::Customer), "hi").await;
    read_all(&app, read, &actor("v-reader", Role::Vendor)).await;
    // Unread, but the vendor has a socket open: no reminder while so.
    let watched = start(&app, "c-c", "v-online").await;
    send(&app, watched, &actor("c-c", Role::Customer), "hi").await;

    receiver
        .wait(WAIT, "the reminder of the unread messages", |r| {
            !r.is_empty()
        })
        .await;
    // Two delays more: nothing else may come.
    tokio::time::sleep(after * 2 + Duration::from_millis(300)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    let r = &received[0];
    check_signature(SECRET, r);
    let first_position = app
        .state
        .store
        .read_stream(
            &unread.stream_name(),
            souk_store::ReadFrom::Revision(1),
            souk_store::Direction::Forwards,
            1,
        )
        .await
        .unwrap()[0]
        .position;
    assert_eq!(r.id, format!("{first_position}-message.unread_reminder"));
    assert_eq!(r.json["type"], "message.unread_reminder");
    assert_eq!(r.json["conversationId"], unread.to_string());
    let data = &r.json["data"];
    assert_eq!(data["recipient"]["id"], "v-offline");
    assert_eq!(data["recipient"]["role"], "vendor");
    assert_eq!(data["unreadCount"], 2);
    assert_eq!(data["oldestUnreadAt"], serde_json::json!(first_at));

    // The watching vendor goes offline: reminded within about a delay.
    presence.disconnected(&online, Role::Vendor, Timestamp::now());
    receiver
        .wait(WAIT, "the reminder after going offline", |r| r.len() == 2)
        .await;
    let r = &receiver.received()[1];
    assert_eq!(r.json["conversationId"], watched.to_string());
    assert_eq!(r.json["data"]["recipient"]["id"], "v-online");
    assert_eq!(r.json["data"]["unreadCount"], 1);
    assert_eq!(
        app.state.metrics.webhooks.reminders.load(Ordering::Relaxed),
        2
    );
    stop(app);
}
