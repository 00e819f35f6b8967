//! The REST routes of docs/api.md. Customer routes live under `/api/chat`, vendor
//! routes mirror them under `/api/vendor/chat`; each scope knows its side and
//! a token of the other side gets `403`.
//!
//! Handlers are thin: they authenticate ([`Caller`]), parse the path, query
//! and body into domain types, call [`crate::service`] or the read models, and
//! shape the answer.

use std::collections::HashMap;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures::StreamExt;
use serde_json::{json, Value};
use souk_domain::{ConversationId, MessageId, Role, Timestamp};
use souk_projections::{HistoryQuery, ListQuery};

use crate::auth::Principal;
use crate::error::{ApiError, ErrorCode};
use crate::input::parse_json;
use crate::metrics::Gauges;
use crate::service::{self, OpenInput, SendInput};
use crate::state::AppState;

/// Bodies over this size get `413 payload_too_large`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Default and largest page of `GET .../conversations`.
const DEFAULT_LIST_LIMIT: usize = 20;
/// Default page of `GET .../messages` (docs/api.md: 1..100, default 30).
const DEFAULT_HISTORY_LIMIT: usize = 30;
const MAX_PAGE_LIMIT: usize = 100;
/// Default and largest page of `GET .../events`.
const DEFAULT_EVENTS_LIMIT: usize = 100;
const MAX_EVENTS_LIMIT: usize = 1000;
/// The longest analytics window.
const MAX_ANALYTICS_DAYS: i64 = 366;

/// Which side a scope serves.
#[derive(Clone, Copy, Debug)]
pub struct Side(pub Role);

/// The verified caller of a route, of the route's side.
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = futures::future::LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

async fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered");
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = state.keys.verify_header(header).await?;
    if !state.user_limit.allow(&principal.id, principal.role) {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "too many requests: slow down and retry in a moment",
        ));
    }
    if let Some(side) = req.app_data::<Side>() {
        if principal.role != side.0 {
            return Err(ApiError::forbidden(format!(
                "these routes are for {}s; the token is a {}'s",
                side.0, principal.role
            )));
        }
    }
    Ok(Caller(principal))
}

/// Reads a body of at most [`MAX_BODY_BYTES`] as JSON.
async fn json_body(req: &HttpRequest, mut payload: web::Payload) -> Result<Value, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {} KiB", MAX_BODY_BYTES / 1024),
        )
    };
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > MAX_BODY_BYTES {
            return Err(too_large());
        }
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid(format!("unreadable body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    parse_json(&body)
}

pub(crate) type Query = web::Query<HashMap<String, String>>;

pub(crate) fn query_usize(
    q: &Query,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(format!(
                "{name}: must be an integer from 1 to {max}"
            ))),
        },
    }
}

pub(crate) fn query_u64(q: &Query, name: &str) -> Result<Option<u64>, ApiError> {
    q.get(name)
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| ApiError::invalid(format!("{name}: must be a non-negative integer")))
        })
        .transpose()
}

pub(crate) fn parse_conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    Ok(ConversationId::parse(raw)?)
}

