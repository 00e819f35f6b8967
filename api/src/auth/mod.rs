//! Identity: the tokens of the contract (`sub`, `role`, `name`, `exp`;
//! docs/api.md, "Identity"), who a verified token stands for, and the rules
//! a token must meet.
//!
//! A token's role gives one of three [`Seat`]s. A customer or a vendor is a
//! participant ([`Principal`], whose side is a [`Role`]: the chat routes and
//! the Socket.IO edge take only these); an operator (the marketplace's
//! support staff) is an [`OperatorPrincipal`], taken only by the operator
//! routes, which record every read in the conversation's log. Each verifier
//! refuses the other kind with `403 forbidden` ([`AuthError::Forbidden`]):
//! [`TokenKeys::verify`] takes participants, [`TokenKeys::verify_operator`]
//! operators, [`TokenKeys::verify_identity`] either.
//!
//! Two kinds of signature are accepted:
//! - **HS256** with souk's own secret (given, or made once and kept in the
//!   data directory: [`secret`]); `souk token` mints these;
//! - **RS256 / ES256** from the marketplace's identity provider, verified
//!   against its published keys ([`jwks`], `SOUK_JWT_JWKS_URL`), chosen by
//!   the token's `kid`.
//!
//! Whatever signed it, a token is refused (401) when it has expired (no
//! leeway), is not yet valid (`nbf`), claims to be issued in the future
//! (`iat` more than [`CLOCK_SKEW`] ahead), lives longer than the maximum
//! lifetime (`exp` too far ahead: a stolen token must not work for years),
//! or names another issuer or audience than the configured ones. The role
//! and the name may come from other claims than `role` and `name` (an
//! identity provider's own names). The 401 messages say which rule failed,
//! never how a parser failed.
//!
//! # Layout
//! - this file: [`TokenKeys`] (verify, mint), [`TokenSettings`], [`Seat`],
//!   [`Principal`], [`OperatorPrincipal`], [`Identity`].
//! - [`secret`]: the HS256 secret, given or kept in the data directory.
//! - [`jwks`]: the identity provider's keys.

pub mod jwks;
pub mod secret;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use souk_domain::{Actor, DisplayName, Operator, Role, UserId};

use self::jwks::{Jwks, JwksConfig};
pub use self::secret::SECRET_FILE;

/// How far ahead of this server's clock a token's `iat` may be: identity
/// providers' clocks differ by a little.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The claims of a token souk mints.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub exp: u64,
}

/// [`Claims`] plus what the configured rules ask of every token.
#[derive(Serialize)]
struct MintedClaims<'a> {
    #[serde(flatten)]
    claims: &'a Claims,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
}

/// What a token's role claim may give: a side of conversations
/// (`customer`, `vendor`) or the support staff (`operator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Seat {
    Customer,
    Vendor,
    Operator,
}

impl Seat {
    pub const ALL: [Seat; 3] = [Seat::Customer, Seat::Vendor, Seat::Operator];

    /// `customer`, `vendor` or `operator`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|seat| seat.as_str() == s)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Seat::Customer => "customer",
            Seat::Vendor => "vendor",
            Seat::Operator => "operator",
        }
    }

    /// The side of conversations, for a participant's seat.
    pub fn role(&self) -> Option<Role> {
        match self {
            Seat::Customer => Some(Role::Customer),
            Seat::Vendor => Some(Role::Vendor),
            Seat::Operator => None,
        }
    }
}

impl From<Role> for Seat {
    fn from(role: Role) -> Self {
        match role {
            Role::Customer => Seat::Customer,
            Role::Vendor => Seat::Vendor,
        }
    }
}

impl std::fmt::Display for Seat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a participant's route refuses an operator's token (`403`, and the
/// Socket.IO handshake's refusal).
pub const OPERATORS_NEVER_WRITE: &str =
    "operators read conversations under /api/operator and never write";

/// Why an operator route refuses a participant's token (`403`).
pub const OPERATORS_ONLY: &str = "these routes are for operators (support staff)";

/// A participant (customer or vendor) a verified token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub id: UserId,
    pub role: Role,
    pub name: Option<DisplayName>,
    /// When the token expires (seconds since the epoch).
    pub expires_at: u64,
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

/// A member of the support staff a verified token (role `operator`)
/// stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorPrincipal {
    pub id: UserId,
    pub name: Option<DisplayName>,
    /// When the token expires (seconds since the epoch).
    pub expires_at: u64,
}

