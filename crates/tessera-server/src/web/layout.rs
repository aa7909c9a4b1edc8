//! The shared page shell and who it is for (the signed-in browser), the
//! error page, and small formatting helpers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use tessera_core::PermissionSet;
use tessera_store::{Session, TokenRecord, TokenStatus, User};

use crate::client::ClientInfo;
use crate::error::AppError;
use crate::principal::Caller;
use crate::session::browser_session;
use crate::state::AppState;

/// A signed-in browser on a page. Without a live session, a page answers
/// with a redirect to `/login`.
#[derive(Debug, Clone)]
pub struct Signed {
    pub user: User,
    pub session: Session,
    pub client: ClientInfo,
}

impl Signed {
    /// The same caller the API sees for this session.
    pub fn caller(&self) -> Caller {
        Caller::Session {
            user: Box::new(self.user.clone()),
            session: Box::new(self.session.clone()),
        }
    }

    /// An error page shown within this user's navigation.
    pub fn error(&self, error: AppError) -> WebError {
        WebError {
            error,
            signed: Some(Box::new(self.clone())),
        }
    }

    /// What a form shows beside its fields when its input was not
    /// acceptable (answered with 422); any other error is this user's error
    /// page.
    pub fn form_refusal(&self, error: AppError) -> Result<String, WebError> {
        match error {
            AppError::Invalid(message) | AppError::BadRequest(message) => Ok(message),
            other => Err(self.error(other)),
        }
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        signed_in(parts, state)
            .await?
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

/// The session of the request, if any is live and its user active.
pub async fn signed_in(parts: &Parts, state: &AppState) -> Result<Option<Signed>, Response> {
    let resumed = browser_session(&parts.headers, &state.sessions)
        .await
        .map_err(|e| WebError::from(e).into_response())?;
    Ok(resumed.map(|(session, user)| Signed {
        user,
        session,
        client: ClientInfo::from_parts(parts, &state.config.auth.trusted_proxies),
    }))
}

/// Which part of the navigation a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    None,
    Tokens,
    Workspaces,
    Admin,
}

/// A whole page: head, navigation for a signed-in user, and `body`.
pub fn page(title: &str, signed: Option<&Signed>, section: Section, body: Markup) -> Markup {
    let current = |s: Section| (s == section).then_some("page");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Tessera" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header.top {
                    span.brand { "Tessera" }
                    @if let Some(signed) = signed {
                        nav aria-label="Main" .actions {
                            a href="/settings/tokens" aria-current=[current(Section::Tokens)] { "Access tokens" }
                            a href="/settings/workspaces" aria-current=[current(Section::Workspaces)] { "Workspaces" }
                            @if signed.user.is_admin {
                                a href="/admin/users" aria-current=[current(Section::Admin)] { "Admin" }
                            }
                        }
                        span.muted { "Signed in as " strong { (signed.user.username) } }
                        form method="post" action="/logout" {
                            (csrf_field(signed))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The hidden field every form of a signed-in page carries.
pub fn csrf_field(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(signed.session.csrf_token); }
}

/// An HTML answer with `status`.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, markup).into_response()
}

/// An answer that carries a secret: never stored by any cache.
pub fn respond_with_secret(markup: Markup) -> Response {
    let mut response = (StatusCode::OK, markup).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, max-age=0"),
    );
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An error as a page: the status of the API's error, a message a person
/// can act on.
pub struct WebError {
    pub error: AppError,
    pub signed: Option<Box<Signed>>,
}

impl From<AppError> for WebError {
    fn from(error: AppError) -> Self {
        WebError {
            error,
            signed: None,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let message = match &self.error {
            AppError::BadRequest(m)
            | AppError::Invalid(m)
            | AppError::Forbidden(m)
            | AppError::Conflict(m)
            | AppError::MalformedAuthorization(m) => m.clone(),
            AppError::Denied { .. } => {
                "You do not have permission to see or change this. Ask a workspace owner if you need it."
                    .into()
            }
            AppError::CsrfFailed => {
                "This form has expired or did not come from this site. Go back, reload the page and try again."
                    .into()
            }
            AppError::Unauthenticated | AppError::InvalidCredentials => {
                "Sign in to continue.".into()
            }
            AppError::VerifierRequired { message, .. } => (*message).into(),
            AppError::NotFound => "There is nothing here.".into(),
            AppError::SignInThrottled { retry_after } => throttled_message(*retry_after),
            AppError::Busy => crate::error::SIGN_IN_BUSY.into(),
            AppError::Unavailable => {
                "The token store is unavailable; nothing was changed. Try again shortly.".into()
            }
            AppError::Internal(_) => "Something went wrong on our side; it has been logged.".into(),
        };
        let status = self.error.into_response().status();
        let title = match status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            s if s.is_client_error() => "Cannot do that",
            _ => "Error",
        };
        respond(
            status,
            page(
                title,
                self.signed.as_deref(),
                Section::None,
                html! {
                    h1 { (title) }
                    p.alert role="alert" { (message) }
                    p { a href="/settings/tokens" { "Back to your tokens" } }
                },
            ),
        )
    }
}

/// A throttled sign-in, said to a person.
pub fn throttled_message(retry_after: u64) -> String {
    let wait = match retry_after {
        1 => "a second".to_owned(),
        s if s < 120 => format!("{s} seconds"),
        s => format!("{} minutes", s.div_ceil(60)),
    };
    format!("Too many failed sign-in attempts for this account or from this address. Wait {wait}, then try again.")
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// A short, readable UTC date and time.
pub fn short_time(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

pub fn status_badge(status: TokenStatus) -> Markup {
    let name = match status {
        TokenStatus::Active => "active",
        TokenStatus::Expired => "expired",
        TokenStatus::Revoked => "revoked",
    };
    html! { span class={ "badge " (name) } { (name) } }
}

/// When a token was last used (and from where, on hover), or "Never".
pub fn last_used_cell(token: &TokenRecord) -> Markup {
    html! {
        @if let Some(at) = token.last_used_at {
            @let title = format!("{}{}", rfc3339(at), token.last_used_ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default());
            time datetime=(rfc3339(at)) title=(title) { (short_time(at)) }
        } @else { "Never" }
    }
}

/// When a token expires, or "Never".
pub fn expires_cell(token: &TokenRecord) -> Markup {
    html! {
        @if let Some(at) = token.expires_at {
            time datetime=(rfc3339(at)) { (short_time(at)) }
        } @else { "Never" }
    }
}

/// Checkboxes narrowing a new token to some of `offered`, those in `checked`
/// ticked; `legend` says what leaving them all unticked means.
pub fn permission_choices(legend: &str, offered: &PermissionSet, checked: &[String]) -> Markup {
    html! {
        fieldset {
            legend { (legend) }
            @for p in offered.iter() {
                @let id = format!("perm-{}", p.as_str().replace([':', '.'], "-"));
                label for=(id) {
                    input #(id) type="checkbox" name="permissions" value=(p.as_str()) checked[checked.iter().any(|x| x == p.as_str())];
                    code { (p.as_str()) }
                }
            }
        }
    }
}

/// `prefix…last4`: enough to recognise a token, never enough to use it.
pub fn masked(prefix: &str, last4: &str) -> String {
    format!("{prefix}…{last4}")
}

/// "30d" → "30 days"; "never" → "No expiration".
pub fn preset_label(preset: &str) -> String {
    if preset == "never" {
        return "No expiration".into();
    }
    let (count, unit) = preset.split_at(preset.len().saturating_sub(1));
    let unit = match (unit, count) {
        ("h", "1") => "hour",
        ("h", _) => "hours",
        ("d", "1") => "day",
        ("d", _) => "days",
        ("w", "1") => "week",
        ("w", _) => "weeks",
        ("y", "1") => "year",
        ("y", _) => "years",
        _ => return preset.to_owned(),
    };
    format!("{count} {unit}")
}

/// The secret of a token just created or rotated, shown this once.
pub fn secret_panel(heading: &str, secret: &str, name: &str) -> Markup {
    html! {
        section.card data-secret-page="1" aria-labelledby="secret-heading" {
            h2 #secret-heading { (heading) }
            p.warning role="note" {
                strong { "Copy this token now. " }
                "It will not be shown again: Tessera keeps only its hash. If you lose it, rotate or revoke the token and create another."
            }
            label for="new-secret" { "Token “" (name) "”" }
            div.secret-row {
                input.secret #new-secret type="text" readonly value=(secret) autocomplete="off" spellcheck="false";
                button type="button" data-copy="new-secret" { "Copy" }
            }
            p.muted #new-secret-status role="status" aria-live="polite" {}
        }
    }
}

/// Markup that must not be escaped (fixed text only).
pub fn raw(text: &'static str) -> PreEscaped<&'static str> {
    PreEscaped(text)
}
