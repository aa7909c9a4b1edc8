//! The settings pages over real HTTP (no browser): sign-in, escaping, the
//! secret shown once, CSRF refusal, security headers, who may see what.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    browser, encode, first_id, location, page, post_form, send, shown_secret, Browser, TestApp,
    TestUser, FORM,
};
use crate::on_both_stores;

on_both_stores!(
    sign_in_sets_the_session_cookie_and_one_message_for_every_failure,
    pages_redirect_to_login_without_a_session,
    pages_carry_the_security_headers,
    a_created_token_is_shown_once_and_its_html_name_is_escaped,
    a_blank_name_gets_the_documented_message,
    a_form_without_the_csrf_value_is_refused,
    revoke_and_delete_all_from_the_page,
    rotate_from_the_page_shows_the_new_secret_once,
    api_key_page_needs_api_keys_manage_and_offers_only_lesser_roles,
    agents_and_their_tokens_are_managed_from_the_pages,
    agents_are_not_offered_where_the_deployment_issues_no_agent_tokens,
    admin_pages_are_for_admins_and_suspend_stops_tokens,
    verifiers_are_made_once_and_revoked_from_the_admin_pages,
    sign_out_ends_the_session,
    last_use_and_the_empty_state_are_shown,
);

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    send(app.get("/api/v1/me", token)).await.0
}

async fn sign_in_sets_the_session_cookie_and_one_message_for_every_failure(app: TestApp) {
    let alice = app.user("alice").await;
    let login = |username: &str, password: &str| {
        app.request(Method::POST, "/login")
            .header("content-type", FORM)
            .body(encode(&[("username", username), ("password", password)]))
            .send()
    };
    let wrong_password = login("alice", "not-her-password").await.unwrap();
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong_password.headers().get("set-cookie").is_none());
    let wrong_password = wrong_password.text().await.unwrap();
    let unknown_user = login("nobody", "whatever")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let message = "The username or password is incorrect.";
    assert!(wrong_password.contains(message) && unknown_user.contains(message));
    // The same page apart from the username echoed back.
    assert_eq!(
        wrong_password.replace("alice", "nobody"),
        unknown_user,
        "one answer whatever was wrong"
    );

    let ok = login("alice", &alice.password).await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()["location"], "/settings/tokens");
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("tessera_session="));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let b = Browser {
        cookie: cookie.split(';').next().unwrap().to_owned(),
        csrf: String::new(),
    };
    let (status, html) = page(&app, &b, "/settings/tokens").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Signed in as"));

    // A suspended user cannot sign in, and is told the same thing.
    let bob = app.user("bob").await;
    app.state
        .users
        .set_status(
            &bob.id,
            tessera_core::policy::UserStatus::Suspended,
            &tessera_server::principal::Actor::cli(),
        )
        .await
        .unwrap();
    let suspended = login("bob", &bob.password).await.unwrap();
    assert_eq!(suspended.status(), StatusCode::UNAUTHORIZED);
    assert!(suspended.text().await.unwrap().contains(message));
}

async fn pages_redirect_to_login_without_a_session(app: TestApp) {
    for path in [
        "/settings/tokens",
        "/settings/workspaces",
        "/admin/users",
        "/admin/workspaces",
    ] {
        let response = app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()["location"], "/login", "{path}");
    }
    // A bogus cookie is no session either.
    let response = app
        .request(Method::GET, "/settings/tokens")
        .header("cookie", "tessera_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/login");
}

