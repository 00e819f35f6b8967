//! Tokens: HS256 JWTs with the claims of docs/api.md (`sub`, `role`,
//! `name`, `exp`), verified on every REST request and at every handshake.
//! Only the secret-key form: the floor measures the socket layer, not an
//! identity provider.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// A side of a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Customer,
    Vendor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Vendor => "vendor",
        }
    }

    pub fn other(self) -> Self {
        match self {
            Self::Customer => Self::Vendor,
            Self::Vendor => Self::Customer,
        }
    }

    pub fn index(self) -> usize {
        match self {
            Self::Customer => 0,
            Self::Vendor => 1,
        }
    }
}

/// Who a valid token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub role: Role,
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    role: String,
    #[serde(default)]
    name: Option<String>,
}

/// The HS256 key and the rules every token must pass.
pub struct Keys {
    key: DecodingKey,
    validation: Validation,
}

/// User ids: 1 to 128 of `[A-Za-z0-9_.:@-]`.
pub fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:@-".contains(&b))
}

impl Keys {
    pub fn new(secret: &str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp"]);
        // No leeway: the second `exp` passes, the token is refused.
        validation.leeway = 0;
        Self {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// The user of a valid token, or why it is refused.
    pub fn verify(&self, token: &str) -> Result<User, String> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| format!("invalid token: {e}"))?;
        let c = data.claims;
        if !valid_id(&c.sub) {
            return Err("invalid token: sub must be 1 to 128 of [A-Za-z0-9_.:@-]".into());
        }
        let role = match c.role.as_str() {
            "customer" => Role::Customer,
            "vendor" => Role::Vendor,
            _ => return Err("invalid token: role must be customer or vendor".into()),
        };
        let name = c
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        Ok(User {
            id: c.sub,
            role,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    fn token(secret: &str, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn later() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600
    }

    #[test]
    fn good_tokens_pass_and_bad_ones_do_not() {
        let keys = Keys::new("floor-test-secret-0123456789");
        let ok = token(
            "floor-test-secret-0123456789",
            serde_json::json!({"sub": "c-1", "role": "customer", "name": " Ada ", "exp": later()}),
        );
        assert_eq!(
            keys.verify(&ok),
            Ok(User {
                id: "c-1".into(),
                role: Role::Customer,
                name: Some("Ada".into())
            })
        );
        let forged = token(
            "another-secret-0123456789",
            serde_json::json!({"sub": "c-1", "role": "customer", "exp": later()}),
        );
        assert!(keys.verify(&forged).is_err());
        let expired = token(
            "floor-test-secret-0123456789",
            serde_json::json!({"sub": "c-1", "role": "customer", "exp": 1000}),
        );
        assert!(keys.verify(&expired).is_err());
        let no_exp = token(
            "floor-test-secret-0123456789",
            serde_json::json!({"sub": "c-1", "role": "customer"}),
        );
        assert!(keys.verify(&no_exp).is_err());
        let operator = token(
            "floor-test-secret-0123456789",
            serde_json::json!({"sub": "o-1", "role": "operator", "exp": later()}),
        );
        assert!(keys.verify(&operator).unwrap_err().contains("role"));
        let bad_sub = token(
            "floor-test-secret-0123456789",
            serde_json::json!({"sub": "a b", "role": "vendor", "exp": later()}),
        );
        assert!(keys.verify(&bad_sub).unwrap_err().contains("sub"));
        assert!(keys.verify("not.a.token").is_err());
    }
}
