//! Reading request bodies and socket payloads field by field, so that a wrong
//! type is answered with `400` naming the field, unknown fields are ignored,
//! and every value is parsed into a domain type before anything is recorded.

use serde_json::{Map, Value};
use souk_domain::{ProductCard, ProductCardInput};

use crate::error::ApiError;

/// The fields of a JSON object.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// Prefix for nested fields (`product.`).
    prefix: &'a str,
}

impl<'a> Fields<'a> {
    /// The top level of a body: it must be an object.
    pub fn of(value: &'a Value) -> Result<Self, ApiError> {
        match value {
            Value::Object(map) => Ok(Self { map, prefix: "" }),
            _ => Err(ApiError::invalid("the body must be a JSON object")),
        }
    }

    fn name(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        match self.map.get(field) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// An optional string (absent and `null` are both "not given").
    pub fn opt_str(&self, field: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::invalid(format!(
                "{}: must be a string",
                self.name(field)
            ))),
        }
    }

    pub fn req_str(&self, field: &str) -> Result<&'a str, ApiError> {
        self.opt_str(field)?
            .ok_or_else(|| ApiError::invalid(format!("{}: is required", self.name(field))))
    }

    /// An optional integer.
    pub fn opt_i64(&self, field: &str) -> Result<Option<i64>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                ApiError::invalid(format!("{}: must be an integer", self.name(field)))
            }),
            Some(_) => Err(ApiError::invalid(format!(
                "{}: must be an integer",
                self.name(field)
            ))),
        }
    }

    /// An optional non-negative integer.
    pub fn opt_u64(&self, field: &str) -> Result<Option<u64>, ApiError> {
        match self.opt_i64(field)? {
            None => Ok(None),
            Some(n) if n >= 0 => Ok(Some(n as u64)),
            Some(_) => Err(ApiError::invalid(format!(
                "{}: must not be negative",
                self.name(field)
            ))),
        }
    }

    /// An optional product card, checked field by field.
    pub fn opt_product(&self, field: &'static str) -> Result<Option<ProductCard>, ApiError> {
        let value = match self.get(field) {
            None => return Ok(None),
            Some(v) => v,
        };
        let Value::Object(map) = value else {
            return Err(ApiError::invalid(format!(
                "{}: must be an object",
                self.name(field)
            )));
        };
        let prefix = format!("{}.", self.name(field));
        let nested = Fields {
            map,
            prefix: &prefix,
        };
        let input = ProductCardInput {
            id: nested.req_str("id")?.to_owned(),
            name: nested.req_str("name")?.to_owned(),
            price_minor: nested.opt_i64("priceMinor")?,
            currency: nested.opt_str("currency")?.map(str::to_owned),
            image_url: nested.opt_str("imageUrl")?.map(str::to_owned),
            url: nested.opt_str("url")?.map(str::to_owned),
        };
        Ok(Some(ProductCard::parse(&self.name(field), input)?))
    }
}

/// Parses a body as JSON: malformed JSON is `400`.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid("a JSON body is required"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("malformed JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_name_the_field() {
        let v = json!({ "text": 5, "product": { "id": "p", "name": 3 } });
        let f = Fields::of(&v).unwrap();
        assert!(f.opt_str("text").unwrap_err().message.starts_with("text:"));
        assert!(f
            .opt_product("product")
            .unwrap_err()
            .message
            .starts_with("product.name:"));
        assert!(f.opt_str("missing").unwrap().is_none());
        assert!(f
            .req_str("missing")
            .unwrap_err()
            .message
            .contains("required"));
        assert!(Fields::of(&json!([1])).is_err());
        let n = json!({ "n": 1.5, "m": -1 });
        let f = Fields::of(&n).unwrap();
        assert!(f.opt_i64("n").is_err());
        assert!(f.opt_u64("m").is_err());
    }

    #[test]
    fn products_are_parsed_with_their_bounds() {
        let v = json!({ "product": { "id": "p-1", "name": "Red bike", "priceMinor": 49999, "currency": "EUR", "extra": true } });
        let card = Fields::of(&v)
            .unwrap()
            .opt_product("product")
            .unwrap()
            .unwrap();
        assert_eq!(card.name, "Red bike");
        let v = json!({ "product": { "id": "p-1", "name": "x", "currency": "euro" } });
        let err = Fields::of(&v).unwrap().opt_product("product").unwrap_err();
        assert!(
            err.message.starts_with("product.currency"),
            "{}",
            err.message
        );
    }

    #[test]
    fn malformed_json_is_refused() {
        assert!(parse_json(b"{").is_err());
        assert!(parse_json(b"  ").is_err());
        assert!(parse_json(b"{\"a\":1}").is_ok());
    }
}
