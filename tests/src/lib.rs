//! Helpers for black-box tests: a real souk server on free loopback ports
//! over a temporary data directory, and a small HTTP client that speaks to it
//! as a front end would.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use souk_api::app::{spawn, spawn_with_store, Spawned};
use souk_api::auth::{Claims, TokenKeys};
use souk_api::config::Settings;
use souk_domain::{Role, UserId};
use souk_store::testing::{Intercepted, Interceptor};
use souk_store::EventStore;
use tempfile::TempDir;

/// A running server and its data directory.
pub struct TestServer {
    app: Option<Spawned>,
    pub dir: TempDir,
    pub base: String,
    client: reqwest::Client,
}

/// Waits (at most 10 s) until the server's read models run: it listens at
/// once, and answers `503` until they checked their file and caught up
/// (tests that look at that phase start the server themselves).
fn wait_until_running(app: &Spawned) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.state.projections.health().state != souk_projections::State::Running {
        assert!(
            std::time::Instant::now() < deadline,
            "the read models did not start running: {:?}",
            app.state.projections.health()
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

impl TestServer {
    /// Starts a server over a fresh data directory.
    pub fn start() -> Self {
        Self::start_with(|_| {}, |_| None)
    }

    /// Starts a server with adjusted settings, over the event log that `store`
    /// makes from the data directory (`None`: the default embedded log).
    pub fn start_with(
        adjust: impl FnOnce(&mut Settings),
        store: impl FnOnce(&std::path::Path) -> Option<Arc<dyn EventStore>>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut settings = Settings::for_tests(dir.path().to_path_buf());
        adjust(&mut settings);
        let app = match store(dir.path()) {
            Some(store) => spawn_with_store(settings, store),
            None => spawn(settings),
        }
        .expect("the server starts");
        wait_until_running(&app);
        let base = format!("http://{}", app.http_addr);
        Self {
            app: Some(app),
            dir,
            base,
            client: reqwest::Client::new(),
        }
    }

    fn app(&self) -> &Spawned {
        self.app.as_ref().expect("the server is running")
    }

    /// Stops the server gracefully and starts it again on the same data.
    pub fn restart(&mut self) {
        if let Some(app) = self.app.take() {
            app.stop();
        }
        let app =
            spawn(Settings::for_tests(self.dir.path().to_path_buf())).expect("the server restarts");
        wait_until_running(&app);
        self.base = format!("http://{}", app.http_addr);
        self.app = Some(app);
    }

    pub fn store(&self) -> Arc<dyn EventStore> {
        self.app().state.store.clone()
    }

    pub fn keys(&self) -> &TokenKeys {
        &self.app().state.keys
    }

    /// A valid token for `user` on `role`'s side.
    pub fn token(&self, user: &str, role: Role, name: Option<&str>) -> String {
        self.keys()
            .mint(
                &UserId::parse(user).expect("a valid user id"),
                role,
                name,
                Duration::from_secs(3600),
            )
            .expect("a token")
    }

    /// A token with arbitrary claims, signed with the server's secret.
    pub fn signed(&self, claims: &Claims) -> String {
        self.keys().sign(claims).expect("a token")
    }

    /// Sends a request; answers the status and the JSON body (or the text as a
    /// JSON string when it is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Body>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req = match body {
            Some(Body::Json(v)) => req.json(&v),
            Some(Body::Raw(s)) => req.header("content-type", "application/json").body(s),
            None => req,
        };
        let res = req.send().await.expect("the server answers");
        let status = res.status();
        let text = res.text().await.expect("a body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(Body::Json(body)))
            .await
    }

    pub async fn put(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), None).await
    }
}

/// A request body.
pub enum Body {
    Json(Value),
    Raw(String),
}

/// The error code of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// A customer and a vendor with tokens.
pub struct Pair {
    pub customer: String,
    pub vendor: String,
    pub customer_id: String,
    pub vendor_id: String,
    pub conversation: String,
}

impl Pair {
    /// Opens the conversation of `customer_id` and `vendor_id`.
    pub async fn open(server: &TestServer, customer_id: &str, vendor_id: &str) -> Self {
        let customer = server.token(
            customer_id,
            Role::Customer,
            Some(&format!("Customer {customer_id}")),
        );
        let vendor = server.token(
            vendor_id,
            Role::Vendor,
            Some(&format!("Vendor {vendor_id}")),
        );
        let (status, body) = server
            .post(
                "/api/chat/conversation",
                &customer,
                serde_json::json!({ "vendorId": vendor_id, "vendorName": format!("Shop {vendor_id}") }),
            )
            .await;
        assert!(status.is_success(), "{status} {body}");
        Self {
            customer,
            vendor,
            customer_id: customer_id.to_owned(),
            vendor_id: vendor_id.to_owned(),
            conversation: body["id"].as_str().expect("an id").to_owned(),
        }
    }

    /// Sends `text` from the customer (`true`) or the vendor; answers the message.
    pub async fn send(&self, server: &TestServer, from_customer: bool, text: &str) -> Value {
        let (path, token) = if from_customer {
            ("/api/chat/send", &self.customer)
        } else {
            ("/api/vendor/chat/send", &self.vendor)
        };
        let (status, body) = server
            .post(
                path,
                token,
                serde_json::json!({ "conversationId": self.conversation, "text": text }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["message"].clone()
    }
}

/// How a [`FaultyStore`] behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Appends and position reads fail as if the disk were gone.
    Unavailable,
    /// Every append finds the stream moved on (another node writing).
    Conflict,
}

/// The real embedded log with failures that a test switches on and off.
pub type FaultyStore = Intercepted<FaultInjector>;

/// A [`FaultyStore`] over `inner`, with no fault yet.
pub fn faulty_store(inner: Arc<dyn EventStore>) -> Arc<FaultyStore> {
    Arc::new(Intercepted::new(
        inner,
        FaultInjector {
            fault: std::sync::Mutex::new(Fault::None),
        },
    ))
}

/// The switch of a [`FaultyStore`]: the fault its calls show now.
pub struct FaultInjector {
    fault: std::sync::Mutex<Fault>,
}

impl FaultInjector {
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap()
    }
}

#[async_trait::async_trait]
impl Interceptor for FaultInjector {
    async fn append(
        &self,
        inner: &Arc<dyn EventStore>,
        stream: &str,
        expected: souk_store::ExpectedRevision,
        events: Vec<souk_store::NewEvent>,
    ) -> Result<souk_store::AppendResult, souk_store::StoreError> {
        match self.fault() {
            Fault::None => inner.append(stream, expected, events).await,
            Fault::Unavailable => Err(souk_store::StoreError::Unavailable(
                "injected: disk gone".into(),
            )),
            Fault::Conflict => Err(souk_store::StoreError::WrongExpectedRevision {
                stream: stream.to_owned(),
                expected,
                actual: Some(u64::MAX),
            }),
        }
    }

    async fn last_position(
        &self,
        inner: &Arc<dyn EventStore>,
    ) -> Result<souk_store::Position, souk_store::StoreError> {
        match self.fault() {
            Fault::Unavailable => Err(souk_store::StoreError::Unavailable(
                "injected: disk gone".into(),
            )),
            _ => inner.last_position().await,
        }
    }
}
