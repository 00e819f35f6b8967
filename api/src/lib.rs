//! The souk server: actix-web REST, the socketioxide edge, authentication,
//! configuration, and the `souk` binary's commands.
//!
//! # Layout
//! - [`app`]: startup ([`app::Application::build`], [`app::spawn`]) and the
//!   HTTP server.
//! - [`rest`]: the REST routes of docs/api.md; [`operator`]: the support
//!   staff's routes, each read recorded in the conversation's log;
//!   [`demo`]: demo mode.
//! - [`edge`]: the Socket.IO edge, relaying the log to sockets.
//! - [`service`]: the chat operations that REST and the edge share.
//! - [`input`]: field-by-field parsing of JSON bodies and payloads.
//! - [`auth`]: tokens and the signing secret; [`presence`]: who is online;
//!   [`limit`]: the REST rate limit per user.
//! - [`error`]: the wire's error type; [`metrics`]: `/metrics`.
//! - [`config`]: settings from flags and `SOUK_*` variables.
//! - [`audit`]: replay to a revision, dispute transcripts, their checks.
//! - [`cli`]: `souk events`, `souk replay`, `souk projections`, `souk token`,
//!   `souk log copy`, `souk webhooks`.
//! - [`webhooks`]: signed deliveries of the log's events (and unread
//!   reminders) to the marketplace's endpoints.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod edge;
pub mod error;
pub mod input;
pub mod limit;
pub mod metrics;
pub mod openapi;
pub mod operator;
pub mod presence;
pub mod rest;
pub mod service;
pub mod state;
pub mod webhooks;
