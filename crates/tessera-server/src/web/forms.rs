//! The fields of a posted form, the CSRF-checked form extractor, and
//! one-time form ids.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};

use tessera_core::hash::constant_time_eq;

use crate::error::AppError;
use crate::state::AppState;
use crate::web::layout::Signed;

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
        if !constant_time_eq(sent.as_bytes(), signed.session.csrf_token.as_bytes()) {
            return Err(signed.error(AppError::CsrfFailed).into_response());
        }
        Ok(Posted { signed, fields })
    }
}

/// One-time form ids: a form that shows a secret when posted carries one, so
/// that posting it again (a reload that resubmits) creates nothing.
pub struct OnceForms {
    used: Mutex<HashMap<String, Instant>>,
}

const FORM_ID_LIFETIME: Duration = Duration::from_secs(24 * 3600);

impl OnceForms {
    pub fn global() -> &'static OnceForms {
        static FORMS: std::sync::OnceLock<OnceForms> = std::sync::OnceLock::new();
        FORMS.get_or_init(|| OnceForms {
            used: Mutex::new(HashMap::new()),
        })
    }

    pub fn new_id() -> String {
        tessera_core::base62::random(24)
    }

    /// True the first time this session presents `id`; false for a repeat
    /// or a blank id.
    pub fn first_use(&self, signed: &Signed, id: Option<&str>) -> bool {
        let Some(id) = id.filter(|id| !id.is_empty() && id.len() <= 64) else {
            return false;
        };
        let id = format!("{}:{id}", signed.session.id_hash);
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        used.retain(|_, at| now.duration_since(*at) < FORM_ID_LIFETIME);
        used.insert(id, now).is_none()
    }
}
