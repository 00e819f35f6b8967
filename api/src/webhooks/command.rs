//! `souk webhooks status|retry`: the webhooks of a data directory, while
//! the server runs or is stopped (the file is in WAL mode; the running
//! server sees a retry within a second).

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use super::db;
use super::dead_letters::{self, Which};
use super::error::WebhookError;

#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// Print the checkpoint against the log's end, the deliveries pending
    /// and the dead letters, as one JSON object.
    Status,
    /// Put dead letters back in the outbox, each before the later
    /// deliveries of its conversation; the server delivers them.
    Retry {
        /// The delivery id (`Souk-Webhook-Id`), as status lists it.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        id: Option<String>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
    },
}

/// Runs `action` on `data_dir`, whose log ends at `log_end`.
pub fn run(data_dir: &Path, log_end: u64, action: WebhooksAction) -> anyhow::Result<ExitCode> {
    let path = data_dir.join(db::FILE_NAME);
    let file = || -> anyhow::Result<rusqlite::Connection> {
        if !path.is_file() {
            anyhow::bail!(
                "no {} in {}: webhooks never ran with this data directory",
                db::FILE_NAME,
                data_dir.display()
            );
        }
        db::open(&path).map_err(|e| anyhow::anyhow!("while opening {}: {e}", path.display()))
    };
    match action {
        WebhooksAction::Status => {
            let status = if path.is_file() {
                dead_letters::status(&file()?, log_end)?
            } else {
                dead_letters::Status {
                    checkpoint: None,
                    log_end,
                    pending: 0,
                    retrying: 0,
                    reminders: 0,
                    dead_letters: Vec::new(),
                }
            };
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(ExitCode::SUCCESS)
        }
        WebhooksAction::Retry { id, all } => {
            let which = match (id, all) {
                (Some(id), false) => Which::Id(id),
                _ => Which::All,
            };
            let moved = dead_letters::retry(&mut file()?, &which, db::now_ms())
                .map_err(|e: WebhookError| anyhow::anyhow!("{e}"))?;
            eprintln!("{moved} dead letters back in the outbox");
            Ok(match (which, moved) {
                (Which::Id(id), 0) => {
                    eprintln!("no dead letter with id {id}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            })
        }
    }
}
