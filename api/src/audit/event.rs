//! The wire shape of one recorded event: an item of
//! `GET .../{conversationId}/events`, the `event` of the state route, and a
//! line of `souk events` (which adds the stream). Each carries its `hash`
//! (64 lowercase hex digits; see `souk_store::chain`).

use serde_json::{json, Value};
use souk_domain::ConversationId;
use souk_store::{Direction, EventStore, ReadFrom, RecordedEvent, StoreError};

/// A page of a conversation's events from stream revision `from`, at most
/// `limit`, as the `/events` routes answer it: `{ events, next }`, `next`
/// being the revision to ask for next or `null` at the end.
pub async fn event_page(
    store: &dyn EventStore,
    id: ConversationId,
    from: u64,
    limit: usize,
) -> Result<Value, StoreError> {
    let mut events = store
        .read_stream(
            &id.stream_name(),
            ReadFrom::Revision(from),
            Direction::Forwards,
            limit + 1,
        )
        .await?;
    let next = if events.len() > limit {
        events.truncate(limit);
        events.last().map(|e| e.revision + 1)
    } else {
        None
    };
    let events: Vec<Value> = events.iter().map(event_item).collect();
    Ok(json!({ "events": events, "next": next }))
}

/// One event as the `/events` route answers it: position, revision, type,
/// version, the payload (parsed from the stored JSON text), recordedAt,
/// hash.
pub fn event_item(e: &RecordedEvent) -> Value {
    json!({
        "position": e.position,
        "revision": e.revision,
        "type": e.event_type,
        "version": e.version,
        "data": serde_json::from_str::<Value>(&e.data).unwrap_or(Value::Null),
        "recordedAt": e.recorded_at,
        "hash": e.hash,
    })
}

/// One event as a line of `souk events`: [`event_item`] and its stream.
pub fn event_line(e: &RecordedEvent) -> Value {
    let mut line = event_item(e);
    line["stream"] = json!(e.stream);
    line
}
