//! Audit and replay: a conversation's state at any revision of its stream,
//! dispute transcripts (JSON, and a printable HTML page that embeds the
//! JSON), and their verification. The hashes themselves (the canonical
//! bytes, `link`, `check`, `verify`) are the store's `souk_store::chain`;
//! this module only uses them.
//!
//! # Layout
//! - [`state`]: the fold of a stream up to a point, reading no further
//!   than it and checking the hash chain of what it read ([`state::fold`],
//!   [`state::state_at`]), and its JSON ([`state::state_json`],
//!   [`state::StateAt::to_json`]): `souk replay` and the state routes.
//! - [`event`]: the wire shape of one recorded event (`/events` items, the
//!   state's `event`, lines of `souk events`), with its hash.
//! - [`transcript`]: the dispute transcript `souk-transcript/1`, its
//!   canonical bytes, digest and verification (what it proves, and what
//!   not, is in its docs).
//! - [`html`]: the transcript's printable page, which embeds it.
//! - [`routes`]: the participants' routes `GET {scope}/{id}/state` and
//!   `GET {scope}/{id}/transcript`, and the parsing and answer helpers the
//!   operators' routes share.
//! - [`command`]: `souk audit verify` and `souk audit verify-transcript`.
//!
//! Operators' routes (`crate::operator`) reach the same views: they check
//! the caller and record the access, then call [`state::state_at`] and
//! answer [`state::StateAt::to_json`], or [`transcript::build`] and answer
//! [`routes::transcript_response`].

pub mod command;
pub mod event;
pub mod html;
pub mod routes;
pub mod state;
pub mod transcript;

#[cfg(test)]
mod tests;
