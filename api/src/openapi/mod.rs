//! The OpenAPI 3.1 document of the REST routes, served at
//! `GET /api/openapi.json`, and a page that renders it (`GET /api/docs`,
//! Redoc's standalone bundle, vendored here: nothing is fetched from
//! elsewhere).
//!
//! The operations come from the `#[utoipa::path]` attributes on the handlers
//! in [`crate::rest`] (and `/api/config` in [`crate::app`]); the chat
//! routes are described once, relative to their side's prefix, and
//! [`document`] mounts them under both `/api/chat` (customer) and
//! `/api/vendor/chat` (vendor). The answers' schemas are the wire shapes of
//! docs/api.md ([`schemas`]). `tests/openapi.rs` checks that the document
//! and the routes the server answers are the same set.

use actix_web::{web, HttpResponse};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

pub mod audit;
pub mod schemas;

/// The chat routes of one side, relative to its prefix.
#[derive(OpenApi)]
#[openapi(paths(
    crate::rest::open_conversation,
    crate::rest::list_conversations,
    crate::rest::history,
    crate::rest::send,
    crate::rest::read_message,
    crate::rest::read_all,
    crate::rest::unread,
    crate::rest::events,
    crate::audit::routes::state,
    crate::audit::routes::transcript,
))]
struct ChatApi;

/// Everything else, with its full path, and the components.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "souk",
        description = "souk's REST routes: customer-vendor chat for a marketplace. \
            The full wire contract, Socket.IO included, is docs/api.md. Every chat route \
            takes `Authorization: Bearer <token>` (a JWT whose `role` is the route's side: \
            `customer` under `/api/chat`, `vendor` under `/api/vendor`; `operator` under \
            `/api/operator`, whose reads are recorded in the conversation's log). Failures carry \
            `{ \"error\": { \"code\", \"message\" } }`; a path asked with a method it does \
            not take answers 405 with `Allow`; an unknown path under `/api` answers 404.",
        license(name = "MIT"),
    ),
    paths(
        crate::rest::analytics,
        crate::rest::healthz,
        crate::rest::metrics,
        crate::app::web_config,
        crate::operator::search,
        crate::operator::conversation,
        crate::operator::events,
        crate::operator::state_view,
        crate::operator::transcript,
        openapi_json,
        docs_page,
        docs_script,
    ),
    components(schemas(
        schemas::ErrorBody,
        schemas::ErrorDetail,
        schemas::ErrorCode,
        schemas::Participant,
        schemas::Sender,
        schemas::Role,
        schemas::MessageKind,
        schemas::ProductCard,
        schemas::ProductCardInput,
        schemas::Message,
        schemas::Conversation,
        schemas::SearchMatch,
        schemas::OpenConversationCustomer,
        schemas::OpenConversationVendor,
        schemas::ConversationList,
        schemas::MessagePage,
        schemas::SendRequest,
        schemas::SendAnswer,
        schemas::ReadReceipt,
        schemas::UnreadSummary,
        schemas::RecordedEvent,
        schemas::EventPage,
        schemas::VendorAnalytics,
        schemas::Percentiles,
        schemas::DayFigures,
        schemas::HourFigures,
        schemas::TopProduct,
        schemas::Health,
        schemas::WebConfig,
        audit::StateAt,
        audit::StateSides,
        audit::StateSide,
        audit::StateMessage,
        audit::RecordedParticipant,
        audit::Transcript,
        audit::TranscriptConversation,
        audit::TranscriptParticipant,
        audit::TranscriptEvent,
        audit::GeneratedBy,
        schemas::OperatorConversationSummary,
        schemas::OperatorConversationList,
        schemas::OperatorConversation,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "customer", description = "The customer side: `/api/chat`, a customer token."),
        (name = "vendor", description = "The vendor side: `/api/vendor/chat` and `/api/vendor/analytics`, a vendor token."),
        (name = "operator", description = "Support staff: `/api/operator`, an operator token; every read of a conversation is recorded in its log."),
        (name = "operations", description = "Health, metrics, the web app's settings and this document."),
    )
)]
struct BaseApi;

/// The bearer scheme every chat route takes.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The prefixes the chat routes are mounted under, with their tag.
pub const CHAT_SIDES: [(&str, &str); 2] =
    [("/api/chat", "customer"), ("/api/vendor/chat", "vendor")];

