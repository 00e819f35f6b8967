//! The few REST routes the load needs: `POST {side}/conversation` (the
//! load opens its conversations there) and `POST {side}/send` (the REST
//! sweep), with `{side}` `/api/chat` (customers) or `/api/vendor/chat`
//! (vendors), a bearer token on each, and `GET /healthz`.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::auth::{Role, User};
use crate::chat::{ApiError, Conversation, OpenBody, SendBody};
use crate::Floor;

const BODY_MAX: usize = 64 * 1024;

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a ApiError,
}

fn json(status: u16, body: &impl Serialize) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(bytes)))
        .expect("a valid response")
}

fn error(e: &ApiError) -> Response<Full<Bytes>> {
    json(e.status(), &ErrorBody { error: e })
}

fn refused(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        code,
        message: message.into(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Participant<'a> {
    id: &'a str,
    name: Option<&'a str>,
}

/// The Conversation of docs/api.md, as much of it as the floor knows.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConversationView<'a> {
    id: uuid::Uuid,
    customer: Participant<'a>,
    vendor: Participant<'a>,
    product: Option<()>,
    last_message: Option<()>,
    unread_count: u64,
    created_at: &'a str,
    updated_at: &'a str,
}

fn view<'a>(floor: &Floor, c: &'a Conversation, user: &User) -> ConversationView<'a> {
    let side = |r: Role| Participant {
        id: &c.users[r.index()],
        name: c.names[r.index()].as_deref(),
    };
    ConversationView {
        id: c.id,
        customer: side(Role::Customer),
        vendor: side(Role::Vendor),
        product: None,
        last_message: None,
        unread_count: floor.chat.unread(c, user.role),
        created_at: &c.created_at,
        updated_at: &c.created_at,
    }
}

#[derive(Serialize)]
struct SentBody<'a> {
    message: &'a RawValue,
}

/// One REST request.
pub async fn handle(floor: Arc<Floor>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match route(&floor, req).await {
        Ok(r) => r,
        Err(e) => error(&e),
    }
}

async fn route(floor: &Floor, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, ApiError> {
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET && path == "/healthz" {
        return Ok(json(200, &serde_json::json!({ "status": "ok" })));
    }
    let (side, action) = if let Some(a) = path.strip_prefix("/api/chat/") {
        (Role::Customer, a)
    } else if let Some(a) = path.strip_prefix("/api/vendor/chat/") {
        (Role::Vendor, a)
    } else {
        return Err(refused(
            "not_found",
            format!("no route {} {path}", req.method()),
        ));
    };
    if req.method() != Method::POST || !matches!(action, "conversation" | "send") {
        return Err(refused(
            "not_found",
            format!("no route {} {path}", req.method()),
        ));
    }
    let user = authenticate(floor, &req, side)?;
    let body = Limited::new(req.into_body(), BODY_MAX)
        .collect()
        .await
        .map_err(|_| refused("payload_too_large", "the body is larger than 64 KiB"))?
        .to_bytes();
    if action == "conversation" {
        let open: OpenBody = serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("the body: {e}")))?;
        let (c, created) = floor.chat.open(&user, &open)?;
        Ok(json(
            if created { 201 } else { 200 },
            &view(floor, &c, &user),
        ))
    } else {
        let send: SendBody = serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("the body: {e}")))?;
        let sent = floor.chat.send(&user, &send)?;
        floor.relay(&sent).await;
        Ok(json(
            StatusCode::CREATED.as_u16(),
            &SentBody {
                message: &sent.message,
            },
        ))
    }
}

fn authenticate(floor: &Floor, req: &Request<Incoming>, side: Role) -> Result<User, ApiError> {
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| refused("unauthorized", "missing bearer token"))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| refused("unauthorized", "missing bearer token"))?;
    let user = floor
        .keys
        .verify(token)
        .map_err(|e| refused("unauthorized", e))?;
    if user.role != side {
        return Err(refused(
            "forbidden",
            format!(
                "these routes are for {}s; the token is a {}'s",
                side.as_str(),
                user.role.as_str()
            ),
        ));
    }
    Ok(user)
}
