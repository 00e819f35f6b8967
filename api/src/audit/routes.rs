//! The participants' audit routes, in both chat scopes (customer and
//! vendor), for the participants of the conversation only (anyone else
//! gets `404`, as for `/events`):
//!
//! - `GET {scope}/{conversationId}/state?at=<revision>`: the conversation
//!   just after the event at stream revision `at` (default: the last).
//! - `GET {scope}/{conversationId}/transcript?format=json|html`: the
//!   dispute transcript, as a download.
//!
//! The operators' routes give the same views: they parse with
//! [`parse_at`] and [`TranscriptFormat::parse`], build with
//! [`super::state::state_at`] / [`super::transcript::build`], and answer
//! with [`super::state::StateAt::to_json`] / [`transcript_response`].

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use souk_domain::{ConversationId, Timestamp};
use souk_store::Revision;

use super::state::state_at;
use super::transcript::{self, GeneratedBy, Transcript};
use crate::error::ApiError;
use crate::rest::Caller;
use crate::service;
use crate::state::AppState;

type Query = web::Query<HashMap<String, String>>;

/// The `at` of a state route: a stream revision, `None` when absent.
pub fn parse_at(q: &HashMap<String, String>) -> Result<Option<Revision>, ApiError> {
    q.get("at")
        .map(|v| {
            v.trim().parse::<Revision>().map_err(|_| {
                ApiError::invalid("at: must be a stream revision (a non-negative integer)")
            })
        })
        .transpose()
}

/// The `format` of a transcript route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TranscriptFormat {
    Json,
    Html,
}

impl TranscriptFormat {
    /// `json` (the default) or `html`.
    pub fn parse(q: &HashMap<String, String>) -> Result<Self, ApiError> {
        match q.get("format").map(|f| f.trim()) {
            None | Some("") | Some("json") => Ok(Self::Json),
            Some("html") => Ok(Self::Html),
            Some(_) => Err(ApiError::invalid("format: must be json or html")),
        }
    }
}

/// The answer of a transcript route: the file as a download
/// (`Content-Disposition: attachment; filename="conversation-<id>-transcript.json|html"`).
pub fn transcript_response(t: &Transcript, format: TranscriptFormat) -> HttpResponse {
    let (content_type, extension, body) = match format {
        TranscriptFormat::Json => ("application/json", "json", t.to_canonical()),
        TranscriptFormat::Html => (
            "text/html; charset=utf-8",
            "html",
            super::html::render(t).into_bytes(),
        ),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", t.file_name(extension)),
        ))
        .body(body)
}

#[utoipa::path(
    get,
    path = "/{conversationId}/state",
    operation_id = "state_at",
    summary = "The conversation at a revision (replay)",
    description = "The conversation as it was just after the event at stream revision `at` (default: the last), folded from the log by the domain's `evolve`, with that event, the stream's last revision and whether the hash chain of the events folded holds.",
    params(
        ("conversationId" = String, Path, format = Uuid, description = "The conversation"),
        ("at" = Option<u64>, Query, maximum = 18446744073709551615_u64, description = "A stream revision, at most the last; default the last"),
    ),
    responses(
        (status = 200, description = "The state", body = crate::openapi::audit::StateAt),
        (status = 400, description = "`at` is not a revision, or is beyond the last one", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such conversation, or the caller is not one of its participants", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub(crate) async fn state(
    state: web::Data<AppState>,
    Caller(p): Caller,
    path: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let id = ConversationId::parse(&path)?;
    let at = parse_at(&q)?;
    service::check_participant(&state, &p, id).await?;
    let found = state_at(&*state.store, id, at).await?;
    Ok(HttpResponse::Ok().json(found.to_json()))
}

#[utoipa::path(
    get,
    path = "/{conversationId}/transcript",
    operation_id = "transcript",
    summary = "The dispute transcript",
    description = "The conversation's dispute transcript (`souk-transcript/1`): every event as stored with its hash, the final hash and a digest, verifiable offline with `souk audit verify-transcript`; `html`: a printable page that embeds it. Answered as a download.",
    params(
        ("conversationId" = String, Path, format = Uuid, description = "The conversation"),
        ("format" = Option<String>, Query, description = "`json` (default) or `html`"),
    ),
    responses(
        (status = 200, description = "The transcript (JSON) or its printable page (HTML)", content(
            (crate::openapi::audit::Transcript = "application/json"),
            (String = "text/html"),
        )),
        (status = 404, description = "No such conversation, or the caller is not one of its participants", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub(crate) async fn transcript(
    state: web::Data<AppState>,
    Caller(p): Caller,
    path: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let id = ConversationId::parse(&path)?;
    let format = TranscriptFormat::parse(&q)?;
    service::check_participant(&state, &p, id).await?;
    let by = GeneratedBy {
        id: p.id.to_string(),
        role: p.role.to_string(),
        name: p.name.as_ref().map(|n| n.as_str().to_owned()),
    };
    let t = transcript::build(&*state.store, id, by, Timestamp::now()).await?;
    Ok(transcript_response(&t, format))
}
