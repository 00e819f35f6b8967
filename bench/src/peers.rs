//! The four servers the comparison runs under the same loads, and how each
//! is started:
//!
//! - **souk** (`target/release/souk serve`), durable: every message in its
//!   log (group commit, fsync) before anyone hears of it;
//! - **floor** (`bench/floor`, `souk-floor`): souk's own socket stack
//!   (socketioxide, hyper, tokio, jemalloc, the same versions) relaying the
//!   same events in memory with token checks and nothing else: the
//!   physical limit of souk's stack;
//! - **reference** (`bench/reference`): Express + Socket.IO on Node.js, in
//!   memory;
//! - **durable** (`bench/reference-pg`): Express + Socket.IO + PostgreSQL,
//!   each send one transaction committed (`synchronous_commit` on) before
//!   it is emitted. Its PostgreSQL server is started once per comparison by
//!   `scripts/pg.sh`, each run gets a fresh schema, and the CPU of every
//!   PostgreSQL process counts as the server's.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use serde::Serialize;

use crate::server::Spec;

/// A server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Souk,
    Floor,
    Reference,
    Durable,
}

impl Target {
    /// Every server, in the order the report lists them.
    pub const ALL: [Target; 4] = [Self::Souk, Self::Floor, Self::Reference, Self::Durable];

    pub fn label(self) -> &'static str {
        match self {
            Self::Souk => "souk",
            Self::Floor => "floor",
            Self::Reference => "reference",
            Self::Durable => "durable",
        }
    }

    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.label() == label)
    }
}

/// Where the servers' programs are.
#[derive(Clone, Debug)]
pub struct Programs {
    pub souk_bin: PathBuf,
    pub floor_bin: PathBuf,
    pub reference_dir: PathBuf,
    pub reference_pg_dir: PathBuf,
    pub node: PathBuf,
}

/// How to start `target` for one run named `name` (its log and, for souk,
/// its data directory in `work_dir`; for the durable reference, its schema).
pub fn spec(
    target: Target,
    programs: &Programs,
    name: &str,
    work_dir: &Path,
    secret: &str,
    postgres: Option<&Postgres>,
) -> anyhow::Result<Spec> {
    let log = work_dir.join(format!("{name}.log"));
    let listen = || vec!["--http-addr".to_owned(), "127.0.0.1:0".to_owned()];
    Ok(match target {
        Target::Souk => {
            let data = work_dir.join(name);
            if data.exists() {
                std::fs::remove_dir_all(&data)?;
            }
            Spec {
                program: programs.souk_bin.clone(),
                args: vec![
                    "serve".into(),
                    "--data-dir".into(),
                    data.display().to_string(),
                    "--http-addr".into(),
                    "127.0.0.1:0".into(),
                    "--socket-addr".into(),
                    "127.0.0.1:0".into(),
                ],
                env: vec![
                    ("SOUK_JWT_SECRET".into(), secret.to_owned()),
                    ("SOUK_LOG".into(), "warn".into()),
                ],
                cwd: None,
                log,
            }
        }
        Target::Floor => Spec {
            program: programs.floor_bin.clone(),
            args: listen(),
            env: vec![("SOUK_JWT_SECRET".into(), secret.to_owned())],
            cwd: None,
            log,
        },
        Target::Reference => Spec {
            program: programs.node.clone(),
            args: [vec!["server.js".to_owned()], listen()].concat(),
            env: vec![
                ("JWT_SECRET".into(), secret.to_owned()),
                ("NODE_ENV".into(), "production".into()),
            ],
            cwd: Some(programs.reference_dir.clone()),
            log,
        },
        Target::Durable => {
            let pg = postgres.context("the durable reference needs its PostgreSQL server")?;
            Spec {
                program: programs.node.clone(),
                args: [
                    vec!["server.js".to_owned()],
                    listen(),
                    vec!["--schema".into(), schema_name(name)],
                ]
                .concat(),
                env: vec![
                    ("JWT_SECRET".into(), secret.to_owned()),
                    ("NODE_ENV".into(), "production".into()),
                    ("DATABASE_URL".into(), pg.url.clone()),
                ],
                cwd: Some(programs.reference_pg_dir.clone()),
                log,
            }
        }
    })
}

/// A run's schema: its name in PostgreSQL's spelling.
pub fn schema_name(run: &str) -> String {
    let mut s: String = run
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    s.insert_str(0, "run_");
    s
}

/// The PostgreSQL server of the durable reference (`scripts/pg.sh`).
pub struct Postgres {
    script: PathBuf,
    dir: PathBuf,
    pub url: String,
    /// The postmaster: it and the processes under it are the database.
    pub pid: u32,
}

/// The postmaster's pid: the first line of `postmaster.pid`.
pub fn postmaster_pid(file: &str) -> Option<u32> {
    file.lines().next()?.trim().parse().ok()
}