/// `201` when the request recorded something new, `200` when it found it.
fn created_or_ok(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

// ---- handlers ----

#[utoipa::path(
    post,
    path = "/conversation",
    operation_id = "open_conversation",
    summary = "Open the conversation with the other side, or get it",
    description = "Opens the conversation with the other side, or returns it when it exists (one per customer-vendor pair).",
    request_body(content = crate::openapi::schemas::OpenConversationCustomer, content_type = "application/json"),
    responses(
        (status = 201, description = "Created by this request", body = crate::openapi::schemas::Conversation),
        (status = 200, description = "It existed already; nothing changes", body = crate::openapi::schemas::Conversation),
        (status = 409, description = "The conversation kept changing concurrently; try again", body = crate::openapi::schemas::ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub(crate) async fn open_conversation(
    state: web::Data<AppState>,
    Caller(p): Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&req, payload).await?;
    let input = OpenInput::parse(p.role, &body)?;
    let (view, created) = service::open_conversation(&state, &p, input).await?;
    Ok(HttpResponse::build(created_or_ok(created)).json(view))
}

#[utoipa::path(
    get,
    path = "/conversations",
    operation_id = "list_conversations",
    summary = "The caller's conversations",
    description = "The caller's conversations on this side, newest activity first, with search and paging. With a search: the matching ones, newest match first, each found through a message carrying that message as `match`.",
    params(
        ("search" = Option<String>, Query, description = "Terms that must all occur, each as the start of a word, any case and accents (names, products, message text); at most 200 characters"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size, default 20"),
        ("cursor" = Option<String>, Query, description = "The previous page's `nextCursor`"),
    ),
    responses((status = 200, description = "A page", body = crate::openapi::schemas::ConversationList)),
)]
pub(crate) async fn list_conversations(
    state: web::Data<AppState>,
    Caller(p): Caller,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let search = q
        .get("search")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::invalid("search: must be at most 200 characters"));
    }
    let query = ListQuery {
        search,
        limit: query_usize(&q, "limit", DEFAULT_LIST_LIMIT, MAX_PAGE_LIMIT)?,
        cursor: q.get("cursor").cloned().filter(|c| !c.is_empty()),
    };
    let mut page = state
        .projections
        .conversations(&p.id, p.role, query)
        .await?;
    for view in &mut page.conversations {
        service::fill_presence(&state, view);
    }
    Ok(HttpResponse::Ok().json(json!({
        "conversations": page.conversations,
        "nextCursor": page.next_cursor,
        "totalUnread": page.total_unread,
    })))
}

