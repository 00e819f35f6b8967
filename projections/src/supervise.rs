//! The consumer's keeper: runs it, and runs it again after whatever stopped
//! it, until it is shut down.
//!
//! # Why a run ends and what follows
//!
//! A run (`Projections::run`) opens the file's writer, notes the log's end,
//! and consumes the log. Whatever fails in it (the disk is full, an I/O
//! error, the log does not answer, a task panics) ends the run and nothing
//! else: the next run starts after a pause that doubles with each failure
//! in a row (from [`crate::Config::retry_first`] up to
//! [`crate::Config::retry_max`]) and resumes from the checkpoint that the
//! file holds. Since the read models and their checkpoint commit together,
//! nothing is lost (events handed to the write-behind but not committed
//! are read again from the log) and nothing is applied twice; and since a
//! new run publishes notifications only after the last position an earlier
//! run notified, no socket hears of an event twice.
//!
//! A file that SQLite calls damaged (at the first run's integrity check,
//! or "malformed"/"not a database" at any write or query later) is set
//! aside (renamed with the time, never deleted: see `file`) and the next
//! run builds a new one from the log. Only what retrying cannot change ends
//! the consumer: an event it cannot decode (skipping it would make the read
//! models drift from the log forever) and a closed log.
//!
//! # Rebuilding in bulk
//!
//! Empty read models far behind the log (a new, missing, damaged or
//! set-aside file, with [`crate::Config::bulk_above`] events or more in the
//! log) are built in bulk (see `rebuild`) into a scratch file that then
//! replaces the live one, about ten times as fast as the live path. No
//! notification is published for the events of such a rebuild: they are
//! history that nobody waits on; the live position moves past them.

use std::sync::Arc;

use souk_store::{EventStore, Position};

use crate::consumer::{publish_max, stopped};
use crate::error::ProjectionError;
use crate::file::{self, Scratch, Soundness};
use crate::health::{Phase, Status};
use crate::rebuild::{self, Progress, ReadModelWriter};
use crate::Projections;

/// How one run ended.
enum Ended {
    /// Shut down, or the subscription ended: the consumer ends.
    Done,
    /// Failed: the next run follows (after a pause).
    Failed(ProjectionError),
}

impl Projections {
    /// Runs the consumer until it is shut down or fails for good; see the
    /// module docs.
    pub(crate) async fn supervise(
        &self,
        store: Arc<dyn EventStore>,
    ) -> Result<(), ProjectionError> {
        let config = self.inner.config;
        let mut shutdown = self.inner.shutdown.subscribe();
        let mut pause = config.retry_first;
        let mut failures = 0u64;
        let mut first = true;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let before = self.position();
            let run = tokio::spawn({
                let this = self.clone();
                let store = store.clone();
                async move { this.run(store, first).await }
            });
            let ended = match run.await {
                Ok(Ok(())) => Ended::Done,
                Ok(Err(e)) => Ended::Failed(e),
                Err(e) if e.is_panic() => {
                    Ended::Failed(ProjectionError::Task(format!("the consumer panicked: {e}")))
                }
                Err(e) => Ended::Failed(e.into()),
            };
            first = false;
            let failure = match ended {
                Ended::Done => break,
                Ended::Failed(e) if e.is_final() => {
                    self.set_status(|s| {
                        s.phase = Phase::Stopped;
                        s.error = Some(e.to_string());
                    });
                    return Err(e);
                }
                Ended::Failed(e) => e,
            };
            if self.position() > before {
                // Progress since the last failure: a new run of bad luck.
                pause = config.retry_first;
                failures = 0;
            }
            failures += 1;
            if failure.is_damage() {
                tracing::error!(error = %failure, "the read models are damaged; setting them aside to rebuild them from the log");
                if let Err(e) = self.set_aside("damaged").await {
                    tracing::error!(error = %e, "could not set the damaged read models aside; retrying");
                }
            }
            tracing::warn!(error = %failure, failures, ?pause, "the projection consumer failed; running it again after a pause");
            self.set_status(|s| {
                s.phase = Phase::Retrying;
                s.error = Some(failure.to_string());
                s.failures = failures;
            });
            tokio::select! {
                biased;
                _ = stopped(&mut shutdown) => break,
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(config.retry_max);
        }
        self.set_status(|s| {
            s.phase = Phase::Idle;
            s.error = None;
        });
        Ok(())
    }

