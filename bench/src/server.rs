//! Starting and stopping a server under test. Both servers print one JSON
//! line `{"event":"listening","http":"HOST:PORT","socket":"HOST:PORT"}` on
//! stdout once they listen, so they are started and found the same way.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// How to start one server.
#[derive(Clone, Debug)]
pub struct Spec {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Its stdout (after the first line) and stderr go here.
    pub log: PathBuf,
}

#[derive(Deserialize)]
struct Listening {
    event: String,
    http: String,
    socket: String,
}

/// A started server.
pub struct Running {
    child: Child,
    pub pid: u32,
    /// `http://HOST:PORT`
    pub http_url: String,
    /// `ws://HOST:PORT`
    pub socket_url: String,
}

const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Parses the listening line.
pub fn listening(line: &str) -> anyhow::Result<(String, String)> {
    let l: Listening = serde_json::from_str(line.trim())
        .with_context(|| format!("not a listening line: {line}"))?;
    anyhow::ensure!(l.event == "listening", "not a listening line: {line}");
    Ok((format!("http://{}", l.http), format!("ws://{}", l.socket)))
}

pub async fn start(spec: &Spec) -> anyhow::Result<Running> {
    let log = std::fs::File::create(&spec.log)
        .with_context(|| format!("while creating {}", spec.log.display()))?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log.try_clone()?))
        .kill_on_drop(true);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("while starting {}", spec.program.display()))?;
    let pid = child.id().context("the server exited at once")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(START_TIMEOUT, lines.next_line())
        .await
        .with_context(|| format!("{} did not say it listens", spec.program.display()))??;
    let Some(first) = first else {
        bail!(
            "{} exited before listening; see {}",
            spec.program.display(),
            spec.log.display()
        );
    };
    let (http_url, socket_url) = listening(&first)?;
    // Keep draining stdout into the log so the server never blocks on it.
    let mut log = tokio::fs::File::from_std(log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = log.write_all(line.as_bytes()).await;
            let _ = log.write_all(b"\n").await;
        }
    });
    Ok(Running {
        child,
        pid,
        http_url,
        socket_url,
    })
}

impl Running {
    /// SIGTERM, then SIGKILL if it does not end in time.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                status.context("while waiting for the server")?;
            }
            Err(_) => {
                self.child
                    .kill()
                    .await
                    .context("while killing the server")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines() {
        let (h, s) =
            listening(r#"{"event":"listening","http":"127.0.0.1:1234","socket":"127.0.0.1:5678"}"#)
                .unwrap();
        assert_eq!(h, "http://127.0.0.1:1234");
        assert_eq!(s, "ws://127.0.0.1:5678");
        assert!(listening("hello").is_err());
        assert!(listening(r#"{"event":"other","http":"a","socket":"b"}"#).is_err());
    }

    #[tokio::test]
    async fn a_server_is_started_found_and_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                r#"echo '{"event":"listening","http":"127.0.0.1:1","socket":"127.0.0.1:2"}'; echo more; exec sleep 30"#.into(),
            ],
            env: vec![],
            cwd: None,
            log: dir.path().join("log"),
        };
        let running = start(&spec).await.unwrap();
        assert_eq!(running.http_url, "http://127.0.0.1:1");
        let started = std::time::Instant::now();
        running.stop().await.unwrap();
        assert!(started.elapsed() < STOP_TIMEOUT, "SIGTERM ended it");
    }
}
