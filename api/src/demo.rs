//! Demo mode (`souk serve --demo`): a few customers, vendors and products, a
//! seeded conversation, and a sign-in route that mints tokens for them, so a
//! visitor can try souk in a browser a minute after cloning it. Without
//! `--demo` none of this exists and tokens come only from the marketplace.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};
use souk_domain::{
    ClientMessageId, DisplayName, MessageContent, MessageText, ProductCard, ProductCardInput, Role,
    UserId,
};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::input::Fields;
use crate::service::{self, OpenInput, SendInput};
use crate::state::AppState;

/// How long demo tokens live.
const DEMO_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

#[derive(Clone, Debug, Serialize)]
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

/// Seeds one conversation with a short exchange. Idempotent: the pair's
/// conversation id is fixed and every message has a `clientMessageId`, so a
/// restart records nothing new.
pub async fn seed(state: &AppState, origin: &str) -> Result<(), ApiError> {
    let alice = principal(&CUSTOMERS[0], Role::Customer);
    let bolt = principal(&VENDORS[0], Role::Vendor);
    let bike = card(&PRODUCTS[0], origin);
    let (view, _) = service::open_conversation(
        state,
        &alice,
        OpenInput {
            other: bolt.id.clone(),
            other_name: bolt.name.clone(),
            product: Some(bike.clone()),
        },
    )
    .await?;
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
    for (who, cid, text) in lines {
        let input = SendInput {
            conversation_id: view.id,
            content: MessageContent::Text(MessageText::parse(text)?),
            client_message_id: Some(ClientMessageId::parse(cid)?),
        };
        service::send_message(state, who, input).await?;
    }
    Ok(())
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
        "products": products,
    }))
}

/// `POST /api/demo/token` with `{ userId, role }`: a token for a demo user.
async fn token(state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let value = crate::input::parse_json(&body)?;
    let f = Fields::of(&value)?;
    let role = Role::parse(f.req_str("role")?)?;
    let id = f.req_str("userId")?;
    let user =
        find_user(id, role).ok_or_else(|| ApiError::not_found(format!("no demo {role} {id}")))?;
    let p = principal(user, role);
    let token = state
        .keys
        .mint(&p.id, role, Some(user.name), DEMO_TOKEN_TTL)
        .map_err(|e| ApiError::internal("minting a demo token", &e))?;
    Ok(HttpResponse::Ok().json(json!({
        "token": token,
        "user": { "id": user.id, "role": role, "name": user.name },
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
