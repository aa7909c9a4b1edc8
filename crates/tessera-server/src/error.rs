//! The HTTP layer's one error type and the only place errors become status
//! codes. Every non-2xx answer has the body `{"error": {"code", "message"}}`
//! with a stable code.

use std::borrow::Cow;
use std::sync::OnceLock;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use tessera_core::Denial;
use tessera_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request itself is malformed (bad JSON, a wrong type): 400.
    #[error("{0}")]
    BadRequest(String),
    /// The request is well-formed but a value is not acceptable: 422.
    #[error("{0}")]
    Invalid(String),
    /// No credential at all.
    #[error("authentication required")]
    Unauthenticated,
    /// A verification surface asked without a valid verifier credential.
    /// `basic` asks for HTTP Basic client authentication (introspection).
    #[error("verifier credential required")]
    VerifierRequired { message: &'static str, basic: bool },
    /// A credential was presented and refused, or lacks what the route needs.
    #[error("denied: {denial:?}")]
    Denied {
        denial: Denial,
        reveal: bool,
        retry_after: Option<u64>,
    },
    /// An `Authorization` header that carries no readable credential (Basic
    /// credentials that are not base64, lack a colon, …): 401 saying what
    /// to send. It says nothing about any token.
    #[error("{0}")]
    MalformedAuthorization(String),
    /// A cookie-authenticated change without the matching CSRF value.
    #[error("CSRF check failed")]
    CsrfFailed,
    /// Sign-in with an unknown user or a wrong password (one answer for both).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A signed-in user or a token tried something it may not do.
    #[error("{0}")]
    Forbidden(String),
    /// Also for another user's token: never confirm that it exists.
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// Password sign-in after too many failures (of the account or from
    /// the address): wait `retry_after` seconds.
    #[error("sign-in throttled")]
    SignInThrottled { retry_after: u64 },
    /// More passwords to check at once than the server hashes: retry soon.
    #[error("too many sign-ins at once")]
    Busy,
    /// The store cannot be reached: fail closed.
    #[error("the store is unavailable")]
    Unavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn denied(denial: Denial, reveal: bool) -> Self {
        AppError::Denied {
            denial,
            reveal,
            retry_after: None,
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            AppError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            AppError::VerifierRequired { .. } => (StatusCode::UNAUTHORIZED, "verifier_required"),
            AppError::MalformedAuthorization(_) => (StatusCode::UNAUTHORIZED, "token_invalid"),
            AppError::Denied { denial, reveal, .. } => (
                StatusCode::from_u16(denial.http_status()).unwrap_or(StatusCode::FORBIDDEN),
                denial.public_code(*reveal),
            ),
            AppError::CsrfFailed => (StatusCode::FORBIDDEN, "csrf_failed"),
            AppError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "permission_denied"),
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::SignInThrottled { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::Unavailable | AppError::Busy => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    fn message(&self) -> Cow<'static, str> {
        match self {
            AppError::BadRequest(m)
            | AppError::Invalid(m)
            | AppError::Forbidden(m)
            | AppError::Conflict(m)
            | AppError::MalformedAuthorization(m) => {
                Cow::Owned(m.clone())
            }
            AppError::Unauthenticated => {
                "Authentication required: send `Authorization: Bearer <token>` or sign in.".into()
            }
            AppError::VerifierRequired { message, .. } => (*message).into(),
            AppError::Denied { denial, reveal, .. } => denial.message(*reveal).into(),
            AppError::CsrfFailed => {
                "The X-CSRF-Token header (or the form's csrf_token field) is missing or does not match this session."
                    .into()
            }
            AppError::InvalidCredentials => "The username or password is incorrect.".into(),
            AppError::NotFound => "Not found.".into(),
            AppError::SignInThrottled { .. } => SIGN_IN_THROTTLED.into(),
            AppError::Busy => SIGN_IN_BUSY.into(),
            AppError::Unavailable => {
                "The token store is unavailable; nothing was accepted or changed. Retry shortly.".into()
            }
            AppError::Internal(_) => "An internal error occurred; it has been logged.".into(),
        }
    }
}

/// The one answer to a throttled sign-in, whether or not the account exists.
pub const SIGN_IN_THROTTLED: &str = "Too many failed sign-in attempts for this account or from this address: wait the seconds Retry-After gives, then try again.";

pub const SIGN_IN_BUSY: &str =
    "Too many sign-ins are being checked at once: try again in a second.";

impl AppError {
    fn body(&self, code: &'static str) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: Cow::Borrowed(code),
                message: self.message(),
            },
        }
    }
}

