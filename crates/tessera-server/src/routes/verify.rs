//! The verification surfaces for products and gateways, all on the one
//! verifier: `POST /api/v1/verify`, `POST /oauth/introspect` (RFC 7662) and
//! `GET /auth` (forward-auth for nginx `auth_request`, Traefik, Envoy).

use std::borrow::Cow;
use std::sync::OnceLock;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use tessera_core::policy::Denial;

use crate::auth::{
    presented_credential, refuse_token_in_url, verify_failure, workspace_header, Presented,
    TOKEN_EXPIRES_HEADER,
};
use crate::client::ClientInfo;
use crate::error::{json_response, AppError, AppResult, DenialAnswers};
use crate::metrics::{Asked, Surface};
use crate::principal::Presentation;
use crate::routes::asker::{Asker, OnForwardAuth, OnIntrospect, OnVerify};
use crate::service::rfc3339;
use crate::state::AppState;
use crate::verification::{Verified, VerifyFailure};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify))
        .routes(routes!(introspect))
        .routes(routes!(forward_auth))
}

/// `{"token", "workspace_id"?, "permissions"?}` → `{"valid": …}`. A token
/// that is not a string is simply not valid; a body that is not a JSON
/// object, or a token in the query string, is 400.
#[utoipa::path(post, path = "/api/v1/verify", tag = "verify",
    request_body(content = Object, description = "`{\"token\": \"...\", \"workspace_id\": optional, \"permissions\": optional [required]}`"),
    responses(
        (status = 200, description = "`{\"valid\": true, token_id, kind, user_id, workspace_id, permissions, expires_at}` or `{\"valid\": false, code, message}`", body = Object),
        (status = 400, description = "The body is not a JSON object, or a token is in the query string", body = crate::error::ErrorBody),
        (status = 401, description = "No valid verifier credential (`verifier_required`)", body = crate::error::ErrorBody),
        (status = 422, description = "`workspace_id` is not a string, or `permissions` not a list of strings", body = crate::error::ErrorBody),
        (status = 503, description = "The store cannot answer: never a valid answer", body = crate::error::ErrorBody),
    ))]
async fn verify(
    State(state): State<AppState>,
    asker: Asker<OnVerify>,
    uri: Uri,
    client: ClientInfo,
    body: Bytes,
) -> AppResult<Response> {
    // After the verifier check (the extractor above).
    refuse_token_in_url(&uri)?;
    state
        .metrics
        .timed(
            Surface::Verify,
            verify_answer(&state, &asker, &client, &body),
        )
        .await
}

async fn verify_answer(
    state: &AppState,
    asker: &Asker<OnVerify>,
    client: &ClientInfo,
    body: &[u8],
) -> AppResult<Response> {
    let question = Question::read(body)?;
    let outcome = state
        .verification
        .verify(
            &question.token,
            question.workspace.as_deref(),
            &question.required,
            client,
            Presentation::Question,
            asker.audience(),
        )
        .await;
    state
        .metrics
        .asked(asker.verifier.as_deref(), Surface::Verify, asked(&outcome));
    let reveal = state.config.auth.reveal_failure_reasons;
    let answer = match outcome {
        Ok(v) => json_response(
            StatusCode::OK,
            v.kept(
                |kept| &kept.verify_body,
                |v| {
                    serde_json::to_vec(&Valid {
                        valid: true,
                        token_id: &v.record().id,
                        kind: &v.record().kind,
                        name: &v.record().name,
                        user_id: v.identity().user_id.as_deref(),
                        workspace_id: v.identity().workspace_id.as_deref(),
                        permissions: v.identity().grants.listed(),
                        expires_at: v.identity().expires_at.map(rfc3339),
                    })
                    .expect("a verify answer serialises")
                    .into()
                },
            ),
        ),
        Err(VerifyFailure::Denied {
            denial,
            retry_after: None,
        }) => invalid_answer(denial, reveal),
        Err(VerifyFailure::Denied {
            denial,
            retry_after,
        }) => Json(Invalid::new(denial, reveal, retry_after)).into_response(),
        Err(VerifyFailure::RotatedOut(_)) => invalid_answer(Denial::Rotated, reveal),
        Err(VerifyFailure::Store(e)) => return Err(e.into()),
    };
    Ok(answer)
}