    /// One run: (on the first, check the file thoroughly), note the log's
    /// end, rebuild in bulk if the file is empty and far behind, then
    /// consume.
    async fn run(&self, store: Arc<dyn EventStore>, first: bool) -> Result<(), ProjectionError> {
        if first {
            self.set_status(|s| s.phase = Phase::Checking);
            let path = self.inner.path.clone();
            let found = tokio::task::spawn_blocking(move || file::check(&path, true)).await??;
            match found {
                Soundness::Missing | Soundness::Sound => {}
                Soundness::Damaged(why) => {
                    tracing::error!(%why, "the read models fail their integrity check");
                    self.set_aside("damaged").await?;
                }
                Soundness::OtherSchema(found) => {
                    self.set_aside(&format!("schema-{found}")).await?;
                }
            }
        }
        let end = store.last_position().await?;
        let mut writer = ReadModelWriter::open(
            self.inner.path.clone(),
            false,
            Some(self.inner.faults.clone()),
        )
        .await?;
        if writer.position() == 0 && end > 0 && end >= self.inner.config.bulk_above {
            drop(writer);
            self.rebuild_in_bulk(store.clone(), end).await?;
            writer = ReadModelWriter::open(
                self.inner.path.clone(),
                false,
                Some(self.inner.faults.clone()),
            )
            .await?;
            // History: nobody waits on its notifications.
            publish_max(&self.inner.live, writer.position());
        }
        // After a file was set aside, the read models hold less than
        // before: the position goes back with them.
        self.inner.position.send_replace(writer.position());
        self.set_status(|s| {
            s.phase = Phase::Consuming;
            s.target = end;
        });
        if writer.position() < end {
            tracing::info!(
                from = writer.position(),
                to = end,
                "catching the read models up with the log"
            );
        }
        self.consume(store, writer).await
    }

    /// Builds the read models up to `end` into a scratch file and puts it in
    /// place of the (empty) live one.
    async fn rebuild_in_bulk(
        &self,
        store: Arc<dyn EventStore>,
        end: Position,
    ) -> Result<(), ProjectionError> {
        tracing::info!(to = end, "rebuilding the read models from the log in bulk");
        self.set_status(|s| {
            s.phase = Phase::Rebuilding;
            s.target = end;
            s.rebuilt = 0;
        });
        let started = std::time::Instant::now();
        let scratch = Scratch::next_to(&self.inner.path, "rebuild");
        let status = self.inner.status.clone();
        let built = rebuild::build(scratch.0.clone(), store, end, move |p: Progress| {
            status.send_modify(|s| s.rebuilt = p.position);
        })
        .await?;
        let this = self.clone();
        let from = scratch.0.clone();
        tokio::task::spawn_blocking(move || {
            let _readers = this.inner.readers.exclusive();
            file::install(&from, &this.inner.path)?;
            this.inner.readers.damaged.send_replace(false);
            Ok::<_, ProjectionError>(())
        })
        .await??;
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            position = built.position,
            seconds,
            per_second = (built.position as f64 / seconds.max(1e-9)) as u64,
            "rebuilt the read models"
        );
        // An undecodable event stops the live path at the same place.
        Ok(())
    }

    /// Sets the live file aside (see `file`) with every query kept away.
    async fn set_aside(&self, why: &str) -> Result<(), ProjectionError> {
        let this = self.clone();
        let why = why.to_owned();
        let aside = tokio::task::spawn_blocking(move || {
            let _readers = this.inner.readers.exclusive();
            let aside = file::set_aside(&this.inner.path, &why)?;
            this.inner.readers.damaged.send_replace(false);
            Ok::<_, ProjectionError>(aside)
        })
        .await??;
        tracing::warn!(aside = %aside.display(), "set the read models aside; they are rebuilt from the log");
        self.inner.position.send_replace(0);
        Ok(())
    }

    fn set_status(&self, change: impl FnOnce(&mut Status)) {
        self.inner.status.send_modify(change);
    }
}