#[utoipa::path(
    get,
    path = "/{conversationId}/messages",
    operation_id = "history",
    summary = "A page of history",
    description = "A page of the conversation's history, in ascending `seq`.",
    params(
        ("conversationId" = String, Path, format = Uuid, description = "The conversation"),
        ("before" = Option<u64>, Query, maximum = 18446744073709551615_u64, description = "Only messages with `seq < before`"),
        ("after" = Option<u64>, Query, maximum = 18446744073709551615_u64, description = "Only messages with `seq > after`"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size, default 30"),
    ),
    responses(
        (status = 200, description = "The page (possibly empty)", body = crate::openapi::schemas::MessagePage),
        (status = 404, description = "No such conversation, or the caller is not one of its participants", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub(crate) async fn history(
    state: web::Data<AppState>,
    Caller(p): Caller,
    path: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let id = parse_conversation_id(&path)?;
    let query = HistoryQuery {
        before: query_u64(&q, "before")?,
        after: query_u64(&q, "after")?,
        limit: query_usize(&q, "limit", DEFAULT_HISTORY_LIMIT, MAX_PAGE_LIMIT)?,
    };
    service::check_participant(&state, &p, id).await?;
    let page = state.projections.messages(id, query).await?;
    Ok(HttpResponse::Ok().json(json!({
        "messages": page.messages,
        "hasMore": page.has_more,
    })))
}

#[utoipa::path(
    post,
    path = "/send",
    operation_id = "send",
    summary = "Send a message",
    description = "Sends a message: text, a product card, or both.",
    request_body(content = crate::openapi::schemas::SendRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Recorded now", body = crate::openapi::schemas::SendAnswer),
        (status = 200, description = "A repeat of a `clientMessageId`: the earlier message", body = crate::openapi::schemas::SendAnswer),
        (status = 404, description = "No such conversation, or the caller is not one of its participants", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The conversation kept changing concurrently; retry with the same `clientMessageId`", body = crate::openapi::schemas::ErrorBody),
        (status = 413, description = "The body is larger than 64 KiB", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub(crate) async fn send(
    state: web::Data<AppState>,
    Caller(p): Caller,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = json_body(&req, payload).await?;
    let input = SendInput::parse(&body)?;
    let (message, created) = service::send_message(&state, &p, input).await?;
    Ok(HttpResponse::build(created_or_ok(created)).json(json!({ "message": message })))
}

#[utoipa::path(
    put,
    path = "/message/{messageId}/read",
    operation_id = "read_message",
    summary = "Read up to a message",
    description = "Marks that message and every earlier message of the other participant as read. No body.",
    params(("messageId" = String, Path, format = Uuid, description = "The message")),
    responses(
        (status = 200, description = "Read (or already read)", body = crate::openapi::schemas::ReadReceipt),
        (status = 404, description = "No such message, or not in a conversation of the caller", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "Concurrent change after a retry", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub(crate) async fn read_message(
    state: web::Data<AppState>,
    Caller(p): Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let message = MessageId::parse(&path)?;
    let receipt = service::mark_read(&state, &p, None, message).await?;
    Ok(HttpResponse::Ok().json(receipt))
}

#[utoipa::path(
    put,
    path = "/{conversationId}/read",
    operation_id = "read_all",
    summary = "Read everything",
    description = "Marks every message of the other participant as read. No body.",
    params(("conversationId" = String, Path, format = Uuid, description = "The conversation")),
    responses(
        (status = 200, description = "Read (or nothing new to read)", body = crate::openapi::schemas::ReadReceipt),
        (status = 404, description = "No such conversation, or the caller is not one of its participants", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "Concurrent change after a retry", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub(crate) async fn read_all(
    state: web::Data<AppState>,
    Caller(p): Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_conversation_id(&path)?;
    let receipt = service::mark_all_read(&state, &p, id).await?;
    Ok(HttpResponse::Ok().json(receipt))
}

#[utoipa::path(
    get,
    path = "/unread",
    operation_id = "unread",
    summary = "Unread counts",
    description = "The caller's unread counts on this side.",
    responses((status = 200, description = "The counts", body = crate::openapi::schemas::UnreadSummary)),
)]
pub(crate) async fn unread(
    state: web::Data<AppState>,
    Caller(p): Caller,
) -> Result<HttpResponse, ApiError> {
    let summary = state.projections.unread(&p.id, p.role).await?;
    Ok(HttpResponse::Ok().json(json!({
        "total": summary.total,
        "conversations": summary.conversations,
    })))
}

/// The conversation's recorded events, as stored. `from` is a stream
/// revision (default 0); `next` is the revision to ask for next, or null at
/// the end.
#[utoipa::path(
    get,
    path = "/{conversationId}/events",
    operation_id = "events",
    summary = "The conversation's recorded events (audit)",
    description = "The conversation's recorded events, in order, as stored (the audit log).",
    params(
        ("conversationId" = String, Path, format = Uuid, description = "The conversation"),
        ("from" = Option<u64>, Query, maximum = 18446744073709551615_u64, description = "The stream revision to start at, default 0"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, default 100"),
    ),
    responses(
        (status = 200, description = "The page", body = crate::openapi::schemas::EventPage),
        (status = 404, description = "No such conversation, or the caller is not one of its participants", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub(crate) async fn events(
    state: web::Data<AppState>,
    Caller(p): Caller,
    path: web::Path<String>,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    let id = parse_conversation_id(&path)?;
    let from = query_u64(&q, "from")?.unwrap_or(0);
    let limit = query_usize(&q, "limit", DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT)?;
    service::check_participant(&state, &p, id).await?;
    let page = crate::audit::event::event_page(state.store.as_ref(), id, from, limit).await?;
    Ok(HttpResponse::Ok().json(page))
}

fn parse_time_param(q: &Query, name: &str) -> Result<Option<Timestamp>, ApiError> {
    let Some(raw) = q.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = Timestamp::parse(raw) {
        return Ok(Some(t));
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| Some(Timestamp::from_datetime(dt.and_utc())))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "{name}: must be an RFC 3339 time or a YYYY-MM-DD date"
            ))
        })
}

#[utoipa::path(
    get,
    path = "/api/vendor/analytics",
    tag = "vendor",
    operation_id = "vendor_analytics",
    summary = "A vendor's figures",
    description = "A vendor's figures over `[from, to)` (at most 366 days). Vendor token only.",
    params(
        ("from" = Option<String>, Query, description = "An RFC 3339 time or a YYYY-MM-DD date; default: midnight UTC 29 days before the day of `to`"),
        ("to" = Option<String>, Query, description = "The same forms; default: now"),
    ),
    responses((status = 200, description = "The figures", body = crate::openapi::schemas::VendorAnalytics)),
)]
pub(crate) async fn analytics(
    state: web::Data<AppState>,
    Caller(p): Caller,
    q: Query,
) -> Result<HttpResponse, ApiError> {
    const DAY_MS: i64 = 86_400_000;
    let to = parse_time_param(&q, "to")?.unwrap_or_else(Timestamp::now);
    // Default: the 30 UTC days ending with the day of `to`, from midnight, so
    // `byDay` has 30 entries.
    let from = match parse_time_param(&q, "from")? {
        Some(from) => from,
        None => {
            let day_start = to.millis() - to.millis().rem_euclid(DAY_MS);
            Timestamp::from_millis(day_start - 29 * DAY_MS)
        }
    };
    if from >= to {
        return Err(ApiError::invalid("from: must be before to"));
    }
    if to.millis() - from.millis() > MAX_ANALYTICS_DAYS * DAY_MS {
        return Err(ApiError::invalid(format!(
            "from: the window may span at most {MAX_ANALYTICS_DAYS} days"
        )));
    }
    let figures = state.projections.analytics(&p.id, from, to).await?;
    Ok(HttpResponse::Ok().json(figures))
}

/// `GET /healthz`: 200 `{status: "ok", node}` when the log and the read
/// models answer; else 503 `{status: "unavailable", failing: [...], node,
/// log, projections, readModels}` naming each part that did not (`log`: the
/// event log, PostgreSQL in cluster mode; `projections`: the read models).
/// The log fails it when it does not answer a read, and also when it says
/// it refuses appends ([`souk_store::EventStore::write_failure`]: the
/// embedded log's writer cannot write, say on a full disk, and retries),
/// though it still reads.
/// The read models fail it whenever their consumer does not run caught up
/// (checking, rebuilding, catching up, retrying after a failure, stopped),
/// lags more than [`souk_projections::health::HEALTHY_LAG`] events behind
/// the log, or a query does not answer; `readModels` then says which, how
/// far they got (`position`, `logEnd`) and the last failure. Cluster
/// presence is reported (`presence`) but does not fail the check: without
/// PostgreSQL the log fails it anyway, and local presence goes on.
#[utoipa::path(
    method(get, head),
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    summary = "Health",
    description = "Health: 200 when the log and the read models answer, else 503 naming each part that does not. `HEAD` answers the status without the body.",
    responses(
        (status = 200, description = "Healthy", body = crate::openapi::schemas::Health),
        (status = 503, description = "A part fails", body = crate::openapi::schemas::Health),
    ),
)]
pub(crate) async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    /// A probe that does not answer within this is a failure.
    const PROBE: std::time::Duration = std::time::Duration::from_secs(3);
    let status = |ok: bool| if ok { "ok" } else { "unavailable" };
    let log_end = match tokio::time::timeout(PROBE, state.store.last_position()).await {
        Ok(Ok(end)) => Some(end),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "healthz: the log does not answer");
            None
        }
        Err(_) => None,
    };
    let write_failure = state.store.write_failure();
    if let Some(e) = &write_failure {
        tracing::warn!(error = %e, "healthz: the log refuses appends");
    }
    let log = log_end.is_some() && write_failure.is_none();
    let health = state.projections.health();
    let end = log_end.unwrap_or(health.target).max(health.target);
    // Only a consumer that runs caught up is worth a query: otherwise the
    // query would wait and be refused, and the state says more.
    let probed = if health.is_healthy(end) {
        let probe_user = health_probe_user();
        let probe = state.projections.unread(&probe_user, Role::Customer);
        match tokio::time::timeout(PROBE, probe).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "healthz: the read models do not answer");
                Err(e.to_string())
            }
            Err(_) => Err("a query did not answer within 3 s".to_owned()),
        }
    } else {
        Err(String::new())
    };
    let projections = probed.is_ok();
    let mut body = json!({
        "status": status(log && projections),
        "node": state.metrics.node_id,
    });
    if let Some(cluster) = state.presence.cluster() {
        body["presence"] = json!(status(cluster.is_available()));
    }
    if log && projections {
        return HttpResponse::Ok().json(body);
    }
    let failing: Vec<&str> = [("log", log), ("projections", projections)]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(part, _)| part)
        .collect();
    body["failing"] = json!(failing);
    body["log"] = json!(status(log));
    body["projections"] = json!(status(projections));
    let lagging = health.state == souk_projections::State::Running && !health.is_healthy(end);
    body["readModels"] = json!({
        "state": if lagging { "lagging" } else { health.state.as_str() },
        "position": health.position,
        "logEnd": end,
        "error": health.error.or(probed.err().filter(|e| !e.is_empty())),
    });
    HttpResponse::ServiceUnavailable().json(body)
}

