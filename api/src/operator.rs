//! The operator routes (docs/api.md, "Operators"): the marketplace's support
//! staff read conversations they take no part in, and never write.
//!
//! Every route takes an operator's token ([`OperatorCaller`]: a customer's
//! or a vendor's gets `403`) and a `reason` (3 to 500 characters). Each
//! per-conversation route first records a `SupportAccessed` event (the
//! operator, the reason, the view, the time) in the conversation's stream,
//! through the conversation's actor like any command, and only once that
//! is durable reads and answers; when it cannot be recorded (the log is
//! unavailable) the route answers the error and shows nothing. A read by
//! the same operator with the same reason less than 15 minutes after a
//! recorded one is part of that access: the domain records nothing new
//! (`Souk-Support-Access: repeat` says so), so an operator stepping through
//! a conversation's states does not flood its log. Every input is checked
//! before anything is recorded: a bad request records nothing.
//!
//! The search by participant reads the read models and records nothing
//! (it names no single conversation to record in).

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use souk_domain::{
    Command, ConversationId, ConversationInfo, Role, SupportReason, SupportView, Timestamp, UserId,
};
use souk_projections::{ConversationView, HistoryQuery, ListQuery};
use souk_store::{Direction, Position, ReadFrom, Revision};

use crate::audit::routes::{parse_at, transcript_response, TranscriptFormat};
use crate::audit::state::state_at;
use crate::audit::transcript::{self, GeneratedBy};
use crate::auth::{OperatorPrincipal, Seat};
use crate::error::{ApiError, ErrorCode};
use crate::rest::{parse_conversation_id, query_u64, query_usize, route, Query};
use crate::service;
use crate::state::{AppState, READ_YOUR_WRITES_TIMEOUT};

/// The header that says whether a read was recorded as a new access
/// (`recorded`) or is part of one recorded less than 15 minutes before by
/// the same operator with the same reason (`repeat`).
pub const ACCESS_HEADER: &str = "Souk-Support-Access";
/// [`ACCESS_HEADER`] as HTTP/2 writes it.
const ACCESS_HEADER_NAME: &str = "souk-support-access";

/// Default and largest page of the search.
const DEFAULT_SEARCH_LIMIT: usize = 20;
/// Default page of a conversation's messages (as the history route).
const DEFAULT_MESSAGES_LIMIT: usize = 30;
const MAX_PAGE_LIMIT: usize = 100;
/// Default and largest page of `.../events` (as the participants' route).
const DEFAULT_EVENTS_LIMIT: usize = 100;
const MAX_EVENTS_LIMIT: usize = 1000;

/// The verified operator behind a request.
pub struct OperatorCaller(pub OperatorPrincipal);

impl FromRequest for OperatorCaller {
    type Error = ApiError;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .expect("AppState is registered");
            let header = req
                .headers()
                .get(actix_web::http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            let operator = state.keys.verify_operator_header(header).await?;
            if !state.user_limit.allow_seat(&operator.id, Seat::Operator) {
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    "too many requests: slow down and retry in a moment",
                ));
            }
            Ok(OperatorCaller(operator))
        })
    }
}

/// The `reason` of the query: required, 3 to 500 characters.
fn reason(q: &Query) -> Result<SupportReason, ApiError> {
    Ok(SupportReason::parse(
        q.get("reason").map(String::as_str).unwrap_or_default(),
    )?)
}

/// What recording an access found.
struct Access {
    /// False when it repeats an access recorded less than 15 minutes before.
    recorded: bool,
    /// The stream's latest position after it (for read-your-writes).
    position: Position,
    info: ConversationInfo,
}

impl Access {
    /// `recorded` or `repeat`: the value of [`ACCESS_HEADER`].
    fn outcome(&self) -> &'static str {
        if self.recorded {
            "recorded"
        } else {
            "repeat"
        }
    }

    /// An answer with [`ACCESS_HEADER`].
    fn answer(&self) -> actix_web::HttpResponseBuilder {
        let mut builder = HttpResponse::Ok();
        builder.insert_header((ACCESS_HEADER, self.outcome()));
        builder
    }
}