/// Whether the body is declared a form (`application/x-www-form-urlencoded`,
/// with or without parameters such as a charset).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// How a verification ended, for the per-verifier count.
fn asked(outcome: &Result<Verified, VerifyFailure>) -> Asked {
    match outcome {
        Ok(_) => Asked::Valid,
        Err(_) => Asked::Invalid,
    }
}

/// What a verify body asks. The usual body, `{"token": "..."}` alone, is
/// read in place; any other is read as a JSON value, field by field.
struct Question<'a> {
    token: Cow<'a, str>,
    workspace: Option<String>,
    required: Vec<String>,
}

impl<'a> Question<'a> {
    fn read(body: &'a [u8]) -> AppResult<Self> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct TokenOnly<'a> {
            #[serde(borrow)]
            token: Cow<'a, str>,
        }
        if body.trim_ascii_start().starts_with(b"{") {
            if let Ok(usual) = serde_json::from_slice::<TokenOnly>(body) {
                return Ok(Question {
                    token: usual.token,
                    workspace: None,
                    required: Vec::new(),
                });
            }
        }
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| AppError::BadRequest(format!("The body is not valid JSON: {e}")))?;
        if !body.is_object() {
            return Err(AppError::BadRequest(
                "The body must be a JSON object: {\"token\": \"<token>\"}.".into(),
            ));
        }
        // A token that is not a string is simply not valid.
        let token = body.get("token").and_then(Value::as_str).unwrap_or("");
        let workspace = match body.get("workspace_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(AppError::Invalid("workspace_id must be a string.".into())),
        };
        let not_strings = || AppError::Invalid("permissions must be a list of strings.".into());
        let required: Vec<String> = match body.get("permissions") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(not_strings)?,
            Some(_) => return Err(not_strings()),
        };
        Ok(Question {
            token: Cow::Owned(token.to_owned()),
            workspace,
            required,
        })
    }
}

/// `{"valid": false, …}` for a refusal with no wait to report, encoded once
/// per reason.
fn invalid_answer(denial: Denial, reveal: bool) -> Response {
    static ANSWERS: OnceLock<DenialAnswers> = OnceLock::new();
    ANSWERS
        .get_or_init(|| DenialAnswers::encode(|denial, reveal| Invalid::new(denial, reveal, None)))
        .response(StatusCode::OK, denial, reveal)
}

/// A valid answer, written straight from the verified token (the hot path
/// builds no intermediate JSON tree).
#[derive(Serialize)]
struct Valid<'a> {
    valid: bool,
    token_id: &'a str,
    kind: &'a str,
    name: &'a str,
    user_id: Option<&'a str>,
    workspace_id: Option<&'a str>,
    permissions: Vec<String>,
    expires_at: Option<String>,
}

#[derive(Serialize)]
struct Invalid {
    valid: bool,
    code: &'static str,
    message: &'static str,
    retry_after: Option<u64>,
}

impl Invalid {
    fn new(denial: Denial, reveal: bool, retry_after: Option<u64>) -> Self {
        Invalid {
            valid: false,
            code: denial.public_code(reveal),
            message: denial.message(reveal),
            retry_after,
        }
    }
}

