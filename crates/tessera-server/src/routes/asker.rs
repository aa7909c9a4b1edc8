//! Who asks a verification surface: the verifier credential a request
//! presents (RFC 7662 §2.1: the introspection endpoint must authorise its
//! caller). Read from the request's parts, admitted through the engine's
//! cache, required unless the deployment opened the surfaces.
//!
//! Where it may be presented:
//! - everywhere, as `Tessera-Verifier: <secret>`;
//! - on `POST /api/v1/verify`, also as `Authorization: Bearer <secret>`
//!   (the token asked about is in the body);
//! - on `POST /oauth/introspect`, also as HTTP Basic `<id>:<secret>`.
//!
//! `GET /auth` reads only the header: its `Authorization` is the token.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64::Engine as _;

use tessera_core::verifier_credential::Audience;
use tessera_store::VerifierCredential;

use crate::error::{AppError, AppResult};
use crate::metrics::{Asked, Surface};
use crate::state::AppState;

pub const VERIFIER_HEADER: &str = "tessera-verifier";

/// A verification surface, named as a type so that a handler's extractor
/// knows where it is.
pub trait AskedOn: Send + Sync {
    const SURFACE: Surface;
}

pub struct OnVerify;
pub struct OnIntrospect;
pub struct OnForwardAuth;

impl AskedOn for OnVerify {
    const SURFACE: Surface = Surface::Verify;
}
impl AskedOn for OnIntrospect {
    const SURFACE: Surface = Surface::Introspect;
}
impl AskedOn for OnForwardAuth {
    const SURFACE: Surface = Surface::ForwardAuth;
}

/// The admitted verifier of a request on surface `S`; `None` where the
/// deployment opened the surfaces and none was presented.
pub struct Asker<S> {
    pub verifier: Option<Arc<VerifierCredential>>,
    surface: PhantomData<S>,
}

impl<S> Asker<S> {
    /// The tokens this verifier may learn about; `None` for all.
    pub fn audience(&self) -> Option<&Audience> {
        self.verifier
            .as_deref()
            .map(|v| &v.audience)
            .filter(|a| !a.is_everything())
    }
}

impl<S: AskedOn> FromRequestParts<AppState> for Asker<S> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let verifier = admit(state, &parts.headers, S::SURFACE).await;
        if verifier.is_err() {
            state.metrics.asked(None, S::SURFACE, Asked::Refused);
        }
        Ok(Asker {
            verifier: verifier?,
            surface: PhantomData,
        })
    }
}

/// A verifier credential as presented: the secret, and the id when it came
/// as HTTP Basic `id:secret`.
#[derive(Debug, PartialEq, Eq)]
struct Presented<'a> {
    id: Option<String>,
    secret: std::borrow::Cow<'a, str>,
}

const MISSING: &str = "This endpoint answers only a verifier: send its secret as \
     `Tessera-Verifier: <secret>` (a deployment admin makes one with \
     `tessera admin verifier add <name>` or `POST /api/v1/verifiers`).";
const REFUSED: &str = "The verifier credential is not valid: it is mistyped, revoked, \
     or not a verifier secret (they start with `tsr_vfr_`).";
const MALFORMED: &str = "The verifier credential is malformed: send one `Tessera-Verifier` \
     header, or HTTP Basic `<verifier id>:<secret>` in base64.";

async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    surface: Surface,
) -> AppResult<Option<Arc<VerifierCredential>>> {
    let refuse = |message| AppError::VerifierRequired {
        message,
        basic: surface == Surface::Introspect,
    };
    let presented = presented(headers, surface).map_err(refuse)?;
    let Some(presented) = presented else {
        return if state.config.verify.require_verifier {
            Err(refuse(MISSING))
        } else {
            Ok(None)
        };
    };
    match state.verifiers.admit(&presented.secret).await? {
        Some(credential) if presented.id.as_ref().is_none_or(|id| *id == credential.id) => {
            Ok(Some(credential))
        }
        _ => Err(refuse(REFUSED)),
    }
}

