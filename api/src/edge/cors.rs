//! Which browser origins may reach the Socket.IO server (CORS, for the
//! long-polling transport; browsers do not apply CORS to WebSockets).
//!
//! - `*` anywhere in the list: any origin.
//! - A list of origins (`https://shop.example`): those, **besides** the
//!   default below (so the web app served by souk keeps working when a
//!   marketplace adds its own front end's origin).
//! - An empty list (the default): any origin whose **host** is the host the
//!   request was addressed to (its `Host` header), whatever the scheme and
//!   port. The web app is served from the REST port of the same host, so its
//!   origin (`http://host:8080`) differs from the socket's (`host:8081`) by
//!   the port only; comparing hosts admits it without knowing the REST port
//!   or the name the browser used for the host.
//!
//! CORS is not what protects the sockets: every socket must present a signed
//! token in its handshake, and tokens are never ambient (no cookies), so a
//! foreign page cannot act for a user even where CORS would let it connect.

use hyper::http::header::HOST;
use hyper::http::request::Parts;
use hyper::http::{HeaderValue, Method};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// The origins policy of [`super::EdgeConfig::cors_origins`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginPolicy {
    Any,
    List(Vec<HeaderValue>),
    SameHost,
}

impl OriginPolicy {
    /// Reads the configured list; an origin that is not a valid header value
    /// is an error (a typo should stop startup, not silently lock browsers
    /// out).
    pub fn from_config(origins: &[String]) -> anyhow::Result<Self> {
        let origins: Vec<&str> = origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/'))
            .filter(|o| !o.is_empty())
            .collect();
        if origins.is_empty() {
            return Ok(Self::SameHost);
        }
        if origins.contains(&"*") {
            return Ok(Self::Any);
        }
        let values = origins
            .iter()
            .map(|o| {
                let well_formed = o.split_once("://").is_some_and(|(scheme, host)| {
                    !scheme.is_empty() && !host.is_empty() && !host.contains('/')
                });
                match HeaderValue::from_str(o) {
                    Ok(v) if well_formed => Ok(v),
                    _ => Err(anyhow::anyhow!(
                        "CORS origin {o:?} is not an origin (scheme://host[:port])"
                    )),
                }
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self::List(values))
    }

    /// Whether a browser page of `origin` may connect, the request being
    /// addressed to `host` (its `Host` header).
    pub fn admits(&self, origin: &HeaderValue, host: Option<&str>) -> bool {
        let same = || match (origin.to_str().ok(), host) {
            (Some(origin), Some(host)) => same_host(origin, host),
            _ => false,
        };
        match self {
            Self::Any => true,
            Self::List(values) => values.contains(origin) || same(),
            Self::SameHost => same(),
        }
    }

    pub fn layer(&self) -> CorsLayer {
        let allow = match self {
            Self::Any => AllowOrigin::any(),
            policy => {
                let policy = policy.clone();
                AllowOrigin::predicate(move |origin: &HeaderValue, parts: &Parts| {
                    let host = parts.headers.get(HOST).and_then(|h| h.to_str().ok());
                    policy.admits(origin, host)
                })
            }
        };
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(AllowHeaders::mirror_request())
    }
}

/// The host of an authority (`host`, `host:port`, `[v6]`, `[v6]:port`),
/// without the port, lowercased.
fn hostname(authority: &str) -> String {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        match rest.find(']') {
            Some(end) => &authority[..end + 2],
            None => authority,
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        }
    };
    host.to_ascii_lowercase()
}

/// Whether `origin` (`scheme://host[:port]`) names the same host as the
/// request's `Host` header.
pub fn same_host(origin: &str, host_header: &str) -> bool {
    let Some((_, authority)) = origin.split_once("://") else {
        // `null` (a sandboxed frame, a file) and anything else malformed.
        return false;
    };
    if authority.is_empty() || authority.contains(['/', '@']) {
        return false;
    }
    let a = hostname(authority);
    !a.is_empty() && a == hostname(host_header.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_web_app_on_another_port_of_the_same_host_is_admitted() {
        assert!(same_host("http://127.0.0.1:8080", "127.0.0.1:8081"));
        assert!(same_host(
            "https://Chat.Example.com",
            "chat.example.com:8443"
        ));
        assert!(same_host("http://[::1]:8080", "[::1]:8081"));
        assert!(same_host("http://localhost:5173", "localhost"));
    }

    #[test]
    fn other_hosts_and_odd_origins_are_refused() {
        assert!(!same_host("http://evil.example:8080", "127.0.0.1:8081"));
        assert!(!same_host(
            "http://127.0.0.1.evil.example",
            "127.0.0.1:8081"
        ));
        assert!(!same_host("null", "127.0.0.1:8081"));
        assert!(!same_host("http://", "127.0.0.1:8081"));
        assert!(!same_host("http://user@127.0.0.1", "127.0.0.1:8081"));
        assert!(!same_host("http://[::1]:8080", "[::2]:8081"));
        assert!(!same_host("http://localhost", ""));
    }

    #[test]
    fn a_configured_list_adds_to_the_same_host_default() {
        let policy = OriginPolicy::from_config(&["https://shop.example".into()]).unwrap();
        let admits = |origin: &'static str, host: &str| {
            policy.admits(&HeaderValue::from_static(origin), Some(host))
        };
        assert!(admits("https://shop.example", "chat.example.com:8081"));
        assert!(
            admits("http://chat.example.com:8080", "chat.example.com:8081"),
            "the web app served by souk still connects"
        );
        assert!(!admits("https://evil.example", "chat.example.com:8081"));
        assert!(!OriginPolicy::SameHost.admits(
            &HeaderValue::from_static("https://shop.example"),
            Some("chat.example.com")
        ));
        assert!(OriginPolicy::Any.admits(&HeaderValue::from_static("https://x.example"), None));
    }

    #[test]
    fn the_configured_list_is_read() {
        assert_eq!(
            OriginPolicy::from_config(&[]).unwrap(),
            OriginPolicy::SameHost
        );
        assert_eq!(
            OriginPolicy::from_config(&[" ".into()]).unwrap(),
            OriginPolicy::SameHost
        );
        assert_eq!(
            OriginPolicy::from_config(&["https://a.example".into(), "*".into()]).unwrap(),
            OriginPolicy::Any
        );
        assert_eq!(
            OriginPolicy::from_config(&["https://a.example/".into()]).unwrap(),
            OriginPolicy::List(vec![HeaderValue::from_static("https://a.example")])
        );
        for bad in [
            "https://a\u{1}.example",
            "a.example",
            "https://a.example/path",
            "https://",
        ] {
            assert!(OriginPolicy::from_config(&[bad.into()]).is_err(), "{bad:?}");
        }
    }
}
