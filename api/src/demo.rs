//! Demo mode (`souk serve --demo`): a few customers, vendors and products, a
//! month of history and a seeded conversation, and a sign-in route that
//! mints tokens for them, so a visitor can try souk in a browser a minute
//! after cloning it. Without `--demo` none of this exists and tokens come
//! only from the marketplace.
//!
//! On a first start (an empty log) [`seed`] records the month of history of
//! [`history`] (about 30 conversations of the two shops with shoppers who
//! appear only there, Bolt Bikes slowly getting faster and leaving some
//! questions unread, Lumen Home quick and caught up) through the
//! conversations' actors with the scripted past times, then the
//! conversation Alice opened with Bolt Bikes about the red bike, at the
//! current time, which the sign-in page and the browser tests start from. A
//! restart finds the log not empty and records no history again; the
//! seeded conversation is idempotent by itself.

mod history;

use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};
use souk_domain::{
    Actor, ClientMessageId, Command, DisplayName, MessageContent, MessageId, MessageText,
    Participant, ProductCard, ProductCardInput, Role, Timestamp, UserId,
};
use souk_store::Position;

use crate::auth::{Principal, Seat};
use crate::error::ApiError;
use crate::input::Fields;
use crate::service::{self, SendInput};
use crate::state::AppState;

/// How long demo tokens live.
const DEMO_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DemoUser {
    pub id: &'static str,
    pub name: &'static str,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoProduct {
    pub id: &'static str,
    pub name: &'static str,
    pub price_minor: i64,
    pub currency: &'static str,
    /// Absolute at runtime: the page's origin + this path.
    pub image_path: &'static str,
    pub vendor_id: &'static str,
    pub vendor_name: &'static str,
}

pub const CUSTOMERS: [DemoUser; 3] = [
    DemoUser {
        id: "c-alice",
        name: "Alice Martin",
    },
    DemoUser {
        id: "c-bruno",
        name: "Bruno Costa",
    },
    DemoUser {
        id: "c-chen",
        name: "Chen Wei",
    },
];

pub const VENDORS: [DemoUser; 2] = [
    DemoUser {
        id: "v-bolt",
        name: "Bolt Bikes",
    },
    DemoUser {
        id: "v-lumen",
        name: "Lumen Home",
    },
];

/// The support staff: an operator reads conversations under
/// `/api/operator` (every access recorded in the log) and never writes.
pub const OPERATORS: [DemoUser; 1] = [DemoUser {
    id: "o-sam",
    name: "Sam Reyes, support",
}];

pub const PRODUCTS: [DemoProduct; 4] = [
    DemoProduct {
        id: "p-red-bike",
        name: "Red city bike",
        price_minor: 49_999,
        currency: "EUR",
        image_path: "/products/bike.svg",
        vendor_id: "v-bolt",
        vendor_name: "Bolt Bikes",
    },
    DemoProduct {
        id: "p-helmet",
        name: "Commuter helmet",
        price_minor: 5_990,
        currency: "EUR",
        image_path: "/products/helmet.svg",
        vendor_id: "v-bolt",
        vendor_name: "Bolt Bikes",
    },
    DemoProduct {
        id: "p-lamp",
        name: "Brass desk lamp",
        price_minor: 8_900,
        currency: "EUR",
        image_path: "/products/lamp.svg",
        vendor_id: "v-lumen",
        vendor_name: "Lumen Home",
    },
    DemoProduct {
        id: "p-chair",
        name: "Oak lounge chair",
        price_minor: 32_000,
        currency: "EUR",
        image_path: "/products/chair.svg",
        vendor_id: "v-lumen",
        vendor_name: "Lumen Home",
    },
];

fn find_user(id: &str, role: Role) -> Option<&'static DemoUser> {
    let list: &[DemoUser] = match role {
        Role::Customer => &CUSTOMERS,
        Role::Vendor => &VENDORS,
    };
    list.iter().find(|u| u.id == id)
}

fn principal(user: &DemoUser, role: Role) -> Principal {
    Principal {
        id: UserId::parse(user.id).expect("demo ids are valid"),
        role,
        name: Some(DisplayName::parse(user.name).expect("demo names are valid")),
        // The seeding acts as the demo users; no token is involved.
        expires_at: u64::MAX,
    }
}

