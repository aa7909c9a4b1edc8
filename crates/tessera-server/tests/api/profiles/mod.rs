//! One conformance file per seed profile (`profiles/*.toml`): each walks its
//! product's document (`../shared/seeds/`) point by point, a test per stated
//! behaviour, named after the sentence it checks, on both stores.

mod groo;
mod groupchat;
mod orgroles;
mod teamday;
mod teamgantt;