/// RFC 7662: form `token=…` → `{"active": …}`. Any failure is `active: false`
/// with nothing else, as the RFC asks; a form without exactly one `token`
/// parameter (REQUIRED, §2.1) or a token in the query string is 400.
#[utoipa::path(post, path = "/oauth/introspect", tag = "verify",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`token=...` (RFC 7662); optional `workspace_id=...`, the workspace the token is asked about"),
    responses(
        (status = 200, description = "`{\"active\": true, scope, sub, username, token_type, exp, iat, ...}` or `{\"active\": false}`", body = Object),
        (status = 400, description = "The body is not `application/x-www-form-urlencoded`, has no `token` parameter or more than one, or a token is in the query string", body = crate::error::ErrorBody),
        (status = 401, description = "No valid verifier credential (`verifier_required`)", body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody),
    ))]
async fn introspect(
    State(state): State<AppState>,
    asker: Asker<OnIntrospect>,
    uri: Uri,
    client: ClientInfo,
    headers: HeaderMap,
    body: Bytes,
) -> AppResult<Json<Value>> {
    // After the verifier check (the extractor above).
    refuse_token_in_url(&uri)?;
    state
        .metrics
        .timed(
            Surface::Introspect,
            introspect_answer(&state, &asker, &client, &headers, &body),
        )
        .await
}

async fn introspect_answer(
    state: &AppState,
    asker: &Asker<OnIntrospect>,
    client: &ClientInfo,
    headers: &HeaderMap,
    body: &[u8],
) -> AppResult<Json<Value>> {
    if !is_form(headers) {
        return Err(AppError::BadRequest(
            "Introspection takes an application/x-www-form-urlencoded body, `token=<token>` \
             (RFC 7662 §2.1)."
                .into(),
        ));
    }
    let mut token = None;
    let mut workspace = None;
    for (key, value) in url::form_urlencoded::parse(body) {
        match &*key {
            "token" if token.is_some() => {
                return Err(AppError::BadRequest(
                    "Send the `token` parameter once (RFC 7662 §2.1).".into(),
                ))
            }
            // Present but empty or unusable is simply not active.
            "token" => token = Some(value.into_owned()),
            // An extension parameter (RFC 7662 allows them): the workspace
            // the token is asked about, as the workspace header would name it.
            "workspace_id" if !value.is_empty() => workspace = Some(value.into_owned()),
            _ => {}
        }
    }
    let Some(token) = token else {
        return Err(AppError::BadRequest(
            "The form has no `token` parameter, which RFC 7662 §2.1 requires: send `token=<token>`."
                .into(),
        ));
    };
    let outcome = state
        .verification
        .verify(
            &token,
            workspace.as_deref(),
            &[],
            client,
            Presentation::Question,
            asker.audience(),
        )
        .await;
    state.metrics.asked(
        asker.verifier.as_deref(),
        Surface::Introspect,
        asked(&outcome),
    );
    let answer = match outcome {
        Ok(v) => json!({
            "active": true,
            "scope": v.identity().grants.listed().join(" "),
            "sub": v.identity().user_id.clone().unwrap_or_else(|| v.record().id.clone()),
            "username": v.owner().map(|u| u.username.clone()),
            "token_type": v.record().kind,
            "exp": v.record().expires_at.map(|t| t.unix_timestamp()),
            "iat": v.record().created_at.unix_timestamp(),
            "jti": v.record().id,
            "workspace_id": v.identity().workspace_id,
        }),
        Err(VerifyFailure::Denied { .. } | VerifyFailure::RotatedOut(_)) => {
            json!({ "active": false })
        }
        Err(VerifyFailure::Store(e)) => return Err(e.into()),
    };
    Ok(Json(answer))
}

/// Forward-auth: the gateway passes the original request's headers; the
/// route's needs come as `?permission=…` (repeatable). 200 with the identity
/// headers, or the error; never a 2xx for a request that was not verified.
#[utoipa::path(get, path = "/auth", tag = "verify",
    params(("permission" = Option<Vec<String>>, Query, description = "A permission the route needs (repeatable)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Verified: X-Tessera-User-Id, X-Tessera-Workspace-Id, X-Tessera-Token-Id, X-Tessera-Token-Kind, X-Tessera-Permissions, and Tessera-Token-Expires (RFC 3339) unless the token never expires"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody),
    ))]