fn card(p: &DemoProduct, origin: &str) -> ProductCard {
    ProductCard::parse(
        "product",
        ProductCardInput {
            id: p.id.into(),
            name: p.name.into(),
            price_minor: Some(p.price_minor),
            currency: Some(p.currency.into()),
            image_url: Some(format!("{origin}{}", p.image_path)),
            url: None,
        },
    )
    .expect("demo products are valid")
}

/// Seeds the demo: on an empty log the month of history first, then one
/// conversation with a short exchange. The conversation is idempotent: the
/// pair's conversation id is fixed and every message has a
/// `clientMessageId`, so a restart records nothing new.
pub async fn seed(state: &AppState, origin: &str) -> Result<(), ApiError> {
    if state.store.last_position().await? == 0 {
        let started = Instant::now();
        let (conversations, events) = seed_history(state, origin, Timestamp::now()).await?;
        tracing::info!(
            conversations,
            events,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "seeded a month of demo history"
        );
    }
    let alice = principal(&CUSTOMERS[0], Role::Customer);
    let bolt = principal(&VENDORS[0], Role::Vendor);
    let bike = card(&PRODUCTS[0], origin);
    // Started, not opened: opening it again with the bike on a restart
    // would record the bike as asked about again, after a visitor asked
    // about another product.
    let participant = |p: &Principal| Participant {
        id: p.id.clone(),
        name: p.name.clone(),
    };
    let (id, start) = Command::start_conversation(
        participant(&alice),
        participant(&bolt),
        Some(bike),
        Role::Customer,
        Timestamp::now(),
    );
    service::execute(state, id, start).await?;
    let lines: [(&Principal, &str, &str); 3] = [
        (
            &alice,
            "demo-seed-1",
            "Hi! Is the red city bike still available?",
        ),
        (
            &bolt,
            "demo-seed-2",
            "Hello Alice, yes it is. We can deliver it this week.",
        ),
        (&alice, "demo-seed-3", "Great, does it come with lights?"),
    ];
    // Each answer first reads the message it answers: Alice has read
    // everything, and her last question is the one message waiting, unread,
    // for Bolt Bikes (the sign-in page says so). A restart records nothing
    // again: the sends are repeats and the markers are already there.
    let mut previous = None;
    for (who, cid, text) in lines {
        if let Some(answered) = previous {
            service::mark_read(state, who, Some(id), answered).await?;
        }
        let input = SendInput {
            conversation_id: id,
            content: MessageContent::Text(MessageText::parse(text)?),
            client_message_id: Some(ClientMessageId::parse(cid)?),
        };
        let (sent, _) = service::send_message(state, who, input).await?;
        previous = Some(sent.id);
    }
    Ok(())
}

/// The product card of a history item.
fn item_card(item: &history::Item, origin: &str) -> ProductCard {
    ProductCard::parse(
        "product",
        ProductCardInput {
            id: item.id.into(),
            name: item.name.into(),
            price_minor: Some(item.price_minor),
            currency: Some("EUR".into()),
            image_url: Some(format!("{origin}{}", item.image_path)),
            url: None,
        },
    )
    .expect("demo products are valid")
}

/// Records the month before `now` of [`history::plan`]: each conversation's
/// commands in order, the conversations side by side (each has its own
/// actor; the log's writer groups their appends). Waits until the read
/// models hold it all. Answers how many conversations and events it recorded.
async fn seed_history(
    state: &AppState,
    origin: &str,
    now: Timestamp,
) -> Result<(usize, usize), ApiError> {
    let scripts = history::plan(now.millis(), history::SEED);
    let recorded =
        futures::future::try_join_all(scripts.iter().map(|s| record(state, origin, s))).await?;
    let events = recorded.iter().map(|r| r.0).sum();
    let last = recorded.iter().map(|r| r.1).max().unwrap_or(0);
    if !state
        .projections
        .wait_live(last, crate::state::READ_YOUR_WRITES_TIMEOUT * 5)
        .await
    {
        tracing::warn!(
            position = last,
            "the read models have not caught up with the demo history yet"
        );
    }
    Ok((scripts.len(), events))
}

