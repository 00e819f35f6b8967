//! The read models as a running server shows them: it listens at once and
//! answers 503 while they catch up (with the progress in `/healthz`), it
//! starts over a read-model file that is garbage and rebuilds it, and a
//! failing read-model disk is named by `/healthz` and `/metrics` and heals
//! by itself.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use souk_api::app::{open_store, spawn, spawn_with_store, Spawned};
use souk_api::config::Settings;
use souk_domain::{Role, UserId};
use souk_projections::WriteFault;
use souk_store::testing::{Intercepted, Interceptor};
use souk_store::{EventStore, Position, RecordedEvent, StoreError, Subscription};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(15);

/// Makes the embedded log's reads of the whole log (and its subscription)
/// wait until the test opens the gate: the read models cannot catch up
/// before.
struct Gated {
    open: watch::Sender<bool>,
}

impl Gated {
    async fn wait(&self) {
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|o| *o).await;
    }
}

#[async_trait::async_trait]
impl Interceptor for Gated {
    async fn read_all(
        &self,
        inner: &Arc<dyn EventStore>,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.wait().await;
        inner.read_all(from, limit).await
    }

    fn subscribe_all(&self, inner: &Arc<dyn EventStore>, after: Position) -> Subscription {
        let mut open = self.open.subscribe();
        let inner = inner.clone();
        Box::pin(
            futures::stream::once(async move {
                let _ = open.wait_for(|o| *o).await;
                inner.subscribe_all(after)
            })
            .flatten(),
        )
    }
}

use futures::StreamExt;

