//! What several API areas share: the `?limit=&cursor=` query and the list
//! shape every list answers with, a scope's tokens as a list, and the
//! answers and bodies of issuing and rotating tokens.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use tessera_store::Page;

use crate::error::{AppError, AppResult};
use crate::routes::views::{IssuedView, TokenView};
use crate::service::tokens::{Issued, Overlap, RotateRequest, TokenScope};
use crate::state::AppState;

/// `?limit=&cursor=` on every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// At most this many items (1–500, default 100). Read as text, so that
    /// `-1`, `abc` and `0` all get the same 422 rather than a 400 from the
    /// query parser for some and a 422 for others.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> AppResult<Page> {
        let limit = page_limit(self.limit.as_deref())?;
        if let Some(cursor) = &self.cursor {
            let plausible = cursor.len() <= 100
                && cursor
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !plausible {
                return Err(AppError::Invalid(
                    "cursor is not a cursor this server gave out.".into(),
                ));
            }
        }
        Ok(Page {
            after: self.cursor.clone(),
            limit,
        })
    }
}

/// `?limit=`: absent, 100; otherwise a whole number from 1 to the store's
/// largest page, and anything else is 422 with the same message.
fn page_limit(raw: Option<&str>) -> AppResult<u32> {
    let Some(raw) = raw else {
        return Ok(100);
    };
    raw.parse::<u32>()
        .ok()
        .filter(|limit| (1..=tessera_store::MAX_PAGE).contains(limit))
        .ok_or_else(|| {
            AppError::Invalid(format!(
                "limit must be a whole number between 1 and {}.",
                tessera_store::MAX_PAGE
            ))
        })
}

/// `{"items": [...], "next_cursor": null|string}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    /// A full page may have a successor: its last id is the cursor.
    pub fn paged(items: Vec<T>, page: &Page, id_of: impl Fn(&T) -> &str) -> Self {
        let next_cursor = (items.len() as u32 >= page.limit)
            .then(|| items.last().map(|i| id_of(i).to_owned()))
            .flatten();
        List { items, next_cursor }
    }

    /// Everything there is, in one answer (a short list, never paged).
    pub fn all(items: Vec<T>) -> Self {
        List {
            items,
            next_cursor: None,
        }
    }
}

/// One page of the scope's tokens as the API lists them.
pub async fn token_list(
    state: &AppState,
    scope: &TokenScope<'_>,
    page: &Page,
) -> AppResult<List<TokenView>> {
    let now = OffsetDateTime::now_utc();
    let items: Vec<TokenView> = state
        .tokens
        .list(scope, now, page)
        .await?
        .into_iter()
        .map(|r| TokenView::new(r, now))
        .collect();
    Ok(List::paged(items, page, |t| &t.id))
}

/// An answer that carries a secret: 201, and never cached anywhere.
pub fn issued_response(issued: Issued) -> Response {
    let body = IssuedView {
        record: TokenView::new(issued.record, OffsetDateTime::now_utc()),
        token: issued.token.expose().to_owned(),
    };
    (
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(body),
    )
        .into_response()
}

/// The optional body of a rotation, for personal tokens and API keys alike.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    /// How long the old secret keeps working: 0 (default) to 86,400 seconds.
    pub overlap_seconds: Option<u32>,
    /// `"until_first_use"`: the old secret works until the new one is first
    /// used, then for a minute more (at most 7 days). Instead of
    /// `overlap_seconds`.
    pub overlap: Option<OverlapWord>,
    pub expires_in: Option<String>,
    pub expires_at: Option<String>,
}

/// The overlaps that have a name rather than a number of seconds.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverlapWord {
    UntilFirstUse,
}

impl RotateBody {
    pub fn request(&self) -> AppResult<RotateRequest<'_>> {
        let overlap = match (self.overlap_seconds, self.overlap) {
            (Some(_), Some(_)) => {
                return Err(AppError::Invalid(
                    "Send either overlap_seconds or overlap, not both.".into(),
                ))
            }
            (Some(seconds), None) => Overlap::Seconds(seconds),
            (None, Some(OverlapWord::UntilFirstUse)) => Overlap::UntilFirstUse,
            (None, None) => Overlap::default(),
        };
        Ok(RotateRequest {
            overlap,
            expires_in: self.expires_in.as_deref(),
            expires_at: self.expires_at.as_deref(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_a_whole_number_within_the_page_or_absent() {
        assert_eq!(page_limit(None).unwrap(), 100);
        assert_eq!(page_limit(Some("1")).unwrap(), 1);
        assert_eq!(page_limit(Some("500")).unwrap(), 500);
        for bad in [
            "0",
            "-1",
            "501",
            "abc",
            "",
            "1.5",
            " 5",
            "99999999999999999999",
        ] {
            let err = page_limit(Some(bad)).unwrap_err();
            assert!(
                matches!(&err, AppError::Invalid(m) if m.contains("limit")),
                "{bad:?}: {err:?}"
            );
        }
    }
}
