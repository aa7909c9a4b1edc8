//! Verifying a presented token for the server's own surfaces (the API's
//! caller, verify, introspection, forward-auth), and settling what the
//! engine reports but leaves to its caller.

use std::sync::Arc;

use crate::client::ClientInfo;
use crate::service::tokens::Tokens;
use crate::verification::{Verified, Verifier, VerifyFailure, VerifyRequest};

#[derive(Clone)]
pub struct Verification {
    verifier: Arc<Verifier>,
    tokens: Tokens,
}

impl Verification {
    pub fn new(verifier: Arc<Verifier>, tokens: Tokens) -> Self {
        Verification { verifier, tokens }
    }

    /// Verifies `token` for a request naming `workspace_header` and needing
    /// `required`. A rotated-out secret presented after its overlap means it
    /// leaked: the token is revoked everywhere and audited, and the caller
    /// gets the refusal.
    pub async fn verify(
        &self,
        token: &str,
        workspace_header: Option<&str>,
        required: &[String],
        client: &ClientInfo,
    ) -> Result<Verified, VerifyFailure> {
        let outcome = self
            .verifier
            .verify(VerifyRequest {
                token,
                workspace_header,
                required,
                client: client.as_client(),
            })
            .await;
        if let Err(VerifyFailure::ReusedSecret(record)) = &outcome {
            self.tokens.revoke_reused(record, client).await?;
        }
        outcome
    }
}
