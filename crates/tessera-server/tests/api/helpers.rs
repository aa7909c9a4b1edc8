//! The one place test helpers live: a real server on a real store (a fresh
//! SQLite file or PostgreSQL database per test), driven over HTTP, with
//! ready-made actors.

use std::net::SocketAddr;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

use tessera_core::kind::{OwnerType, WorkspaceBinding};
use tessera_server::principal::Actor;
use tessera_server::service::tokens::IssueRequest;
use tessera_server::service::verifiers::NewVerifier;
use tessera_server::{AppState, Config};
pub use tessera_store::test_support::Backend;
use tessera_store::test_support::{fresh, TestDatabase};

/// Generates one `#[tokio::test]` per story and backend, so that each story
/// shows up as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_stores {
    // A seed profile's stories: each starts a server configured by
    // `profiles/<name>.toml`.
    (profile = $profile:literal; $($story:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    if let Some(app) = $crate::helpers::TestApp::with_profile($crate::helpers::Backend::Sqlite, $profile).await {
                        super::$story(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    if let Some(app) = $crate::helpers::TestApp::with_profile($crate::helpers::Backend::Postgres, $profile).await {
                        super::$story(app).await;
                    }
                }
            )*
        }
    };
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    if let Some(app) = $crate::helpers::TestApp::start($crate::helpers::Backend::Sqlite).await {
                        super::$story(app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    if let Some(app) = $crate::helpers::TestApp::start($crate::helpers::Backend::Postgres).await {
                        super::$story(app).await;
                    }
                }
            )*
        }
    };
}

pub struct TestApp {
    pub base: String,
    /// Sends the test's verifier credential (`Tessera-Verifier`) with every
    /// request, as a gateway in front of Tessera does: the verification
    /// surfaces require one by default. [`TestApp::bare`] sends none.
    pub http: reqwest::Client,
    /// The secret of the verifier credential `http` sends.
    pub verifier_secret: String,
    pub state: AppState,
    pub backend: Backend,
    shutdown: Option<oneshot::Sender<()>>,
    // Dropped last: the database outlives the server using it.
    _database: TestDatabase,
}

/// A user the test made, with a personal token ready to use.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub password: String,
    pub token: String,
}

impl TestApp {
    /// A server with the default configuration. `None` when the backend is
    /// PostgreSQL and the suite was told to skip it.
    pub async fn start(backend: Backend) -> Option<TestApp> {
        TestApp::with_config(backend, "").await
    }

    /// A server configured by `toml` (on top of the defaults).
    pub async fn with_config(backend: Backend, toml: &str) -> Option<TestApp> {
        let config = Config::from_toml(toml).expect("test configuration is valid");
        TestApp::from_config(backend, config).await
    }

    /// A server configured by the seed profile `name`, as shipped.
    pub async fn with_profile(backend: Backend, name: &str) -> Option<TestApp> {
        TestApp::with_profile_and(backend, name, |_| {}).await
    }

    /// A server configured by the seed profile `name`, then changed by
    /// `adjust` (a setting the profile documents as optional).
    pub async fn with_profile_and(
        backend: Backend,
        name: &str,
        adjust: impl FnOnce(&mut Config),
    ) -> Option<TestApp> {
        let profile = tessera_server::profiles::find(name).expect("a shipped profile");
        let mut config = Config::from_toml(profile.toml).expect("the profile is valid");
        adjust(&mut config);
        TestApp::from_config(backend, config).await
    }