/// Records that `operator` reads `view` of conversation `id` for `reason`,
/// through the conversation's actor, and returns once it is durable (or
/// was a repeat). A conversation that does not exist is `404`; a log that
/// cannot record is `503` (and the caller shows nothing).
async fn record(
    state: &AppState,
    operator: &OperatorPrincipal,
    id: ConversationId,
    reason: SupportReason,
    view: SupportView,
) -> Result<Access, ApiError> {
    let command = Command::RecordSupportAccess {
        operator: operator.operator(),
        reason,
        view,
        at: Timestamp::now(),
    };
    let reply = service::execute(state, id, command).await?;
    let info = reply.info.ok_or_else(|| {
        ApiError::internal(
            "support access",
            &"the actor recorded an access without the conversation's info",
        )
    })?;
    if !reply.recorded.is_empty() {
        tracing::info!(
            conversation = %id,
            operator = %operator.id,
            view = %view,
            "support access recorded"
        );
    }
    Ok(Access {
        recorded: !reply.recorded.is_empty(),
        position: reply.position,
        info,
    })
}

/// The stream's last revision, `None` when it has no events.
async fn last_revision(state: &AppState, id: ConversationId) -> Result<Option<Revision>, ApiError> {
    Ok(state
        .store
        .read_stream(&id.stream_name(), ReadFrom::End, Direction::Forwards, 1)
        .await?
        .first()
        .map(|e| e.revision))
}

/// A conversation as an operator sees it: no viewer's unread count, and no
/// message (the search records no access, so it shows no message text;
/// the recorded conversation view carries the messages).
fn summary(state: &AppState, mut view: ConversationView) -> Value {
    service::fill_presence(state, &mut view);
    let mut value = serde_json::to_value(&view).expect("a conversation view is plain data");
    if let Some(fields) = value.as_object_mut() {
        fields.remove("unreadCount");
        fields.remove("lastMessage");
    }
    value
}

#[utoipa::path(
    get,
    path = "/api/operator/conversations",
    tag = "operator",
    operation_id = "operator_search",
    summary = "Find a user's conversations (operators)",
    description = "The conversations where `participant` is the customer or the vendor, newest activity first. Operator token only; records nothing (it names no single conversation) and so shows no message.",
    params(
        ("participant" = String, Query, description = "The user's id (a customer's or a vendor's)"),
        ("reason" = String, Query, min_length = 3, max_length = 500, description = "Why: 3 to 500 characters, one line"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "At most this many, default 20"),
    ),
    responses((status = 200, description = "The conversations found", body = crate::openapi::schemas::OperatorConversationList)),
)]
pub(crate) async fn search(
    state: web::Data<AppState>,
    OperatorCaller(_operator): OperatorCaller,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let participant = UserId::parse_field(
        "participant",
        q.get("participant").map(String::as_str).unwrap_or_default(),
    )?;
    reason(&q)?;
    let limit = query_usize(&q, "limit", DEFAULT_SEARCH_LIMIT, MAX_PAGE_LIMIT)?;
    let mut found: Vec<ConversationView> = Vec::new();
    let mut has_more = false;
    for role in [Role::Customer, Role::Vendor] {
        let query = ListQuery {
            search: None,
            limit,
            cursor: None,
        };
        let page = state
            .projections
            .conversations(&participant, role, query)
            .await?;
        has_more |= page.next_cursor.is_some();
        found.extend(page.conversations);
    }
    // Newest activity first, as the participants' lists.
    found.sort_by_key(|v| std::cmp::Reverse((v.updated_at, v.id)));
    found.dedup_by_key(|v| v.id);
    has_more |= found.len() > limit;
    found.truncate(limit);
    let conversations: Vec<Value> = found.into_iter().map(|v| summary(&state, v)).collect();
    Ok(HttpResponse::Ok().json(json!({
        "conversations": conversations,
        "hasMore": has_more,
    })))
}

