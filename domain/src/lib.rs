//! The pure core of souk: ids, inputs, commands, events, [`decide`] and
//! [`evolve`]. No I/O, no async, no technical errors: the store, the actors and
//! the api build on these types.
//!
//! # Layout
//! - [`ids`]: `ConversationId` (derived from the customer-vendor pair),
//!   `MessageId` (UUID v7), `UserId`, `ProductId`, `Role`, `ClientMessageId`,
//!   `DisplayName`.
//! - [`content`]: `MessageText`, `ProductCard`, `MessageContent`.
//! - [`text`]: which characters people's text may hold (shared by text and
//!   names).
//! - [`time`]: `Timestamp`, UTC with millisecond precision.
//! - [`support`]: operators (support staff) reading a conversation: who,
//!   why, which view, and the window in which repeats are one access.
//! - [`command`], [`event`]: what is asked and what is recorded.
//! - [`state`]: `ConversationState` (every message whole: replay, tests) and
//!   [`evolve`].
//! - [`compact`]: `CompactState`, what an actor keeps to decide (counts, and
//!   windows of the recent messages' ids and sides and of recent client
//!   ids), the `Recall` of older messages from the log, and the `Facts` that
//!   `decide` asks of either state.
//! - [`decide`](mod@decide): the rules.
//! - [`unread`]: the unread rule every unread figure follows.
//! - [`error`]: `InputError` (bad input) and `DomainError` (refused command).
#![forbid(unsafe_code)]

pub mod command;
pub mod compact;
pub mod content;
pub mod decide;
pub mod error;
pub mod event;
pub mod ids;
pub mod state;
pub mod support;
pub mod text;
pub mod time;
pub mod unread;

pub use command::{Actor, Command};
pub use compact::{CompactState, Facts, IDEMPOTENCY_WINDOW};
pub use content::{MessageContent, MessageKind, MessageText, ProductCard, ProductCardInput};
pub use decide::decide;
pub use error::{DomainError, InputError};
pub use event::{
    ConversationEvent, ConversationStarted, CurrentProductChanged, DecodeError, MessageRead,
    MessageSent, Participant, Sender, SupportAccessed, Typing, TypingStopReason,
};
pub use ids::{ClientMessageId, ConversationId, DisplayName, MessageId, ProductId, Role, UserId};
pub use state::{evolve, ConversationInfo, ConversationState};
pub use support::{
    Operator, SupportReason, SupportView, SUPPORT_ACCESS_MEMORY, SUPPORT_ACCESS_WINDOW,
};
pub use time::Timestamp;
