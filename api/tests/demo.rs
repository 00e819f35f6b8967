//! Demo mode's month of history (`souk serve --demo`, api/src/demo.rs): a
//! first start records it through the actors with past times, so that the
//! demo vendors' analytics over the default 30 days have something in every
//! figure; a restart records nothing again.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use souk_api::app::{spawn, Spawned};
use souk_api::auth::Identity;
use souk_api::config::Settings;
use souk_domain::{Role, UserId};

fn start(dir: &std::path::Path) -> Spawned {
    let mut settings = Settings::for_tests(dir.to_path_buf());
    settings.demo = true;
    let started = Instant::now();
    let app = spawn(settings).expect("the demo server starts");
    // The history is recorded before the server listens; a few seconds at most.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.state.projections.health().state != souk_projections::State::Running {
        assert!(
            Instant::now() < deadline,
            "the read models did not start running"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    app
}

async fn analytics(app: &Spawned, vendor: &str) -> Value {
    let token = app
        .state
        .keys
        .mint(
            &UserId::parse(vendor).unwrap(),
            Role::Vendor,
            None,
            Duration::from_secs(600),
        )
        .unwrap();
    let res = reqwest::Client::new()
        .get(format!("http://{}/api/vendor/analytics", app.http_addr))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn demo_token(app: &Spawned, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("http://{}/api/demo/token", app.http_addr))
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// The sign-in page offers the support operator too: its token has the
/// operator role.
async fn demo_sign_in(app: &Spawned) {
    let (status, body) = demo_token(app, json!({ "userId": "o-sam", "role": "operator" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["user"],
        json!({ "id": "o-sam", "role": "operator", "name": "Sam Reyes, support" })
    );
    let identity = app
        .state
        .keys
        .verify_identity(body["token"].as_str().unwrap())
        .await
        .unwrap();
    match identity {
        Identity::Operator(o) => assert_eq!(o.id.as_str(), "o-sam"),
        Identity::Participant(p) => panic!("a participant's token: {p:?}"),
    }
    let (status, body) = demo_token(app, json!({ "userId": "v-bolt", "role": "vendor" })).await;
    assert_eq!(
        (status, body["user"]["role"].as_str()),
        (200, Some("vendor"))
    );
    // A customer is not an operator, and there is no such role.
    let (status, _) = demo_token(app, json!({ "userId": "c-alice", "role": "operator" })).await;
    assert_eq!(status, 404);
    let (status, body) = demo_token(app, json!({ "userId": "o-sam", "role": "admin" })).await;
    assert_eq!(status, 400, "{body}");
    let users: Value = reqwest::get(format!("http://{}/api/demo/users", app.http_addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        users["operators"],
        json!([{ "id": "o-sam", "name": "Sam Reyes, support" }])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_start_seeds_a_month_the_analytics_read_and_a_restart_seeds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path());
    let store = app.state.store.clone();
    let seeded = store.last_position().await.unwrap();
    assert!(seeded > 300, "a month of events, not a handful: {seeded}");

    for vendor in ["v-bolt", "v-lumen"] {
        let a = analytics(&app, vendor).await;
        let days = a["byDay"].as_array().unwrap();
        assert_eq!(days.len(), 30, "{a}");
        let active = days
            .iter()
            .filter(|d| d["messagesReceived"].as_u64().unwrap() > 0)
            .count();
        assert!(
            active >= 10,
            "{vendor}: messages on many days, not one: {a}"
        );
        assert!(a["conversations"].as_u64().unwrap() >= 15, "{vendor}: {a}");
        assert!(
            a["newConversations"].as_u64().unwrap() >= 15,
            "{vendor}: {a}"
        );
        assert!(
            a["messagesReceived"].as_u64().unwrap() >= 40,
            "{vendor}: {a}"
        );
        assert!(a["messagesSent"].as_u64().unwrap() >= 20, "{vendor}: {a}");
        let p50 = a["firstResponseSeconds"]["p50"].as_f64().unwrap();
        let p90 = a["firstResponseSeconds"]["p90"].as_f64().unwrap();
        // Minutes to hours, as people answer; not the seconds of a script.
        assert!(p50 >= 60.0 && p90 > p50, "{vendor}: {a}");
        assert!(
            a["topProducts"].as_array().unwrap().len() >= 4,
            "{vendor}: {a}"
        );
    }
    let bolt = analytics(&app, "v-bolt").await;
    let lumen = analytics(&app, "v-lumen").await;
    // Bolt Bikes leaves some messages unread (more than Alice's one of the
    // seeded conversation); Lumen Home reads everything.
    assert!(bolt["unreadBacklog"].as_u64().unwrap() > 1, "{bolt}");
    assert_eq!(lumen["unreadBacklog"], 0, "{lumen}");
    // Bolt Bikes got faster over the month: its first week's median is
    // slower than its last week's.
    let week = |from: i64, to: i64| {
        let now = chrono::Utc::now().timestamp_millis();
        let day = 86_400_000;
        let p = app.state.projections.clone();
        async move {
            p.analytics(
                &UserId::parse("v-bolt").unwrap(),
                souk_domain::Timestamp::from_millis(now - from * day),
                souk_domain::Timestamp::from_millis(now - to * day),
            )
            .await
            .unwrap()
            .first_response_seconds
            .p50
        }
    };
    let (first, last) = (week(30, 20).await.unwrap(), week(10, 0).await.unwrap());
    assert!(first > last, "first ten days {first} s, last ten {last} s");
    demo_sign_in(&app).await;
    app.stop();

    let app = start(dir.path());
    assert_eq!(
        app.state.store.last_position().await.unwrap(),
        seeded,
        "a restart records nothing"
    );
    app.stop();
}
