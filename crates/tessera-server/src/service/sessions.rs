//! Browser sign-in: a random session secret, which the browser keeps in a
//! cookie and the store only as its SHA-256, with a CSRF value that every
//! cookie-authenticated change must echo (the cookie itself is `session`'s).

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use time::OffsetDateTime;

use tessera_core::policy::UserStatus;
use tessera_core::{base62, hash};
use tessera_store::{Session, Store, User};

use crate::client::ClientInfo;
use crate::config::Config;
use crate::error::AppResult;
use crate::password;
use crate::principal::{Actor, Target};
use crate::service::audit::Audit;
use crate::service::sign_in_limits::SignInLimits;

/// 43 base62 characters ≈ 256 bits.
const SESSION_SECRET_LEN: usize = 43;

/// How long a claimed form id is remembered: longer than any session lives
/// by default, so a resubmission is refused for as long as it can be made.
const FORM_ID_LIFETIME: time::Duration = time::Duration::days(1);

/// A new session: the secret goes to the browser, the record to the store.
pub struct NewSession {
    pub secret: SecretString,
    pub session: Session,
}

#[derive(Clone)]
pub struct Sessions {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    audit: Audit,
    limits: Arc<SignInLimits>,
}

impl Sessions {
    pub fn new(config: Arc<Config>, store: Arc<dyn Store>, audit: Audit) -> Self {
        Sessions {
            limits: Arc::new(SignInLimits::new(&config.sign_in)),
            config,
            store,
            audit,
        }
    }

    pub async fn start(&self, user: &User) -> AppResult<NewSession> {
        let secret = SecretString::from(base62::random(SESSION_SECRET_LEN));
        let now = OffsetDateTime::now_utc();
        let csrf_token = hash::csrf_for_session(secret.expose_secret());
        let mut session = Session {
            id_hash: hash::sha256_hex(secret.expose_secret()),
            user_id: user.id.clone(),
            // The store keeps only a digest of the CSRF value; the value
            // itself is derived again from the cookie on every request.
            csrf_token: hash::sha256_hex(&csrf_token),
            created_at: now,
            expires_at: now + self.config.auth.session_ttl,
        };
        self.store.create_session(&session).await?;
        session.csrf_token = csrf_token;
        Ok(NewSession { secret, session })
    }

    /// Checks a username and password and, if they match an active user,
    /// starts a session. Every attempt is audited; `None` is the one answer
    /// for an unknown user, a wrong password or an inactive account, and the
    /// password hash is checked in every case so that timing tells nothing
    /// either. `via` names the way in for the audit trail.
    ///
    /// Throttled: after failures, 429 ([`crate::AppError::SignInThrottled`])
    /// before any hashing, alike for every account whether it exists or
    /// not; with too many passwords being hashed already, 503
    /// ([`crate::AppError::Busy`]) after a short wait for a turn.
    pub async fn sign_in(
        &self,
        username: &str,
        password: String,
        client: &ClientInfo,
        via: &str,
    ) -> AppResult<Option<(User, NewSession)>> {
        let attempt = self.limits.attempt(username, client.ip());
        attempt.check()?;
        let turn = self.limits.hashing_turn().await?;
        // Failures that ended while this attempt waited for its turn count.
        attempt.check()?;
        let user = if username.is_empty() || username.len() > 64 {
            None
        } else {
            self.store.user_by_username(username).await?
        };
        // An agent has no password and never signs in: with no stored hash
        // to check, it is answered like an unknown user.
        let stored = user
            .as_ref()
            .filter(|u| u.status == UserStatus::Active && !u.is_agent())
            .map(|u| u.password_hash.clone());
        let valid = password::verify(password, stored).await?;
        drop(turn);
        let user = match user {
            Some(u) if valid => u,
            _ => {
                let username: String = username.chars().take(100).collect();
                if let Some(lock_out) = attempt.failed() {
                    self.audit
                        .record(
                            &Actor::anonymous(client),
                            "session.sign_in_throttled",
                            None,
                            json!({
                                "username": username,
                                "via": via,
                                "account_locked": lock_out.account,
                                "address_locked": lock_out.address,
                                "retry_after": lock_out.retry_after,
                            }),
                        )
                        .await;
                }
                self.audit
                    .record(
                        &Actor::anonymous(client),
                        "session.sign_in_failed",
                        None,
                        json!({ "username": username, "via": via }),
                    )
                    .await;
                return Ok(None);
            }
        };
        attempt.succeeded();
        let new = self.start(&user).await?;
        let actor = Actor {
            user_id: Some(user.id.clone()),
            label: Some(user.username.clone()),
            client: client.clone(),
            token_id: None,
        };
        self.audit
            .record(
                &actor,
                "session.sign_in",
                Some(Target {
                    kind: "user",
                    id: &user.id,
                    workspace_id: None,
                }),
                json!({ "via": via }),
            )
            .await;
        Ok(Some((user, new)))
    }

    /// The session a cookie secret names, if it is live.
    pub async fn find(&self, secret: &SecretString) -> AppResult<Option<Session>> {
        let secret = secret.expose_secret();
        if secret.len() != SESSION_SECRET_LEN || !base62::is_base62(secret) {
            return Ok(None);
        }
        let session = self
            .store
            .session(&hash::sha256_hex(secret), OffsetDateTime::now_utc())
            .await?;
        Ok(session.map(|session| Session {
            csrf_token: hash::csrf_for_session(secret),
            ..session
        }))
    }

    /// The live session a cookie secret names and its user, if the user is
    /// active: who a browser is signed in as.
    pub async fn resume(&self, secret: &SecretString) -> AppResult<Option<(Session, User)>> {
        let Some(session) = self.find(secret).await? else {
            return Ok(None);
        };
        let user = self
            .store
            .user(&session.user_id)
            .await?
            .filter(|u| u.status == UserStatus::Active);
        Ok(user.map(|user| (session, user)))
    }

    /// Claims a one-time form id for this session: true the first time it
    /// is presented, false for a repeat (a reload that resubmits a form that
    /// shows a secret) or an id no form could carry. The claim is in the
    /// store, so every instance sees it.
    pub async fn claim_form_id(&self, session: &Session, form_id: Option<&str>) -> AppResult<bool> {
        let Some(form_id) = form_id.filter(|id| !id.is_empty() && id.len() <= 64) else {
            return Ok(false);
        };
        let now = OffsetDateTime::now_utc();
        Ok(self
            .store
            .claim_form_id(&session.id_hash, form_id, now, now - FORM_ID_LIFETIME)
            .await?)
    }

    /// Signs a browser out: its session ends.
    pub async fn end(&self, session: &Session) -> AppResult<()> {
        Ok(self.store.delete_session(&session.id_hash).await?)
    }
}