/// The encoded body of a refusal, for each reason and reveal setting.
fn denial_bodies() -> &'static DenialAnswers {
    static BODIES: OnceLock<DenialAnswers> = OnceLock::new();
    BODIES.get_or_init(|| {
        DenialAnswers::encode(|denial, reveal| {
            let error = AppError::denied(denial, reveal);
            error.body(error.status_and_code().1)
        })
    })
}

/// A refusal's JSON answer for every reason and reveal setting, encoded
/// once: the few answers a refusal can have are ready ahead of the
/// requests (a refused token is the hot path of a gateway under attack).
pub(crate) struct DenialAnswers(Vec<[Bytes; 2]>);

impl DenialAnswers {
    pub(crate) fn encode<T: serde::Serialize>(answer: impl Fn(Denial, bool) -> T) -> Self {
        let encoded = |denial, reveal| {
            Bytes::from(serde_json::to_vec(&answer(denial, reveal)).expect("an answer serialises"))
        };
        DenialAnswers(
            Denial::ALL
                .iter()
                .map(|&denial| [encoded(denial, false), encoded(denial, true)])
                .collect(),
        )
    }

    fn get(&self, denial: Denial, reveal: bool) -> Bytes {
        self.0[denial.index()][usize::from(reveal)].clone()
    }

    /// The answer as a JSON response with `status`.
    pub(crate) fn response(&self, status: StatusCode, denial: Denial, reveal: bool) -> Response {
        json_response(status, self.get(denial, reveal))
    }
}

/// A JSON body encoded ahead of the request, as a response with `status`.
pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            AppError::Internal(e) => tracing::error!(error = ?e, "internal error"),
            AppError::Unavailable => tracing::warn!("store unavailable: answered 503"),
            _ => {}
        }
        let mut response = match &self {
            AppError::Denied { denial, reveal, .. } => {
                denial_bodies().response(status, *denial, *reveal)
            }
            _ => (status, axum::Json(self.body(code))).into_response(),
        };
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match &self {
                AppError::VerifierRequired { basic: true, .. } => "Basic realm=\"tessera\"",
                AppError::VerifierRequired { basic: false, .. } => {
                    "Bearer realm=\"tessera-verifier\""
                }
                AppError::Denied { .. } | AppError::MalformedAuthorization(_) => {
                    "Bearer error=\"invalid_token\""
                }
                _ => "Bearer",
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let AppError::Denied {
            retry_after: Some(seconds),
            ..
        } = &self
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
        }
        match &self {
            AppError::SignInThrottled { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            AppError::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Conflict(m) => AppError::Conflict(m),
            StoreError::LimitReached => AppError::Invalid("A limit was reached.".into()),
            StoreError::Unavailable(_) => AppError::Unavailable,
            StoreError::InvalidInput(detail) => {
                tracing::info!(%detail, "the store refused a value");
                AppError::Invalid(
                    "A value contains characters that cannot be stored (such as NUL).".into(),
                )
            }
            other => AppError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        let message = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "Send the body as JSON with `Content-Type: application/json`.".to_string()
            }
            JsonRejection::JsonSyntaxError(_) => {
                format!("The body is not valid JSON: {}", rejection.body_text())
            }
            JsonRejection::JsonDataError(_) => rejection
                .body_text()
                .trim_start_matches("Failed to deserialize the JSON body into the target type: ")
                .to_string(),
            _ => rejection.body_text(),
        };
        AppError::BadRequest(message)
    }
}

impl From<PathRejection> for AppError {
    fn from(_: PathRejection) -> Self {
        AppError::NotFound
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::BadRequest(format!(
            "The query string is not valid: {}",
            rejection.body_text()
        ))
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// The body of every non-2xx answer, for the OpenAPI document.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable code: `invalid_request`, `unauthenticated`, `token_invalid`, …
    #[schema(value_type = String)]
    pub code: Cow<'static, str>,
    /// What a person can act on.
    #[schema(value_type = String)]
    pub message: Cow<'static, str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_body_carries_the_public_code_and_message() {
        for denial in Denial::ALL {
            for reveal in [false, true] {
                let body: serde_json::Value =
                    serde_json::from_slice(&denial_bodies().get(denial, reveal)).unwrap();
                assert_eq!(body["error"]["code"], denial.public_code(reveal));
                assert_eq!(body["error"]["message"], denial.message(reveal));
            }
        }
    }
}