impl Postgres {
    /// A fresh cluster in `dir` (a previous one there is removed), started.
    pub async fn start(script: &Path, dir: &Path) -> anyhow::Result<Self> {
        if dir.exists() {
            Self::run(script, "stop", dir).await.ok();
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("while removing {}", dir.display()))?;
        }
        let url = Self::run(script, "start", dir).await?;
        anyhow::ensure!(
            url.starts_with("postgres://"),
            "{} start printed no URL: {url}",
            script.display()
        );
        let pid_file = dir.join("data").join("postmaster.pid");
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .as_deref()
            .and_then(postmaster_pid)
            .with_context(|| format!("no pid in {}", pid_file.display()))?;
        Ok(Self {
            script: script.to_owned(),
            dir: dir.to_owned(),
            url,
            pid,
        })
    }

    pub async fn stop(self) -> anyhow::Result<()> {
        Self::run(&self.script, "stop", &self.dir).await.map(|_| ())
    }

    async fn run(script: &Path, command: &str, dir: &Path) -> anyhow::Result<String> {
        let out = tokio::process::Command::new(script)
            .arg(command)
            .arg(dir)
            .output()
            .await
            .with_context(|| format!("while running {}", script.display()))?;
        anyhow::ensure!(
            out.status.success(),
            "{} {command} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::via_label;

    fn programs() -> Programs {
        Programs {
            souk_bin: "target/release/souk".into(),
            floor_bin: "bench/target/release/souk-floor".into(),
            reference_dir: "bench/reference".into(),
            reference_pg_dir: "bench/reference-pg".into(),
            node: "node".into(),
        }
    }

    #[test]
    fn labels_go_both_ways() {
        for t in Target::ALL {
            assert_eq!(Target::from_label(t.label()), Some(t));
        }
        assert_eq!(Target::from_label("nginx"), None);
    }

    #[test]
    fn each_server_gets_its_program_secret_and_a_free_port() {
        let dir = tempfile::tempdir().unwrap();
        let floor = spec(
            Target::Floor,
            &programs(),
            "floor-3",
            dir.path(),
            "s3cret",
            None,
        )
        .unwrap();
        assert_eq!(
            floor.program,
            PathBuf::from("bench/target/release/souk-floor")
        );
        assert_eq!(floor.args, ["--http-addr", "127.0.0.1:0"]);
        assert!(floor
            .env
            .contains(&("SOUK_JWT_SECRET".into(), "s3cret".into())));
        assert_eq!(floor.log, dir.path().join("floor-3.log"));

        assert!(spec(
            Target::Durable,
            &programs(),
            "durable-4",
            dir.path(),
            "s",
            None
        )
        .is_err());
        let pg = Postgres {
            script: "scripts/pg.sh".into(),
            dir: dir.path().join("pg"),
            url: "postgres://souk@127.0.0.1:5/postgres".into(),
            pid: 1,
        };
        let durable = spec(
            Target::Durable,
            &programs(),
            "durable-4",
            dir.path(),
            "s",
            Some(&pg),
        )
        .unwrap();
        assert_eq!(durable.cwd, Some(PathBuf::from("bench/reference-pg")));
        assert_eq!(
            durable.args,
            [
                "server.js",
                "--http-addr",
                "127.0.0.1:0",
                "--schema",
                "run_durable_4"
            ]
        );
        assert!(durable.env.contains(&(
            "DATABASE_URL".into(),
            "postgres://souk@127.0.0.1:5/postgres".into()
        )));

        let souk = spec(Target::Souk, &programs(), "souk-1", dir.path(), "s", None).unwrap();
        assert!(souk
            .args
            .contains(&dir.path().join("souk-1").display().to_string()));
    }

    /// The floor keeps the contract the load drives: conversations opened
    /// over REST, sockets that join their rooms, every `send_message` acked
    /// and delivered to the other side, over the socket and over REST.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_floor_carries_a_load() {
        use crate::load::{self, LoadConfig, Via};
        use crate::tokens::Minter;
        use std::time::Duration;

        let secret = "floor-load-test-secret-0123456789";
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(souk_floor::serve(listener, secret, async {
            let _ = stopped.await;
        }));
        for via in [Via::Socket, Via::Rest] {
            let config = LoadConfig {
                server_url: format!("http://{addr}"),
                socket_url: format!("ws://{addr}"),
                vendor_socket_url: None,
                pairs: 4,
                rate: 200.0,
                duration: Duration::from_millis(500),
                warmup: Duration::from_millis(100),
                via,
                idle_sockets: 3,
                browser_headers: false,
                server_pid: Some(std::process::id()),
                database_pid: None,
                grace: Duration::from_secs(5),
                settle: Duration::ZERO,
                minter: Minter::from_secret(secret),
                run_id: format!("t{}", via_label(via)),
                connect_concurrency: 8,
                max_in_flight: 16,
                latency_csv: None,
            };
            let r = load::run(config).await.unwrap();
            assert_eq!(r.sent, 100, "{via:?}");
            assert_eq!(
                (
                    r.delivered,
                    r.acknowledged,
                    r.errors,
                    r.lost,
                    r.duplicates,
                    r.misrouted
                ),
                (100, 100, 0, 0, 0, 0),
                "{via:?}: {:?}",
                r.error_kinds
            );
            // Every message also reached its recipient's personal room.
            assert!(r.notifications >= 100, "{via:?}: {}", r.notifications);
            assert_eq!(r.idle_sockets, 3);
        }
        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }

    #[test]
    fn the_postmaster_pid_is_the_first_line() {
        assert_eq!(
            postmaster_pid("4242\n/var/lib/pg/data\n1700000000\n5432\n"),
            Some(4242)
        );
        assert_eq!(postmaster_pid(""), None);
    }
}