/// A small HTTP client of one server.
struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    fn of(app: &Spawned) -> Self {
        Self {
            base: format!("http://{}", app.http_addr),
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("the server answers");
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    async fn health(&self) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, "/healthz", None, None)
            .await
    }

    async fn metrics(&self) -> String {
        let (_, body) = self
            .call(reqwest::Method::GET, "/metrics", None, None)
            .await;
        body.as_str().unwrap_or_default().to_owned()
    }

    /// Waits (bounded) until `/healthz` answers 200.
    async fn until_healthy(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (status, body) = self.health().await;
            if status == StatusCode::OK {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never healthy: {body}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn token(app: &Spawned, user: &str, role: Role) -> String {
    app.state
        .keys
        .mint(
            &UserId::parse(user).unwrap(),
            role,
            Some(user),
            Duration::from_secs(3600),
        )
        .unwrap()
}

/// A conversation of c-1 and v-1 with `messages` messages from c-1;
/// answers its id.
async fn history(app: &Spawned, messages: usize) -> String {
    let client = Client::of(app);
    let customer = token(app, "c-1", Role::Customer);
    let (status, body) = client
        .call(
            reqwest::Method::POST,
            "/api/chat/conversation",
            Some(&customer),
            Some(json!({ "vendorId": "v-1" })),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
    let id = body["id"].as_str().unwrap().to_owned();
    for i in 0..messages {
        let (status, body) = client
            .call(
                reqwest::Method::POST,
                "/api/chat/send",
                Some(&customer),
                Some(json!({ "conversationId": id, "text": format!("message {i}") })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    id
}

/// Starts a server on another thread, failing (instead of hanging) when
/// it does not listen within [`WAIT`].
fn start_within(settings: Settings, store: Option<Arc<dyn EventStore>>) -> Spawned {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let app = match store {
            Some(store) => spawn_with_store(settings, store),
            None => spawn(settings),
        };
        let _ = tx.send(app);
    });
    rx.recv_timeout(WAIT)
        .expect("the server listens without waiting for the read models")
        .expect("the server starts")
}

fn remove_read_models(dir: &Path) {
    for name in ["readmodels.db", "readmodels.db-wal", "readmodels.db-shm"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_listens_and_answers_503_while_the_read_models_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::for_tests(dir.path().to_path_buf());
    let first = start_within(settings.clone(), None);
    history(&first, 5).await;
    first.stop();
    remove_read_models(dir.path());

    let log: Arc<dyn EventStore> = Arc::new(open_store(dir.path()).unwrap());
    let end = log.last_position().await.unwrap();
    let gated = Arc::new(Intercepted::new(
        log,
        Gated {
            open: watch::Sender::new(false),
        },
    ));
    let app = start_within(settings, Some(gated.clone()));
    let client = Client::of(&app);
    let vendor = token(&app, "v-1", Role::Vendor);

    let (status, body) = client.get("/api/vendor/chat/unread", &vendor).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("catching up"), "{message}");
    assert!(message.contains(&format!("0 of {end}")), "{message}");

    let (status, body) = client.health().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failing"], json!(["projections"]), "{body}");
    assert_eq!(body["log"], "ok", "{body}");
    assert_eq!(body["readModels"]["state"], "catching_up", "{body}");
    assert_eq!(body["readModels"]["position"], 0, "{body}");
    assert_eq!(body["readModels"]["logEnd"], end, "{body}");
    let metrics = client.metrics().await;
    assert!(
        metrics.contains("souk_projection_state{state=\"catching_up\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("souk_projection_lag {end}")),
        "{metrics}"
    );

    gated.open.send_replace(true);
    client.until_healthy().await;
    let (status, body) = client.get("/api/vendor/chat/unread", &vendor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 5, "{body}");
    let metrics = client.metrics().await;
    assert!(
        metrics.contains("souk_projection_state{state=\"running\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("souk_projection_lag 0"), "{metrics}");
    app.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_over_a_garbage_read_model_file_rebuilds_it() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::for_tests(dir.path().to_path_buf());
    let first = start_within(settings.clone(), None);
    let id = history(&first, 4).await;
    first.stop();
    remove_read_models(dir.path());
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("readmodels.db"), garbage).unwrap();

    let app = start_within(settings, None);
    let client = Client::of(&app);
    client.until_healthy().await;
    let customer = token(&app, "c-1", Role::Customer);
    let (status, body) = client
        .get(&format!("/api/chat/{id}/messages"), &customer)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["messages"].as_array().unwrap().len(), 4, "{body}");
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("readmodels.db.damaged-")
        })
        .count();
    assert_eq!(aside, 1, "the garbage is kept aside, not deleted");
    app.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_read_model_disk_is_named_and_heals_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::for_tests(dir.path().to_path_buf());
    let app = start_within(settings, None);
    let client = Client::of(&app);
    let id = history(&app, 2).await;
    let customer = token(&app, "c-1", Role::Customer);
    let vendor = token(&app, "v-1", Role::Vendor);
    client.until_healthy().await;

    app.state
        .projections
        .inject_write_fault(Some(WriteFault::Io));
    let sent = std::time::Instant::now();
    let (status, body) = client
        .call(
            reqwest::Method::POST,
            "/api/chat/send",
            Some(&customer),
            Some(json!({ "conversationId": id, "text": "while the disk fails" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "a send does not wait for the failing read models: {:?}",
        sent.elapsed()
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    let body = loop {
        let (status, body) = client.health().await;
        if status == StatusCode::SERVICE_UNAVAILABLE && body["readModels"]["state"] == "retrying" {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status} {body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(body["failing"], json!(["projections"]), "{body}");
    let error = body["readModels"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("disk I/O error"), "{body}");
    let (status, body) = client.get("/api/vendor/chat/unread", &vendor).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "stale figures are not served: {body}"
    );
    let metrics = client.metrics().await;
    assert!(
        metrics.contains("souk_projection_state{state=\"retrying\"} 1")
            || metrics.contains("souk_projection_state{state=\"catching_up\"} 1"),
        "{metrics}"
    );

    app.state.projections.inject_write_fault(None);
    client.until_healthy().await;
    let (status, body) = client.get("/api/vendor/chat/unread", &vendor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 3, "nothing lost: {body}");
    let (status, body) = client
        .get(&format!("/api/chat/{id}/messages"), &customer)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["messages"].as_array().unwrap().len(),
        3,
        "nothing twice: {body}"
    );
    app.stop();
}
