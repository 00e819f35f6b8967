//! The Socket.IO side: the handshake checks `auth.token` and joins the
//! user's personal room; `join_chat_room` (participants only) joins the
//! conversation's room; `send_message` numbers the message, then emits
//! `receive_message` to the room and `new_chat_message` to the recipient's
//! personal room, and acks. The other client events of docs/api.md are not
//! the floor's business (no ack ever comes, as for an unknown event).

use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};

use crate::auth::User;
use crate::chat::{chat_room, personal_room, ApiError, SendBody};
use crate::Floor;

/// The connect middleware: a valid token or `connect_error` `unauthorized`.
pub async fn authenticate(
    socket: SocketRef,
    State(floor): State<Arc<Floor>>,
    TryData(auth): TryData<Value>,
) -> Result<(), &'static str> {
    let token = auth
        .as_ref()
        .ok()
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .ok_or("unauthorized")?;
    let user = floor.keys.verify(token).map_err(|_| "unauthorized")?;
    socket.join(personal_room(user.role, &user.id));
    socket.extensions.insert(Arc::new(user));
    socket.on("join_chat_room", join);
    socket.on("send_message", send);
    Ok(())
}

/// The connect handler: nothing left to do.
pub async fn connected(_socket: SocketRef) {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Joined<'a> {
    ok: bool,
    conversation_id: &'a str,
    replayed: u32,
}

#[derive(Serialize)]
struct Refusal<'a> {
    ok: bool,
    error: &'a ApiError,
}

fn refuse(ack: AckSender, e: &ApiError) {
    let _ = ack.send(&Refusal {
        ok: false,
        error: e,
    });
}

async fn join(
    socket: SocketRef,
    State(floor): State<Arc<Floor>>,
    Extension(user): Extension<Arc<User>>,
    TryData(payload): TryData<Value>,
    ack: AckSender,
) {
    let id = payload
        .as_ref()
        .ok()
        .and_then(|p| p.get("conversationId"))
        .and_then(Value::as_str);
    let Some(id) = id else {
        return refuse(ack, &ApiError::invalid("conversationId: required"));
    };
    match floor.chat.own(&user, id) {
        Ok(c) => {
            socket.join(chat_room(c.id));
            // No history is kept: a `sinceSeq` replays nothing.
            let _ = ack.send(&Joined {
                ok: true,
                conversation_id: id,
                replayed: 0,
            });
        }
        Err(e) => refuse(ack, &e),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification<'a> {
    pub conversation_id: uuid::Uuid,
    pub message: &'a RawValue,
    pub unread_count: u64,
    pub total_unread: u64,
}

#[derive(Serialize)]
struct SentAck<'a> {
    ok: bool,
    message: &'a RawValue,
    duplicate: bool,
}

async fn send(
    State(floor): State<Arc<Floor>>,
    Extension(user): Extension<Arc<User>>,
    TryData(payload): TryData<SendBody>,
    ack: AckSender,
) {
    let Ok(body) = payload else {
        return refuse(
            ack,
            &ApiError::invalid("send_message: { conversationId, text, clientMessageId? }"),
        );
    };
    match floor.chat.send(&user, &body) {
        Ok(sent) => {
            floor.relay(&sent).await;
            let _ = ack.send(&SentAck {
                ok: true,
                message: &sent.message,
                duplicate: false,
            });
        }
        Err(e) => refuse(ack, &e),
    }
}
