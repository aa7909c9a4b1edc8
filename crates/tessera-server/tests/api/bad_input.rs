//! Malformed input to every route of the contract, with valid credentials:
//! every answer is a 4xx with the error body, never a 5xx. The routes are
//! one table ([`routes`]); the malformations are derived from each route's
//! valid body, path ids and query, so a new route needs one new row.

use reqwest::header::HeaderValue;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Map, Value};

use crate::helpers::{send, TestApp};
use crate::on_both_stores;

on_both_stores!(
    every_route_answers_malformed_input_with_a_4xx_and_the_error_body,
    hostile_basic_credentials_are_401_with_a_message_on_every_surface,
    hostile_role_names_are_4xx_and_change_nothing,
    hostile_forwarding_headers_are_never_believed_nor_a_5xx,
    hostile_sign_in_attempts_are_refused_cleanly_and_throttled,
    hostile_verifier_credentials_are_401_verifier_required_on_every_surface,
    every_list_answers_an_unusable_limit_with_422_invalid_request,
);

/// Who calls the route.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// The deployment admin's un-narrowed personal token.
    Admin,
    /// An admin of the workspace `{wid}`, with `X-Workspace-Id: {wid}`.
    WorkspaceAdmin,
    /// No credential (sign-in, the verification surfaces).
    Anyone,
}

/// What a refusal looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// A 4xx with `{"error": {"code", "message"}}`.
    Refused,
    /// A verification surface: a refusal as above, or 200 with
    /// `valid: false` / `active: false`.
    NotValid,
}

/// Which query malformations apply.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Query {
    None,
    /// `?limit=&cursor=`.
    Page,
    /// The audit trail's filters, and `?limit=&cursor=`.
    Audit,
    /// Forward-auth's `?permission=`.
    Permission,
    /// A verification surface that reads no query: a token there is refused.
    TokenInUrl,
}

struct Route {
    method: Method,
    /// With `{wid}` (the workspace), `{id}` (a PAT of the admin's, not the
    /// one in use), `{key}` (an API key of `{wid}`), `{uid}` (a user).
    path: &'static str,
    who: Who,
    /// A valid body; the malformed ones are derived from it. `None`: the
    /// route reads no body.
    body: Option<Value>,
    /// The body takes `expires_in` / `expires_at`.
    expiry: bool,
    query: Query,
    expect: Expect,
}

fn route(method: Method, path: &'static str, who: Who) -> Route {
    Route {
        method,
        path,
        who,
        body: None,
        expiry: false,
        query: Query::None,
        expect: Expect::Refused,
    }
}

impl Route {
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    fn expiry(mut self) -> Self {
        self.expiry = true;
        self
    }
    fn query(mut self, query: Query) -> Self {
        self.query = query;
        self
    }
    fn verification(mut self) -> Self {
        self.expect = Expect::NotValid;
        self
    }
    /// Routes that read nothing from the request but the credential: there
    /// is no input to malform.
    fn takes_no_input(&self) -> bool {
        self.body.is_none() && self.query == Query::None && !self.path.contains('{')
    }
}

