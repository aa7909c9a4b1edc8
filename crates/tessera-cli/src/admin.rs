//! `tessera admin …`: bootstrap and recovery, straight on the database the
//! configuration names (no server needed). Every change is audited as done
//! from the command line.

use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::Subcommand;
use time::OffsetDateTime;

use tessera_core::kind::OwnerType;
use tessera_core::policy::UserStatus;
use tessera_server::principal::Actor;
use tessera_server::routes::views::{
    CreatedVerifierView, IssuedView, MemberView, TokenView, UserView, VerifierView, WorkspaceView,
};
use tessera_server::service::tokens::IssueRequest;
use tessera_server::service::verifiers::NewVerifier;
use tessera_server::service::{rfc3339, validate};
use tessera_server::AppState;
use tessera_store::{Page, User};

use crate::config_args::ConfigArgs;
use crate::output::{json, table};
use crate::serve::open;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Apply pending database migrations (also done at every start).
    Migrate(ConfigArgs),
    /// Users: add, list, suspend, reactivate, remove, set-password.
    #[command(subcommand)]
    User(UserCommand),
    /// Workspaces: add, list.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Memberships: set a role, remove.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Issue a personal access token for a user, printed once.
    #[command(subcommand)]
    Token(AdminTokenCommand),
    /// Verifier credentials, which products and gateways present to ask
    /// about tokens: add (the secret is printed once), list, revoke.
    #[command(subcommand)]
    Verifier(VerifierCommand),
}

