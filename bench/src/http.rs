//! A small JSON-over-HTTP/1.1 client (hyper, pooled keep-alive connections)
//! for the REST side of the load: opening conversations and sending.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A cloneable client for one server.
#[derive(Clone)]
pub struct Rest {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// An answer: status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Rest {
    /// `base` is `http://host:port`.
    pub fn new(base: &str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(usize::MAX)
            .build(connector);
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
        }
    }

    /// Sends `method path` with a bearer token and an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<String>,
    ) -> anyhow::Result<Answer> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .context("while building a request")?;
        let res = self
            .client
            .request(req)
            .await
            .with_context(|| format!("while calling {path}"))?;
        let status = res.status();
        let body = res
            .into_body()
            .collect()
            .await
            .with_context(|| format!("while reading the answer of {path}"))?
            .to_bytes();
        Ok(Answer { status, body })
    }
}
