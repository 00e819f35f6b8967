//! Identity: HS256 tokens with `sub`, `role`, `name`, `exp` (API.md,
//! "Identity"), the signing secret, and the [`Principal`] a verified token
//! stands for.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use souk_domain::{Actor, DisplayName, Role, UserId};

/// The file in the data directory that keeps the generated secret.
pub const SECRET_FILE: &str = "jwt-secret";

/// The claims of a souk token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub exp: u64,
}

/// Who a verified token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub id: UserId,
    pub role: Role,
    pub name: Option<DisplayName>,
}

impl Principal {
    /// The principal as the actor of a domain command.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id.clone(),
            role: self.role,
            name: self.name.clone(),
        }
    }
}

/// Why a token was refused. Every variant is `401 unauthorized`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Signs and verifies tokens with one HS256 secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // An expired token is refused at once: no grace period.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// The secret given, or the one kept in `data_dir` (made on first use).
    /// The server never runs without one.
    pub fn load(data_dir: &Path, given: Option<&str>) -> anyhow::Result<Self> {
        if let Some(secret) = given {
            anyhow::ensure!(
                secret.len() >= 16,
                "the JWT secret must be at least 16 characters"
            );
            return Ok(Self::new(secret.as_bytes()));
        }
        let path = data_dir.join(SECRET_FILE);
        match fs::read_to_string(&path) {
            Ok(s) if !s.trim().is_empty() => return Ok(Self::new(s.trim().as_bytes())),
            Ok(_) => anyhow::bail!("{} is empty", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("while reading {}", path.display())),
        }
        fs::create_dir_all(data_dir)
            .with_context(|| format!("while creating {}", data_dir.display()))?;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut file) => {
                file.write_all(secret.as_bytes())
                    .and_then(|()| file.sync_all())
                    .with_context(|| format!("while writing {}", path.display()))?;
                tracing::info!(path = %path.display(), "made a new token signing secret");
                Ok(Self::new(secret.as_bytes()))
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(data_dir, None),
            Err(e) => Err(e).with_context(|| format!("while creating {}", path.display())),
        }
    }

    /// Mints a token valid for `ttl`.
    pub fn mint(
        &self,
        user: &UserId,
        role: Role,
        name: Option<&str>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + ttl.as_secs();
        let claims = Claims {
            sub: user.as_str().to_owned(),
            role: role.as_str().to_owned(),
            name: name.map(str::to_owned),
            exp,
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use it for expired or odd tokens).
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .context("while signing a token")
    }

    /// Verifies a token and parses its claims.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token.trim(), &self.decoding, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let c = data.claims;
        let id =
            UserId::parse(&c.sub).map_err(|e| AuthError::Invalid(format!("sub: {}", e.reason)))?;
        let role = Role::parse(&c.role).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let name = match c.name.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(n) => Some(DisplayName::parse(n).map_err(|e| AuthError::Invalid(e.to_string()))?),
        };
        Ok(Principal { id, role, name })
    }

    /// Verifies the value of an `Authorization` header.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let value = header.ok_or(AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Missing)?;
        self.verify(token)
    }
}

/// Parses a time to live such as `90s`, `15m`, `24h`, `7d` (a bare number is
/// seconds).
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("bad duration unit in {s:?}: use s, m, h or d")),
    };
    if secs == 0 {
        return Err("the duration must be positive".into());
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn minted_tokens_verify_and_carry_the_claims() {
        let keys = TokenKeys::new(b"0123456789abcdef0123");
        let user = UserId::parse("c-42").unwrap();
        let t = keys
            .mint(
                &user,
                Role::Customer,
                Some("Alice"),
                Duration::from_secs(60),
            )
            .unwrap();
        let p = keys.verify(&t).unwrap();
        assert_eq!(p.id, user);
        assert_eq!(p.role, Role::Customer);
        assert_eq!(p.name.unwrap().as_str(), "Alice");
        assert!(keys.verify_header(Some(&format!("Bearer {t}"))).is_ok());
        assert!(matches!(keys.verify_header(None), Err(AuthError::Missing)));
        assert!(matches!(
            keys.verify_header(Some(&t)),
            Err(AuthError::Missing)
        ));
    }

    #[test]
    fn forged_expired_and_malformed_tokens_are_refused() {
        let keys = TokenKeys::new(b"0123456789abcdef0123");
        let other = TokenKeys::new(b"another-secret-of-length");
        let user = UserId::parse("v-7").unwrap();
        let forged = other
            .mint(&user, Role::Vendor, None, Duration::from_secs(60))
            .unwrap();
        assert!(keys.verify(&forged).is_err());
        let expired = keys
            .sign(&Claims {
                sub: "v-7".into(),
                role: "vendor".into(),
                name: None,
                exp: now() - 2,
            })
            .unwrap();
        assert!(keys.verify(&expired).is_err());
        let bad_role = keys
            .sign(&Claims {
                sub: "v-7".into(),
                role: "admin".into(),
                name: None,
                exp: now() + 60,
            })
            .unwrap();
        assert!(keys.verify(&bad_role).is_err());
        assert!(keys.verify("not.a.token").is_err());
    }

    #[test]
    fn the_secret_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = TokenKeys::load(dir.path(), None).unwrap();
        let b = TokenKeys::load(dir.path(), None).unwrap();
        let user = UserId::parse("c-1").unwrap();
        let t = a
            .mint(&user, Role::Customer, None, Duration::from_secs(60))
            .unwrap();
        assert!(b.verify(&t).is_ok());
        assert!(TokenKeys::load(dir.path(), Some("short")).is_err());
    }

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_ttl("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("15m").unwrap(), Duration::from_secs(900));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("3w").is_err());
        assert!(parse_ttl("h").is_err());
    }
}
