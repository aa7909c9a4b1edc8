//! The fields of a posted form, the CSRF-checked form extractor, and
//! one-time form ids.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::session::check_csrf;
use crate::state::AppState;
use crate::web::layout::{Signed, WebError};

/// The fields of an `application/x-www-form-urlencoded` body, in order
/// (repeated names, such as checkboxes, are kept).
#[derive(Debug, Default, Clone)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Fields(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, if sent and not blank.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// A form posted by a signed-in browser, whose `csrf_token` field matched
/// the session's (compared in constant time). Otherwise: a 403 page, or the
/// sign-in page for a browser that is not signed in.
pub struct Posted {
    pub signed: Signed,
    pub fields: Fields,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                signed
                    .error(AppError::BadRequest(e.body_text()))
                    .into_response()
            })?;
        let fields = Fields::parse(&bytes);
        let sent = fields.get("csrf_token").unwrap_or("");
        check_csrf(&signed.session, sent.as_bytes())
            .map_err(|refused| signed.error(refused).into_response())?;
        Ok(Posted { signed, fields })
    }
}

/// One-time form ids: a form that shows a secret when posted carries one, so
/// that posting it again (a reload that resubmits) creates nothing. The ids
/// are claimed in the store (`Sessions::claim_form_id`).
pub fn new_form_id() -> String {
    tessera_core::base62::random(24)
}

/// True the first time this session posts the form id in `fields`.
pub async fn first_post(
    state: &AppState,
    signed: &Signed,
    fields: &Fields,
) -> Result<bool, WebError> {
    state
        .sessions
        .claim_form_id(&signed.session, fields.get("form_id"))
        .await
        .map_err(|e| signed.error(e))
}