fn health_probe_user() -> souk_domain::UserId {
    souk_domain::UserId::parse("healthz").expect("a valid id")
}

#[utoipa::path(
    method(get, head),
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    description = "Prometheus metrics (text exposition format). `HEAD` answers without the body.",
    responses((status = 200, description = "The metrics", content_type = "text/plain", body = String)),
)]
pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let log_position = state.store.last_position().await;
    let gauges = Gauges {
        // Reads answered, and appends taken (not refused by a writer that
        // cannot write).
        log_available: log_position.is_ok() && state.store.write_failure().is_none(),
        presence_available: state.presence.cluster().map(|c| c.is_available()),
        log_position: log_position.unwrap_or(0),
        projection_position: state.projections.position(),
        live_actors: state.registry.live_actors().await,
        actor_bytes: state.registry.live_bytes().await,
        online_users: state.presence.online_count(),
        projection_health: Some(state.projections.health()),
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&gauges))
}

/// Unknown routes under `/api`, and wrong methods: JSON `404`.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::not_found(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}

/// A route: one path and the methods it takes; any other method gets
/// `405 method_not_allowed` in the error shape, with `Allow`.
pub(crate) fn route<const N: usize>(
    path: &str,
    methods: [(actix_web::http::Method, actix_web::Route); N],
) -> actix_web::Resource {
    let allow = methods
        .iter()
        .map(|(m, _)| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let resource = web::resource(path).default_service(web::to(move |req: HttpRequest| {
        let allow = allow.clone();
        async move { method_not_allowed(&req, &allow) }
    }));
    methods
        .into_iter()
        .fold(resource, |resource, (_, route)| resource.route(route))
}

fn method_not_allowed(req: &HttpRequest, allow: &str) -> HttpResponse {
    let error = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "{} does not take {}; it takes {allow}",
            req.path(),
            req.method()
        ),
    );
    let mut response = actix_web::ResponseError::error_response(&error);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(allow) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    response
}