/// Every route of the contract (docs/api.md).
fn routes() -> Vec<Route> {
    use Method as M;
    use Who::*;
    vec![
        route(M::POST, "/api/v1/session", Anyone)
            .body(json!({ "username": "root", "password": "root-password" })),
        route(M::DELETE, "/api/v1/session", Admin),
        route(M::GET, "/api/v1/me", Admin),
        route(M::POST, "/api/v1/tokens", Admin)
            .body(json!({ "name": "n", "expires_in": "7d", "permissions": [] }))
            .expiry(),
        route(M::GET, "/api/v1/tokens", Admin).query(Query::Page),
        // Revokes all of the caller's tokens: no input, never sent.
        route(M::DELETE, "/api/v1/tokens", Admin),
        route(M::GET, "/api/v1/tokens/{id}", Admin),
        route(M::DELETE, "/api/v1/tokens/{id}", Admin),
        route(M::POST, "/api/v1/tokens/{id}/rotate", Admin)
            .body(json!({ "overlap_seconds": 60, "expires_in": "7d" }))
            .expiry(),
        route(M::GET, "/api/v1/tokens/self", Admin),
        route(M::DELETE, "/api/v1/tokens/self", Admin),
        route(M::POST, "/api/v1/tokens/self/rotate", Admin)
            .body(json!({ "overlap_seconds": 60, "expires_in": "7d" }))
            .expiry(),
        route(M::POST, "/api/v1/workspaces/{wid}/api-keys", WorkspaceAdmin)
            .body(json!({ "name": "n", "role": "viewer", "expires_in": "7d" }))
            .expiry(),
        route(M::GET, "/api/v1/workspaces/{wid}/api-keys", WorkspaceAdmin).query(Query::Page),
        route(
            M::GET,
            "/api/v1/workspaces/{wid}/api-keys/{key}",
            WorkspaceAdmin,
        ),
        route(
            M::DELETE,
            "/api/v1/workspaces/{wid}/api-keys/{key}",
            WorkspaceAdmin,
        ),
        route(
            M::POST,
            "/api/v1/workspaces/{wid}/api-keys/{key}/rotate",
            WorkspaceAdmin,
        )
        .body(json!({ "overlap_seconds": 60, "expires_in": "7d" }))
        .expiry(),
        route(M::GET, "/api/v1/workspaces/{wid}/audit", WorkspaceAdmin).query(Query::Audit),
        route(M::POST, "/api/v1/users", Admin).body(json!({
            "username": "newbie",
            "password": "long enough pw",
            "admin": false,
            "display_name": "New"
        })),
        route(M::GET, "/api/v1/users", Admin).query(Query::Page),
        route(M::GET, "/api/v1/users/{uid}", Admin),
        route(M::POST, "/api/v1/users/{uid}/suspend", Admin),
        route(M::POST, "/api/v1/users/{uid}/reactivate", Admin),
        route(M::DELETE, "/api/v1/users/{uid}", Admin),
        route(M::POST, "/api/v1/workspaces", Admin).body(json!({ "name": "w" })),
        route(M::GET, "/api/v1/workspaces", Admin).query(Query::Page),
        route(M::GET, "/api/v1/workspaces/{wid}/members", Admin),
        route(M::PUT, "/api/v1/workspaces/{wid}/members/{uid}", Admin)
            .body(json!({ "role": "member" })),
        route(M::DELETE, "/api/v1/workspaces/{wid}/members/{uid}", Admin),
        // A token that is not one, so that every variant must be refused.
        route(M::POST, "/api/v1/verify", Anyone)
            .body(json!({
                "token": "tsr_pat_notatoken",
                "workspace_id": "wsp_x",
                "permissions": ["api:read"]
            }))
            .query(Query::TokenInUrl)
            .verification(),
        route(M::POST, "/oauth/introspect", Anyone)
            .body(json!({ "token": "tsr_pat_notatoken" }))
            .query(Query::TokenInUrl)
            .verification(),
        route(M::GET, "/auth", Admin)
            .query(Query::Permission)
            .verification(),
        route(M::POST, "/api/v1/verifiers", Admin).body(json!({
            "name": "gateway",
            "workspace_ids": ["wsp_x"],
            "kinds": ["pat"]
        })),
        route(M::GET, "/api/v1/verifiers", Admin),
        route(M::DELETE, "/api/v1/verifiers/{id}", Admin),
        route(M::GET, "/healthz", Anyone),
        route(M::GET, "/readyz", Anyone),
        route(M::GET, "/metrics", Anyone),
    ]
}

