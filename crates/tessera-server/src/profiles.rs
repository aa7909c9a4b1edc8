//! Seed profiles: complete configurations under `profiles/` that make a
//! deployment behave as one of the five products whose public token
//! documentation Tessera was built from: GroupChat, Groo, TeamGantt, TeamDay
//! and an org/role product (`docs/profiles.md` quotes each). They are
//! compiled into the binary, so `tessera serve --profile NAME` works from any
//! folder; `tessera serve --config profiles/NAME.toml` reads the same text.

/// A profile: its name, what it is, and its `tessera.toml`.
pub struct Profile {
    pub name: &'static str,
    pub summary: &'static str,
    pub toml: &'static str,
}

pub const PROFILES: [Profile; 5] = [
    Profile {
        name: "groupchat",
        summary: "GroupChat: gcp_ PATs with X-Workspace-Id, gck_ workspace keys, gca_ agent tokens",
        toml: include_str!("../../../profiles/groupchat.toml"),
    },
    Profile {
        name: "groo",
        summary: "Groo: groo_pat_ + 64 hex, accepted in Cookie: session=; groo_ application tokens",
        toml: include_str!("../../../profiles/groo.toml"),
    },
    Profile {
        name: "teamgantt",
        summary: "TeamGantt: {id}|{secret} tokens and the /v1/current_user/tokens endpoints",
        toml: include_str!("../../../profiles/teamgantt.toml"),
    },
    Profile {
        name: "teamday",
        summary: "TeamDay: td_ tokens bound to the organisation, 7 to 365 days, no narrowing",
        toml: include_str!("../../../profiles/teamday.toml"),
    },
    Profile {
        name: "orgroles",
        summary: "Org/roles: PATs inherit the current role, admin-made API keys with a fixed role, no rotation",
        toml: include_str!("../../../profiles/orgroles.toml"),
    },
];

/// The profile called `name`.
pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The profiles' names, for error messages and `--help`.
pub fn names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}