/// Finds the credential in the headers. A malformed one is an error, never
/// "no credential": a gateway that sends garbage must hear about it.
fn presented(headers: &HeaderMap, surface: Surface) -> Result<Option<Presented<'_>>, &'static str> {
    let mut values = headers.get_all(VERIFIER_HEADER).iter();
    if let Some(value) = values.next() {
        if values.next().is_some() {
            return Err(MALFORMED);
        }
        let secret = value.to_str().map_err(|_| MALFORMED)?.trim();
        return Ok(Some(Presented {
            id: None,
            secret: secret.into(),
        }));
    }
    if surface == Surface::ForwardAuth {
        return Ok(None);
    }
    let mut authorizations = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = authorizations.next() else {
        return Ok(None);
    };
    if authorizations.next().is_some() {
        return Err(MALFORMED);
    }
    let value = value.to_str().map_err(|_| MALFORMED)?;
    let (scheme, rest) = value.split_once(' ').ok_or(MALFORMED)?;
    match surface {
        Surface::Verify if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(Presented {
            id: None,
            secret: rest.trim().into(),
        })),
        Surface::Introspect if scheme.eq_ignore_ascii_case("basic") => basic(rest.trim()).map(Some),
        _ => Err(MALFORMED),
    }
}

/// HTTP Basic (RFC 7617) `id:secret`, base64-encoded.
fn basic(encoded: &str) -> Result<Presented<'static>, &'static str> {
    if encoded.len() > 512 {
        return Err(MALFORMED);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| MALFORMED)?;
    let decoded = String::from_utf8(decoded).map_err(|_| MALFORMED)?;
    let (id, secret) = decoded.split_once(':').ok_or(MALFORMED)?;
    // RFC 6749 §2.3.1: the client id and secret are form-encoded first.
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Presented {
        id: Some(decode(id)),
        secret: decode(secret).into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn the_header_counts_everywhere() {
        for surface in [Surface::Verify, Surface::Introspect, Surface::ForwardAuth] {
            let h = headers(&[(VERIFIER_HEADER, " tsr_vfr_x ")]);
            assert_eq!(presented(&h, surface).unwrap().unwrap().secret, "tsr_vfr_x");
        }
    }

    #[test]
    fn bearer_only_on_verify_and_basic_only_on_introspection() {
        let bearer = headers(&[("authorization", "Bearer tsr_vfr_x")]);
        assert_eq!(
            presented(&bearer, Surface::Verify).unwrap().unwrap().secret,
            "tsr_vfr_x"
        );
        assert_eq!(presented(&bearer, Surface::Introspect), Err(MALFORMED));
        assert_eq!(
            presented(&bearer, Surface::ForwardAuth),
            Ok(None),
            "the token's header"
        );

        let basic = headers(&[(
            "authorization",
            &format!("Basic {}", b64("vfr_1:tsr_vfr_x")),
        )]);
        let found = presented(&basic, Surface::Introspect).unwrap().unwrap();
        assert_eq!(
            (found.id.as_deref(), &*found.secret),
            (Some("vfr_1"), "tsr_vfr_x")
        );
        assert_eq!(presented(&basic, Surface::Verify), Err(MALFORMED));
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let h = headers(&[("authorization", &format!("basic {}", b64("vfr%5F1:a%2Bb")))]);
        let found = presented(&h, Surface::Introspect).unwrap().unwrap();
        assert_eq!(
            (found.id.as_deref(), &*found.secret),
            (Some("vfr_1"), "a+b")
        );
    }

    #[test]
    fn malformed_credentials_are_errors_not_absences() {
        for value in [
            "Basic !!!",
            "Basic",
            &format!("Basic {}", b64("no-colon")),
            "Digest x",
        ] {
            let h = headers(&[("authorization", value)]);
            assert_eq!(
                presented(&h, Surface::Introspect),
                Err(MALFORMED),
                "{value}"
            );
        }
        let twice = headers(&[(VERIFIER_HEADER, "a"), (VERIFIER_HEADER, "b")]);
        assert_eq!(presented(&twice, Surface::Verify), Err(MALFORMED));
        let long = format!("Basic {}", "A".repeat(600));
        assert_eq!(
            presented(&headers(&[("authorization", &long)]), Surface::Introspect),
            Err(MALFORMED)
        );
        assert_eq!(presented(&HeaderMap::new(), Surface::Verify), Ok(None));
    }
}