async fn forward_auth(
    State(state): State<AppState>,
    asker: Asker<OnForwardAuth>,
    request: Request,
) -> AppResult<Response> {
    state
        .metrics
        .timed(
            Surface::ForwardAuth,
            forward_auth_answer(&state, &asker, request),
        )
        .await
}

async fn forward_auth_answer(
    state: &AppState,
    asker: &Asker<OnForwardAuth>,
    request: Request,
) -> AppResult<Response> {
    // The request is taken whole, not as cloned `Parts`: nothing else reads it.
    let (parts, _) = request.into_parts();
    let auth = &state.config.auth;
    let required: Vec<String> = parts
        .uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k == "permission")
                .map(|(_, v)| v.into_owned())
                .collect()
        })
        .unwrap_or_default();
    let token = match presented_credential(&parts, &state.config)? {
        Presented::Token(token) => token,
        Presented::SessionCookie(_) | Presented::Nothing => {
            state.metrics.asked(
                asker.verifier.as_deref(),
                Surface::ForwardAuth,
                Asked::Invalid,
            );
            return Err(AppError::Unauthenticated);
        }
    };
    let client = ClientInfo::from_parts(&parts, &auth.trusted_proxies);
    let workspace_header = workspace_header(&state.config, &parts.headers);
    let outcome = state
        .verification
        .verify(
            &token,
            workspace_header,
            &required,
            &client,
            Presentation::Question,
            asker.audience(),
        )
        .await;
    state.metrics.asked(
        asker.verifier.as_deref(),
        Surface::ForwardAuth,
        asked(&outcome),
    );
    identity_response(&outcome.map_err(|f| verify_failure(&state.config, f))?)
}

/// 200 with the identity headers, written straight into the response (one
/// header map, sized once) from values made once per cached token.
fn identity_response(v: &Verified) -> AppResult<Response> {
    let values = v
        .kept(|kept| &kept.identity_headers, identity_header_values)
        .ok_or_else(|| AppError::denied(Denial::Malformed, false))?;
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.reserve(8);
    for (name, value) in IDENTITY_HEADERS.into_iter().zip(values) {
        headers.insert(name, value);
    }
    let expires = v.kept(
        |kept| &kept.expires_header,
        |v| {
            v.identity()
                .expires_at
                .and_then(|at| HeaderValue::try_from(rfc3339(at)).ok())
        },
    );
    if let Some(expires) = expires {
        headers.insert(TOKEN_EXPIRES_HEADER, expires);
    }
    Ok(response)
}

const IDENTITY_HEADERS: [HeaderName; 5] = [
    HeaderName::from_static("x-tessera-token-id"),
    HeaderName::from_static("x-tessera-user-id"),
    HeaderName::from_static("x-tessera-workspace-id"),
    HeaderName::from_static("x-tessera-permissions"),
    HeaderName::from_static("x-tessera-token-kind"),
];

/// The values of [`IDENTITY_HEADERS`]; `None` if one cannot be sent as a
/// header (none of ours can fail: ids, kind names and permissions are
/// plain ASCII). The five are slices of one buffer: a kept answer is one
/// allocation, and sending it bumps one reference count five times.
fn identity_header_values(v: &Verified) -> Option<[HeaderValue; 5]> {
    let permissions = v.identity().grants.listed().join(" ");
    let texts = [
        v.record().id.as_str(),
        v.identity().user_id.as_deref().unwrap_or(""),
        v.identity().workspace_id.as_deref().unwrap_or(""),
        permissions.as_str(),
        v.record().kind.as_str(),
    ];
    let all = Bytes::from(texts.concat());
    let mut start = 0;
    let values: Vec<HeaderValue> = texts
        .iter()
        .map(|text| {
            let value = all.slice(start..start + text.len());
            start += text.len();
            HeaderValue::from_maybe_shared(value).ok()
        })
        .collect::<Option<_>>()?;
    values.try_into().ok()
}
