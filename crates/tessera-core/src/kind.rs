//! Credential kinds: what a deployment issues. Each kind fixes a token's
//! prefix and format, who owns it, how it picks a workspace, its expiry rules
//! and how much of it is shown back.

use serde::{Deserialize, Serialize};

use crate::expiry::{ExpiryPolicy, Lifetime};
use crate::format::{self, ParseError, ParsedToken, TokenFormat, TokenShape};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerType {
    /// A personal access token: acts as its user, with the user's current role.
    User,
    /// An API key: owned by a workspace, with a role or permissions fixed at
    /// creation; it outlives the member who created it.
    Workspace,
    /// An agent token: owned by an agent, a service account of one workspace
    /// (a user record that can never sign in), and bound to that workspace.
    /// It acts with the agent's current role there, like a personal token
    /// acts with its user's; it outlives the member who created it.
    Agent,
}

impl OwnerType {
    /// Whether a user record holds tokens of this kind: a person, or an
    /// agent (a service account). Such tokens stop with their holder's
    /// status, act with the holder's role, and count against the holder's
    /// token limit; a workspace's API keys have no holder.
    pub fn held_by_a_user(self) -> bool {
        matches!(self, OwnerType::User | OwnerType::Agent)
    }

    /// What a kind with this owner is called in messages.
    pub fn describe(self) -> &'static str {
        match self {
            OwnerType::User => "personal token",
            OwnerType::Workspace => "workspace API key",
            OwnerType::Agent => "agent token",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceBinding {
    /// The workspace is chosen per request with the workspace header, unless
    /// the token was bound to one at creation.
    Header,
    /// The workspace is fixed at creation and required then.
    Bound,
    /// Tokens of this kind never act in a workspace.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialKind {
    pub name: String,
    pub prefix: String,
    pub format: TokenFormat,
    pub owner: OwnerType,
    pub binding: WorkspaceBinding,
    pub expiry: ExpiryPolicy,
    /// Characters of the token shown to its owner, from the start.
    pub display_prefix_len: usize,
    /// Whether a create request may narrow permissions to a subset.
    pub allow_narrowing: bool,
    /// Whether tokens of this kind may be rotated.
    pub allow_rotation: bool,
    /// Every verification must name its workspace in the workspace header
    /// (GroupChat: "Include the X-Workspace-Id header with every request");
    /// only for `binding = "header"` kinds.
    pub require_workspace_header: bool,
    /// Whether a token of this kind is accepted as the password of HTTP
    /// Basic (`Authorization: Basic base64(<any user>:<token>)`), for
    /// clients that can only send a username and password (git, Docker,
    /// Maven). On for personal tokens by default, as GitHub and GitLab do.
    #[serde(default)]
    pub basic_auth: bool,
}

pub const DEFAULT_DISPLAY_PREFIX_LEN: usize = 12;

impl CredentialKind {
    pub fn shape(&self) -> TokenShape {
        TokenShape {
            prefix: self.prefix.clone(),
            format: self.format,
        }
    }

    /// The default personal access token: `tsr_pat_…`, 90 days maximum is not
    /// imposed (GitHub allows "no expiration" with a warning; we preselect 30 days).
    pub fn default_pat() -> Self {
        Self {
            name: "pat".into(),
            prefix: "tsr_pat_".into(),
            format: TokenFormat::Checksummed,
            owner: OwnerType::User,
            binding: WorkspaceBinding::Header,
            expiry: ExpiryPolicy::default(),
            display_prefix_len: DEFAULT_DISPLAY_PREFIX_LEN,
            allow_narrowing: true,
            allow_rotation: true,
            require_workspace_header: false,
            basic_auth: true,
        }
    }

    /// The default workspace API key: `tsr_key_…`, bound to its workspace.
    pub fn default_api_key() -> Self {
        Self {
            name: "api_key".into(),
            prefix: "tsr_key_".into(),
            format: TokenFormat::Checksummed,
            owner: OwnerType::Workspace,
            binding: WorkspaceBinding::Bound,
            expiry: ExpiryPolicy {
                default: crate::expiry::Preset::After(Lifetime::days(90)),
                ..ExpiryPolicy::default()
            },
            display_prefix_len: DEFAULT_DISPLAY_PREFIX_LEN,
            allow_narrowing: true,
            allow_rotation: true,
            require_workspace_header: false,
            basic_auth: false,
        }
    }

    /// The default agent token: `tsr_agt_…`, bound to its agent's workspace.
    /// No deployment issues it unless it configures an agent kind.
    pub fn default_agent_token() -> Self {
        Self {
            name: "agent_token".into(),
            prefix: "tsr_agt_".into(),
            owner: OwnerType::Agent,
            ..Self::default_api_key()
        }
    }

    /// Checks one kind on its own.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 40
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return Err(format!(
                "kind name \"{}\" must be 1-40 lowercase letters, digits or `_`",
                self.name
            ));
        }
        let prefix_ok = self.prefix.len() <= 32
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !prefix_ok {
            return Err(format!(
                "kind \"{}\": prefix \"{}\" must be at most 32 letters, digits, `_` or `-`",
                self.name, self.prefix
            ));
        }
        if self.prefix == crate::verifier_credential::VERIFIER_PREFIX {
            return Err(format!(
                "kind \"{}\": the prefix \"{}\" belongs to verifier credentials",
                self.name, self.prefix
            ));
        }
        if self.prefix.is_empty() && self.format != TokenFormat::IdPipe {
            return Err(format!(
                "kind \"{}\": only the id-pipe format may have an empty prefix",
                self.name
            ));
        }
        if self.display_prefix_len < 4 || self.display_prefix_len > 24 {
            return Err(format!(
                "kind \"{}\": display_prefix_len must be between 4 and 24",
                self.name
            ));
        }
        if self.owner == OwnerType::Workspace && self.binding != WorkspaceBinding::Bound {
            return Err(format!(
                "kind \"{}\": workspace-owned kinds must use binding = \"bound\"",
                self.name
            ));
        }
        if self.owner == OwnerType::Agent && self.binding != WorkspaceBinding::Bound {
            return Err(format!(
                "kind \"{}\": agent-owned kinds must use binding = \"bound\" (an agent acts in its one workspace)",
                self.name
            ));
        }
        if self.require_workspace_header && self.binding != WorkspaceBinding::Header {
            return Err(format!(
                "kind \"{}\": require_workspace_header needs binding = \"header\" (a bound token's workspace is fixed)",
                self.name
            ));
        }
        self.expiry
            .validate()
            .map_err(|e| format!("kind \"{}\": {e}", self.name))
    }
}