impl OperatorPrincipal {
    /// The operator as recorded in a support access.
    pub fn operator(&self) -> Operator {
        Operator {
            id: self.id.clone(),
            name: self.name.clone(),
        }
    }
}

/// Whoever a verified token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    Participant(Principal),
    Operator(OperatorPrincipal),
}

/// Why a token was refused: `401 unauthorized`, except
/// [`AuthError::Forbidden`].
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
    /// A valid token of a seat these routes do not serve (an operator on a
    /// participant's route, or the other way round): `403 forbidden`.
    #[error("{0}")]
    Forbidden(&'static str),
}

impl AuthError {
    fn invalid(reason: impl Into<String>) -> Self {
        Self::Invalid(reason.into())
    }
}

/// The rules of tokens beyond their signature (flags of `souk serve` and
/// `souk token`).
#[derive(Clone, Debug, Args)]
pub struct TokenSettings {
    /// When set, every token must carry this `iss`.
    #[arg(long, env = "SOUK_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// When set, every token's `aud` must be or include this.
    #[arg(long, env = "SOUK_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// The identity provider's key set (JWKS): tokens signed with RS256 or
    /// ES256 by one of its keys (chosen by `kid`) are accepted besides HS256
    /// ones. Fetched at start, again on an unknown `kid` at most once a
    /// minute.
    #[arg(long, env = "SOUK_JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,
    /// The claim that holds the role (`customer`, `vendor` or `operator`; a
    /// string, or an array holding exactly one of them).
    #[arg(long, env = "SOUK_JWT_ROLE_CLAIM", default_value = "role")]
    pub jwt_role_claim: String,
    /// The claim that holds the display name.
    #[arg(long, env = "SOUK_JWT_NAME_CLAIM", default_value = "name")]
    pub jwt_name_claim: String,
    /// The longest a token may still be valid (`exp` at most this far ahead),
    /// e.g. `12h`, `30d`.
    #[arg(long, env = "SOUK_JWT_MAX_LIFETIME", default_value = "30d", value_parser = parse_ttl)]
    pub jwt_max_lifetime: Duration,
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            jwt_issuer: None,
            jwt_audience: None,
            jwt_jwks_url: None,
            jwt_role_claim: "role".into(),
            jwt_name_claim: "name".into(),
            jwt_max_lifetime: Duration::from_secs(30 * 86_400),
        }
    }
}

/// Signs and verifies tokens: HS256 with souk's secret, and RS256/ES256
/// with the identity provider's keys when configured.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwks: Option<Arc<Jwks>>,
    rules: Arc<TokenSettings>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