/// Runs one script through its conversation's actor. Answers the number of
/// events recorded and the log position of the last.
async fn record(
    state: &AppState,
    origin: &str,
    script: &history::Script,
) -> Result<(usize, Position), ApiError> {
    let person = |user: &DemoUser, role: Role| Participant {
        id: principal(user, role).id,
        name: principal(user, role).name,
    };
    let customer = principal(script.customer, Role::Customer).actor();
    let vendor = principal(script.vendor, Role::Vendor).actor();
    let (id, start) = Command::start_conversation(
        person(script.customer, Role::Customer),
        person(script.vendor, Role::Vendor),
        script.product.as_ref().map(|p| item_card(p, origin)),
        Role::Customer,
        Timestamp::from_millis(script.started_at),
    );
    let reply = state.registry.execute(id, start).await?;
    let (mut events, mut position) = (reply.recorded.len(), reply.position);
    for (n, step) in script.steps.iter().enumerate() {
        let by: Actor = match step.by {
            Role::Customer => customer.clone(),
            Role::Vendor => vendor.clone(),
        };
        let at = Timestamp::from_millis(step.at);
        let content = match &step.action {
            history::Action::ReadAll => None,
            history::Action::Say(text) => Some(MessageContent::Text(MessageText::parse(text)?)),
            history::Action::Share { item, caption } => Some(MessageContent::Product {
                product: item_card(item, origin),
                caption: Some(MessageText::parse(caption)?),
            }),
        };
        let command = match content {
            None => Command::MarkAllRead { by, at },
            Some(content) => Command::SendMessage {
                by,
                message_id: MessageId::from_uuid(
                    uuid::Builder::from_unix_timestamp_millis(step.at as u64, &step.id_bits)
                        .into_uuid(),
                ),
                content,
                client_message_id: Some(ClientMessageId::parse(&format!(
                    "demo-h-{}-{}-{n}",
                    script.vendor.id, script.customer.id
                ))?),
                at,
            },
        };
        let reply = state.registry.execute(id, command).await?;
        events += reply.recorded.len();
        position = position.max(reply.position);
    }
    Ok((events, position))
}

/// `GET /api/demo/users`.
async fn users(req: actix_web::HttpRequest) -> HttpResponse {
    let origin = origin_of(&req);
    let products: Vec<Value> = PRODUCTS
        .iter()
        .map(|p| {
            json!({
                "id": p.id, "name": p.name, "priceMinor": p.price_minor, "currency": p.currency,
                "imageUrl": format!("{origin}{}", p.image_path), "url": null,
                "vendorId": p.vendor_id, "vendorName": p.vendor_name,
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "customers": CUSTOMERS,
        "vendors": VENDORS,
        "operators": OPERATORS,
        "products": products,
        // The conversation [`seed`] records, for the sign-in page to explain.
        "seeded": {
            "customerId": CUSTOMERS[0].id,
            "vendorId": VENDORS[0].id,
            "productId": PRODUCTS[0].id,
        },
    }))
}

/// `POST /api/demo/token` with `{ userId, role }`: a token for a demo user
/// (`role`: `customer`, `vendor` or `operator`).
async fn token(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let value = crate::input::parse_json(&body)?;
    let f = Fields::of(&value)?;
    let seat = f.req_str("role")?;
    let seat = Seat::parse(seat)
        .ok_or_else(|| ApiError::invalid("role: must be customer, vendor or operator"))?;
    let id = f.req_str("userId")?;
    let user = match seat.role() {
        Some(role) => find_user(id, role),
        None => OPERATORS.iter().find(|u| u.id == id),
    }
    .ok_or_else(|| ApiError::not_found(format!("no demo {seat} {id}")))?;
    let user_id = UserId::parse(user.id).expect("demo ids are valid");
    let token = match seat.role() {
        Some(role) => state
            .keys
            .mint(&user_id, role, Some(user.name), DEMO_TOKEN_TTL),
        None => state
            .keys
            .mint_operator(&user_id, Some(user.name), DEMO_TOKEN_TTL),
    }
    .map_err(|e| ApiError::internal("minting a demo token", &e))?;
    Ok(HttpResponse::Ok().json(json!({
        "token": token,
        "user": { "id": user.id, "role": seat.as_str(), "name": user.name },
    })))
}

/// The scheme and host the request came to, for absolute image URLs.
pub fn origin_of(req: &actix_web::HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// Registers the demo routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/demo/users", web::get().to(users))
        .route("/api/demo/token", web::post().to(token));
}