#[derive(Subcommand)]
pub enum VerifierCommand {
    /// Create a verifier credential and print its secret once.
    Add {
        /// What asks with it (e.g. "nginx gateway").
        name: String,
        /// Answer it only about tokens acting in this workspace (repeatable).
        #[arg(long = "workspace")]
        workspaces: Vec<String>,
        /// Answer it only about tokens of this kind (repeatable).
        #[arg(long = "kind")]
        kinds: Vec<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List unrevoked verifier credentials, newest first.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Revoke a verifier credential on every instance at once.
    Revoke {
        /// Verifier id (`vfr_…`).
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user. The password comes from --password or TESSERA_NEW_PASSWORD.
    Add {
        username: String,
        #[arg(long, env = "TESSERA_NEW_PASSWORD", hide_env_values = true)]
        password: String,
        /// Make the user a deployment administrator.
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List users, newest first.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Suspend a user: their tokens stop working at once.
    Suspend {
        user: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Reactivate a suspended user.
    Reactivate {
        user: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Remove a user for good: their tokens die; API keys they created live on.
    Remove {
        user: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Set a user's password (from --password or TESSERA_NEW_PASSWORD).
    SetPassword {
        user: String,
        #[arg(long, env = "TESSERA_NEW_PASSWORD", hide_env_values = true)]
        password: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace.
    Add {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List workspaces, newest first.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
pub enum MemberCommand {
    /// Give a user a role in a workspace (takes effect on their next request).
    Set {
        /// Workspace id.
        workspace: String,
        /// User id or username.
        user: String,
        role: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Remove a user from a workspace.
    Remove {
        workspace: String,
        user: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Subcommand)]
pub enum AdminTokenCommand {
    /// Issue a personal access token for a user and print it once.
    Issue {
        /// User id or username.
        #[arg(long)]
        user: String,
        #[arg(long, default_value = "issued by tessera admin")]
        name: String,
        /// An expiry preset such as 30d, 1y or never (default: the kind's default).
        /// The tokens it creates cannot outlive it: for a token you manage
        /// tokens with, choose a longer life than theirs.
        #[arg(long, conflicts_with = "expires_at")]
        expires_in: Option<String>,
        /// An exact expiry (RFC 3339).
        #[arg(long)]
        expires_at: Option<String>,
        /// Narrow the token to these permissions (repeatable).
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// Bind the token to a workspace.
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub async fn run(command: AdminCommand) -> anyhow::Result<ExitCode> {
    let actor = Actor::cli();
    match command {
        AdminCommand::Migrate(config) => {
            let state = open(&config).await?;
            println!("The database {} is up to date.", state.config.database_url);
        }
        AdminCommand::User(cmd) => user(cmd, &actor).await?,
        AdminCommand::Workspace(cmd) => workspace(cmd, &actor).await?,
        AdminCommand::Member(cmd) => member(cmd, &actor).await?,
        AdminCommand::Token(cmd) => token(cmd, &actor).await?,
        AdminCommand::Verifier(cmd) => verifier(cmd, &actor).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A user by id (`usr_…`) or username.
async fn find_user(state: &AppState, key: &str) -> anyhow::Result<User> {
    let found = if key.starts_with("usr_") {
        state.store.user(key).await?
    } else {
        state.store.user_by_username(key).await?
    };
    found.ok_or_else(|| anyhow!("no user \"{key}\""))
}

fn user_rows(users: &[User]) -> Vec<Vec<String>> {
    users
        .iter()
        .map(|u| {
            vec![
                u.id.clone(),
                u.username.clone(),
                u.status.to_string(),
                if u.is_admin { "yes".into() } else { "".into() },
                rfc3339(u.created_at),
            ]
        })
        .collect()
}

async fn user(cmd: UserCommand, actor: &Actor) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            username,
            password,
            admin,
            display_name,
            json: as_json,
            config,
        } => {
            let state = open(&config).await?;
            let user = state
                .users
                .create(&username, password, admin, display_name, actor)
                .await?;
            if as_json {
                json(&UserView::from(&user))?;
            } else {
                println!("Created user {} ({}).", user.username, user.id);
            }
        }
        UserCommand::List {
            json: as_json,
            config,
        } => {
            let state = open(&config).await?;
            let users = state
                .store
                .list_users(&Page::first(tessera_store::MAX_PAGE))
                .await?;
            if as_json {
                json(&users.iter().map(UserView::from).collect::<Vec<_>>())?;
            } else {
                table(
                    &["ID", "USERNAME", "STATUS", "ADMIN", "CREATED"],
                    &user_rows(&users),
                );
            }
        }
        UserCommand::Suspend { user, config } => {
            set_status(&config, &user, UserStatus::Suspended, actor).await?
        }
        UserCommand::Reactivate { user, config } => {
            set_status(&config, &user, UserStatus::Active, actor).await?
        }
        UserCommand::Remove { user, config } => {
            set_status(&config, &user, UserStatus::Removed, actor).await?
        }
        UserCommand::SetPassword {
            user,
            password,
            config,
        } => {
            let state = open(&config).await?;
            let found = find_user(&state, &user).await?;
            tessera_server::password::validate(&password).map_err(|m| anyhow!(m))?;
            let hash = tessera_server::password::hash(password).await?;
            state
                .store
                .set_password(&found.id, &hash, OffsetDateTime::now_utc())
                .await?;
            state.store.delete_user_sessions(&found.id).await?;
            state
                .audit
                .record(
                    actor,
                    "user.set_password",
                    Some(tessera_server::principal::Target {
                        kind: "user",
                        id: &found.id,
                        workspace_id: None,
                    }),
                    serde_json::json!({ "username": found.username }),
                )
                .await;
            println!(
                "Password set for {}; their browser sessions were signed out.",
                found.username
            );
        }
    }
    Ok(())
}

async fn set_status(
    config: &ConfigArgs,
    key: &str,
    status: UserStatus,
    actor: &Actor,
) -> anyhow::Result<()> {
    let state = open(config).await?;
    let found = find_user(&state, key).await?;
    let user = state.users.set_status(&found.id, status, actor).await?;
    println!("{} is now {}.", user.username, user.status);
    Ok(())
}

async fn verifier(cmd: VerifierCommand, actor: &Actor) -> anyhow::Result<()> {
    match cmd {
        VerifierCommand::Add {
            name,
            workspaces,
            kinds,
            json: as_json,
            config,
        } => {
            let state = open(&config).await?;
            let request = NewVerifier {
                name,
                workspace_ids: workspaces,
                kinds,
            };
            let (record, secret) = state.verifiers.create(request, actor).await?;
            if as_json {
                json(&CreatedVerifierView {
                    record: VerifierView::from(&record),
                    secret: secret.expose().to_owned(),
                })?;
            } else {
                println!("Created verifier \"{}\" ({}).", record.name, record.id);
                println!("Its secret, shown this once: {}", secret.expose());
                println!(
                    "Send it as the header `Tessera-Verifier: <secret>` on POST /api/v1/verify, \
                     POST /oauth/introspect and GET /auth."
                );
            }
        }
        VerifierCommand::List {
            json: as_json,
            config,
        } => {
            let state = open(&config).await?;
            let verifiers = state.verifiers.list().await?;
            if as_json {
                json(&verifiers.iter().map(VerifierView::from).collect::<Vec<_>>())?;
            } else {
                let everything = |list: &[String]| match list {
                    [] => "all".to_owned(),
                    some => some.join(" "),
                };
                let rows: Vec<Vec<String>> = verifiers
                    .iter()
                    .map(|v| {
                        vec![
                            v.id.clone(),
                            v.name.clone(),
                            everything(&v.audience.workspace_ids),
                            everything(&v.audience.kinds),
                            rfc3339(v.created_at),
                        ]
                    })
                    .collect();
                table(&["ID", "NAME", "WORKSPACES", "KINDS", "CREATED"], &rows);
            }
        }
        VerifierCommand::Revoke { id, config } => {
            let state = open(&config).await?;
            state
                .verifiers
                .revoke(&id, actor)
                .await
                .map_err(|e| match e {
                    tessera_server::AppError::NotFound => {
                        anyhow!(
                            "no unrevoked verifier \"{id}\" (see `tessera admin verifier list`)"
                        )
                    }
                    other => other.into(),
                })?;
            println!("Revoked verifier {id}: it is refused on every instance from now on.");
        }
    }
    Ok(())
}

async fn workspace(cmd: WorkspaceCommand, actor: &Actor) -> anyhow::Result<()> {
    match cmd {
        WorkspaceCommand::Add {
            name,
            json: as_json,
            config,
        } => {
            let state = open(&config).await?;
            let workspace = state.workspaces.create(&name, actor).await?;
            if as_json {
                json(&WorkspaceView::from(&workspace))?;
            } else {
                println!("Created workspace {} ({}).", workspace.name, workspace.id);
            }
        }
        WorkspaceCommand::List {
            json: as_json,
            config,
        } => {
            let state = open(&config).await?;
            let workspaces = state
                .store
                .list_workspaces(&Page::first(tessera_store::MAX_PAGE))
                .await?;
            if as_json {
                json(
                    &workspaces
                        .iter()
                        .map(WorkspaceView::from)
                        .collect::<Vec<_>>(),
                )?;
            } else {
                let rows: Vec<Vec<String>> = workspaces
                    .iter()
                    .map(|w| vec![w.id.clone(), w.name.clone(), rfc3339(w.created_at)])
                    .collect();
                table(&["ID", "NAME", "CREATED"], &rows);
            }
        }
    }
    Ok(())
}

async fn member(cmd: MemberCommand, actor: &Actor) -> anyhow::Result<()> {
    match cmd {
        MemberCommand::Set {
            workspace,
            user,
            role,
            json: as_json,
            config,
        } => {
            let state = open(&config).await?;
            let found = find_user(&state, &user).await?;
            state
                .workspaces
                .set_member_role(&workspace, &found.id, &role, actor)
                .await
                .with_context(|| format!("cannot set {}'s role in {workspace}", found.username))?;
            let membership = state
                .store
                .membership(&workspace, &found.id)
                .await?
                .ok_or_else(|| anyhow!("the membership vanished"))?;
            if as_json {
                json(&MemberView::from(&membership))?;
            } else {
                println!(
                    "{} is now {} in {}.",
                    found.username, membership.role, workspace
                );
            }
        }
        MemberCommand::Remove {
            workspace,
            user,
            config,
        } => {
            let state = open(&config).await?;
            let found = find_user(&state, &user).await?;
            if !state
                .workspaces
                .remove_member(&workspace, &found.id, actor)
                .await?
            {
                bail!("{} is not a member of {workspace}", found.username);
            }
            println!("Removed {} from {workspace}.", found.username);
        }
    }
    Ok(())
}

async fn token(cmd: AdminTokenCommand, actor: &Actor) -> anyhow::Result<()> {
    let AdminTokenCommand::Issue {
        user,
        name,
        expires_in,
        expires_at,
        permissions,
        workspace,
        json: as_json,
        config,
    } = cmd;
    let state = open(&config).await?;
    let found = find_user(&state, &user).await?;
    if found.status != UserStatus::Active {
        bail!(
            "{} is {}: reactivate them first",
            found.username,
            found.status
        );
    }
    let kind = state
        .config
        .kinds
        .first_owned_by(OwnerType::User)
        .ok_or_else(|| anyhow!("this deployment configures no personal token kind"))?;
    let name = validate::token_name(Some(&serde_json::Value::String(name)))?;
    let expiry = validate::expiry_request(expires_in.as_deref(), expires_at.as_deref())?;
    let permissions = (!permissions.is_empty())
        .then(|| validate::permission_list("--permission", &permissions))
        .transpose()?;
    let issued = state
        .tokens
        .issue(
            IssueRequest {
                kind,
                name,
                expiry,
                permissions,
                role: None,
                workspace_id: workspace,
                user_id: Some(found.id.clone()),
                created_by: None,
                ceiling: None,
            },
            actor,
        )
        .await?;
    if as_json {
        json(&IssuedView {
            record: TokenView::new(issued.record, OffsetDateTime::now_utc()),
            token: issued.token.expose().to_owned(),
        })?;
    } else {
        // The expiry is the limit of every token this one creates: say it.
        let expires = issued
            .record
            .expires_at
            .map_or_else(|| "never".to_owned(), tessera_server::service::rfc3339);
        eprintln!(
            "Issued token {} (\"{}\") for {}, expires {expires}. It is shown this once:",
            issued.record.id, issued.record.name, found.username
        );
        println!("{}", issued.token.expose());
    }
    Ok(())
}