/// The kinds of a deployment, with the parsing that recognises them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindSet {
    kinds: Vec<CredentialKind>,
    shapes: Vec<TokenShape>,
}

impl KindSet {
    pub fn new(kinds: Vec<CredentialKind>) -> Result<Self, String> {
        if kinds.is_empty() {
            return Err("at least one credential kind must be configured".into());
        }
        for (i, kind) in kinds.iter().enumerate() {
            kind.validate()?;
            for other in &kinds[..i] {
                if other.name == kind.name {
                    return Err(format!("kind \"{}\" is configured twice", kind.name));
                }
                if other.prefix == kind.prefix && other.format == kind.format {
                    return Err(format!(
                        "kinds \"{}\" and \"{}\" share the prefix \"{}\": tokens could not be told apart",
                        other.name, kind.name, kind.prefix
                    ));
                }
            }
        }
        let shapes = kinds.iter().map(CredentialKind::shape).collect();
        Ok(Self { kinds, shapes })
    }

    pub fn get(&self, name: &str) -> Option<&CredentialKind> {
        self.kinds.iter().find(|k| k.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &CredentialKind> {
        self.kinds.iter()
    }

    /// The first kind with the given owner: the one a plain "create a token"
    /// (or "create an API key") request makes.
    pub fn first_owned_by(&self, owner: OwnerType) -> Option<&CredentialKind> {
        self.kinds.iter().find(|k| k.owner == owner)
    }

    /// The names of every kind with the given owner: what "the caller's
    /// personal tokens" or "the workspace's API keys" lists filter on.
    pub fn names_owned_by(&self, owner: OwnerType) -> Vec<String> {
        self.kinds
            .iter()
            .filter(|k| k.owner == owner)
            .map(|k| k.name.clone())
            .collect()
    }

    /// Parses a presented token and names its kind, with no I/O.
    pub fn parse<'a>(
        &self,
        token: &'a str,
    ) -> Result<(&CredentialKind, ParsedToken<'a>), ParseError> {
        let parsed = format::parse(token, &self.shapes)?;
        Ok((&self.kinds[parsed.shape_index], parsed))
    }
}

impl Default for KindSet {
    fn default() -> Self {
        KindSet::new(vec![
            CredentialKind::default_pat(),
            CredentialKind::default_api_key(),
        ])
        .expect("default kinds are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_kinds_parse_their_own_tokens() {
        let kinds = KindSet::default();
        for kind in kinds.iter() {
            let token = format::generate(&kind.shape(), "tok_x");
            let (found, _) = kinds.parse(token.expose()).unwrap();
            assert_eq!(found.name, kind.name);
        }
    }

    #[test]
    fn kinds_must_be_distinguishable() {
        let mut twin = CredentialKind::default_pat();
        twin.name = "twin".into();
        assert!(KindSet::new(vec![CredentialKind::default_pat(), twin]).is_err());
    }

    #[test]
    fn workspace_owned_kinds_are_bound() {
        let mut key = CredentialKind::default_api_key();
        key.binding = WorkspaceBinding::Header;
        assert!(key.validate().is_err());
    }

    #[test]
    fn agent_owned_kinds_are_bound() {
        let mut agent = CredentialKind::default_agent_token();
        assert!(agent.validate().is_ok());
        agent.binding = WorkspaceBinding::Header;
        assert!(agent.validate().is_err());
        agent.binding = WorkspaceBinding::None;
        assert!(agent.validate().is_err());
    }
}
