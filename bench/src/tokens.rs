//! Tokens for the simulated users: HS256 JWTs with `sub`, `role`, `name` and
//! `exp` (docs/api.md, "Identity"), minted here from a shared secret, or by a
//! command such as `souk token` for a server whose secret is not known.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;

/// Which side a simulated user is on.
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
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    role: &'a str,
    name: &'a str,
    exp: u64,
}

/// How tokens are made.
#[derive(Clone)]
pub enum Minter {
    /// Signed here with the server's secret (fast: 10,000 tokens in a few ms).
    Secret(EncodingKey),
    /// A shell command run once per user, with `{user}`, `{role}` and `{name}`
    /// replaced, printing the token (e.g. `souk token --data-dir D --user
    /// {user} --role {role} --name {name}`).
    Command(String),
}

impl Minter {
    pub fn from_secret(secret: &str) -> Self {
        Self::Secret(EncodingKey::from_secret(secret.as_bytes()))
    }

    /// A token for `user`, valid for a day.
    pub fn mint(&self, user: &str, role: Role, name: &str) -> anyhow::Result<String> {
        match self {
            Self::Secret(key) => {
                let exp = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs()
                    + 24 * 3600;
                let claims = Claims {
                    sub: user,
                    role: role.as_str(),
                    name,
                    exp,
                };
                jsonwebtoken::encode(&Header::default(), &claims, key)
                    .context("while signing a token")
            }
            Self::Command(template) => {
                let command = template
                    .replace("{user}", user)
                    .replace("{role}", role.as_str())
                    .replace("{name}", name);
                let out = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(&command)
                    .output()
                    .with_context(|| format!("while running {command}"))?;
                anyhow::ensure!(
                    out.status.success(),
                    "{command} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let token = String::from_utf8(out.stdout)
                    .context("the token command printed something that is not UTF-8")?;
                let token = token.trim();
                anyhow::ensure!(!token.is_empty(), "{command} printed no token");
                Ok(token.to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};

    #[derive(serde::Deserialize)]
    struct Back {
        sub: String,
        role: String,
        name: String,
    }

    #[test]
    fn tokens_verify_with_the_same_secret_only() {
        let t = Minter::from_secret("0123456789abcdef-bench")
            .mint("bc-1", Role::Customer, "Customer 1")
            .unwrap();
        let v = Validation::new(Algorithm::HS256);
        let back = jsonwebtoken::decode::<Back>(
            &t,
            &DecodingKey::from_secret(b"0123456789abcdef-bench"),
            &v,
        )
        .unwrap()
        .claims;
        assert_eq!(
            (back.sub.as_str(), back.role.as_str(), back.name.as_str()),
            ("bc-1", "customer", "Customer 1")
        );
        assert!(
            jsonwebtoken::decode::<Back>(&t, &DecodingKey::from_secret(b"another"), &v).is_err()
        );
    }

    #[test]
    fn a_command_fills_its_template() {
        let m = Minter::Command("echo tok-{user}-{role}".into());
        assert_eq!(m.mint("v-3", Role::Vendor, "V").unwrap(), "tok-v-3-vendor");
        assert!(Minter::Command("false".into())
            .mint("x", Role::Vendor, "x")
            .is_err());
    }
}