#[utoipa::path(
    get,
    path = "/api/operator/conversations/{conversationId}",
    tag = "operator",
    operation_id = "operator_conversation",
    summary = "Read a conversation (operators; recorded)",
    description = "The conversation and a page of its messages (ascending `seq`, the newest page unless `before` is given). Operator token only; first records a `SupportAccessed` event (view `conversation`) in the conversation's log, seen by its participants.",
    params(
        ("conversationId" = String, Path, format = Uuid, description = "The conversation"),
        ("reason" = String, Query, min_length = 3, max_length = 500, description = "Why: 3 to 500 characters, one line"),
        ("before" = Option<u64>, Query, maximum = 18446744073709551615_u64, description = "Only messages with `seq < before`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size, default 30"),
    ),
    responses(
        (status = 200, description = "The conversation and its messages", body = crate::openapi::schemas::OperatorConversation,
            headers(("Souk-Support-Access" = String, description = "`recorded`, or `repeat` when part of an access recorded less than 15 minutes before"))),
        (status = 404, description = "No such conversation", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub(crate) async fn conversation(
    state: web::Data<AppState>,
    OperatorCaller(operator): OperatorCaller,
    path: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let id = parse_conversation_id(&path)?;
    let reason = reason(&q)?;
    let query = HistoryQuery {
        before: query_u64(&q, "before")?,
        after: None,
        limit: query_usize(&q, "limit", DEFAULT_MESSAGES_LIMIT, MAX_PAGE_LIMIT)?,
    };
    let access = record(&state, &operator, id, reason, SupportView::Conversation).await?;
    // The read models may not have reached the conversation yet (a cluster
    // node that did not see it): wait for them, within a bound.
    state
        .projections
        .wait_live(access.position, READ_YOUR_WRITES_TIMEOUT)
        .await;
    let view = state
        .projections
        .conversation(id, &access.info.customer.id, Role::Customer)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unavailable,
                "the read models have not reached this conversation yet; try again shortly",
            )
        })?;
    let page = state.projections.messages(id, query).await?;
    Ok(access.answer().json(json!({
        "conversation": summary(&state, view),
        "messages": page.messages,
        "hasMore": page.has_more,
    })))
}

