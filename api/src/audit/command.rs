//! `souk audit verify` (the hash chain of a log, or of one conversation)
//! and `souk audit verify-transcript FILE` (a transcript, JSON or HTML,
//! offline). Exit status: 0 intact, 1 broken, 2 could not check (the log
//! or the file could not be read).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use souk_domain::ConversationId;
use souk_store::chain::{self, VerifyReport};
use souk_store::{Direction, ReadFrom};

use super::transcript;
use crate::app::{open_log, EVENTS_DB};
use crate::config::{DataDirArg, LogArg};

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check the hash chain of the whole log (or of one conversation): every
    /// event's hash against its fields and its predecessor's. Prints a
    /// summary, or the first broken link; exit 0 intact, 1 broken, 2 when
    /// the log cannot be read. Progress goes to stderr.
    Verify {
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        log: LogArg,
        /// Only this conversation's stream; prints its final hash too.
        #[arg(long)]
        conversation: Option<String>,
    },
    /// Check a dispute transcript offline (no server, no data directory):
    /// the JSON file, or the HTML page that embeds it. Exit 0 when it
    /// verifies, 1 when it does not (saying what is wrong), 2 when the file
    /// cannot be read.
    VerifyTranscript {
        /// The transcript: `conversation-<id>-transcript.json` or `.html`.
        file: PathBuf,
    },
}

/// Exit status of a check that could not be made.
fn cannot_check(what: impl std::fmt::Display) -> ExitCode {
    eprintln!("souk: {what}");
    ExitCode::from(2)
}

/// Runs `souk audit verify`.
pub async fn verify(
    data: DataDirArg,
    log: LogArg,
    conversation: Option<String>,
) -> anyhow::Result<ExitCode> {
    let id = match conversation
        .as_deref()
        .map(ConversationId::parse)
        .transpose()
    {
        Ok(id) => id,
        Err(e) => return Ok(cannot_check(format_args!("--conversation: {}", e.reason))),
    };
    if log.log_url.is_none() && !data.data_dir.join(EVENTS_DB).is_file() {
        return Ok(cannot_check(format_args!(
            "no event log in {} ({EVENTS_DB} not found); pass --data-dir or --log-url",
            data.data_dir.display()
        )));
    }
    let store = match open_log(&data.data_dir, log.log_url.as_deref()).await {
        Ok(store) => store,
        Err(e) => return Ok(cannot_check(format_args!("{e:#}"))),
    };
    let stream = id.map(|id| id.stream_name());
    let started = Instant::now();
    let mut shown = started;
    let report = chain::verify(&*store, stream.as_deref(), |p| {
        if shown.elapsed() >= Duration::from_secs(1) {
            shown = Instant::now();
            if p.last_position > 0 {
                eprintln!(
                    "verifying: {} events, position {} of {} ({:.0} %)",
                    p.events,
                    p.position,
                    p.last_position,
                    100.0 * p.position as f64 / p.last_position as f64
                );
            } else {
                eprintln!("verifying: {} events", p.events);
            }
        }
    })
    .await;
    let report = match report {
        Ok(report) => report,
        Err(e) => return Ok(cannot_check(format_args!("while reading the log: {e}"))),
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    print_report(&mut out, &report, seconds)?;
    if let (Some(id), Some(stream)) = (id, stream.as_deref()) {
        if report.events_checked == 0 {
            writeln!(out, "conversation {id} has no events")?;
            return Ok(ExitCode::FAILURE);
        }
        if report.is_intact() {
            let last = store
                .read_stream(stream, ReadFrom::End, Direction::Forwards, 1)
                .await?;
            if let Some(last) = last.first() {
                writeln!(
                    out,
                    "conversation {id}: last revision {}, final hash {}",
                    last.revision, last.hash
                )?;
                writeln!(
                    out,
                    "(the hash at every revision: souk events --conversation {id})"
                )?;
            }
        }
    }
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_report(out: &mut impl Write, r: &VerifyReport, seconds: f64) -> std::io::Result<()> {
    match &r.broken {
        None => writeln!(
            out,
            "intact: {} events in {} {} checked (up to position {}) in {seconds:.1} s",
            r.events_checked,
            r.streams,
            if r.streams == 1 { "stream" } else { "streams" },
            r.last_position
        )?,
        Some(b) => {
            writeln!(
                out,
                "BROKEN: the hash chain of {} breaks at revision {} (position {})",
                b.stream, b.revision, b.position
            )?;
            writeln!(
                out,
                "  its fields and its predecessor give {}, the log stores {}",
                b.expected, b.found
            )?;
            writeln!(
                out,
                "  the event was changed, or one before it in its stream was changed, removed or reordered; {} events checked before the walk stopped",
                r.events_checked
            )?;
        }
    }
    if let Some(u) = &r.upgrade {
        writeln!(
            out,
            "note: events up to position {} were written before the hash chain existed and were hashed when the log was upgraded at {}: their hashes show the log has not changed since then, not before",
            u.through, u.at
        )?;
    }
    Ok(())
}

/// Runs `souk audit verify-transcript FILE`.
pub fn verify_transcript(file: &Path) -> anyhow::Result<ExitCode> {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) => return Ok(cannot_check(format_args!("{}: {e}", file.display()))),
    };
    match transcript::verify_file(&bytes) {
        Ok(v) => {
            let t = &v.transcript;
            println!(
                "verified: conversation {}, {} events (revisions 0 to {}), generated {} by {} ({})",
                t.conversation.id,
                t.events.len(),
                t.events.len() - 1,
                t.generated_at,
                t.generated_by.id,
                t.generated_by.role
            );
            println!("final hash {}", t.final_hash);
            println!(
                "to anchor it to the server's log: the event at revision {} of conversation {} must have this hash (souk events --conversation {}, or the /events route)",
                t.events.len() - 1,
                t.conversation.id,
                t.conversation.id
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("NOT VERIFIED: {}: {e}", file.display());
            Ok(ExitCode::FAILURE)
        }
    }
}
