//! The one connection of [`super::cluster`] that is not pooled: a pooled
//! connection's I/O task drops what the server sends unasked, and `LISTEN`
//! is all about that. It is the store's unpooled connection
//! ([`souk_store::postgres::connect_unpooled`]: the URL as `tokio_postgres`
//! parses it, `sslmode` as the store reads it, keepalives), and hands each
//! notification to a channel.

use std::time::Duration;

use souk_store::postgres::tokio_postgres::{AsyncMessage, Client, Notification};
use souk_store::StoreError;
use tokio::sync::mpsc;

pub(crate) use souk_store::postgres::describe_error as describe;

/// Connects to `url` within `timeout`; every notification goes to
/// `notifications`. The connection's I/O runs as a task on the current
/// runtime and ends with the connection (the sender is dropped then, which
/// is how the listener learns of it).
pub(crate) async fn connect(
    url: &str,
    timeout: Duration,
    notifications: mpsc::UnboundedSender<Notification>,
) -> Result<Client, String> {
    let on_message = move |message| {
        if let AsyncMessage::Notification(n) = message {
            // A closed channel: the listener is gone and drops the client,
            // which ends the connection.
            let _ = notifications.send(n);
        }
    };
    let (client, _driver) =
        souk_store::postgres::connect_unpooled(url, "souk-presence", timeout, on_message)
            .await
            .map_err(|e| match e {
                StoreError::Unavailable(detail) => detail,
                other => other.to_string(),
            })?;
    Ok(client)
}
