//! A join's catch-up: the messages a socket missed (after its `sinceSeq`),
//! replayed to it from the read models before it hears live events of that
//! conversation (the relay holds those meanwhile, see [`super::book`]).
//! Bounded: at most [`MAX_REPLAY`] messages per join, each emit waiting for
//! room in the socket's queue (a bounded time), so a long replay neither
//! overflows a socket nor holds up the relay.

use std::time::Duration;

use serde_json::Value;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};
use souk_domain::ConversationId;
use souk_projections::views::MAX_LIMIT;
use souk_projections::HistoryQuery;

use super::deliver::{self, is_evicted};
use super::fanout::events;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// How long a catch-up waits for room in a socket's queue before it gives up
/// on that socket (and evicts it).
const CATCH_UP_PATIENCE: Duration = Duration::from_secs(10);
/// How often a catch-up retries an emit into a full queue.
const CATCH_UP_RETRY: Duration = Duration::from_millis(5);

/// What a finished join reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Joined {
    /// Messages replayed (emitted as `receive_message` before the ack).
    pub replayed: u64,
    /// More than [`MAX_REPLAY`] messages were missed: those after the last
    /// replayed one are for the client to page with REST
    /// (`GET .../messages?after=<last replayed seq>`); live events follow
    /// them.
    pub has_more: bool,
}

/// The most messages one join replays. A client far behind (or one joining
/// with `sinceSeq: 0` a conversation of 20,000 messages) gets the first
/// [`MAX_REPLAY`] after its `sinceSeq` and `hasMore`, and pages the rest
/// with REST at its own pace, instead of the edge pushing it everything at
/// once at the expense of every other socket.
pub const MAX_REPLAY: u64 = 500;

/// What a catch-up did.
pub(super) struct CatchUp {
    pub(super) replayed: u64,
    /// See [`super::book`]: live events up to it are not emitted again.
    pub(super) watermark: u64,
    pub(super) has_more: bool,
}

/// Replays the messages after `since` to one socket, waiting for room in its
/// queue. Returns how many, and the watermark (see [`super::book`]).
pub(super) async fn catch_up(
    state: &AppState,
    socket: &SocketRef,
    conversation: ConversationId,
    since: u64,
) -> Result<CatchUp, ApiError> {
    // The newest seq before replaying: every message up to it is replayed
    // below (or is one the client says it has).
    let newest = state
        .projections
        .messages(
            conversation,
            HistoryQuery {
                before: None,
                after: None,
                limit: 1,
            },
        )
        .await?
        .messages
        .last()
        .map_or(0, |m| m.seq);
    let mut after = since;
    let mut replayed = 0;
    let mut has_more = false;
    loop {
        let left = MAX_REPLAY - replayed;
        let page = state
            .projections
            .messages(
                conversation,
                HistoryQuery {
                    before: None,
                    after: Some(after),
                    limit: MAX_LIMIT.min(left as usize),
                },
            )
            .await?;
        for m in &page.messages {
            let payload = serde_json::to_value(m)
                .map_err(|e| ApiError::internal("while serializing a message", &e))?;
            emit_patiently(socket, events::RECEIVE_MESSAGE, &payload).await?;
            after = m.seq;
            replayed += 1;
        }
        if !page.has_more || page.messages.is_empty() {
            break;
        }
        if replayed >= MAX_REPLAY {
            has_more = true;
            break;
        }
    }
    // Held live events up to `newest` are dropped either way: replayed, or
    // (with `has_more`) left for the client's REST pages. And never below
    // `since`: the client has those already, though this node's read models
    // may not yet (it heard of them through another node of a cluster), so
    // they would otherwise reach it again as live events.
    Ok(CatchUp {
        replayed,
        watermark: newest.max(since).max(after),
        has_more,
    })
}

/// Emits to one socket, waiting (a bounded time) for room in its queue.
async fn emit_patiently(socket: &SocketRef, event: &str, payload: &Value) -> Result<(), ApiError> {
    let gone = || {
        ApiError::new(
            ErrorCode::Unavailable,
            "the socket closed during the catch-up",
        )
    };
    let deadline = tokio::time::Instant::now() + CATCH_UP_PATIENCE;
    loop {
        if is_evicted(socket) {
            return Err(gone());
        }
        match socket.emit(event, payload) {
            Ok(()) => return Ok(()),
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                if tokio::time::Instant::now() >= deadline {
                    deliver::evict(socket, event);
                    return Err(gone());
                }
                tokio::time::sleep(CATCH_UP_RETRY).await;
            }
            Err(SendError::Socket(SocketError::Closed)) => return Err(gone()),
            Err(e) => return Err(ApiError::internal("while emitting a catch-up", &e)),
        }
    }
}
