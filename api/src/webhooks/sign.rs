//! The signature of a delivery: `Souk-Webhook-Signature: v1=<hex>` where
//! `<hex>` is HMAC-SHA256 with the webhook secret over
//! `"{timestamp}.{body}"`, `timestamp` being the `Souk-Webhook-Timestamp`
//! header (Unix seconds when the try was made). Signing the timestamp with
//! the body lets a receiver refuse an old request replayed by someone who
//! captured it (docs/api.md suggests five minutes). Each try is signed
//! afresh; the body and the id stay the same.
//!
//! [`verify`] is what a receiver written in Rust would do; the tests and the
//! example receiver check signatures with their own code.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The version prefix of the signature header's value.
pub const SCHEME: &str = "v1=";

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &str) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac
}

/// The value of `Souk-Webhook-Signature` for `body` sent at `timestamp`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    let mut out = String::with_capacity(SCHEME.len() + 64);
    out.push_str(SCHEME);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Why a received delivery is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the signature is not v1=<64 hex digits>")]
    Malformed,
    #[error("the signature does not match the body and timestamp")]
    Mismatch,
    #[error("the timestamp is {0} s away from now, beyond the tolerance")]
    Stale(i64),
}

/// Checks a received delivery: `signature` must be [`sign`]'s value for
/// `timestamp` and `body` (compared in constant time), and `timestamp`
/// within `tolerance_secs` of `now`.
pub fn verify(
    secret: &str,
    timestamp: i64,
    body: &str,
    signature: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let hex = signature
        .strip_prefix(SCHEME)
        .ok_or(SignatureError::Malformed)?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Malformed);
    }
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|_| SignatureError::Malformed)?;
    mac(secret, timestamp, body)
        .verify_slice(&bytes)
        .map_err(|_| SignatureError::Mismatch)?;
    let skew = (now - timestamp).abs();
    if skew > tolerance_secs {
        return Err(SignatureError::Stale(skew));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hex_hmac_of_timestamp_dot_body() {
        // The signed text is "{timestamp}.{body}", computed here by hand.
        let sig = sign("0123456789abcdef", 1_700_000_000, "{\"a\":1}");
        assert!(sig.starts_with("v1=") && sig.len() == 67, "{sig}");
        let mut mac = HmacSha256::new_from_slice(b"0123456789abcdef").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sig, format!("v1={expected}"));
    }

    #[test]
    fn verify_accepts_the_signature_and_refuses_changes_and_old_ones() {
        let (secret, ts, body) = (
            "0123456789abcdef",
            1_700_000_000,
            "{\"id\":\"7-message.created\"}",
        );
        let sig = sign(secret, ts, body);
        assert_eq!(verify(secret, ts, body, &sig, ts + 10, 300), Ok(()));
        assert_eq!(
            verify(secret, ts, "{\"id\":\"8-message.created\"}", &sig, ts, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(secret, ts + 1, body, &sig, ts, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("another-secret-16", ts, body, &sig, ts, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(secret, ts, body, &sig, ts + 301, 300),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            verify(secret, ts, body, "v0=abc", ts, 300),
            Err(SignatureError::Malformed)
        );
    }
}
