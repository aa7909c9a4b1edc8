//! Who acts: the authenticated [`Caller`] of a request and what it may do on
//! its face, and the [`Actor`] and [`Target`] an audit event names. No
//! server state here: finding the caller of a request is `auth`'s, checks
//! that need the store are the service layer's.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use tessera_core::kind::OwnerType;
use tessera_store::{Session, User};

use crate::client::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::verification::Verified;

/// The authenticated party of a request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A signed-in browser.
    Session {
        user: Box<User>,
        session: Box<Session>,
    },
    /// A verified token.
    Token(Box<Verified>),
}

/// What a request does with the credential it presents. Most requests only
/// use it; a rotation replaces it, and that is where a secret retired by an
/// earlier rotation shows a leak (someone holding the old secret is trying to
/// take the token over), rather than a forgotten job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presentation {
    /// The token calls Tessera's own API.
    Use,
    /// The token rotates itself.
    Rotation,
    /// A product or gateway asks about the token (the verification
    /// surfaces): a kind's product-facing rules apply, such as naming the
    /// workspace on every request.
    Question,
}

/// How a server finds the caller of a request (its state implements it
/// with `auth`), so that a handler can take a [`Caller`] as an argument.
pub trait Authenticate: Send + Sync {
    fn caller(
        &self,
        parts: &Parts,
        presentation: Presentation,
    ) -> impl Future<Output = AppResult<Caller>> + Send;
}

impl<S: Authenticate> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> AppResult<Self> {
        state.caller(parts, Presentation::Use).await
    }
}

/// The caller of a rotation endpoint: a [`Caller`], except that a secret
/// retired by an earlier rotation, presented here, revokes its token
/// (reuse detection, where GitLab also narrowed it: presented anywhere else,
/// it is only refused).
pub struct RotatingCaller(pub Caller);

impl<S: Authenticate> FromRequestParts<S> for RotatingCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> AppResult<Self> {
        state
            .caller(parts, Presentation::Rotation)
            .await
            .map(RotatingCaller)
    }
}

impl Caller {
    /// The acting user: the signed-in one, a personal token's owner, or an
    /// agent token's agent (its user record).
    pub fn user(&self) -> Option<&User> {
        match self {
            Caller::Session { user, .. } => Some(user),
            Caller::Token(v) => v.owner(),
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        self.user().map(|u| u.id.as_str())
    }

    pub fn token_id(&self) -> Option<&str> {
        match self {
            Caller::Session { .. } => None,
            Caller::Token(v) => Some(&v.record().id),
        }
    }

    /// The workspace a calling token acts in (bound, or picked by the
    /// workspace header); `None` for a session or a token acting outside one.
    pub fn token_workspace(&self) -> Option<&str> {
        match self {
            Caller::Session { .. } => None,
            Caller::Token(v) => v.identity().workspace_id.as_deref(),
        }
    }

    /// How the actor is named in the audit trail: the username, or the API
    /// key's own name (a key outlives the member who made it).
    pub fn label(&self) -> String {
        match self {
            Caller::Session { user, .. } => user.username.clone(),
            Caller::Token(v) => match v.identity().owner {
                OwnerType::User => v.owner().map(|u| u.username.clone()).unwrap_or_default(),
                OwnerType::Workspace => format!("api key \"{}\"", v.record().name),
                OwnerType::Agent => format!(
                    "agent \"{}\"",
                    v.owner()
                        .map(|u| u.display_name.as_str())
                        .unwrap_or_default()
                ),
            },
        }
    }

    /// The user behind a personal credential; API keys act for no user, and
    /// an agent is not a person (it has no personal tokens of its own).
    pub fn require_user(&self) -> AppResult<&User> {
        match self {
            Caller::Token(v) if v.identity().owner == OwnerType::Workspace => Err(AppError::Forbidden(
                "An API key cannot manage personal tokens: use a personal access token or sign in.".into(),
            )),
            Caller::Token(v) if v.identity().owner == OwnerType::Agent => Err(AppError::Forbidden(
                "An agent token cannot manage personal tokens: use a personal access token or sign in.".into(),
            )),
            _ => self.user().ok_or(AppError::Unauthenticated),
        }
    }

    /// A deployment admin acting with full authority: signed in, or with a
    /// personal token that is not narrowed.
    pub fn require_admin(&self) -> AppResult<&User> {
        let user = self.require_user()?;
        let full_authority = match self {
            Caller::Session { .. } => true,
            Caller::Token(v) => v.record().permissions.is_none(),
        };
        if user.is_admin && full_authority {
            Ok(user)
        } else {
            Err(AppError::Forbidden(
                "This needs a deployment administrator.".into(),
            ))
        }
    }

    /// Whether the credential itself holds `permission` outside any
    /// workspace (a session or an un-narrowed personal token holds all).
    pub fn holds(&self, permission: &str) -> bool {
        match self {
            Caller::Session { .. } => true,
            Caller::Token(v) => v.identity().grants.holds(permission),
        }
    }

    /// The latest expiry the caller may give a token it creates: a token's
    /// own expiry (a token cannot outlive the one that made it).
    pub fn expiry_ceiling(&self) -> Option<time::OffsetDateTime> {
        match self {
            Caller::Token(v) => v.record().expires_at,
            Caller::Session { .. } => None,
        }
    }
}

/// The acting party of an event.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<String>,
    pub token_id: Option<String>,
    pub label: Option<String>,
    pub client: ClientInfo,
}

impl Actor {
    pub fn of(caller: &Caller, client: &ClientInfo) -> Self {
        Actor {
            user_id: caller.user_id().map(str::to_owned),
            token_id: caller.token_id().map(str::to_owned),
            label: Some(caller.label()),
            client: client.clone(),
        }
    }

    /// The command line acting directly on the database.
    pub fn cli() -> Self {
        Actor {
            label: Some("tessera admin (command line)".into()),
            ..Actor::default()
        }
    }

    pub fn anonymous(client: &ClientInfo) -> Self {
        Actor {
            client: client.clone(),
            ..Actor::default()
        }
    }
}

/// What an event is about.
pub struct Target<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub workspace_id: Option<&'a str>,
}
