//! [`AppState`]: the handles every request and every socket works with. All
//! of them are cheap clones of `Send + Sync` handles (actor addresses, store
//! and read-model handles), so REST on actix's arbiters and the Socket.IO edge
//! on its own tokio runtime share them without shared locks (presence aside,
//! see [`crate::presence`]).

use std::sync::Arc;
use std::time::Duration;

use souk_actors::ConversationRegistry;
use souk_projections::Projections;
use souk_store::EventStore;

use crate::auth::TokenKeys;
use crate::limit::UserLimiter;
use crate::metrics::Metrics;
use crate::presence::Presence;

/// How long a request waits for the read models to reach its own write
/// before it answers anyway (read-your-writes with a bound).
pub const READ_YOUR_WRITES_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn EventStore>,
    pub registry: ConversationRegistry,
    pub projections: Projections,
    pub keys: TokenKeys,
    pub presence: Presence,
    pub metrics: Arc<Metrics>,
    /// Each user's request rate, shared by REST and sockets.
    pub user_limit: Arc<UserLimiter>,
    /// Each user's typing changes (start/stop) that reach the log: beyond
    /// it they are coalesced (acknowledged, not recorded).
    pub typing_limit: Arc<UserLimiter>,
}