/// The routes of one side, under its prefix; anything else under it is a
/// JSON `404`.
fn chat_scope(prefix: &str, side: Role) -> actix_web::Scope {
    use actix_web::http::Method;
    web::scope(prefix)
        .app_data(Side(side))
        .service(route(
            "/conversation",
            [(Method::POST, web::post().to(open_conversation))],
        ))
        .service(route(
            "/conversations",
            [(Method::GET, web::get().to(list_conversations))],
        ))
        .service(route("/send", [(Method::POST, web::post().to(send))]))
        .service(route("/unread", [(Method::GET, web::get().to(unread))]))
        .service(route(
            "/message/{messageId}/read",
            [(Method::PUT, web::put().to(read_message))],
        ))
        .service(route(
            "/{conversationId}/messages",
            [(Method::GET, web::get().to(history))],
        ))
        .service(route(
            "/{conversationId}/read",
            [(Method::PUT, web::put().to(read_all))],
        ))
        .service(route(
            "/{conversationId}/events",
            [(Method::GET, web::get().to(events))],
        ))
        .service(route(
            "/{conversationId}/state",
            [(Method::GET, web::get().to(crate::audit::routes::state))],
        ))
        .service(route(
            "/{conversationId}/transcript",
            [(Method::GET, web::get().to(crate::audit::routes::transcript))],
        ))
        .default_service(web::to(not_found))
}

/// Registers every REST route of the contract. `/healthz` and `/metrics`
/// answer `HEAD` as `GET` without the body (a load balancer's probe sees
/// the true status).
pub fn configure(cfg: &mut web::ServiceConfig) {
    use actix_web::http::Method;
    cfg.service(chat_scope("/api/chat", Role::Customer))
        .service(chat_scope("/api/vendor/chat", Role::Vendor))
        .service(
            web::scope("/api/vendor")
                .app_data(Side(Role::Vendor))
                .service(route(
                    "/analytics",
                    [(Method::GET, web::get().to(analytics))],
                ))
                .default_service(web::to(not_found)),
        )
        .service(route(
            "/healthz",
            [
                (Method::GET, web::get().to(healthz)),
                (Method::HEAD, web::head().to(healthz)),
            ],
        ))
        .service(route(
            "/metrics",
            [
                (Method::GET, web::get().to(metrics)),
                (Method::HEAD, web::head().to(metrics)),
            ],
        ))
        .configure(crate::operator::configure)
        .configure(crate::openapi::configure);
}

/// Query strings that cannot be parsed at all get the JSON error too.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _| ApiError::invalid(format!("malformed query: {err}")).into())
}
