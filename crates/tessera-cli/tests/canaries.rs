//! The short version of the canary campaign (`tests/campaigns/canaries.py`):
//! tokens of every kind, passwords and sessions used everywhere with logging
//! at `trace`, then no secret (nor any 8-character run of one) anywhere
//! Tessera wrote. The campaign's README gives the long run.

mod support;

#[test]
fn no_secret_reaches_the_logs_the_database_or_any_later_answer() {
    support::campaign("canaries.py", &["--count", "15"], " secrets, 0 found");
}
