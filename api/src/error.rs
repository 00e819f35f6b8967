//! [`ApiError`]: the one error type of the wire, shared by REST (as an HTTP
//! status and body) and Socket.IO (in acks). Every lower error maps to exactly
//! one code here; infrastructure failures are logged in full and answered
//! opaquely.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::json;
use souk_actors::ActorError;
use souk_domain::{DomainError, InputError};
use souk_projections::ProjectionError;
use souk_store::StoreError;

use crate::auth::AuthError;

/// The codes of docs/api.md, each with its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    /// A route that exists, asked with a method it does not take (an
    /// addition to the contract's codes; the answer names the allowed ones).
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    /// A bug: never expected; 500.
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// An error as the client sees it: `{ "error": { "code", "message" } }`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// An infrastructure failure: logged in full, answered as `unavailable`.
    pub fn unavailable(context: &str, err: &dyn std::error::Error) -> Self {
        tracing::error!(error = %err, "{context}");
        Self::new(
            ErrorCode::Unavailable,
            "the service is temporarily unavailable, try again",
        )
    }

    /// A bug: logged in full, answered opaquely.
    pub fn internal(context: &str, err: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %err, "{context}");
        Self::new(ErrorCode::Internal, "internal error")
    }

    /// The body of docs/api.md ("Error").
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": { "code": self.code.as_str(), "message": self.message } })
    }

    /// A conversation that does not exist or does not include the caller.
    pub fn conversation_not_found(id: impl std::fmt::Display) -> Self {
        Self::not_found(format!("conversation {id} not found"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(self.body())
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        Self::invalid(e.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Forbidden(why) => Self::forbidden(why),
            other => Self::new(ErrorCode::Unauthorized, other.to_string()),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::ConversationNotFound | DomainError::NotAParticipant => {
                Self::not_found("conversation not found")
            }
            DomainError::MessageNotFound => Self::not_found("message not found"),
            DomainError::ParticipantsMismatch => Self::new(ErrorCode::Conflict, e.to_string()),
        }
    }
}

impl From<ActorError> for ApiError {
    fn from(e: ActorError) -> Self {
        match e {
            ActorError::Domain(d) => d.into(),
            ActorError::Conflict(err) => {
                tracing::warn!(error = %err, "append still conflicting after a retry");
                Self::new(
                    ErrorCode::Conflict,
                    "the conversation changed concurrently, try again",
                )
            }
            ActorError::Store(err) => Self::from(err),
            ActorError::Unavailable => Self::new(
                ErrorCode::Unavailable,
                "the conversation is temporarily unavailable, try again",
            ),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::WrongExpectedRevision { .. } => {
                Self::new(ErrorCode::Conflict, "concurrent change, try again")
            }
            StoreError::InvalidAppend(_) => Self::internal("invalid append", &e),
            _ => Self::unavailable("event store failed", &e),
        }
    }
}

impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::InvalidCursor => Self::invalid("cursor: not a cursor of this list"),
            // Expected and temporary: said as it is, not logged per request.
            ProjectionError::CatchingUp { position, target } => Self::new(
                ErrorCode::Unavailable,
                format!(
                    "the read models are catching up with the log ({position} of {target} events); try again shortly"
                ),
            ),
            ProjectionError::Behind { .. } => Self::new(
                ErrorCode::Unavailable,
                "the read models are behind the log after a failure and are recovering; try again shortly",
            ),
            other => Self::unavailable("read model query failed", &other),
        }
    }
}
