//! The marketplace's own identity provider: public keys from a JWKS URL
//! (`SOUK_JWT_JWKS_URL`), for tokens signed with RS256 or ES256.
//!
//! The key set is fetched at start (a URL that does not answer with a key
//! set stops the start with a clear message, rather than a server that
//! refuses every token), kept in memory, and fetched again when a token
//! names a key id (`kid`) that is not in it: that is how a provider's key
//! rotation arrives. Refetches are at most one per [`JwksConfig::min_refresh`]
//! (a minute by default), whatever the tokens say, so that made-up `kid`s
//! cannot turn souk into a load generator against the provider; concurrent
//! misses share one fetch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Where the keys are and how often they may be fetched again.
#[derive(Clone, Debug)]
pub struct JwksConfig {
    pub url: String,
    /// The shortest time between two fetches.
    pub min_refresh: Duration,
    /// How long one fetch may take.
    pub timeout: Duration,
}

impl JwksConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            min_refresh: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
        }
    }
}

/// One usable key: what it verifies and with which algorithm.
#[derive(Clone)]
pub struct VerifyingKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

/// The provider's keys by `kid`.
pub struct Jwks {
    config: JwksConfig,
    keys: RwLock<HashMap<String, VerifyingKey>>,
    /// When the last fetch started; a fetch holds this lock, so concurrent
    /// misses wait for it and then find the key (or the time too recent).
    last_fetch: tokio::sync::Mutex<Instant>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl Jwks {
    /// Fetches the key set once; fails when it cannot be had or holds no
    /// usable key.
    pub async fn fetch_at_start(config: JwksConfig) -> anyhow::Result<Self> {
        let keys = fetch(&config)
            .await
            .with_context(|| format!("while fetching the JWKS at {}", config.url))?;
        anyhow::ensure!(
            !keys.is_empty(),
            "the JWKS at {} holds no RS256 or ES256 key with a kid",
            config.url
        );
        tracing::info!(url = %config.url, keys = keys.len(), "fetched the identity provider's keys");
        Ok(Self {
            config,
            keys: RwLock::new(keys),
            last_fetch: tokio::sync::Mutex::new(Instant::now()),
            fetches: AtomicU64::new(1),
        })
    }

    /// The key named `kid`, fetching the set again if it is unknown and the
    /// last fetch is old enough.
    pub async fn key(&self, kid: &str) -> Option<VerifyingKey> {
        if let Some(k) = self.cached(kid) {
            return Some(k);
        }
        let mut last = self.last_fetch.lock().await;
        // Another miss may have fetched while this one waited.
        if let Some(k) = self.cached(kid) {
            return Some(k);
        }
        if last.elapsed() < self.config.min_refresh {
            return None;
        }
        *last = Instant::now();
        self.fetches.fetch_add(1, Ordering::Relaxed);
        match fetch(&self.config).await {
            Ok(keys) if !keys.is_empty() => {
                tracing::info!(url = %self.config.url, keys = keys.len(), "fetched the identity provider's keys again");
                *self.keys.write().expect("jwks lock poisoned") = keys;
            }
            Ok(_) => {
                tracing::warn!(url = %self.config.url, "the JWKS holds no usable key now; keeping the previous keys");
            }
            Err(e) => {
                tracing::warn!(url = %self.config.url, error = %format!("{e:#}"), "cannot fetch the JWKS; keeping the previous keys");
            }
        }
        self.cached(kid)
    }

    /// How many times the set was fetched (for tests and `/metrics`).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    fn cached(&self, kid: &str) -> Option<VerifyingKey> {
        self.keys
            .read()
            .expect("jwks lock poisoned")
            .get(kid)
            .cloned()
    }
}

async fn fetch(config: &JwksConfig) -> anyhow::Result<HashMap<String, VerifyingKey>> {
    // A client per fetch: fetches are rare, and a client's pooled
    // connections belong to the runtime that made them.
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .build()
        .context("while building an HTTP client")?;
    let set: JwkSet = client
        .get(&config.url)
        .send()
        .await
        .context("no answer")?
        .error_for_status()
        .context("an error status")?
        .json()
        .await
        .context("not a JWKS document")?;
    Ok(usable_keys(&set))
}

/// The RS256 and ES256 (P-256) keys of a set that have a `kid` and are
/// meant for signatures; others are skipped with a warning.
pub fn usable_keys(set: &JwkSet) -> HashMap<String, VerifyingKey> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            tracing::warn!("skipping a JWKS key without a kid");
            continue;
        };
        if matches!(&jwk.common.public_key_use, Some(u) if *u != jsonwebtoken::jwk::PublicKeyUse::Signature)
        {
            continue;
        }
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => {
                tracing::warn!(kid = %kid, "skipping a JWKS key that is neither RSA nor EC P-256");
                continue;
            }
        };
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => {
                keys.insert(kid, VerifyingKey { key, algorithm });
            }
            Err(e) => {
                tracing::warn!(kid = %kid, error = %e, "skipping a JWKS key that cannot be read")
            }
        }
    }
    keys
}