/// Bodies that are not a JSON object at all.
fn raw_bodies() -> Vec<Vec<u8>> {
    [
        &b"{not json"[..],
        b"{\"name\": ",
        b"[1, 2, 3]",
        b"\"a string\"",
        b"42",
        b"true",
        b"null",
        b"\xFF\xFE\x00",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect()
}

/// Values of the wrong type for a field whose valid value is `valid`
/// (never `null`, which means "absent" for optional fields).
fn wrong_types(valid: &Value) -> Vec<Value> {
    match valid {
        Value::String(_) => vec![json!(42), json!(true), json!(["a"]), json!({ "a": 1 })],
        Value::Array(_) => vec![json!("api:read"), json!(42), json!({ "a": 1 }), json!([42])],
        Value::Bool(_) => vec![json!("yes"), json!(1)],
        Value::Number(_) => vec![
            json!("60"),
            json!(-1),
            json!(1.5),
            json!(4_294_967_296_u64),
            json!(1e20),
            json!(86_401),
        ],
        _ => vec![json!(42)],
    }
}

/// Values of the right type that are absurd for a field.
fn absurd_values(field: &str) -> Vec<Value> {
    let long = json!("x".repeat(10_000));
    match field {
        "expires_in" => vec![
            json!("-1d"),
            json!("99999999999999999999d"),
            json!("3d"),
            long,
        ],
        _ => vec![long],
    }
}

const ABSURD_DATES: [&str; 6] = [
    "99999-01-01T00:00:00Z",
    "2026-13-45T99:00:00Z",
    "0000-00-00T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2030-01-01T00:00:00+99:00",
    "tomorrow",
];

/// Malformed JSON objects derived from a valid one.
fn derived_bodies(valid: &Map<String, Value>, expiry: bool) -> Vec<Value> {
    let mut bodies = Vec::new();
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body.insert(field.to_owned(), value);
        Value::Object(body)
    };
    for (field, value) in valid {
        for wrong in wrong_types(value).into_iter().chain(absurd_values(field)) {
            bodies.push(with(field, wrong));
        }
    }
    bodies.push(with("unexpected_field", json!(true)));
    if expiry {
        for date in ABSURD_DATES {
            let mut body = valid.clone();
            body.remove("expires_in");
            body.insert("expires_at".into(), json!(date));
            bodies.push(Value::Object(body));
        }
        bodies.push(with("expires_at", json!("2030-01-01T00:00:00Z")));
    }
    bodies
}

/// Ids that name nothing, or try to leave their path segment.
fn bad_ids(placeholder: &str) -> Vec<String> {
    let unknown = match placeholder {
        "{wid}" => "wsp_nowhere0000000000",
        "{uid}" => "usr_nobody00000000000",
        _ => "tok_doesnotexist000000",
    };
    [
        unknown,
        "..",
        "..%2F..%2Fetc%2Fpasswd",
        "%2e%2e",
        "..%5C..%5Cwindows",
        "tok_%00",
        "%27%20OR%201%3D1--",
        "%F0%9F%92%A5",
        "%FF%FE",
        "a%2Fb",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("tok_{}", "a".repeat(3000))])
    .collect()
}

fn bad_queries(query: Query) -> Vec<String> {
    let page = [
        "limit=abc".to_string(),
        "limit=-1".into(),
        "limit=0".into(),
        "limit=99999999999999999999".into(),
        "limit=1.5".into(),
        "cursor=..%2F..%2Fetc%2Fpasswd".into(),
        "cursor=%FF%FE".into(),
        format!("cursor={}", "a".repeat(10_000)),
        "token=tsr_pat_inurl".into(),
        "access_token=tsr_pat_inurl".into(),
    ];
    match query {
        Query::None => Vec::new(),
        Query::Page => page.to_vec(),
        Query::Audit => page
            .into_iter()
            .chain(
                [
                    "since=2026-13-45T99:00:00Z",
                    "until=99999-01-01T00:00:00Z",
                    "since=yesterday",
                    "until=%FF",
                    "unknown_filter=1",
                ]
                .map(String::from),
            )
            .collect(),
        Query::Permission => vec![
            "permission=%FF%FE".into(),
            format!("permission={}", "x".repeat(10_000)),
            "permission=..%2F..%2Fetc".into(),
            "permission=api:write&permission=".into(),
            "token=tsr_pat_inurl".into(),
        ],
        Query::TokenInUrl => vec![
            "token=tsr_pat_inurl".into(),
            "access_token=tsr_pat_inurl".into(),
            "api_key=tsr_pat_inurl&token=".into(),
            "token=%FF%FE".into(),
            format!("access_token={}", "a".repeat(10_000)),
        ],
    }
}

/// The facts a route's path needs, and who calls.
struct World {
    admin: String,
    workspace_admin: String,
    wid: String,
    id: String,
    key: String,
    uid: String,
}

impl World {
    fn fill(&self, path: &str) -> String {
        path.replace("{wid}", &self.wid)
            .replace("{id}", &self.id)
            .replace("{key}", &self.key)
            .replace("{uid}", &self.uid)
    }

