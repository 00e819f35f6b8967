//! The one connection of [`super::cluster`] that is not pooled: a pooled
//! connection's I/O task drops what the server sends unasked, and `LISTEN`
//! is all about that. It is set up like the store's connections (the URL as
//! `tokio_postgres` parses it, `sslmode` disable / prefer / require, the
//! server's certificate verified against the system's roots and the Mozilla
//! roots when TLS is used, keepalives), and hands each notification to a
//! channel.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use souk_store::postgres::tokio_postgres::{self, AsyncMessage, Client, Config, Notification};
use tokio::sync::mpsc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The TLS connector, built once per process (loading the system's roots
/// reads files).
fn tls() -> Result<MakeRustlsConnect, String> {
    static TLS: OnceLock<Result<MakeRustlsConnect, String>> = OnceLock::new();
    TLS.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let native = rustls_native_certs::load_native_certs();
        let _ = roots.add_parsable_certificates(native.certs);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("setting up TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    })
    .clone()
}

/// Connects to `url` within `timeout`; every notification goes to
/// `notifications`. The connection's I/O runs as a task on the current
/// runtime and ends with the connection (the sender is dropped then, which
/// is how the listener learns of it).
pub(crate) async fn connect(
    url: &str,
    timeout: Duration,
    notifications: mpsc::UnboundedSender<Notification>,
) -> Result<Client, String> {
    let mut config = Config::from_str(url).map_err(|e| format!("invalid PostgreSQL URL: {e}"))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeout);
    }
    config
        .application_name("souk-presence")
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3);
    let (client, mut connection) = tokio::time::timeout(timeout, config.connect(tls()?))
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
        .map_err(|e| describe(&e))?;
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if notifications.send(n).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!("the presence LISTEN connection ended: {}", describe(&e));
                    return;
                }
                None => return,
            }
        }
    });
    Ok(client)
}

/// The whole of a `tokio_postgres` error (its `Display` alone says only "db
/// error" for what the server reported).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.to_string();
    }
    match std::error::Error::source(e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    }
}