    /// A server running `config` on a fresh database of `backend`.
    pub async fn from_config(backend: Backend, mut config: Config) -> Option<TestApp> {
        let database = fresh(backend).await?;
        config.database_url = database.url().clone();
        let store = tessera_store::connect(&config.database_url)
            .await
            .expect("store opens");
        store.migrate().await.expect("store migrates");
        let state = AppState::new(config, store);
        let (_, verifier_secret) = state
            .verifiers
            .create(
                NewVerifier {
                    name: "test gateway".into(),
                    ..NewVerifier::default()
                },
                &Actor::cli(),
            )
            .await
            .expect("the test's verifier credential is created");
        let verifier_secret = verifier_secret.expose().to_owned();
        let mut verifier_header = reqwest::header::HeaderMap::new();
        verifier_header.insert(
            "tessera-verifier",
            verifier_secret
                .parse()
                .expect("a verifier secret is a header value"),
        );

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address: SocketAddr = listener.local_addr().expect("address");
        let (tx, rx) = oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            let _ = tessera_server::serve(listener, served, async {
                let _ = rx.await;
            })
            .await;
        });
        Some(TestApp {
            base: format!("http://{address}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(verifier_header)
                .build()
                .expect("client"),
            verifier_secret,
            state,
            backend,
            shutdown: Some(tx),
            _database: database,
        })
    }

    /// A client that sends no verifier credential.
    pub fn bare(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    pub fn get(&self, path: &str, token: &str) -> RequestBuilder {
        self.request(Method::GET, path).bearer_auth(token)
    }

    pub fn post(&self, path: &str, token: &str, body: Value) -> RequestBuilder {
        self.request(Method::POST, path)
            .bearer_auth(token)
            .json(&body)
    }

    pub fn delete(&self, path: &str, token: &str) -> RequestBuilder {
        self.request(Method::DELETE, path).bearer_auth(token)
    }

    pub fn put(&self, path: &str, token: &str, body: Value) -> RequestBuilder {
        self.request(Method::PUT, path)
            .bearer_auth(token)
            .json(&body)
    }

    /// Creates a user (admin or not) with an un-narrowed personal token that
    /// lives as long as the kind allows (so that tokens it creates are not
    /// capped by it). Where personal tokens are bound to a workspace at
    /// creation, the user gets no token here (`token` is empty): use
    /// [`TestApp::member`].
    pub async fn user_with(&self, username: &str, admin: bool) -> TestUser {
        let password = format!("{username}-password");
        let user = self
            .state
            .users
            .create(username, password.clone(), admin, None, &Actor::cli())
            .await
            .expect("user is created");
        let kind = self.personal_kind();
        let token = if kind.binding == WorkspaceBinding::Bound {
            String::new()
        } else {
            self.issue_personal(&user.id, None).await
        };
        TestUser {
            id: user.id,
            username: username.to_owned(),
            password,
            token,
        }
    }

    /// Creates a user with `role` in `workspace` and a personal token, bound
    /// to that workspace where the deployment binds personal tokens.
    pub async fn member(&self, username: &str, workspace: &str, role: &str) -> TestUser {
        let mut user = self.user(username).await;
        self.join(workspace, &user, role).await;
        if self.personal_kind().binding == WorkspaceBinding::Bound {
            user.token = self.issue_personal(&user.id, Some(workspace)).await;
        }
        user
    }

    /// The deployment's first personal-token kind.
    pub fn personal_kind(&self) -> &tessera_core::kind::CredentialKind {
        self.state
            .config
            .kinds
            .first_owned_by(OwnerType::User)
            .expect("a PAT kind")
    }

    /// Issues a personal token straight through the lifecycle rules.
    pub async fn issue_personal(&self, user_id: &str, workspace: Option<&str>) -> String {
        let kind = self.personal_kind();
        let issued = self
            .state
            .tokens
            .issue(
                IssueRequest {
                    kind,
                    name: "test token".into(),
                    expiry: longest_expiry(kind),
                    permissions: None,
                    role: None,
                    workspace_id: workspace.map(str::to_owned),
                    user_id: Some(user_id.to_owned()),
                    created_by: Some(user_id.to_owned()),
                    ceiling: None,
                },
                &Actor::cli(),
            )
            .await
            .expect("token is issued");
        issued.token.expose().to_owned()
    }

    pub async fn user(&self, username: &str) -> TestUser {
        self.user_with(username, false).await
    }

    pub async fn admin(&self) -> TestUser {
        self.user_with("root", true).await
    }

    /// Creates a workspace and returns its id.
    pub async fn workspace(&self, name: &str) -> String {
        self.state
            .workspaces
            .create(name, &Actor::cli())
            .await
            .expect("workspace")
            .id
    }

    /// Gives `user` `role` in `workspace`.
    pub async fn join(&self, workspace: &str, user: &TestUser, role: &str) {
        self.state
            .workspaces
            .set_member_role(workspace, &user.id, role, &Actor::cli())
            .await
            .expect("membership");
    }

    /// Creates a personal token over the API; returns the 201 body.
    pub async fn create_token(&self, user: &TestUser, body: Value) -> Value {
        let (status, body) = send(self.post("/api/v1/tokens", &user.token, body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Creates a workspace API key over the API as `creator` (a member whose
    /// role may manage keys, selecting the workspace with the header);
    /// returns the 201 body, secret included.
    pub async fn create_api_key(&self, workspace: &str, creator: &TestUser, body: Value) -> Value {
        let (status, body) = send(
            self.post(
                &format!("/api/v1/workspaces/{workspace}/api-keys"),
                &creator.token,
                body,
            )
            .header("x-workspace-id", workspace),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Every audit event with this action, read straight from the store.
    pub async fn audit_events(&self, action: &str) -> Vec<tessera_store::AuditEvent> {
        self.state
            .store
            .list_audit(
                &tessera_store::AuditFilter {
                    action: Some(action.into()),
                    ..Default::default()
                },
                &tessera_store::Page::default(),
            )
            .await
            .expect("audit events")
    }

    /// Signs in over the API; returns the cookie header value and the CSRF token.
    pub async fn sign_in(&self, user: &TestUser) -> (String, String) {
        let response = self
            .request(Method::POST, "/api/v1/session")
            .json(&json!({ "username": user.username, "password": user.password }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("session cookie")
            .to_owned();
        let body: Value = response.json().await.expect("json");
        (
            cookie,
            body["csrf_token"].as_str().expect("csrf").to_owned(),
        )
    }

    /// Writes buffered "last used" data now.
    pub async fn flush_usage(&self) {
        self.state.flush_usage().await;
    }
}

impl TestApp {
    /// `POST /api/v1/verify` with `body`: the 200 answer.
    pub async fn verify(&self, body: Value) -> Value {
        let (status, answer) = send(self.request(Method::POST, "/api/v1/verify").json(&body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }

    /// A personal access token that parses and passes its checksum but was
    /// never issued: it gets as far as the look-up, and is unknown there.
    pub fn unknown_pat(&self) -> String {
        let pat = self.state.config.kinds.get("pat").expect("a pat kind");
        tessera_core::format::generate(&pat.shape(), "x")
            .expose()
            .to_owned()
    }

    /// `POST /api/v1/verify` for `token`, needing `needs`: the 200 answer.
    pub async fn verify_needing(&self, token: &str, needs: &[&str]) -> Value {
        self.verify(json!({ "token": token, "permissions": needs }))
            .await
    }
}

// ---- a browser on the settings pages (no JavaScript needed) ----------------

pub const FORM: &str = "application/x-www-form-urlencoded";

/// A signed-in browser: the cookie header and the session's CSRF value.
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

pub async fn browser(app: &TestApp, user: &TestUser) -> Browser {
    let (cookie, csrf) = app.sign_in(user).await;
    Browser { cookie, csrf }
}

pub fn encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn page(app: &TestApp, b: &Browser, path: &str) -> (StatusCode, String) {
    let response = app
        .request(Method::GET, path)
        .header("cookie", &b.cookie)
        .send()
        .await
        .expect("request");
    (response.status(), response.text().await.expect("body"))
}

pub async fn post_form(
    app: &TestApp,
    b: &Browser,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut all: Vec<(&str, &str)> = vec![("csrf_token", b.csrf.as_str())];
    all.extend_from_slice(fields);
    app.request(Method::POST, path)
        .header("cookie", &b.cookie)
        .header("content-type", FORM)
        .body(encode(&all))
        .send()
        .await
        .expect("request")
}

/// The `Location` of a redirect (asserting it is one: 303 See Other).
pub fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The id in the first `data-{what}-id` attribute of a page.
pub fn first_id(html: &str, what: &str) -> Option<String> {
    let after = html.split(&format!("data-{what}-id=\"")).nth(1)?;
    Some(after.split('"').next()?.to_owned())
}

/// The secret in the page's one-time secret field, if any.
pub fn shown_secret(html: &str) -> Option<String> {
    let at = html.find("id=\"new-secret\"")?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..at + html[at..].find('>')?];
    let value = tag.split("value=\"").nth(1)?;
    Some(value[..value.find('"')?].to_owned())
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Sends a request; returns the status and the JSON body (`Null` if none).
pub async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// The error code of an error body.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

/// An `expires_at` one second from now (RFC 3339): a token that expires
/// while the test waits.
pub fn one_second_from_now() -> String {
    (time::OffsetDateTime::now_utc() + time::Duration::seconds(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The longest lifetime `kind` offers: "never" where allowed, so that tokens
/// a test token creates are not capped by it.
fn longest_expiry(kind: &tessera_core::kind::CredentialKind) -> tessera_core::ExpiryRequest {
    use tessera_core::expiry::Preset;
    let longest = kind
        .expiry
        .presets
        .iter()
        .max_by_key(|p| match p {
            Preset::Never => u64::MAX,
            Preset::After(l) => l.duration().whole_seconds() as u64,
        })
        .expect("a kind offers at least one preset");
    tessera_core::ExpiryRequest::Preset(longest.to_string())
}
