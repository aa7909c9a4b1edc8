//! One conformance file per seed profile (`profiles/*.toml`): each walks its
//! product's public token documentation (GroupChat, Groo, TeamGantt,
//! TeamDay, the org/role product) point by point, a test per stated
//! behaviour, named after the sentence it checks, on both stores.
//! `docs/profiles.md` quotes every statement beside its setting and test.

mod groo;
mod groupchat;
mod orgroles;
mod teamday;
mod teamgantt;
