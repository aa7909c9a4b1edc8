use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The answer the product gives instead of running the handler, in Tessera's
/// error body shape so that one client library reads the errors of both.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct TesseraRejection {
    status: StatusCode,
    code: String,
    message: String,
    retry_after: Option<u64>,
}

impl TesseraRejection {
    /// No credential at all: answered without asking Tessera, since there
    /// is nothing to ask about.
    pub(crate) fn unauthenticated() -> Self {
        TesseraRejection {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthenticated".into(),
            message: "Authentication required: send `Authorization: Bearer <token>`.".into(),
            retry_after: None,
        }
    }

    /// Tessera could not give an answer: fail closed.
    pub(crate) fn unavailable() -> Self {
        TesseraRejection {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable".into(),
            message: "The token could not be verified because Tessera is unavailable; \
                      nothing was accepted. Retry shortly."
                .into(),
            retry_after: Some(5),
        }
    }

    /// Tessera's refusal, mirrored. The status follows from the code as the
    /// contract lists them; a code this crate does not know yet is a refusal
    /// all the same, answered 403 rather than let through.
    pub(crate) fn denied(code: String, message: String, retry_after: Option<u64>) -> Self {
        let status = match code.as_str() {
            "rate_limited" => StatusCode::TOO_MANY_REQUESTS,
            "unauthenticated" | "owner_inactive" => StatusCode::UNAUTHORIZED,
            c if c.starts_with("token_") => StatusCode::UNAUTHORIZED,
            _ => StatusCode::FORBIDDEN,
        };
        TesseraRejection {
            status,
            code,
            message,
            retry_after: retry_after.filter(|_| status == StatusCode::TOO_MANY_REQUESTS),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code, as in Tessera's contract (`token_invalid`,
    /// `permission_denied`, `unavailable`, …).
    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for TesseraRejection {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: no error attribute when no credential was presented.
            let challenge = if self.code == "unauthenticated" {
                "Bearer"
            } else {
                "Bearer error=\"invalid_token\""
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        // An answer about one caller's credential is never for a shared cache.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_the_contract_statuses() {
        let status = |code: &str| TesseraRejection::denied(code.into(), String::new(), None).status;
        for code in [
            "token_invalid",
            "token_malformed",
            "token_unknown",
            "token_expired",
            "token_revoked",
            "owner_inactive",
        ] {
            assert_eq!(status(code), StatusCode::UNAUTHORIZED, "{code}");
        }
        for code in [
            "workspace_required",
            "not_a_member",
            "permission_denied",
            "something_new",
        ] {
            assert_eq!(status(code), StatusCode::FORBIDDEN, "{code}");
        }
        assert_eq!(status("rate_limited"), StatusCode::TOO_MANY_REQUESTS);
    }

    #[test]
    fn a_401_carries_the_bearer_challenge() {
        let response =
            TesseraRejection::denied("token_invalid".into(), "no".into(), None).into_response();
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
        let response = TesseraRejection::unauthenticated().into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let response =
            TesseraRejection::denied("rate_limited".into(), "slow".into(), Some(7)).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}
