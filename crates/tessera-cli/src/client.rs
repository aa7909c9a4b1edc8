//! The management API's command-line client, like `gh` or `glab`: the
//! server from `--url`/`TESSERA_URL`, the credential from
//! `--token`/`TESSERA_TOKEN`.

use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::Subcommand;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::output::{json as print_json, table};

#[derive(clap::Args, Debug, Clone)]
pub struct ClientArgs {
    /// The Tessera server.
    #[arg(
        long,
        env = "TESSERA_URL",
        default_value = "http://127.0.0.1:7400",
        global = true
    )]
    url: String,
    /// Your token (prefer the variable: a flag shows in the process list).
    #[arg(long, env = "TESSERA_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a personal access token; it is printed once.
    Create {
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// A preset such as 7d, 30d, 90d, 1y or never.
        #[arg(long, conflicts_with = "expires_at")]
        expires_in: Option<String>,
        /// An exact expiry (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
        /// Narrow to these permissions (repeatable).
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// Bind the token to one workspace.
        #[arg(long)]
        workspace: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List your personal access tokens.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Revoke one token, or all of yours with --all.
    Revoke {
        /// The token id (tok_…).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Give a token a new secret; the old one works for --overlap seconds
    /// (0 to 86400), or with --overlap until_first_use until the new secret
    /// is first used (then a minute more).
    Rotate {
        id: String,
        #[arg(long, default_value = "0", value_parser = parse_overlap)]
        overlap: Value,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `--overlap`: seconds, or `until_first_use`, as the rotate body has them.
fn parse_overlap(value: &str) -> Result<Value, String> {
    if value == "until_first_use" {
        return Ok(json!({ "overlap": "until_first_use" }));
    }
    value
        .parse::<u32>()
        .map(|seconds| json!({ "overlap_seconds": seconds }))
        .map_err(|_| format!("{value:?} is neither a number of seconds nor until_first_use"))
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The token to check (default: read from standard input).
    token_to_check: Option<String>,
    /// The workspace the token should act in.
    #[arg(long)]
    workspace: Option<String>,
    /// A permission the token must hold (repeatable).
    #[arg(long = "permission")]
    permissions: Vec<String>,
    /// The verifier credential to ask with (`tessera admin verifier add`
    /// prints one); the server requires one unless it opened verification.
    #[arg(long, env = "TESSERA_VERIFIER", hide_env_values = true)]
    verifier: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let base = args.url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("--url/TESSERA_URL must start with http:// or https://, not \"{base}\"");
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .user_agent(concat!("tessera-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base,
            token: args.token.clone().filter(|t| !t.is_empty()),
        })
    }

    fn require_token(&self) -> anyhow::Result<&str> {
        self.token
            .as_deref()
            .ok_or_else(|| anyhow!("no token: set TESSERA_TOKEN (or pass --token)"))
    }

    /// Sends a request; a non-2xx answer becomes an error carrying the
    /// server's message.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        authenticated: bool,
    ) -> anyhow::Result<Option<Value>> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if authenticated {
            request = request.bearer_auth(self.require_token()?);
        }
        self.send(request, body).await
    }

    /// Sends `request` with `body`; the JSON answer of a 2xx, or an error
    /// saying what the server said.
    async fn send(
        &self,
        mut request: reqwest::RequestBuilder,
        body: Option<Value>,
    ) -> anyhow::Result<Option<Value>> {
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the Tessera server at {}", self.base))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let parsed: Option<Value> = serde_json::from_str(&text).ok();
            let error = parsed.as_ref().and_then(|v| v.get("error"));
            let code = error
                .and_then(|e| e.get("code"))
                .and_then(Value::as_str)
                .unwrap_or("error");
            let message = error
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or(status.canonical_reason().unwrap_or(""));
            bail!("{message} ({code}, HTTP {})", status.as_u16());
        }
        if status == StatusCode::NO_CONTENT || text.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            serde_json::from_str(&text).context("the server's answer is not JSON")?,
        ))
    }
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

