//! Audit and replay: a conversation's state at any revision of its stream,
//! dispute transcripts (JSON, and a printable HTML page that embeds the
//! JSON), and their verification.
//!
//! # Layout
//! - [`state`]: the fold of a stream up to a point ([`state::fold`],
//!   [`state::state_at`]) and its JSON ([`state::state_json`]): `souk
//!   replay` and the state routes.
//! - [`event`]: the wire shape of one recorded event (`/events` items).
//! - [`routes`]: the participants' routes `GET {scope}/{id}/state` and
//!   `GET {scope}/{id}/transcript`.
//!
//! Operators' routes reach the same views through [`state::state_at`]
//! (then [`state::StateAt::to_json`]).

pub mod command;
pub mod event;
pub mod html;
pub mod routes;
pub mod state;
pub mod transcript;

#[cfg(test)]
mod tests;
