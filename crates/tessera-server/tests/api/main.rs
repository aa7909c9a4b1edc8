//! The management API over real HTTP against real stores. Every story runs
//! on SQLite and on PostgreSQL.

mod helpers;

mod openapi;

mod admin;
mod api_keys;
mod auth;
mod bad_input;
mod basic;
mod profiles;
mod proxies;
mod roles;
mod rotation;
mod session;
mod sign_in_throttle;
mod text;
mod tokens;
mod verifiers;
mod verify;
mod web;