async fn pages_carry_the_security_headers(app: TestApp) {
    let alice = app.user("alice").await;
    let b = browser(&app, &alice).await;
    for path in [
        "/login",
        "/settings/tokens",
        "/static/app.css",
        "/static/app.js",
    ] {
        let response = app
            .request(Method::GET, path)
            .header("cookie", &b.cookie)
            .send()
            .await
            .unwrap();
        let h = response.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    let (_, html) = page(&app, &b, "/settings/tokens").await;
    assert!(!html.contains("<script>"), "no inline script");
    assert!(!html.contains("style="), "no inline style");
    assert!(html.contains("<script src=\"/static/app.js\""));
}

async fn a_created_token_is_shown_once_and_its_html_name_is_escaped(app: TestApp) {
    let alice = app.user("alice").await;
    let b = browser(&app, &alice).await;
    let (_, html) = page(&app, &b, "/settings/tokens").await;
    // The default preset is preselected.
    assert!(html.contains("<option value=\"30d\" selected>"), "{html}");

    let name = "<script>alert(1)</script>";
    let response = post_form(
        &app,
        &b,
        "/settings/tokens",
        &[
            ("name", name),
            ("expires_in", "7d"),
            ("form_id", "form-one"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store, max-age=0");
    let html = response.text().await.unwrap();
    assert!(!html.contains(name), "the name is escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("will not be shown again"));
    let secret = shown_secret(&html).expect("the secret is shown");
    assert!(secret.starts_with("tsr_pat_"));
    assert_eq!(me_status(&app, &secret).await, StatusCode::OK);

    // Reloading (a GET) never shows it again: only the masked form.
    let (_, again) = page(&app, &b, "/settings/tokens").await;
    assert!(!again.contains(&secret));
    assert!(shown_secret(&again).is_none());
    let last4 = &secret[secret.len() - 4..];
    assert!(again.contains(&format!("…{last4}")));
    // Posting the same form again (a resubmitting reload) creates nothing.
    let count = |html: &str| html.matches("data-token-id=").count();
    let before = count(&again);
    let resubmitted = post_form(
        &app,
        &b,
        "/settings/tokens",
        &[
            ("name", name),
            ("expires_in", "7d"),
            ("form_id", "form-one"),
        ],
    )
    .await;
    assert_eq!(resubmitted.status(), StatusCode::SEE_OTHER);
    let (_, after) = page(&app, &b, "/settings/tokens").await;
    assert_eq!(count(&after), before);

    // The API agrees about what was made.
    let (_, list) = send(app.get("/api/v1/tokens", &alice.token)).await;
    let made = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .expect("listed");
    assert_eq!(made["status"], "active");
}

async fn a_blank_name_gets_the_documented_message(app: TestApp) {
    let alice = app.user("alice").await;
    let b = browser(&app, &alice).await;
    let response = post_form(
        &app,
        &b,
        "/settings/tokens",
        &[("name", "   "), ("form_id", "blank-1")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("Token name is required."));
    assert!(shown_secret(&html).is_none());
}

async fn a_form_without_the_csrf_value_is_refused(app: TestApp) {
    let alice = app.user("alice").await;
    let b = browser(&app, &alice).await;
    for body in [
        encode(&[("name", "sneaky"), ("form_id", "x1")]),
        encode(&[
            ("csrf_token", "wrong"),
            ("name", "sneaky"),
            ("form_id", "x2"),
        ]),
    ] {
        let response = app
            .request(Method::POST, "/settings/tokens")
            .header("cookie", &b.cookie)
            .header("content-type", FORM)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response
            .text()
            .await
            .unwrap()
            .contains("did not come from this site"));
    }
    let (_, list) = send(app.get("/api/v1/tokens", &alice.token)).await;
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["name"] != "sneaky"));
    // Revoke-all without it changes nothing either.
    let response = app
        .request(Method::POST, "/settings/tokens/revoke-all")
        .header("cookie", &b.cookie)
        .header("content-type", FORM)
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(me_status(&app, &alice.token).await, StatusCode::OK);
}

async fn revoke_and_delete_all_from_the_page(app: TestApp) {
    let alice = app.user("alice").await;
    let b = browser(&app, &alice).await;
    let one = app.create_token(&alice, json!({ "name": "one" })).await;
    let two = app.create_token(&alice, json!({ "name": "two" })).await;
    let id = one["id"].as_str().unwrap();

    let (status, confirm) = page(&app, &b, &format!("/settings/tokens/{id}/revoke")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains("Revoke the token “one”?"));
    let response = post_form(&app, &b, &format!("/settings/tokens/{id}/revoke"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        me_status(&app, one["token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    let (_, html) = page(&app, &b, "/settings/tokens").await;
    assert!(html.contains("badge revoked"));

    // Someone else's token is not found, and stays active.
    let bob = app.user("bob").await;
    let theirs = app.create_token(&bob, json!({ "name": "bobs" })).await;
    let response = post_form(
        &app,
        &b,
        &format!("/settings/tokens/{}/revoke", theirs["id"].as_str().unwrap()),
        &[],
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        me_status(&app, theirs["token"].as_str().unwrap()).await,
        StatusCode::OK
    );

    // Delete all: the confirmation says how many (alice's test token and "two").
    let (_, confirm) = page(&app, &b, "/settings/tokens/revoke-all").await;
    assert!(confirm.contains("Delete all 2 active tokens?"), "{confirm}");
    let response = post_form(&app, &b, "/settings/tokens/revoke-all", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        me_status(&app, two["token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
}

async fn rotate_from_the_page_shows_the_new_secret_once(app: TestApp) {
    let alice = app.user("alice").await;
    let b = browser(&app, &alice).await;
    let made = app.create_token(&alice, json!({ "name": "deploy" })).await;
    let id = made["id"].as_str().unwrap();
    let old = made["token"].as_str().unwrap();
    let (_, confirm) = page(&app, &b, &format!("/settings/tokens/{id}/rotate")).await;
    for choice in ["Immediately", "After 1 hour", "After 24 hours"] {
        assert!(confirm.contains(choice));
    }
    let response = post_form(
        &app,
        &b,
        &format!("/settings/tokens/{id}/rotate"),
        &[("overlap_seconds", "3600"), ("form_id", "rot-1")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store, max-age=0");
    let new = shown_secret(&response.text().await.unwrap()).expect("new secret");
    assert_ne!(new, old);
    assert_eq!(me_status(&app, &new).await, StatusCode::OK);
    // Within the hour of overlap, the old secret still works.
    assert_eq!(me_status(&app, old).await, StatusCode::OK);
}

async fn api_key_page_needs_api_keys_manage_and_offers_only_lesser_roles(_app: TestApp) {
    let backend = _app.backend;
    drop(_app);
    let Some(app) = TestApp::with_config(
        backend,
        r#"
role_order = ["owner", "keymaster", "member", "reader"]
[roles]
owner = ["tokens:manage", "api_keys:manage", "members:manage", "audit:read", "api:read", "api:write"]
keymaster = ["api_keys:manage", "api:read"]
reader = ["api:read"]
member = ["tokens:manage", "api:read", "api:write"]
"#,
    )
    .await
    else {
        return;
    };
    let ws = app.workspace("Acme").await;
    let keeper = app.user("keeper").await;
    let plain = app.user("plain").await;
    let outsider = app.user("outsider").await;
    app.join(&ws, &keeper, "keymaster").await;
    app.join(&ws, &plain, "member").await;
    let path = format!("/settings/workspaces/{ws}/api-keys");

    for user in [&plain, &outsider] {
        let b = browser(&app, user).await;
        let (status, _) = page(&app, &b, &path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{}", user.username);
        let response = post_form(&app, &b, &path, &[("name", "k"), ("role", "reader")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    let b = browser(&app, &keeper).await;
    let (status, html) = page(&app, &b, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<option value=\"keymaster\""));
    assert!(html.contains("<option value=\"reader\""));
    assert!(!html.contains("<option value=\"owner\""));
    assert!(!html.contains("<option value=\"member\""));

    // A role beyond what the creator holds is refused even if posted.
    let response = post_form(
        &app,
        &b,
        &path,
        &[("name", "too much"), ("role", "owner"), ("form_id", "k0")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let response = post_form(
        &app,
        &b,
        &path,
        &[
            ("name", "<b>ci</b>"),
            ("role", "reader"),
            ("expires_in", "30d"),
            ("form_id", "k1"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store, max-age=0");
    let html = response.text().await.unwrap();
    assert!(html.contains("&lt;b&gt;ci&lt;/b&gt;"));
    let key = shown_secret(&html).expect("key shown");
    assert!(key.starts_with("tsr_key_"));
    let (status, me) = send(app.get("/api/v1/me", &key)).await;
    assert_eq!(status, StatusCode::OK, "{me}");

    let (_, list) = page(&app, &b, &path).await;
    assert!(!list.contains(&key));
    let id = first_id(&list, "token").expect("the key is listed");
    let response = post_form(&app, &b, &format!("{path}/{id}/revoke"), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(me_status(&app, &key).await, StatusCode::UNAUTHORIZED);
}

async fn agents_and_their_tokens_are_managed_from_the_pages(_app: TestApp) {
    let backend = _app.backend;
    drop(_app);
    // GroupChat's deployment issues agent tokens (`gca_`).
    let Some(app) = TestApp::with_profile(backend, "groupchat").await else {
        return;
    };
    let ws = app.workspace("Acme").await;
    let alice = app.member("alice", &ws, "admin").await;
    let bob = app.member("bob", &ws, "member").await;
    let agents = format!("/settings/workspaces/{ws}/agents");

    // A member whose role cannot manage workspace credentials sees no agents
    // and can create none, even by posting the form.
    let b = browser(&app, &bob).await;
    let (_, workspaces) = page(&app, &b, "/settings/workspaces").await;
    assert!(workspaces.contains("Your role cannot manage agents"));
    assert_eq!(page(&app, &b, &agents).await.0, StatusCode::FORBIDDEN);
    let response = post_form(
        &app,
        &b,
        &agents,
        &[("name", "x"), ("role", "guest"), ("form_id", "b0")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let a = browser(&app, &alice).await;
    let (_, workspaces) = page(&app, &a, "/settings/workspaces").await;
    assert!(workspaces.contains(&format!("href=\"{agents}\"")));
    let (status, html) = page(&app, &a, &agents).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"empty-state\""));

    // A blank name: the documented message, and nothing created.
    let response = post_form(
        &app,
        &a,
        &agents,
        &[("name", " "), ("role", "member"), ("form_id", "a1")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Agent name is required."));
    assert_eq!(first_id(&page(&app, &a, &agents).await.1, "agent"), None);

    let response = post_form(
        &app,
        &a,
        &agents,
        &[
            ("name", "<b>Triage</b>"),
            ("role", "member"),
            ("form_id", "a2"),
        ],
    )
    .await;
    let here = location(&response);
    // The same form again (a double click) creates no second agent.
    let again = post_form(
        &app,
        &a,
        &agents,
        &[
            ("name", "<b>Triage</b>"),
            ("role", "member"),
            ("form_id", "a2"),
        ],
    )
    .await;
    assert_eq!(location(&again), agents);
    let (_, list) = page(&app, &a, &agents).await;
    assert!(list.contains("&lt;b&gt;Triage&lt;/b&gt;"));
    assert_eq!(list.matches("data-agent-id=").count(), 1);
    let agent_id = first_id(&list, "agent").unwrap();
    assert_eq!(here, format!("{agents}/{agent_id}"));

    // A narrowing beyond the agent's role is refused with a message, and no
    // token is made.
    let response = post_form(
        &app,
        &a,
        &format!("{here}/tokens"),
        &[
            ("name", "bot"),
            ("permissions", "audit:read"),
            ("form_id", "t0"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("an agent token can only narrow its agent"),
        "{html}"
    );
    assert_eq!(shown_secret(&html), None);

    // Created: shown once, never cached, acting as the agent with the narrowing.
    let response = post_form(
        &app,
        &a,
        &format!("{here}/tokens"),
        &[
            ("name", "bot"),
            ("expires_in", "30d"),
            ("permissions", "tasks:read"),
            ("form_id", "t1"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store, max-age=0");
    let secret = shown_secret(&response.text().await.unwrap()).expect("the secret is shown");
    assert!(secret.starts_with("gca_"));
    let answer = app.verify_needing(&secret, &["tasks:read"]).await;
    assert_eq!(answer["valid"], true, "{answer}");
    assert_eq!(answer["user_id"], agent_id.as_str());
    assert_eq!(answer["workspace_id"], ws.as_str());
    assert_eq!(
        app.verify_needing(&secret, &["tasks:write"]).await["valid"],
        false
    );
    let again = post_form(
        &app,
        &a,
        &format!("{here}/tokens"),
        &[("name", "bot"), ("form_id", "t1")],
    )
    .await;
    assert_eq!(location(&again), here);
    let (_, html) = page(&app, &a, &here).await;
    assert!(!html.contains(&secret));
    assert_eq!(html.matches("data-token-id=").count(), 1);

    // Lowered to guest, from the page: its token keeps reading tasks.
    let response = post_form(&app, &a, &format!("{here}/role"), &[("role", "guest")]).await;
    assert_eq!(location(&response), here);
    let (status, shown) = send(
        app.get(
            &format!("/api/v1/workspaces/{ws}/agents/{agent_id}"),
            &alice.token,
        )
        .header("X-Workspace-Id", &ws),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["role"], "guest");
    assert_eq!(
        app.verify_needing(&secret, &["tasks:read"]).await["valid"],
        true
    );
    // A role beyond what alice holds, or none, is refused.
    let response = post_form(&app, &a, &format!("{here}/role"), &[("role", "nonesuch")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Revoked from the page: it stops at once.
    let token_id = first_id(&page(&app, &a, &here).await.1, "token").unwrap();
    let confirm = format!("{here}/tokens/{token_id}/revoke");
    assert_eq!(page(&app, &a, &confirm).await.0, StatusCode::OK);
    assert_eq!(location(&post_form(&app, &a, &confirm, &[]).await), here);
    assert_eq!(app.verify_needing(&secret, &[]).await["valid"], false);

    // Removed from the page: its other tokens stop and it leaves the list.
    let response = post_form(
        &app,
        &a,
        &format!("{here}/tokens"),
        &[("name", "second"), ("form_id", "t2")],
    )
    .await;
    let second = shown_secret(&response.text().await.unwrap()).unwrap();
    assert_eq!(app.verify_needing(&second, &[]).await["valid"], true);
    assert_eq!(
        page(&app, &a, &format!("{here}/remove")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        location(&post_form(&app, &a, &format!("{here}/remove"), &[]).await),
        agents
    );
    assert_eq!(app.verify_needing(&second, &[]).await["valid"], false);
    assert_eq!(first_id(&page(&app, &a, &agents).await.1, "agent"), None);
    assert_eq!(page(&app, &a, &here).await.0, StatusCode::NOT_FOUND);
}

async fn agents_are_not_offered_where_the_deployment_issues_no_agent_tokens(app: TestApp) {
    let ws = app.workspace("Acme").await;
    let owner = app.member("olive", &ws, "owner").await;
    let b = browser(&app, &owner).await;
    let (_, workspaces) = page(&app, &b, "/settings/workspaces").await;
    assert!(!workspaces.contains("/agents"));
    let agents = format!("/settings/workspaces/{ws}/agents");
    let (status, html) = page(&app, &b, &agents).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("This deployment issues no agent tokens"));
    let response = post_form(
        &app,
        &b,
        &agents,
        &[("name", "bot"), ("role", "owner"), ("form_id", "n1")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_id(&page(&app, &b, &agents).await.1, "agent"), None);
}

async fn admin_pages_are_for_admins_and_suspend_stops_tokens(app: TestApp) {
    let root = app.admin().await;
    let alice = app.user("alice").await;
    let ws = app.workspace("Acme").await;

    let b = browser(&app, &alice).await;
    for path in ["/admin/users", "/admin/workspaces", "/admin/audit"] {
        assert_eq!(
            page(&app, &b, path).await.0,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let response = post_form(&app, &b, &format!("/admin/users/{}/suspend", root.id), &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let a = browser(&app, &root).await;
    let (status, html) = page(&app, &a, "/admin/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("alice"));
    let (_, confirm) = page(&app, &a, &format!("/admin/users/{}/suspend", alice.id)).await;
    assert!(confirm.contains("Suspend the user “alice”?"));
    let response = post_form(&app, &a, &format!("/admin/users/{}/suspend", alice.id), &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        me_status(&app, &alice.token).await,
        StatusCode::UNAUTHORIZED
    );
    let (_, html) = page(&app, &a, "/admin/users").await;
    assert!(html.contains("badge suspended"));
    post_form(
        &app,
        &a,
        &format!("/admin/users/{}/reactivate", alice.id),
        &[],
    )
    .await;
    assert_eq!(me_status(&app, &alice.token).await, StatusCode::OK);

    // Members and roles.
    let response = post_form(
        &app,
        &a,
        &format!("/admin/workspaces/{ws}/members"),
        &[("username", "alice"), ("role", "viewer")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let member = app.state.store.membership(&ws, &alice.id).await.unwrap();
    assert_eq!(member.unwrap().role, "viewer");
    post_form(
        &app,
        &a,
        &format!("/admin/workspaces/{ws}/members"),
        &[("username", "alice"), ("role", "admin")],
    )
    .await;
    let (_, html) = page(&app, &a, &format!("/admin/workspaces/{ws}")).await;
    assert!(html.contains("<option value=\"admin\" selected>"));
    let response = post_form(
        &app,
        &a,
        &format!("/admin/workspaces/{ws}/members/{}/remove", alice.id),
        &[],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(app
        .state
        .store
        .membership(&ws, &alice.id)
        .await
        .unwrap()
        .is_none());

    let (status, html) = page(&app, &a, "/admin/audit?action=user.suspend").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("user.suspend") && !html.contains("member.role_change"));
}

async fn sign_out_ends_the_session(app: TestApp) {
    let alice = app.user("alice").await;
    let b = browser(&app, &alice).await;
    let response = post_form(&app, &b, "/logout", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let response = app
        .request(Method::GET, "/settings/tokens")
        .header("cookie", &b.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/login");
}

async fn last_use_and_the_empty_state_are_shown(app: TestApp) {
    // A user with no token at all sees what a token is for, with a curl
    // example naming this deployment's headers.
    let user = app
        .state
        .users
        .create(
            "newcomer",
            "newcomer-password".into(),
            false,
            None,
            &tessera_server::principal::Actor::cli(),
        )
        .await
        .unwrap();
    let newcomer = TestUser {
        id: user.id,
        username: "newcomer".into(),
        password: "newcomer-password".into(),
        token: String::new(),
    };
    let b = browser(&app, &newcomer).await;
    let (_, html) = page(&app, &b, "/settings/tokens").await;
    assert!(html.contains("id=\"empty-state\""), "{html}");
    assert!(html.contains("curl -H &quot;Authorization: Bearer tsr_pat_…&quot;"));
    assert!(html.contains(app.state.config.auth.workspace_header.as_str()));
    assert!(html.contains("/api/v1/me"));

    // Last use: the time, with the exact time and address in the title.
    let alice = app.user("alice").await;
    assert_eq!(me_status(&app, &alice.token).await, StatusCode::OK);
    app.flush_usage().await;
    let b = browser(&app, &alice).await;
    let (_, html) = page(&app, &b, "/settings/tokens").await;
    assert!(!html.contains("id=\"empty-state\""));
    let title = html
        .split("title=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a last-used title");
    assert!(title.ends_with(" from 127.0.0.1"), "{title}");
    assert!(title.contains('T') && title.contains('Z'), "{title}");
}

async fn verifiers_are_made_once_and_revoked_from_the_admin_pages(app: TestApp) {
    let root = app.admin().await;
    let alice = app.user("alice").await;
    let ws = app.workspace("Acme").await;

    let b = browser(&app, &alice).await;
    assert_eq!(
        page(&app, &b, "/admin/verifiers").await.0,
        StatusCode::FORBIDDEN
    );
    let response = post_form(
        &app,
        &b,
        "/admin/verifiers",
        &[("name", "mine"), ("form_id", "f0")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let a = browser(&app, &root).await;
    let (status, html) = page(&app, &a, "/admin/verifiers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("test gateway"),
        "the test's own verifier is listed"
    );
    assert!(
        html.contains(&format!("value=\"{ws}\"")),
        "workspaces are offered"
    );

    let fields = [
        ("name", "<b>acme</b> gateway"),
        ("workspace_ids", ws.as_str()),
        ("kinds", "pat"),
        ("form_id", "create-1"),
    ];
    let response = post_form(&app, &a, "/admin/verifiers", &fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("no-store"));
    let html = response.text().await.unwrap();
    let secret = shown_secret(&html).expect("the secret is shown once");
    assert!(secret.starts_with("tsr_vfr_"), "{secret}");
    assert!(
        html.contains("&lt;b&gt;acme&lt;/b&gt; gateway"),
        "the name is escaped"
    );
    let listed = app.state.verifiers.list().await.unwrap();
    let made = listed
        .iter()
        .find(|v| v.name == "<b>acme</b> gateway")
        .unwrap();
    assert_eq!(made.audience.workspace_ids, vec![ws.clone()]);
    assert_eq!(made.audience.kinds, vec!["pat".to_owned()]);

    // Posting the same form again creates nothing and shows no secret.
    let again = post_form(&app, &a, "/admin/verifiers", &fields).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.state.verifiers.list().await.unwrap().len(), 2);
    let (_, html) = page(&app, &a, "/admin/verifiers").await;
    assert!(!html.contains(&secret), "never shown again");

    // A bad form keeps what was typed and says why.
    let response = post_form(
        &app,
        &a,
        "/admin/verifiers",
        &[("name", "x"), ("kinds", "nope"), ("form_id", "create-2")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.unwrap().contains("no kind"));

    let (_, confirm) = page(&app, &a, &format!("/admin/verifiers/{}/revoke", made.id)).await;
    assert!(confirm.contains("Revoke the verifier"), "{confirm}");
    let response = post_form(
        &app,
        &a,
        &format!("/admin/verifiers/{}/revoke", made.id),
        &[],
    )
    .await;
    assert_eq!(location(&response), "/admin/verifiers");
    let (status, body) = send(
        app.bare()
            .post(format!("{}/api/v1/verify", app.base))
            .header("tessera-verifier", &secret)
            .json(&json!({ "token": root.token })),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked at once: {body}");
    let response = post_form(
        &app,
        &a,
        &format!("/admin/verifiers/{}/revoke", made.id),
        &[],
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