    fn request(&self, app: &TestApp, route: &Route, path: &str) -> RequestBuilder {
        let request = app.request(route.method.clone(), path);
        match route.who {
            Who::Admin => request.bearer_auth(&self.admin),
            Who::WorkspaceAdmin => request
                .bearer_auth(&self.workspace_admin)
                .header("x-workspace-id", &self.wid),
            Who::Anyone => request,
        }
    }
}

/// One malformed request, described for the failure message.
struct Case {
    what: String,
    path: String,
    body: Option<Vec<u8>>,
    content_type: &'static str,
}

fn cases(route: &Route, world: &World) -> Vec<Case> {
    let mut cases = Vec::new();
    let path = world.fill(route.path);
    let valid_body = route.body.as_ref().map(|b| serde_json::to_vec(b).unwrap());
    if let Some(Value::Object(valid)) = &route.body {
        for raw in raw_bodies() {
            cases.push(Case {
                what: format!("body {}", String::from_utf8_lossy(&raw)),
                path: path.clone(),
                body: Some(raw),
                content_type: "application/json",
            });
        }
        for body in derived_bodies(valid, route.expiry) {
            let text = body.to_string();
            cases.push(Case {
                what: format!("body {}", &text[..text.len().min(200)]),
                path: path.clone(),
                body: Some(text.into_bytes()),
                content_type: "application/json",
            });
        }
        if route.expect == Expect::Refused {
            cases.push(Case {
                what: "a JSON body sent as text/plain".into(),
                path: path.clone(),
                body: valid_body.clone(),
                content_type: "text/plain",
            });
        }
    }
    for placeholder in ["{wid}", "{id}", "{key}", "{uid}"] {
        if !route.path.contains(placeholder) {
            continue;
        }
        for bad in bad_ids(placeholder) {
            let mut bad_path = route.path.replace(placeholder, &bad);
            bad_path = world.fill(&bad_path);
            cases.push(Case {
                what: format!("{placeholder} = {}", &bad[..bad.len().min(60)]),
                path: bad_path,
                body: valid_body.clone(),
                content_type: "application/json",
            });
        }
    }
    for query in bad_queries(route.query) {
        cases.push(Case {
            what: format!("?{}", &query[..query.len().min(60)]),
            path: format!("{path}?{query}"),
            body: valid_body.clone(),
            content_type: "application/json",
        });
    }
    cases
}

fn is_error_body(body: &Value) -> bool {
    body["error"]["code"]
        .as_str()
        .is_some_and(|c| !c.is_empty())
        && body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
}

