//! Test support (public so that every crate's tests can use it): a fresh,
//! empty database per test on the PostgreSQL server named by the
//! `SOUK_TEST_PG_URL` environment variable, e.g.
//! `postgres://souk@127.0.0.1:55432/postgres` (a role allowed to create
//! databases). `scripts/pg.sh start DIR` starts a private server and prints
//! such a URL.
//!
//! Databases are named `souk_test_<unix seconds>_<pid>_<n>`; the first call
//! of a process also drops (best effort) those left by runs more than an
//! hour old, so a long-lived development server does not fill up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::time::{SystemTime, UNIX_EPOCH};

use super::connect::{connect_one, parse, DEFAULT_CONNECT_TIMEOUT};

/// The environment variable naming the test server.
pub const URL_VARIABLE: &str = "SOUK_TEST_PG_URL";

/// Scratch databases older than this are dropped (one still in use is
/// not: `DROP DATABASE` refuses while anyone is connected).
const STALE_SECONDS: u64 = 3600;

/// The test server's URL; panics, naming `scripts/pg.sh`, when it is unset.
pub fn server_url() -> String {
    match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{URL_VARIABLE} is not set: these tests need a PostgreSQL server. Start one with \
             `scripts/pg.sh start <dir>` and export the URL it prints as {URL_VARIABLE} \
             (or use any server where the role may create databases)"
        ),
    }
}

/// Creates a fresh empty database on the test server and returns its URL.
/// Panics with a clear message when the server is not configured or not
/// reachable.
pub async fn scratch_database() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let server = server_url();
    let config =
        parse(&server, DEFAULT_CONNECT_TIMEOUT).unwrap_or_else(|e| panic!("{URL_VARIABLE}: {e}"));
    let (client, _driver) = connect_one(&config, DEFAULT_CONNECT_TIMEOUT, |_| {})
        .await
        .unwrap_or_else(|e| panic!("{URL_VARIABLE} ({server}): {e}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    static CLEANED: Once = Once::new();
    let mut clean = false;
    CLEANED.call_once(|| clean = true);
    if clean {
        drop_stale(&client, now).await;
    }

    let name = format!(
        "souk_test_{now}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap_or_else(|e| panic!("creating the scratch database {name}: {e:?}"));
    with_database(&server, &name)
}

/// [`scratch_database`] for synchronous code (and for code already on a
/// tokio runtime that cannot `.await`, such as a contract suite's `make`):
/// runs on a thread of its own.
pub fn scratch_database_blocking() -> String {
    std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for creating a scratch database")
            .block_on(scratch_database())
    })
    .join()
    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Drops the scratch databases of runs older than [`STALE_SECONDS`]; one
/// still in use simply stays.
async fn drop_stale(client: &tokio_postgres::Client, now: u64) {
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'souk\\_test\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let created = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > STALE_SECONDS {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .await;
        }
    }
}

/// `url` with its database replaced by `database`: in the path of a
/// `postgres://` URL, or as a trailing `dbname=` of a `key=value` string.
pub fn with_database(url: &str, database: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return format!("{url} dbname={database}");
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5/postgres", "x"),
            "postgres://u@h:5/x"
        );
        assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=require", "x"),
            "postgresql://u:p@h/x?sslmode=require"
        );
        assert_eq!(
            with_database("postgres://u@h?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("host=h user=u dbname=postgres", "x"),
            "host=h user=u dbname=postgres dbname=x"
        );
    }
}
