//! Tokens from the marketplace's own identity provider: RS256 and ES256
//! tokens verified against a JWKS served by the test itself, key rotation,
//! the refetch bound, issuer and audience.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use souk_api::auth::jwks::{Jwks, JwksConfig};
use souk_api::auth::{AuthError, TokenKeys, TokenSettings};
use souk_domain::Role;

const ISSUER: &str = "https://id.marketplace.test";
const AUDIENCE: &str = "souk";

/// A JWKS endpoint: serves whatever set it currently holds, counts requests.
pub struct JwksServer {
    pub url: String,
    set: Arc<Mutex<Value>>,
    hits: Arc<AtomicU64>,
}

impl JwksServer {
    pub fn start(kids: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let set = Arc::new(Mutex::new(Value::Null));
        let hits = Arc::new(AtomicU64::new(0));
        let server = Self { url, set, hits };
        server.publish(kids);
        let (set, hits) = (server.set.clone(), server.hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                // Read the request head up to its blank line.
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                hits.fetch_add(1, Ordering::SeqCst);
                let body = set.lock().unwrap().to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        server
    }

    /// Serves the public keys named by `kids` from now on.
    pub fn publish(&self, kids: &[&str]) {
        let all: Value = serde_json::from_str(include_str!("fixtures/jwks-keys.json")).unwrap();
        let keys: Vec<Value> = kids.iter().map(|k| all[*k].clone()).collect();
        *self.set.lock().unwrap() = json!({ "keys": keys });
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token signed by the identity provider's key `kid`.
pub fn provider_token(kid: &str, claims: Value) -> String {
    let (alg, pem): (Algorithm, &[u8]) = match kid {
        "ec-a" => (Algorithm::ES256, include_bytes!("fixtures/ec-a.pem")),
        "ec-b" => (Algorithm::ES256, include_bytes!("fixtures/ec-b.pem")),
        "rsa-a" => (Algorithm::RS256, include_bytes!("fixtures/rsa-a.pem")),
        other => panic!("no fixture key {other}"),
    };
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(pem).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

fn claims(sub: &str, role: &str) -> Value {
    json!({ "sub": sub, "role": role, "exp": now() + 600, "iss": ISSUER, "aud": AUDIENCE })
}

fn rules() -> TokenSettings {
    TokenSettings {
        jwt_issuer: Some(ISSUER.into()),
        jwt_audience: Some(AUDIENCE.into()),
        ..TokenSettings::default()
    }
}

async fn keys_with(server: &JwksServer, min_refresh: Duration) -> TokenKeys {
    let jwks = Jwks::fetch_at_start(JwksConfig {
        min_refresh,
        ..JwksConfig::new(&server.url)
    })
    .await
    .expect("the JWKS is fetched at start");
    TokenKeys::new(b"0123456789abcdef-hs256")
        .with_rules(rules())
        .with_jwks(jwks)
}

fn refused(r: Result<souk_api::auth::Principal, AuthError>) -> String {
    match r {
        Err(AuthError::Invalid(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn es256_and_rs256_tokens_of_the_provider_verify() {
    let server = JwksServer::start(&["ec-a", "rsa-a"]);
    let keys = keys_with(&server, Duration::from_secs(60)).await;
    let p = keys
        .verify(&provider_token("ec-a", claims("c-1", "customer")))
        .await
        .unwrap();
    assert_eq!((p.id.as_str(), p.role), ("c-1", Role::Customer));
    let p = keys
        .verify(&provider_token("rsa-a", claims("v-1", "vendor")))
        .await
        .unwrap();
    assert_eq!((p.id.as_str(), p.role), ("v-1", Role::Vendor));
    // The provider's token must meet the same rules as any other.
    let mut wrong_issuer = claims("c-1", "customer");
    wrong_issuer["iss"] = json!("https://evil.test");
    assert_eq!(
        refused(keys.verify(&provider_token("ec-a", wrong_issuer)).await),
        "wrong issuer"
    );
    let mut wrong_audience = claims("c-1", "customer");
    wrong_audience["aud"] = json!("another-app");
    assert_eq!(
        refused(keys.verify(&provider_token("ec-a", wrong_audience)).await),
        "wrong audience"
    );
    // A key of the set cannot be used with another algorithm's header.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("ec-a".into());
    let mismatched = jsonwebtoken::encode(
        &header,
        &claims("c-1", "customer"),
        &EncodingKey::from_rsa_pem(include_bytes!("fixtures/rsa-a.pem")).unwrap(),
    )
    .unwrap();
    assert!(keys.verify(&mismatched).await.is_err());
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_fetched_and_a_removed_one_refused() {
    let server = JwksServer::start(&["ec-a"]);
    let keys = keys_with(&server, Duration::ZERO).await;
    let old = provider_token("ec-a", claims("c-1", "customer"));
    assert!(keys.verify(&old).await.is_ok());
    // The provider rotates: ec-b replaces ec-a.
    server.publish(&["ec-b"]);
    let new = provider_token("ec-b", claims("c-1", "customer"));
    assert!(
        keys.verify(&new).await.is_ok(),
        "the new key is fetched on its first use"
    );
    assert_eq!(server.hits(), 2);
    assert_eq!(
        refused(keys.verify(&old).await),
        "signed with an unknown key"
    );
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval() {
    let server = JwksServer::start(&["ec-a"]);
    let keys = keys_with(&server, Duration::from_secs(60)).await;
    // Just fetched at start: a new kid does not trigger a fetch yet.
    server.publish(&["ec-a", "ec-b"]);
    for _ in 0..20 {
        let forged_kid = provider_token("ec-b", claims("c-1", "customer"));
        assert!(keys.verify(&forged_kid).await.is_err());
    }
    assert_eq!(server.hits(), 1, "no refetch within the interval");

    // With the interval passed, one fetch serves many concurrent misses.
    let server = JwksServer::start(&["ec-a"]);
    let keys = Arc::new(keys_with(&server, Duration::from_millis(200)).await);
    server.publish(&["ec-a", "ec-b"]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let token = provider_token("ec-b", claims("c-1", "customer"));
    let tries: Vec<_> = (0..16)
        .map(|_| {
            let (keys, token) = (keys.clone(), token.clone());
            tokio::spawn(async move { keys.verify(&token).await.is_ok() })
        })
        .collect();
    for t in tries {
        assert!(t.await.unwrap());
    }
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_jwks_url_that_does_not_answer_stops_the_start() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", closed.local_addr().unwrap());
    drop(closed);
    let err = Jwks::fetch_at_start(JwksConfig::new(&url))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("while fetching the JWKS"),
        "{err:#}"
    );
}

#[test]
fn the_server_takes_the_providers_tokens_on_rest() {
    let server = JwksServer::start(&["ec-a"]);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = souk_api::config::Settings::for_tests(dir.path().to_path_buf());
    settings.tokens = TokenSettings {
        jwt_jwks_url: Some(server.url.clone()),
        ..rules()
    };
    let app = souk_api::app::spawn(settings).expect("the server starts");
    let base = format!("http://{}", app.http_addr);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = |token: String| {
        let url = format!("{base}/api/chat/conversations");
        rt.block_on(async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    assert_eq!(
        status(provider_token("ec-a", claims("c-1", "customer"))),
        200
    );
    let mut wrong_issuer = claims("c-1", "customer");
    wrong_issuer["iss"] = json!("https://evil.test");
    assert_eq!(status(provider_token("ec-a", wrong_issuer)), 401);
    // A vendor token on a customer route: the role claim was read.
    assert_eq!(status(provider_token("ec-a", claims("v-1", "vendor"))), 403);
    app.stop();
}