pub async fn me(args: ClientArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args)?;
    let me = api
        .call(Method::GET, "/api/v1/me", None, true)
        .await?
        .unwrap_or_default();
    if args.json {
        print_json(&me)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(user) = me.get("user").filter(|u| !u.is_null()) {
        println!(
            "user:        {} ({})",
            text(user, "username"),
            text(user, "id")
        );
    }
    if let Some(key) = me.get("api_key").filter(|k| !k.is_null()) {
        println!("api key:     {} ({})", text(key, "name"), text(key, "id"));
    }
    let credential = &me["credential"];
    println!(
        "credential:  {} {}",
        text(credential, "kind"),
        text(credential, "id")
    );
    println!("expires:     {}", text(credential, "expires_at"));
    if let Some(workspaces) = me.get("workspaces").and_then(Value::as_array) {
        for w in workspaces {
            println!(
                "workspace:   {} ({}) as {}",
                text(w, "name"),
                text(w, "id"),
                text(w, "role")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn token(command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create {
            name,
            expires_in,
            expires_at,
            permissions,
            workspace,
            client,
        } => {
            let api = Api::new(&client)?;
            let mut body = json!({ "name": name });
            if let Some(e) = expires_in {
                body["expires_in"] = json!(e);
            }
            if let Some(e) = expires_at {
                body["expires_at"] = json!(e);
            }
            if !permissions.is_empty() {
                body["permissions"] = json!(permissions);
            }
            if let Some(w) = workspace {
                body["workspace_id"] = json!(w);
            }
            let created = api
                .call(Method::POST, "/api/v1/tokens", Some(body), true)
                .await?
                .unwrap_or_default();
            print_secret(&created, client.json, "Created")?;
        }
        TokenCommand::List { client } => {
            let api = Api::new(&client)?;
            let list = api
                .call(Method::GET, "/api/v1/tokens", None, true)
                .await?
                .unwrap_or_default();
            if client.json {
                print_json(&list)?;
            } else {
                let rows: Vec<Vec<String>> = list["items"]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|t| {
                                vec![
                                    text(t, "id"),
                                    text(t, "name"),
                                    format!("{}…{}", text(t, "prefix"), text(t, "last4")),
                                    text(t, "status"),
                                    text(t, "expires_at"),
                                    text(t, "last_used_at"),
                                ]
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                table(
                    &["ID", "NAME", "TOKEN", "STATUS", "EXPIRES", "LAST USED"],
                    &rows,
                );
            }
        }
        TokenCommand::Revoke { id, all, client } => {
            let api = Api::new(&client)?;
            if all {
                let answer = api
                    .call(Method::DELETE, "/api/v1/tokens", None, true)
                    .await?
                    .unwrap_or_default();
                if client.json {
                    print_json(&answer)?;
                } else {
                    println!("Revoked {} tokens.", text(&answer, "revoked"));
                }
            } else {
                let id = id.ok_or_else(|| anyhow!("name a token id, or pass --all"))?;
                api.call(
                    Method::DELETE,
                    &format!("/api/v1/tokens/{}", path_segment(&id)?),
                    None,
                    true,
                )
                .await?;
                if client.json {
                    print_json(&json!({ "revoked": id }))?;
                } else {
                    println!("Revoked {id}.");
                }
            }
        }
        TokenCommand::Rotate {
            id,
            overlap,
            client,
        } => {
            let api = Api::new(&client)?;
            let path = format!("/api/v1/tokens/{}/rotate", path_segment(&id)?);
            let rotated = api
                .call(Method::POST, &path, Some(overlap), true)
                .await?
                .unwrap_or_default();
            print_secret(&rotated, client.json, "Rotated")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An id goes into a URL path: refuse anything that could change the path.
fn path_segment(id: &str) -> anyhow::Result<&str> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        bail!("\"{id}\" is not a token id (tok_…)");
    }
    Ok(id)
}

fn print_secret(answer: &Value, as_json: bool, verb: &str) -> anyhow::Result<()> {
    if as_json {
        return print_json(answer);
    }
    eprintln!(
        "{verb} token {} (\"{}\"), expires {}. Copy it now: it is not shown again.",
        text(answer, "id"),
        text(answer, "name"),
        text(answer, "expires_at")
    );
    println!("{}", text(answer, "token"));
    Ok(())
}

pub async fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.client)?;
    let token = match args.token_to_check {
        Some(t) => t,
        None => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim().to_owned()
        }
    };
    let mut body = json!({ "token": token });
    if let Some(w) = args.workspace {
        body["workspace_id"] = json!(w);
    }
    if !args.permissions.is_empty() {
        body["permissions"] = json!(args.permissions);
    }
    let mut request = api.http.post(format!("{}/api/v1/verify", api.base));
    if let Some(verifier) = &args.verifier {
        request = request.header("tessera-verifier", verifier.trim());
    }
    let answer = api.send(request, Some(body)).await?.unwrap_or_default();
    let valid = answer["valid"].as_bool().unwrap_or(false);
    if args.client.json {
        print_json(&answer)?;
    } else if valid {
        println!(
            "valid: token {} of user {} in workspace {}; permissions: {}",
            text(&answer, "token_id"),
            text(&answer, "user_id"),
            text(&answer, "workspace_id"),
            answer["permissions"]
                .as_array()
                .map(|p| p
                    .iter()
                    .map(|v| v.as_str().unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(" "))
                .unwrap_or_default()
        );
    } else {
        println!(
            "not valid: {} ({})",
            text(&answer, "message"),
            text(&answer, "code")
        );
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
