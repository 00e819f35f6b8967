//! The OpenAPI document (`GET /api/openapi.json`) and the routes the server
//! answers are the same set:
//!
//! - every route registered in the source (`route("...", [(Method::X, ...)])`
//!   in `src/rest.rs`, `src/app.rs`, `src/openapi/mod.rs` and
//!   `src/operator.rs`) has a
//!   description, and every description has a registration;
//! - on a running server, every documented method and path is answered by
//!   a route (not the `no route` 404, not 405), every other method on a
//!   documented path gets 405, and undocumented paths get 404;
//! - the served document is the generated one, OpenAPI 3.1, and the docs
//!   page and its script are served.
//!
//! The demo routes (`/api/demo/*`, only with `--demo`, docs/api.md "Beyond
//! the chat") are not part of the REST contract and are not described.

use std::collections::BTreeSet;

use serde_json::Value;

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// (METHOD, path) of every operation of the document.
fn documented() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(souk_api::openapi::document()).unwrap();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// The path as registered under its scope: the chat sides' routes are
/// registered once, relative to their prefix, and analytics under the
/// `/api/vendor` scope.
fn relative(path: &str) -> String {
    for (prefix, _) in souk_api::openapi::CHAT_SIDES {
        if let Some(rest) = path.strip_prefix(prefix) {
            return rest.to_owned();
        }
    }
    path.strip_prefix("/api/vendor")
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(path)
        .to_owned()
}

/// (METHOD, path literal) of every `route("...", [(Method::X, ...), ...])`
/// call in the files that register routes.
fn registered() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for file in [
        "src/rest.rs",
        "src/app.rs",
        "src/openapi/mod.rs",
        "src/operator.rs",
    ] {
        let source = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut rest = source.as_str();
        while let Some(at) = rest.find("route(") {
            rest = &rest[at + "route(".len()..];
            let call = rest.trim_start();
            // `fn route<...>(path: &str, ...)` and calls with no literal path.
            let Some(literal) = call.strip_prefix('"') else {
                continue;
            };
            let path = &literal[..literal.find('"').expect("a closed literal")];
            // The call's methods: up to the closing `)` of `route(`.
            let mut depth = 1;
            let end = call
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' | '[' => depth += 1,
                        ')' | ']' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("a closed call");
            let args = &call[..end];
            let mut found = false;
            for method in METHODS {
                let needle = format!("Method::{}", method.to_uppercase());
                if args.contains(&needle) {
                    routes.insert((method.to_uppercase(), path.to_owned()));
                    found = true;
                }
            }
            assert!(found, "{file}: route({path:?}, ...) names no Method::X");
        }
        // Routes registered any other way would escape this test.
        for other in ["web::resource(\"", ".route(\"", "web::scope(\"/api/"] {
            for (at, _) in source.match_indices(other) {
                let line = source[..at].lines().count();
                let text = &source[at..at + source[at..].find('\n').unwrap_or(0)];
                assert!(
                    text.starts_with("web::scope(\"/api/vendor\")")
                        || text.starts_with("web::scope(\"/api\")"),
                    "{file}:{line}: `{text}` registers a route outside `route(...)`; \
                     register it with rest::route and describe it in the OpenAPI document"
                );
            }
        }
    }
    routes
}

#[test]
fn every_registered_route_is_described_and_every_description_is_registered() {
    let full = documented();
    let documented: BTreeSet<(String, String)> = full
        .iter()
        .cloned()
        .map(|(m, p)| (m, relative(&p)))
        .collect();
    let registered = registered();
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes without a description (add #[utoipa::path] and list the handler in src/openapi): {undocumented:?}"
    );
    assert!(
        unregistered.is_empty(),
        "descriptions without a route: {unregistered:?}"
    );
    // Both sides of the chat are described.
    for (prefix, _) in souk_api::openapi::CHAT_SIDES {
        assert!(full.contains(&("GET".to_owned(), format!("{prefix}/conversations"))));
    }
}

/// The path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "49316337-9ec1-52e4-8b6c-d7dc6d8ef7a9"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn the_server_answers_exactly_the_documented_routes() {
    let dir = tempfile::tempdir().unwrap();
    let settings = souk_api::config::Settings::for_tests(dir.path().to_path_buf());
    let app = souk_api::app::spawn(settings).expect("the server starts");
    let base = format!("http://{}", app.http_addr);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let ask = |method: &str, path: &str| -> (u16, String) {
        let url = format!("{base}{path}");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        rt.block_on(async {
            let res = client.request(method, url).send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap_or_default())
        })
    };

    let documented = documented();
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for (method, path) in &documented {
        let (status, body) = ask(method, &concrete(path));
        assert!(
            status != 405 && !body.contains("no route for"),
            "{method} {path} is documented but not served: {status} {body}"
        );
    }
    for path in &paths {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"] {
            if documented.contains(&(method.to_owned(), (*path).clone())) {
                continue;
            }
            let (status, body) = ask(method, &concrete(path));
            assert_eq!(
                status, 405,
                "{method} {path} is not documented, yet answered: {body}"
            );
        }
    }
    for path in [
        "/api/chat/nope",
        "/api/vendor/chat/nope",
        "/api/vendor/nope",
        "/api/nope",
        "/api/demo/users",
        "/api/docs/nope.js",
        "/api/chat/49316337-9ec1-52e4-8b6c-d7dc6d8ef7a9/nope",
    ] {
        let (status, body) = ask("GET", path);
        assert_eq!(status, 404, "GET {path}: {body}");
        assert!(body.contains("no route for"), "GET {path}: {body}");
    }

    // The served document is the generated one.
    let (status, body) = ask("GET", "/api/openapi.json");
    assert_eq!(status, 200);
    let served: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(
        served,
        serde_json::to_value(souk_api::openapi::document()).unwrap()
    );
    // The page and its script, served by souk.
    let (status, page) = ask("GET", "/api/docs");
    assert_eq!(status, 200);
    assert!(page.contains("/api/docs/redoc.standalone.js") && page.contains("/api/openapi.json"));
    let (status, script) = ask("GET", "/api/docs/redoc.standalone.js");
    assert_eq!(status, 200);
    assert!(script.len() > 100_000 && script.contains("Redoc"));
    app.stop();
}

#[test]
fn every_operation_documents_its_statuses_and_chat_routes_take_a_bearer_token() {
    let doc = serde_json::to_value(souk_api::openapi::document()).unwrap();
    assert!(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let where_ = format!("{method} {path}");
            let id = op["operationId"].as_str().expect("an operationId");
            assert!(
                operation_ids.insert(id.to_owned()),
                "{where_}: duplicate {id}"
            );
            assert!(
                op["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{where_}: no description"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("405"), "{where_}: no 405");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{where_}: no success"
            );
            let authenticated = path.starts_with("/api/chat/")
                || path.starts_with("/api/vendor/")
                || path.starts_with("/api/operator/");
            if authenticated {
                assert!(
                    op["security"][0].get("bearer").is_some(),
                    "{where_}: no bearer"
                );
                for status in ["400", "401", "403", "429", "503"] {
                    assert!(responses.contains_key(status), "{where_}: no {status}");
                    assert_eq!(
                        responses[status]["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{where_}: {status}"
                    );
                }
            }
            if method == "post" {
                assert!(responses.contains_key("413"), "{where_}: no 413");
            }
        }
    }
}
