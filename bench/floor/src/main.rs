//! `souk-floor`: the floor server of the benchmark (see the library's
//! docs). Prints `{"event":"listening","http":"HOST:PORT","socket":"HOST:PORT"}`
//! once it listens, as souk and the references do.
//!
//!   SOUK_JWT_SECRET=... souk-floor [--http-addr 127.0.0.1:0]

use anyhow::Context;
use tokio::net::TcpListener;

/// The allocator souk's binary uses (`api/src/main.rs`).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn flag(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secret = std::env::var("SOUK_JWT_SECRET")
        .or_else(|_| std::env::var("JWT_SECRET"))
        .unwrap_or_default();
    anyhow::ensure!(
        secret.len() >= 16,
        "set SOUK_JWT_SECRET (at least 16 characters)"
    );
    let addr = flag("--http-addr").unwrap_or_else(|| "127.0.0.1:8090".into());
    let listener = TcpListener::bind(&addr)
        .await
        .with_context(|| format!("while binding {addr}"))?;
    let local = listener.local_addr()?;
    println!(r#"{{"event":"listening","http":"{local}","socket":"{local}"}}"#);
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    souk_floor::serve(listener, &secret, shutdown).await
}
