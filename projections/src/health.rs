//! What the consumer is doing, as `/healthz` and `/metrics` show it, and
//! as the queries consult it before they read.
//!
//! The consumer sets its [`Phase`]; whether it is still catching up is not
//! stored but follows from the positions: a run starts by noting the log's
//! end (its target) and is caught up once the read models committed it.
//! So the answer is never stale, and nothing has to remember to flip it.

use serde::Serialize;
use souk_store::Position;

/// How far behind the log's end the read models may be and still be
/// healthy: about five of the write-behind's batches beyond what it may
/// hold ([`crate::MAX_BEHIND`]). Under a burst they stay well within it;
/// a consumer that makes no progress crosses it soon.
pub const HEALTHY_LAG: Position = 4 * crate::MAX_BEHIND;

/// What the consumer does, as stored by it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No consumer runs (never started, or shut down).
    Idle,
    /// Checking the file's integrity before the first run.
    Checking,
    /// Building the read models from the log into a new file.
    Rebuilding,
    /// Applying the log (catching up or following: see [`State`]).
    Consuming,
    /// Failed; retrying after a pause.
    Retrying,
    /// Stopped for good: an event the read models cannot take, or a closed
    /// log.
    Stopped,
}

/// The consumer's state as [`crate::Projections::health`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// No consumer runs.
    Idle,
    /// Checking the file's integrity before the first run.
    Checking,
    /// Building the read models from the log into a new file (they were
    /// missing, damaged or of another schema).
    Rebuilding,
    /// Applying the events that were in the log when the run started.
    CatchingUp,
    /// Caught up, following the log.
    Running,
    /// Failed; retrying after a pause.
    Retrying,
    /// Stopped for good.
    Stopped,
}

impl State {
    /// Every state, for a gauge per state.
    pub const ALL: [State; 7] = [
        State::Idle,
        State::Checking,
        State::Rebuilding,
        State::CatchingUp,
        State::Running,
        State::Retrying,
        State::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Checking => "checking",
            State::Rebuilding => "rebuilding",
            State::CatchingUp => "catching_up",
            State::Running => "running",
            State::Retrying => "retrying",
            State::Stopped => "stopped",
        }
    }

    /// Whether queries wait for (and then refuse, with
    /// [`crate::ProjectionError::CatchingUp`]) the end of this state.
    pub(crate) fn is_catching_up(self) -> bool {
        matches!(
            self,
            State::Checking | State::Rebuilding | State::CatchingUp
        )
    }
}

/// The consumer's phase and what goes with it, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Status {
    pub phase: Phase,
    /// The log's end when the current run started (or the rebuild's).
    pub target: Position,
    /// How far a rebuild got (its file is not the live one yet).
    pub rebuilt: Position,
    /// The failure that the consumer retries after, or stopped at.
    pub error: Option<String>,
    /// Failures in a row, without progress between them.
    pub failures: u64,
}

impl Default for Status {
    fn default() -> Self {
        Self {
            phase: Phase::Idle,
            target: 0,
            rebuilt: 0,
            error: None,
            failures: 0,
        }
    }
}

/// The read models' health: what the consumer does and how far it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub state: State,
    /// The position the read models reached (during a rebuild: the
    /// rebuild's).
    pub position: Position,
    /// The log's end when the current run (or rebuild) started: catching
    /// up ends there.
    pub target: Position,
    /// The failure the consumer retries after or stopped at.
    pub error: Option<String>,
    /// Failures in a row without progress between them.
    pub failures: u64,
}

impl Health {
    pub(crate) fn of(status: &Status, position: Position) -> Self {
        let state = match status.phase {
            Phase::Idle => State::Idle,
            Phase::Checking => State::Checking,
            Phase::Rebuilding => State::Rebuilding,
            Phase::Consuming if position < status.target => State::CatchingUp,
            Phase::Consuming => State::Running,
            Phase::Retrying => State::Retrying,
            Phase::Stopped => State::Stopped,
        };
        Self {
            state,
            position: match status.phase {
                Phase::Rebuilding => status.rebuilt,
                _ => position,
            },
            target: status.target,
            error: status.error.clone(),
            failures: status.failures,
        }
    }

    /// Whether the read models serve what the log holds: the consumer runs,
    /// caught up, and is at most [`HEALTHY_LAG`] events behind `log_end`.
    pub fn is_healthy(&self, log_end: Position) -> bool {
        self.state == State::Running && log_end.saturating_sub(self.position) <= HEALTHY_LAG
    }
}
