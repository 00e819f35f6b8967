//! Reaching PostgreSQL: the URL, TLS, pools and single connections.
//!
//! The URL is anything `tokio_postgres` parses (`postgres://user:pass@host:port/db?sslmode=require`
//! or `host=... dbname=...`). `sslmode`:
//! - `disable`: plain TCP;
//! - `prefer` (the default): TLS if the server offers it, plain otherwise,
//!   as libpq does: encrypted against eavesdroppers, but the certificate is
//!   not checked (whoever can tamper with the connection can also make it
//!   plain, so checking would protect nothing and would refuse the
//!   self-signed certificates that local servers, Debian's for one, come
//!   with);
//! - `require`: TLS with the server's certificate verified, or no
//!   connection. Stricter than libpq's `require` (which encrypts without
//!   checking who answers): this is the mode for a managed database across
//!   a network. libpq's `verify-full` and `verify-ca` mean the same here
//!   (the host name is always checked).
//!
//! Verified certificates are checked with rustls against the system's roots
//! (which honour `SSL_CERT_FILE` / `SSL_CERT_DIR`, the way to trust a
//! private CA such as a cloud provider's) and the Mozilla roots of
//! `webpki-roots`.
//!
//! Unless the URL says otherwise, connections get a connect timeout (the
//! store's [`PostgresConfig::connect_timeout`](super::PostgresConfig)), TCP
//! keepalives that notice a silently dead peer within about half a minute,
//! and the application name `souk`.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// Connect timeout of [`pool`](super::pool) when the URL names none.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Parses `url` and fills in what it leaves out (see the module docs).
pub(crate) fn parse(url: &str, connect_timeout: Duration) -> Result<Config, StoreError> {
    // libpq's verifying modes, which tokio_postgres does not name, are what
    // `require` does here.
    let url = url
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    let mut config = Config::from_str(&url).map_err(|e| {
        StoreError::Unavailable(format!("invalid PostgreSQL URL (password hidden): {e}"))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("souk");
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3);
    Ok(config)
}

/// The TLS connector for `config`'s `sslmode` (see the module docs).
pub(crate) fn tls(config: &Config) -> Result<MakeRustlsConnect, StoreError> {
    match config.get_ssl_mode() {
        SslMode::Prefer => Ok(opportunistic()),
        _ => verified(),
    }
}

/// The verifying TLS connector, built once per process: loading the
/// system's roots reads files.
fn verified() -> Result<MakeRustlsConnect, StoreError> {
    static TLS: OnceLock<Result<MakeRustlsConnect, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::debug!("loading the system's TLS roots: {error}");
        }
        let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("setting up TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    })
    .clone()
    .map_err(StoreError::Unavailable)
}

/// The connector of `sslmode=prefer`: TLS without checking the certificate
/// (the handshake's signatures are still checked, so the session is bound
/// to the certificate the server showed).
fn opportunistic() -> MakeRustlsConnect {
    static TLS: OnceLock<MakeRustlsConnect> = OnceLock::new();
    TLS.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
            .with_no_client_auth();
        MakeRustlsConnect::new(config)
    })
    .clone()
}

/// Accepts any certificate, for [`opportunistic`] TLS only.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A pool of at most `size` connections to `config`. Creating or
/// recycling a connection gives up after `connect_timeout`, waiting for a
/// free one after `wait_timeout`. Each connection's I/O runs as a task on
/// the tokio runtime that created it (the one polling `get`).
pub(crate) fn build_pool(
    config: &Config,
    size: usize,
    connect_timeout: Duration,
    wait_timeout: Duration,
) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        config.clone(),
        tls(config)?,
        ManagerConfig {
            // A closed connection is noticed without a query; a broken one
            // fails its next statement, and whoever sees that drops it.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(connect_timeout))
        .recycle_timeout(Some(connect_timeout))
        .wait_timeout(Some(wait_timeout))
        .build()
        .map_err(|e| StoreError::Unavailable(format!("building the PostgreSQL pool: {e}")))
}

/// One connection outside any pool (for `LISTEN`, migrations), its I/O
/// driven by a task spawned on the current runtime; `on_message` sees what
/// the server sends unasked (notifications, notices). The task ends when
/// the connection does; dropping the client closes it.
pub(crate) async fn connect_one<F>(
    config: &Config,
    timeout: Duration,
    mut on_message: F,
) -> Result<(Client, tokio::task::JoinHandle<()>), StoreError>
where
    F: FnMut(tokio_postgres::AsyncMessage) + Send + 'static,
{
    let connecting = config.connect(tls(config)?);
    let (client, mut connection) = tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| {
            StoreError::Unavailable(format!(
                "connecting to PostgreSQL: no answer within {timeout:?}"
            ))
        })?
        .map_err(|e| unavailable("connecting to PostgreSQL", &e))?;
    let driver = tokio::spawn(async move {
        loop {
            let message = std::future::poll_fn(|cx| connection.poll_message(cx)).await;
            match message {
                Some(Ok(message)) => on_message(message),
                Some(Err(e)) => {
                    tracing::warn!("PostgreSQL connection ended: {}", describe(&e));
                    return;
                }
                None => return,
            }
        }
    });
    Ok((client, driver))
}

/// The whole of a `tokio_postgres` error: its `Display` alone says only
/// "db error" for what the server reported.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{db}");
    }
    match std::error::Error::source(e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    }
}

pub(crate) fn unavailable(context: &str, e: &tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("{context}: {}", describe(e)))
}

/// A pool's error as a [`StoreError`].
pub(crate) fn pool_unavailable(context: &str, e: &deadpool_postgres::PoolError) -> StoreError {
    let detail = match e {
        deadpool_postgres::PoolError::Backend(e) => describe(e),
        other => other.to_string(),
    };
    StoreError::Unavailable(format!("{context}: {detail}"))
}