#[utoipa::path(
    get,
    path = "/api/operator/conversations/{conversationId}/events",
    tag = "operator",
    operation_id = "operator_events",
    summary = "A conversation's recorded events (operators; recorded)",
    description = "The conversation's recorded events, in order, as the participants' `/events` route answers them. Operator token only; first records a `SupportAccessed` event (view `events`), which the page then holds when it reaches the end.",
    params(
        ("conversationId" = String, Path, format = Uuid, description = "The conversation"),
        ("reason" = String, Query, min_length = 3, max_length = 500, description = "Why: 3 to 500 characters, one line"),
        ("from" = Option<u64>, Query, maximum = 18446744073709551615_u64, description = "The stream revision to start at, default 0"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, default 100"),
    ),
    responses(
        (status = 200, description = "The page", body = crate::openapi::schemas::EventPage,
            headers(("Souk-Support-Access" = String, description = "`recorded`, or `repeat` when part of an access recorded less than 15 minutes before"))),
        (status = 404, description = "No such conversation", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub(crate) async fn events(
    state: web::Data<AppState>,
    OperatorCaller(operator): OperatorCaller,
    path: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let id = parse_conversation_id(&path)?;
    let reason = reason(&q)?;
    let from = query_u64(&q, "from")?.unwrap_or(0);
    let limit = query_usize(&q, "limit", DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT)?;
    let access = record(&state, &operator, id, reason, SupportView::Events).await?;
    let page = crate::audit::event::event_page(state.store.as_ref(), id, from, limit).await?;
    Ok(access.answer().json(page))
}

#[utoipa::path(
    get,
    path = "/api/operator/conversations/{conversationId}/state",
    tag = "operator",
    operation_id = "operator_state",
    summary = "A conversation's state at a revision (operators; recorded)",
    description = "The conversation as it was just after the event at stream revision `at` (default: the latest, which is then this access), as the participants' state route answers it. Operator token only; first records a `SupportAccessed` event (view `state`).",
    params(
        ("conversationId" = String, Path, format = Uuid, description = "The conversation"),
        ("reason" = String, Query, min_length = 3, max_length = 500, description = "Why: 3 to 500 characters, one line"),
        ("at" = Option<u64>, Query, maximum = 18446744073709551615_u64, description = "A stream revision, at most the last one; default the last"),
    ),
    responses(
        (status = 200, description = "The state", body = crate::openapi::audit::StateAt,
            headers(("Souk-Support-Access" = String, description = "`recorded`, or `repeat` when part of an access recorded less than 15 minutes before"))),
        (status = 400, description = "`at` is not a revision, or is beyond the last one", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such conversation", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub(crate) async fn state_view(
    state: web::Data<AppState>,
    OperatorCaller(operator): OperatorCaller,
    path: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let id = parse_conversation_id(&path)?;
    let reason = reason(&q)?;
    let at = parse_at(&q)?;
    // `at` is checked before the access is recorded: a bad request records
    // nothing. The access itself adds a revision, which `at` may not name
    // in advance.
    if let Some(at) = at {
        let last = last_revision(&state, id)
            .await?
            .ok_or_else(|| ApiError::conversation_not_found(id))?;
        if at > last {
            return Err(ApiError::invalid(format!(
                "at: revision {at} is beyond the conversation's last revision {last}"
            )));
        }
    }
    let access = record(&state, &operator, id, reason, SupportView::State).await?;
    let found = state_at(state.store.as_ref(), id, at).await?;
    Ok(access.answer().json(found.to_json()))
}

#[utoipa::path(
    get,
    path = "/api/operator/conversations/{conversationId}/transcript",
    tag = "operator",
    operation_id = "operator_transcript",
    summary = "A conversation's dispute transcript (operators; recorded)",
    description = "The conversation's dispute transcript, as the participants' transcript route answers it (generated by the operator), this access included. Operator token only; first records a `SupportAccessed` event (view `transcript`).",
    params(
        ("conversationId" = String, Path, format = Uuid, description = "The conversation"),
        ("reason" = String, Query, min_length = 3, max_length = 500, description = "Why: 3 to 500 characters, one line"),
        ("format" = Option<String>, Query, description = "`json` (default) or `html`"),
    ),
    responses(
        (status = 200, description = "The transcript (JSON) or its printable page (HTML)", content(
            (crate::openapi::audit::Transcript = "application/json"),
            (String = "text/html"),
        ), headers(("Souk-Support-Access" = String, description = "`recorded`, or `repeat` when part of an access recorded less than 15 minutes before"))),
        (status = 404, description = "No such conversation", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub(crate) async fn transcript(
    state: web::Data<AppState>,
    OperatorCaller(operator): OperatorCaller,
    path: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let id = parse_conversation_id(&path)?;
    let reason = reason(&q)?;
    let format = TranscriptFormat::parse(&q)?;
    let access = record(&state, &operator, id, reason, SupportView::Transcript).await?;
    let by = GeneratedBy {
        id: operator.id.to_string(),
        role: Seat::Operator.to_string(),
        name: operator.name.as_ref().map(|n| n.as_str().to_owned()),
    };
    let built = transcript::build(state.store.as_ref(), id, by, Timestamp::now()).await?;
    let mut answer = transcript_response(&built, format);
    answer.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static(ACCESS_HEADER_NAME),
        actix_web::http::header::HeaderValue::from_static(access.outcome()),
    );
    Ok(answer)
}

/// Registers the operator routes (full paths: there is no scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route(
        "/api/operator/conversations",
        [(Method::GET, web::get().to(search))],
    ))
    .service(route(
        "/api/operator/conversations/{conversationId}",
        [(Method::GET, web::get().to(conversation))],
    ))
    .service(route(
        "/api/operator/conversations/{conversationId}/events",
        [(Method::GET, web::get().to(events))],
    ))
    .service(route(
        "/api/operator/conversations/{conversationId}/state",
        [(Method::GET, web::get().to(state_view))],
    ))
    .service(route(
        "/api/operator/conversations/{conversationId}/transcript",
        [(Method::GET, web::get().to(transcript))],
    ));
}
