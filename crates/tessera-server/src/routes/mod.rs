//! The HTTP API, one module per area, merged in one place.

pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod health;
pub mod me;
pub mod session;
pub mod tokens;
pub mod verify;
pub mod views;

use axum::Router;
use serde::{Deserialize, Serialize};

use tessera_store::Page;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(session::router())
        .merge(me::router())
        .merge(tokens::router())
        .merge(api_keys::router())
        .merge(audit::router())
        .merge(admin::router())
        .merge(verify::router())
}

/// `?limit=&cursor=` on every list.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn page(&self) -> AppResult<Page> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=tessera_store::MAX_PAGE).contains(&limit) {
            return Err(AppError::Invalid(format!(
                "limit must be between 1 and {}.",
                tessera_store::MAX_PAGE
            )));
        }
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

/// `{"items": [...], "next_cursor": null|string}`.
#[derive(Debug, Serialize)]
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
}