/// Now, in seconds since the epoch: the unit of `exp`, `nbf` and `iat`.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl TokenKeys {
    /// HS256 with `secret`, the default rules.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            jwks: None,
            rules: Arc::new(TokenSettings::default()),
        }
    }

    /// The same keys under other rules (no JWKS).
    pub fn with_rules(mut self, rules: TokenSettings) -> Self {
        self.rules = Arc::new(rules);
        self
    }

    /// The secret given, or the one kept in `data_dir` (made on first use),
    /// under the default rules. The server never runs without one.
    pub fn load(data_dir: &Path, given: Option<&str>) -> anyhow::Result<Self> {
        let secret = secret::load_or_make(data_dir, given)?;
        Ok(Self::new(secret.as_bytes()))
    }

    /// What the server verifies with: the secret as [`TokenKeys::load`], the
    /// rules, and the identity provider's keys when a JWKS URL is set.
    pub async fn for_server(
        data_dir: &Path,
        given: Option<&str>,
        rules: TokenSettings,
    ) -> anyhow::Result<Self> {
        let mut keys = Self::load(data_dir, given)?;
        if let Some(url) = &rules.jwt_jwks_url {
            keys.jwks = Some(Arc::new(Jwks::fetch_at_start(JwksConfig::new(url)).await?));
        }
        Ok(keys.with_rules(rules))
    }

    /// Uses `jwks` for RS256/ES256 tokens (tests build it with a short
    /// refresh interval).
    pub fn with_jwks(mut self, jwks: Jwks) -> Self {
        self.jwks = Some(Arc::new(jwks));
        self
    }

    /// The identity provider's keys, when configured.
    pub fn jwks(&self) -> Option<&Jwks> {
        self.jwks.as_deref()
    }

    /// Mints a participant's token valid for `ttl` ([`TokenKeys::mint_as`]).
    pub fn mint(
        &self,
        user: &UserId,
        role: Role,
        name: Option<&str>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        self.mint_as(user, Seat::from(role), name, ttl)
    }

    /// Mints an operator's token (role `operator`) valid for `ttl`
    /// ([`TokenKeys::mint_as`]).
    pub fn mint_operator(
        &self,
        user: &UserId,
        name: Option<&str>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        self.mint_as(user, Seat::Operator, name, ttl)
    }

    /// Mints a token for `seat` valid for `ttl`, with the configured issuer
    /// and audience; refuses a `ttl` beyond the maximum lifetime (the server
    /// would refuse the token).
    pub fn mint_as(
        &self,
        user: &UserId,
        seat: Seat,
        name: Option<&str>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        anyhow::ensure!(
            ttl <= self.rules.jwt_max_lifetime,
            "a token may live at most {} s (--jwt-max-lifetime); asked for {} s",
            self.rules.jwt_max_lifetime.as_secs(),
            ttl.as_secs()
        );
        let claims = Claims {
            sub: user.as_str().to_owned(),
            role: seat.as_str().to_owned(),
            name: name.map(str::to_owned),
            exp: now_secs() + ttl.as_secs(),
        };
        self.sign(&claims)
    }

    /// Signs `claims` with HS256, adding `iat` and the configured issuer and
    /// audience (tests use it for expired or odd tokens).
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let minted = MintedClaims {
            claims,
            iat: now_secs(),
            iss: self.rules.jwt_issuer.as_deref(),
            aud: self.rules.jwt_audience.as_deref(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &minted, &self.encoding)
            .context("while signing a token")
    }

    /// Verifies a participant's token; an operator's is
    /// [`AuthError::Forbidden`] ([`OPERATORS_NEVER_WRITE`]).
    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        match self.verify_identity(token).await? {
            Identity::Participant(p) => Ok(p),
            Identity::Operator(_) => Err(AuthError::Forbidden(OPERATORS_NEVER_WRITE)),
        }
    }

    /// Verifies an operator's token; a participant's is
    /// [`AuthError::Forbidden`] ([`OPERATORS_ONLY`]).
    pub async fn verify_operator(&self, token: &str) -> Result<OperatorPrincipal, AuthError> {
        match self.verify_identity(token).await? {
            Identity::Operator(o) => Ok(o),
            Identity::Participant(_) => Err(AuthError::Forbidden(OPERATORS_ONLY)),
        }
    }

    /// Verifies a token of any seat and parses its claims.
    pub async fn verify_identity(&self, token: &str) -> Result<Identity, AuthError> {
        let token = token.trim();
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::invalid("not a JSON Web Token"))?;
        let claims = match header.alg {
            Algorithm::HS256 => self.decode(token, &self.decoding, Algorithm::HS256)?,
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self.jwks.as_ref().ok_or_else(|| {
                    AuthError::invalid(format!(
                        "{:?} tokens are not accepted (no identity provider configured)",
                        header.alg
                    ))
                })?;
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| AuthError::invalid("the token names no key (kid)"))?;
                let key = jwks
                    .key(kid)
                    .await
                    .ok_or_else(|| AuthError::invalid("signed with an unknown key"))?;
                if key.algorithm != header.alg {
                    return Err(AuthError::invalid("the algorithm does not match the key"));
                }
                self.decode(token, &key.key, key.algorithm)?
            }
            other => {
                return Err(AuthError::invalid(format!(
                    "{other:?} tokens are not accepted"
                )))
            }
        };
        self.identity(&claims)
    }

    /// Verifies the participant's token of an `Authorization` header.
    pub async fn verify_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        self.verify(bearer(header)?).await
    }

    /// Verifies the operator's token of an `Authorization` header.
    pub async fn verify_operator_header(
        &self,
        header: Option<&str>,
    ) -> Result<OperatorPrincipal, AuthError> {
        self.verify_operator(bearer(header)?).await
    }

    /// Checks the signature and the registered claims.
    fn decode(
        &self,
        token: &str,
        key: &DecodingKey,
        algorithm: Algorithm,
    ) -> Result<Map<String, Value>, AuthError> {
        let mut validation = Validation::new(algorithm);
        // An expired token is refused at once: no grace period.
        validation.leeway = 0;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &self.rules.jwt_audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &self.rules.jwt_issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
            .map_err(|e| AuthError::invalid(reason(e.kind())))?;
        Ok(data.claims)
    }

    /// The identity of verified claims, after the rules jsonwebtoken does
    /// not know (lifetime, `iat`, the mapped role and name).
    fn identity(&self, claims: &Map<String, Value>) -> Result<Identity, AuthError> {
        let now = now_secs();
        let exp = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or_else(|| AuthError::invalid("exp must be a number of seconds"))?;
        if exp.saturating_sub(now) > self.rules.jwt_max_lifetime.as_secs() {
            return Err(AuthError::invalid(format!(
                "the token lives longer than the {} s allowed",
                self.rules.jwt_max_lifetime.as_secs()
            )));
        }
        if let Some(iat) = claims.get("iat") {
            let iat = iat
                .as_u64()
                .ok_or_else(|| AuthError::invalid("iat must be a number of seconds"))?;
            if iat > now + CLOCK_SKEW.as_secs() {
                return Err(AuthError::invalid("the token is issued in the future"));
            }
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(|| AuthError::invalid("sub must be a string"))?;
        let id =
            UserId::parse(sub).map_err(|e| AuthError::invalid(format!("sub: {}", e.reason)))?;
        let seat = self.seat(claims)?;
        let name = match claims.get(&self.rules.jwt_name_claim) {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) if n.trim().is_empty() => None,
            Some(Value::String(n)) => Some(DisplayName::parse(n).map_err(|e| {
                AuthError::invalid(format!("{}: {}", self.rules.jwt_name_claim, e.reason))
            })?),
            Some(_) => {
                return Err(AuthError::invalid(format!(
                    "{} must be a string",
                    self.rules.jwt_name_claim
                )))
            }
        };
        Ok(match seat.role() {
            Some(role) => Identity::Participant(Principal {
                id,
                role,
                name,
                expires_at: exp,
            }),
            None => Identity::Operator(OperatorPrincipal {
                id,
                name,
                expires_at: exp,
            }),
        })
    }

    /// The seat from the configured role claim: `customer`, `vendor` or
    /// `operator`, or an array holding exactly one of them (other roles of
    /// the provider are ignored).
    fn seat(&self, claims: &Map<String, Value>) -> Result<Seat, AuthError> {
        let claim = &self.rules.jwt_role_claim;
        let refused =
            || AuthError::invalid(format!("{claim} must be customer, vendor or operator"));
        match claims.get(claim) {
            Some(Value::String(r)) => Seat::parse(r).ok_or_else(refused),
            Some(Value::Array(values)) => {
                let mut roles = values
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(Seat::parse);
                match (roles.next(), roles.next()) {
                    (Some(role), None) => Ok(role),
                    _ => Err(refused()),
                }
            }
            _ => Err(refused()),
        }
    }
}

