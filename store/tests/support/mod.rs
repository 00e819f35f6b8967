//! What the PostgreSQL tests share (`postgres`, `postgres_outage`,
//! `postgres_tls`): a small event, a plain connection for the test's own
//! SQL, taking events from a subscription, and where the test server is.
#![allow(dead_code)]

use std::str::FromStr;
use std::time::Duration;

use futures::StreamExt;
use souk_store::postgres::tokio_postgres;
use souk_store::{NewEvent, RecordedEvent, Subscription};

/// A small event tagged `tag`.
pub fn event(tag: &str) -> NewEvent {
    NewEvent {
        event_type: "Tested".to_owned(),
        version: 1,
        data: format!("{{\"tag\":\"{tag}\"}}"),
    }
}

/// A plain connection to `url` for the test's own SQL.
pub async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(connection);
    client
}

/// Takes `n` events from `sub`, failing after 30 s.
pub async fn take(sub: &mut Subscription, n: usize) -> Vec<RecordedEvent> {
    let mut out = Vec::with_capacity(n);
    tokio::time::timeout(Duration::from_secs(30), async {
        while out.len() < n {
            match sub.next().await {
                Some(Ok(e)) => out.push(e),
                other => panic!("subscription ended: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {n} events within 30 s", out.len()));
    out
}

/// `host:port` of the server `url` names (a TCP host, as the proxies of
/// these tests need).
pub fn upstream(url: &str) -> String {
    let config = tokio_postgres::Config::from_str(url).unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        #[allow(unreachable_patterns)]
        _ => panic!("SOUK_TEST_PG_URL must name a TCP host for this test"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}