async fn every_route_answers_malformed_input_with_a_4xx_and_the_error_body(app: TestApp) {
    let admin = app.admin().await;
    let wid = app.workspace("acme").await;
    let workspace_admin = app.user("wsadmin").await;
    app.join(&wid, &workspace_admin, "admin").await;
    let spare = app.user("spare").await;
    app.join(&wid, &spare, "member").await;
    let pat = app.create_token(&admin, json!({ "name": "spare" })).await;
    let key = app
        .create_api_key(
            &wid,
            &workspace_admin,
            json!({ "name": "k", "role": "viewer" }),
        )
        .await;
    let world = World {
        admin: admin.token.clone(),
        workspace_admin: workspace_admin.token.clone(),
        wid: wid.clone(),
        id: pat["id"].as_str().unwrap().to_owned(),
        key: key["id"].as_str().unwrap().to_owned(),
        uid: spare.id.clone(),
    };

    let mut failures = Vec::new();
    let mut sent = 0;
    for route in routes() {
        if route.takes_no_input() {
            continue;
        }
        for case in cases(&route, &world) {
            let mut request = world.request(&app, &route, &case.path);
            if let Some(body) = case.body.clone() {
                request = request.header("content-type", case.content_type).body(body);
            }
            let (status, answer) = send(request).await;
            sent += 1;
            let refused = status.is_client_error() && is_error_body(&answer);
            let not_valid =
                status == StatusCode::OK && (answer["valid"] == false || answer["active"] == false);
            let ok = match route.expect {
                Expect::Refused => refused,
                Expect::NotValid => refused || not_valid,
            };
            if !ok {
                let answer = answer.to_string();
                failures.push(format!(
                    "{} {} [{}]: {status} {}",
                    route.method,
                    route.path,
                    case.what,
                    &answer[..answer.len().min(300)]
                ));
            }
        }
    }
    assert!(sent > 500, "only {sent} malformed requests were sent");
    assert!(
        failures.is_empty(),
        "{} of {sent} malformed requests were not refused cleanly:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Nothing the malformed requests aimed at changed.
    assert_eq!(
        send(app.get("/api/v1/me", &admin.token)).await.0,
        StatusCode::OK
    );
    let (_, me) = send(app.get("/api/v1/me", &spare.token)).await;
    assert_eq!(me["user"]["status"], "active");
    assert_eq!(me["workspaces"][0]["role"], "member");
    let (_, record) = send(app.get(&format!("/api/v1/tokens/{}", world.id), &admin.token)).await;
    assert_eq!(record["status"], "active");
    assert_eq!(record["last4"], pat["last4"]);
    assert_eq!(
        send(app.get("/api/v1/me", key["token"].as_str().unwrap()))
            .await
            .0,
        StatusCode::OK
    );
}

/// `Authorization: Basic …` that carries no usable token, on the API and on
/// forward-auth: always 401 with the error body, never a 5xx, and the
/// caller's standing is untouched.
async fn hostile_basic_credentials_are_401_with_a_message_on_every_surface(app: TestApp) {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    let wid = app.workspace("acme").await;
    let admin = app.user("wsadmin").await;
    app.join(&wid, &admin, "admin").await;
    let key = app
        .create_api_key(&wid, &admin, json!({ "name": "k", "role": "viewer" }))
        .await;
    let key = key["token"].as_str().unwrap().to_owned();
    let b64 = |bytes: &[u8]| format!("Basic {}", STANDARD.encode(bytes));
    let values: Vec<(String, String)> = vec![
        ("not base64".into(), "Basic !!!!".into()),
        (
            "base64 with spaces inside".into(),
            "Basic dTp0 b2tlbg==".into(),
        ),
        ("no colon".into(), b64(admin.token.as_bytes())),
        ("empty password".into(), b64(b"x-token:")),
        ("only a colon".into(), b64(b":")),
        (
            "oversized".into(),
            b64(format!("u:{}", "a".repeat(100_000)).as_bytes()),
        ),
        ("not UTF-8".into(), b64(&[0xc3, 0x28, b':', 0xa0, 0xa1])),
        (
            "NUL in the password".into(),
            b64(format!("u:{}\0", admin.token).as_bytes()),
        ),
        (
            "a kind that does not allow Basic".into(),
            b64(format!("u:{key}").as_bytes()),
        ),
        (
            "a token of another shape".into(),
            b64(b"u:tsr_pat_000000000000000000000000000000"),
        ),
        ("scheme alone".into(), "Basic".into()),
        ("scheme and spaces".into(), "Basic    ".into()),
        ("lowercase scheme, bad body".into(), "basic ====".into()),
    ];
    let surfaces = [
        (Method::GET, "/api/v1/me".to_owned()),
        (Method::GET, "/api/v1/tokens".to_owned()),
        (Method::GET, format!("/api/v1/workspaces/{wid}/api-keys")),
        (Method::GET, "/auth".to_owned()),
        (Method::GET, "/auth?permission=api:read".to_owned()),
    ];
    let mut failures = Vec::new();
    for (method, path) in &surfaces {
        for (what, value) in &values {
            let request = app
                .request(method.clone(), path)
                .header("authorization", value.as_str())
                .header("x-workspace-id", &wid);
            let (status, answer) = send(request).await;
            if status != StatusCode::UNAUTHORIZED || !is_error_body(&answer) {
                failures.push(format!("{method} {path} [{what}]: {status} {answer}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The same PAT as a proper Basic password still works.
    let (status, _) = send(app.request(Method::GET, "/api/v1/me").header(
        "authorization",
        b64(format!("x:{}", admin.token).as_bytes()),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// Role names that are no configured role, in every place a role is handed
/// out: 4xx with the error body, nothing created; and a rank loop in the
/// configuration is refused at start naming the key.
async fn hostile_role_names_are_4xx_and_change_nothing(app: TestApp) {
    let wid = app.workspace("acme").await;
    let owner = app.user("owner").await;
    app.join(&wid, &owner, "owner").await;
    let other = app.user("other").await;
    let root = app.admin().await;
    let roles: Vec<Value> = vec![
        json!("ghost"),
        json!("OWNER"),
        json!("owner\u{0}"),
        json!(" owner"),
        json!("оwner"), // a Cyrillic о
        json!("x".repeat(10_000)),
        json!(""),
        json!(["owner"]),
        json!({ "name": "owner" }),
        json!(7),
        json!(null),
    ];
    let mut failures = Vec::new();
    for role in &roles {
        let shown = role.to_string();
        let shown = &shown[..shown.len().min(40)];
        let attempts = [
            app.post(
                &format!("/api/v1/workspaces/{wid}/api-keys"),
                &owner.token,
                json!({ "name": "k", "role": role }),
            )
            .header("x-workspace-id", &wid),
            app.put(
                &format!("/api/v1/workspaces/{wid}/members/{}", other.id),
                &owner.token,
                json!({ "role": role }),
            )
            .header("x-workspace-id", &wid),
            app.put(
                &format!("/api/v1/workspaces/{wid}/members/{}", other.id),
                &root.token,
                json!({ "role": role }),
            ),
        ];
        for (i, request) in attempts.into_iter().enumerate() {
            let (status, answer) = send(request).await;
            if !status.is_client_error() || !is_error_body(&answer) {
                failures.push(format!("attempt {i} role {shown}: {status} {answer}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let (_, keys) = send(
        app.get(&format!("/api/v1/workspaces/{wid}/api-keys"), &owner.token)
            .header("x-workspace-id", &wid),
    )
    .await;
    assert_eq!(keys["items"], json!([]), "no key was made");
    assert!(app
        .state
        .workspaces
        .membership(&wid, &other.id)
        .await
        .unwrap()
        .is_none());

    for order in [
        r#"role_order = ["owner", "admin", "owner", "member", "viewer"]"#,
        r#"role_order = ["owner", "admin", "member"]"#,
        r#"role_order = ["owner", "admin", "member", "viewer", "root"]"#,
        r#"role_order = "owner""#,
    ] {
        let refused = tessera_server::config::Config::from_toml(order);
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("role_order"), "{order}: {message}");
    }
}

/// Forwarding headers a client or a broken proxy might send.
fn hostile_forwarding() -> Vec<(&'static str, HeaderValue)> {
    let text = |s: &str| HeaderValue::from_str(s).unwrap();
    let long_chain = (0..2000)
        .map(|i| format!("6.6.{}.{}", i / 250, i % 250))
        .collect::<Vec<_>>()
        .join(", ");
    vec![
        ("x-forwarded-for", text("6.6.6.6")),
        ("x-forwarded-for", text(&long_chain)),
        (
            "x-forwarded-for",
            text(&format!("{}, 6.6.6.6", "x".repeat(6000))),
        ),
        ("x-forwarded-for", text(",,,, ,")),
        (
            "x-forwarded-for",
            text("unknown, _hidden, [::1, 999.1.1.1, ::ffff:"),
        ),
        (
            "x-forwarded-for",
            HeaderValue::from_bytes(b"6.6.6.6\xff\xfe").unwrap(),
        ),
        ("forwarded", text("for=\"[2001:db8::1")),
        ("forwarded", text("for=\"unterminated, for=6.6.6.6")),
        ("forwarded", text("for=;for=;;;=,=,\\\"")),
        ("forwarded", text(&"for=6.6.6.6;".repeat(800))),
        (
            "forwarded",
            text("for=\"[2001:db8::1]:99999999\";proto=https"),
        ),
        (
            "forwarded",
            HeaderValue::from_bytes(b"for=\xc3\xa9").unwrap(),
        ),
        ("x-forwarded-proto", text(&"https,".repeat(1000))),
    ]
}

async fn hostile_forwarding_headers_are_never_believed_nor_a_5xx(app: TestApp) {
    let behind = TestApp::with_config(app.backend, "[auth]\ntrusted_proxies = [\"127.0.0.1\"]")
        .await
        .unwrap();
    for (app, trusted) in [(&app, false), (&behind, true)] {
        let alice = app.user("alice").await;
        let created = app.create_token(&alice, json!({ "name": "probe" })).await;
        let secret = created["token"].as_str().unwrap();
        let id = created["id"].as_str().unwrap();
        for (name, value) in hostile_forwarding() {
            let what = format!("{name}: {:?}", &value.as_bytes()[..value.len().min(40)]);
            let with = |request: RequestBuilder| request.header(name, value.clone());
            let (status, body) = send(with(app.get("/api/v1/me", secret))).await;
            assert_eq!(status, StatusCode::OK, "{what}: {body}");
            let (status, _) = send(with(app.get("/auth", secret))).await;
            assert_eq!(status, StatusCode::OK, "{what}");
            let (status, body) = send(with(
                app.request(Method::POST, "/api/v1/session")
                    .json(&json!({ "username": "alice", "password": alice.password })),
            ))
            .await;
            assert_eq!(status, StatusCode::OK, "{what}: {body}");
            app.flush_usage().await;
            let (_, token) = send(app.get(&format!("/api/v1/tokens/{id}"), &alice.token)).await;
            let ip = token["last_used_ip"].as_str().expect("an address");
            assert!(ip.parse::<std::net::IpAddr>().is_ok(), "{what}: {ip}");
            if !trusted {
                assert_eq!(ip, "127.0.0.1", "{what}");
            }
        }
    }
}

async fn hostile_sign_in_attempts_are_refused_cleanly_and_throttled(app: TestApp) {
    let alice = app.user("alice").await;
    let huge = "u".repeat(200_000);
    let usernames = [
        huge.as_str(),
        "",
        " ",
        "alice\u{0}",
        "\u{202e}ecila",
        "ALICE",
        "alice ",
        "../../etc/passwd",
        "' OR 1=1 --",
    ];
    let mut statuses = Vec::new();
    for username in usernames {
        for password in ["x", "", &"p".repeat(100_000), "\u{0}"] {
            let (status, body) = send(
                app.request(Method::POST, "/api/v1/session")
                    .json(&json!({ "username": username, "password": password })),
            )
            .await;
            assert!(
                matches!(
                    status,
                    StatusCode::BAD_REQUEST
                        | StatusCode::UNAUTHORIZED
                        | StatusCode::TOO_MANY_REQUESTS
                ) && is_error_body(&body),
                "{}: {status} {body}",
                &username[..username.len().min(20)]
            );
            statuses.push(status);
        }
    }
    // Over twenty failures from one address: it is locked out.
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS));
    // Look-alikes of alice's name are other keys: her account was never locked.
    let events = app.audit_events("session.sign_in_throttled").await;
    assert!(!events.is_empty());
    assert!(events
        .iter()
        .all(|e| e.details["username"] != alice.username));
}

/// A `Tessera-Verifier` header (or the Bearer/Basic forms) that is no
/// verifier's: always 401 `verifier_required` with the error body on the
/// three verification surfaces, never a 5xx and never an answer.
async fn hostile_verifier_credentials_are_401_verifier_required_on_every_surface(app: TestApp) {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    let alice = app.user("alice").await;
    let good = app.verifier_secret.clone();
    let bytes = |b: &[u8]| HeaderValue::from_bytes(b).unwrap();
    let text = |s: &str| HeaderValue::from_str(s).unwrap();
    let hostile: Vec<(&str, Vec<(&str, HeaderValue)>)> = vec![
        (
            "a personal token",
            vec![("tessera-verifier", text(&alice.token))],
        ),
        ("empty", vec![("tessera-verifier", text(""))]),
        (
            "the prefix alone",
            vec![("tessera-verifier", text("tsr_vfr_"))],
        ),
        (
            "a wrong checksum",
            vec![(
                "tessera-verifier",
                text(&format!("{}x", &good[..good.len() - 1])),
            )],
        ),
        (
            "oversized",
            vec![("tessera-verifier", text(&"tsr_vfr_a".repeat(4000)))],
        ),
        (
            "not UTF-8",
            vec![("tessera-verifier", bytes(b"tsr_vfr_\xff\xfe"))],
        ),
        (
            "sent twice",
            vec![
                ("tessera-verifier", text(&good)),
                ("tessera-verifier", text(&good)),
            ],
        ),
        (
            "a revoked-looking id in Basic",
            vec![(
                "authorization",
                text(&format!(
                    "Basic {}",
                    STANDARD.encode(format!("vfr_x:{good}"))
                )),
            )],
        ),
        (
            "Basic without a colon",
            vec![(
                "authorization",
                text(&format!("Basic {}", STANDARD.encode(&good))),
            )],
        ),
        (
            "Basic not base64",
            vec![("authorization", text("Basic %%%"))],
        ),
        (
            "an unknown scheme",
            vec![("authorization", text(&format!("Token {good}")))],
        ),
    ];
    let bare = app.bare();
    let mut failures = Vec::new();
    for (what, headers) in &hostile {
        let requests = [
            (
                "verify",
                bare.post(format!("{}/api/v1/verify", app.base))
                    .json(&json!({ "token": alice.token })),
            ),
            (
                "introspect",
                bare.post(format!("{}/oauth/introspect", app.base))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(format!("token={}", alice.token)),
            ),
            (
                "forward-auth",
                bare.get(format!("{}/auth", app.base))
                    .bearer_auth(&alice.token),
            ),
        ];
        for (surface, mut request) in requests {
            // Forward-auth's Authorization is the token's: only the header there.
            if surface == "forward-auth" && headers.iter().any(|(n, _)| *n == "authorization") {
                continue;
            }
            for (name, value) in headers {
                request = request.header(*name, value.clone());
            }
            let (status, answer) = send(request).await;
            let refused = status == StatusCode::UNAUTHORIZED
                && answer["error"]["code"] == "verifier_required"
                && is_error_body(&answer);
            if !refused {
                failures.push(format!("{surface} [{what}]: {status} {answer}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The probe found `?limit=-1` a 400 on some lists and `?limit=0` a 422 on
/// others: every list now gives the same documented 422 for every
/// out-of-range or non-numeric limit, naming `limit`.
async fn every_list_answers_an_unusable_limit_with_422_invalid_request(app: TestApp) {
    let admin = app.admin().await;
    let wid = app.workspace("acme").await;
    let owner = app.member("olivia", &wid, "owner").await;
    let lists = [
        ("/api/v1/tokens".to_string(), &owner),
        ("/api/v1/users".into(), &admin),
        ("/api/v1/workspaces".into(), &admin),
        (format!("/api/v1/workspaces/{wid}/api-keys"), &owner),
        (format!("/api/v1/workspaces/{wid}/audit"), &owner),
    ];
    for (list, caller) in &lists {
        assert_every_unusable_limit_is_422(&app, list, caller, &wid).await;
    }
    // Agents are issued by a profile that has them.
    let backend = app.backend;
    drop(app);
    let Some(app) = TestApp::with_profile(backend, "groupchat").await else {
        return;
    };
    let wid = app.workspace("acme").await;
    let owner = app.member("olivia", &wid, "owner").await;
    let (status, agent) = send(
        app.post(
            &format!("/api/v1/workspaces/{wid}/agents"),
            &owner.token,
            json!({ "name": "bot", "role": "member" }),
        )
        .header("x-workspace-id", &wid),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let agent_id = agent["id"].as_str().unwrap();
    for list in [
        format!("/api/v1/workspaces/{wid}/agents"),
        format!("/api/v1/workspaces/{wid}/agents/{agent_id}/tokens"),
    ] {
        assert_every_unusable_limit_is_422(&app, &list, &owner, &wid).await;
    }
}

async fn assert_every_unusable_limit_is_422(
    app: &TestApp,
    list: &str,
    caller: &crate::helpers::TestUser,
    wid: &str,
) {
    let ask = |query: &str| {
        let request = app.get(&format!("{list}?{query}"), &caller.token);
        if list.contains("/workspaces/") {
            request.header("x-workspace-id", wid)
        } else {
            request
        }
    };
    let (status, body) = send(ask("limit=2")).await;
    assert_eq!(status, StatusCode::OK, "{list}?limit=2: {body}");
    for limit in [
        "-1",
        "0",
        "501",
        "abc",
        "",
        "1.5",
        "99999999999999999999",
        "%FF",
    ] {
        let (status, body) = send(ask(&format!("limit={limit}"))).await;
        assert_eq!(
            (status, crate::helpers::code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            "{list}?limit={limit}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("limit"), "{list}?limit={limit}: {body}");
    }
}