/// The token of an `Authorization` header (`Bearer` or `bearer`).
fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.ok_or(AuthError::Missing)?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or(AuthError::Missing)
}

/// A fixed reason for each way a token fails, so that a 401 never echoes a
/// parser's words.
fn reason(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::InvalidAlgorithm => "the algorithm does not match the key".into(),
        ErrorKind::MissingRequiredClaim(c) if c.len() <= 16 => format!("{c} is missing"),
        ErrorKind::InvalidClaimFormat(c) if c.len() <= 16 => format!("{c} has the wrong type"),
        _ => "malformed token".into(),
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

    const SECRET: &[u8] = b"0123456789abcdef0123";

    fn now() -> u64 {
        now_secs()
    }

    /// Signs raw claims with HS256 and nothing added.
    fn raw(claims: Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    async fn refusal(keys: &TokenKeys, token: &str) -> String {
        match keys.verify(token).await {
            Err(AuthError::Invalid(reason)) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn minted_tokens_verify_and_carry_the_claims() {
        let keys = TokenKeys::new(SECRET);
        let user = UserId::parse("c-42").unwrap();
        let t = keys
            .mint(
                &user,
                Role::Customer,
                Some("Alice"),
                Duration::from_secs(60),
            )
            .unwrap();
        let p = keys.verify(&t).await.unwrap();
        assert_eq!(p.id, user);
        assert_eq!(p.role, Role::Customer);
        assert_eq!(p.name.unwrap().as_str(), "Alice");
        assert!((now() + 59..=now() + 60).contains(&p.expires_at));
        assert!(keys
            .verify_header(Some(&format!("Bearer {t}")))
            .await
            .is_ok());
        assert!(matches!(
            keys.verify_header(None).await,
            Err(AuthError::Missing)
        ));
        assert!(matches!(
            keys.verify_header(Some(&t)).await,
            Err(AuthError::Missing)
        ));
    }

    #[tokio::test]
    async fn forged_expired_and_malformed_tokens_are_refused() {
        let keys = TokenKeys::new(SECRET);
        let other = TokenKeys::new(b"another-secret-of-length");
        let user = UserId::parse("v-7").unwrap();
        let forged = other
            .mint(&user, Role::Vendor, None, Duration::from_secs(60))
            .unwrap();
        assert_eq!(refusal(&keys, &forged).await, "bad signature");
        let expired = raw(serde_json::json!({ "sub": "v-7", "role": "vendor", "exp": now() - 2 }));
        assert_eq!(refusal(&keys, &expired).await, "the token has expired");
        let bad_role = raw(serde_json::json!({ "sub": "v-7", "role": "admin", "exp": now() + 60 }));
        assert_eq!(
            refusal(&keys, &bad_role).await,
            "role must be customer, vendor or operator"
        );
        assert_eq!(refusal(&keys, "not.a.token").await, "not a JSON Web Token");
        let no_exp = raw(serde_json::json!({ "sub": "v-7", "role": "vendor" }));
        assert_eq!(refusal(&keys, &no_exp).await, "exp is missing");
        let string_exp = raw(serde_json::json!({ "sub": "v-7", "role": "vendor", "exp": "soon" }));
        assert!(!refusal(&keys, &string_exp).await.contains("invalid type"));
    }

    #[tokio::test]
    async fn not_yet_valid_future_issued_and_too_long_lived_tokens_are_refused() {
        let keys = TokenKeys::new(SECRET);
        let claims = |extra: Value| {
            let mut c = serde_json::json!({ "sub": "c-1", "role": "customer", "exp": now() + 600 });
            c.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            raw(c)
        };
        let nbf = claims(serde_json::json!({ "nbf": now() + 300 }));
        assert_eq!(
            refusal(&keys, &nbf).await,
            "the token is not valid yet (nbf)"
        );
        let iat = claims(serde_json::json!({ "iat": now() + 3600 }));
        assert_eq!(
            refusal(&keys, &iat).await,
            "the token is issued in the future"
        );
        // A little clock skew is fine.
        let skewed = claims(serde_json::json!({ "iat": now() + 5, "nbf": now() - 5 }));
        assert!(keys.verify(&skewed).await.is_ok());
        let forever =
            raw(serde_json::json!({ "sub": "c-1", "role": "customer", "exp": 253_402_300_799u64 }));
        assert!(refusal(&keys, &forever).await.contains("lives longer"));
        let short = keys.clone().with_rules(TokenSettings {
            jwt_max_lifetime: Duration::from_secs(60),
            ..TokenSettings::default()
        });
        assert!(refusal(&short, &claims(serde_json::json!({})))
            .await
            .contains("lives longer"));
        let user = UserId::parse("c-1").unwrap();
        assert!(short
            .mint(&user, Role::Customer, None, Duration::from_secs(61))
            .is_err());
    }

    #[tokio::test]
    async fn issuer_and_audience_are_checked_when_set_and_ignored_otherwise() {
        let with_aud = raw(serde_json::json!({
            "sub": "c-1", "role": "customer", "exp": now() + 60,
            "aud": "souk", "iss": "https://id.example"
        }));
        // Unset: an aud or iss is no reason to refuse.
        assert!(TokenKeys::new(SECRET).verify(&with_aud).await.is_ok());
        let strict = TokenKeys::new(SECRET).with_rules(TokenSettings {
            jwt_issuer: Some("https://id.example".into()),
            jwt_audience: Some("souk".into()),
            ..TokenSettings::default()
        });
        assert!(strict.verify(&with_aud).await.is_ok());
        let other_iss = raw(serde_json::json!({
            "sub": "c-1", "role": "customer", "exp": now() + 60, "aud": "souk", "iss": "https://evil.example"
        }));
        assert_eq!(refusal(&strict, &other_iss).await, "wrong issuer");
        let other_aud = raw(serde_json::json!({
            "sub": "c-1", "role": "customer", "exp": now() + 60, "aud": "other", "iss": "https://id.example"
        }));
        assert_eq!(refusal(&strict, &other_aud).await, "wrong audience");
        let none = raw(serde_json::json!({ "sub": "c-1", "role": "customer", "exp": now() + 60 }));
        assert!(strict.verify(&none).await.is_err());
        // What the server mints under these rules passes them.
        let user = UserId::parse("c-1").unwrap();
        let minted = strict
            .mint(&user, Role::Customer, None, Duration::from_secs(60))
            .unwrap();
        assert!(strict.verify(&minted).await.is_ok());
    }

    #[tokio::test]
    async fn the_role_and_name_may_come_from_other_claims() {
        let keys = TokenKeys::new(SECRET).with_rules(TokenSettings {
            jwt_role_claim: "https://marketplace.example/roles".into(),
            jwt_name_claim: "preferred_username".into(),
            ..TokenSettings::default()
        });
        let t = raw(serde_json::json!({
            "sub": "v-9", "exp": now() + 60,
            "https://marketplace.example/roles": ["offline_access", "vendor"],
            "preferred_username": "Bolt Bikes",
        }));
        let p = keys.verify(&t).await.unwrap();
        assert_eq!(p.role, Role::Vendor);
        assert_eq!(p.name.unwrap().as_str(), "Bolt Bikes");
        let both = raw(serde_json::json!({
            "sub": "v-9", "exp": now() + 60,
            "https://marketplace.example/roles": ["customer", "vendor"],
        }));
        assert!(keys.verify(&both).await.is_err());
    }

    #[tokio::test]
    async fn operator_tokens_are_their_own_seat() {
        let keys = TokenKeys::new(SECRET);
        let sam = UserId::parse("o-sam").unwrap();
        let t = keys
            .mint_operator(&sam, Some("Sam Reyes, support"), Duration::from_secs(60))
            .unwrap();
        let Identity::Operator(o) = keys.verify_identity(&t).await.unwrap() else {
            panic!("an operator's token is an operator's");
        };
        assert_eq!(o.id, sam);
        assert_eq!(o.operator().name.unwrap().as_str(), "Sam Reyes, support");
        assert_eq!(
            keys.verify_operator_header(Some(&format!("Bearer {t}")))
                .await
                .unwrap(),
            o
        );
        // Participants' verifiers refuse it: 403, not 401.
        let refused = keys.verify(&t).await.unwrap_err();
        assert!(matches!(
            refused,
            AuthError::Forbidden(OPERATORS_NEVER_WRITE)
        ));
        assert!(matches!(
            keys.verify_header(Some(&format!("Bearer {t}"))).await,
            Err(AuthError::Forbidden(_))
        ));
        // And the operator's verifier refuses participants.
        let customer = keys
            .mint(&sam, Role::Customer, None, Duration::from_secs(60))
            .unwrap();
        assert!(matches!(
            keys.verify_operator(&customer).await,
            Err(AuthError::Forbidden(OPERATORS_ONLY))
        ));
        assert!(matches!(
            keys.verify_operator_header(None).await,
            Err(AuthError::Missing)
        ));
        let raw_operator =
            raw(serde_json::json!({ "sub": "o-1", "role": "operator", "exp": now() + 60 }));
        assert!(keys.verify_operator(&raw_operator).await.is_ok());
    }

    #[tokio::test]
    async fn the_operator_role_may_come_from_a_mapped_claim() {
        let keys = TokenKeys::new(SECRET).with_rules(TokenSettings {
            jwt_role_claim: "https://marketplace.example/roles".into(),
            ..TokenSettings::default()
        });
        let t = raw(serde_json::json!({
            "sub": "o-9", "exp": now() + 60,
            "https://marketplace.example/roles": ["offline_access", "operator"],
        }));
        assert!(keys.verify_operator(&t).await.is_ok());
        // Exactly one seat: an operator who is also a vendor is refused.
        let both = raw(serde_json::json!({
            "sub": "o-9", "exp": now() + 60,
            "https://marketplace.example/roles": ["operator", "vendor"],
        }));
        assert!(matches!(
            keys.verify_identity(&both).await,
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn seats_parse_and_name_their_side() {
        for seat in Seat::ALL {
            assert_eq!(Seat::parse(seat.as_str()), Some(seat));
        }
        assert_eq!(Seat::parse("admin"), None);
        assert_eq!(Seat::from(Role::Vendor).role(), Some(Role::Vendor));
        assert_eq!(Seat::Operator.role(), None);
    }

    #[test]
    fn the_secret_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(secret::read_kept(dir.path()).unwrap(), None);
        let a = TokenKeys::load(dir.path(), None).unwrap();
        let b = TokenKeys::load(dir.path(), None).unwrap();
        let user = UserId::parse("c-1").unwrap();
        let t = a
            .mint(&user, Role::Customer, None, Duration::from_secs(60))
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(rt.block_on(b.verify(&t)).is_ok());
        assert!(secret::read_kept(dir.path()).unwrap().is_some());
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