/// The whole document.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = BaseApi::openapi();
    let chat = ChatApi::openapi();
    for (prefix, tag) in CHAT_SIDES {
        for (path, item) in &chat.paths.paths {
            let mut item = item.clone();
            for op in operations(&mut item) {
                op.tags = Some(vec![tag.to_owned()]);
                op.operation_id = op.operation_id.take().map(|id| format!("{tag}_{id}"));
            }
            if tag == "vendor" && path == "/conversation" {
                // The vendor side opens with the customer's id and name.
                if let Some(RefOr::T(body)) =
                    item.post.as_mut().and_then(|o| o.request_body.as_mut())
                {
                    for content in body.content.values_mut() {
                        if let RefOr::T(content) = content {
                            content.schema =
                                Some(RefOr::Ref(Ref::from_schema_name("OpenConversationVendor")));
                        }
                    }
                }
            }
            doc.paths.paths.insert(format!("{prefix}{path}"), item);
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        if let Some(head) = item.head.as_mut() {
            // A `HEAD` shares its handler with `GET`: its own id, no body.
            head.operation_id = head.operation_id.take().map(|id| format!("{id}_head"));
            for response in head.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    response.content.clear();
                }
            }
        }
        let authenticated = path.starts_with("/api/chat/")
            || path.starts_with("/api/vendor/")
            || path.starts_with("/api/operator/");
        for op in operations(item) {
            add_common_responses(op, authenticated);
        }
    }
    doc
}

/// The operations of a path item (the methods souk uses).
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
        item.options.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The answers every route can give (docs/api.md, REST routes): `405` for
/// another method on its path, and, where a token is taken, `401`, `403`,
/// `429` and `503`, and the bearer requirement.
fn add_common_responses(op: &mut Operation, authenticated: bool) {
    let mut common = vec![(
        "405",
        "Method not allowed: the path does not take this method (`Allow` names those it takes)",
    )];
    if authenticated {
        op.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
        common.extend([
            (
                "400",
                "Invalid request: a path, query or body field breaks its rules (the message names it)",
            ),
            (
                "401",
                "Unauthorized: the bearer token is missing, malformed or refused",
            ),
            (
                "403",
                "Forbidden: a token of another seat (the other side, an operator on a chat route, a participant on an operator route)",
            ),
            ("429", "Rate limited: too many requests from this user"),
            (
                "503",
                "Unavailable: the log or the read models cannot be reached (or are catching up)",
            ),
        ]);
    }
    for (status, description) in common {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(error_response(description)));
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// The document as served, made once.
fn document_json() -> &'static str {
    static JSON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    JSON.get_or_init(|| document().to_json().expect("the document serializes"))
}

/// `GET /api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    operation_id = "openapi_json",
    summary = "This document",
    description = "This OpenAPI 3.1 document.",
    responses((status = 200, description = "The document", content_type = "application/json", body = Object)),
)]
pub(crate) async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document_json())
}

/// Redoc's standalone bundle (MIT; its license header and `redoc.LICENSE`
/// are beside it).
const REDOC_JS: &str = include_str!("redoc.standalone.js");

const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>souk REST API</title>
</head>
<body>
<div id="redoc"></div>
<script src="/api/docs/redoc.standalone.js"></script>
<script>Redoc.init("/api/openapi.json", { hideDownloadButton: false }, document.getElementById("redoc"));</script>
</body>
</html>
"#;

/// `GET /api/docs`: the page that renders the document.
#[utoipa::path(
    get,
    path = "/api/docs",
    tag = "operations",
    operation_id = "docs_page",
    summary = "The page that renders this document",
    description = "A page that renders this document (Redoc, served by souk).",
    responses((status = 200, description = "The page", content_type = "text/html", body = String)),
)]
pub(crate) async fn docs_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(DOCS_PAGE)
}

/// `GET /api/docs/redoc.standalone.js`: the page's script.
#[utoipa::path(
    get,
    path = "/api/docs/redoc.standalone.js",
    tag = "operations",
    operation_id = "docs_script",
    summary = "The docs page's script",
    description = "The docs page's script (Redoc's standalone bundle).",
    responses((status = 200, description = "The script", content_type = "text/javascript", body = String)),
)]
pub(crate) async fn docs_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(REDOC_JS)
}

/// Registers `/api/openapi.json` and the docs page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    use actix_web::http::Method;
    cfg.service(crate::rest::route(
        "/api/openapi.json",
        [(Method::GET, web::get().to(openapi_json))],
    ))
    .service(crate::rest::route(
        "/api/docs",
        [(Method::GET, web::get().to(docs_page))],
    ))
    .service(crate::rest::route(
        "/api/docs/redoc.standalone.js",
        [(Method::GET, web::get().to(docs_script))],
    ));
}
