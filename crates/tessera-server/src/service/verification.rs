//! Verifying a presented token for the server's own surfaces (the API's
//! caller, verify, introspection, forward-auth), and settling what the
//! engine reports but leaves to its caller: a rotated-out secret (audited,
//! or on a rotation, a leak that revokes the token) and the first use of a
//! hand-off rotation's new secret (which ends the old secrets' wait).

use std::sync::Arc;
use std::time::Duration;

use crate::client::ClientInfo;
use crate::principal::Presentation;
use crate::service::tokens::Tokens;
use crate::verification::{Audience, Verified, Verifier, VerifyFailure, VerifyRequest};

/// A token whose rotated-out secret keeps being presented (a forgotten job
/// retrying in a loop) is audited at most this often; every refusal is
/// still counted in the metrics.
const ROTATED_OUT_AUDIT_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Verification {
    verifier: Arc<Verifier>,
    tokens: Tokens,
    /// Tokens whose rotated-out secret was audited within the interval.
    rotated_out_audited: moka::sync::Cache<String, ()>,
}

impl Verification {
    pub fn new(verifier: Arc<Verifier>, tokens: Tokens) -> Self {
        Verification {
            verifier,
            tokens,
            rotated_out_audited: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(ROTATED_OUT_AUDIT_INTERVAL)
                .build(),
        }
    }

    /// Verifies `token` for a request naming `workspace_header` and needing
    /// `required`. A secret retired by rotation is refused and audited, and
    /// the token stands; presented to rotate the token, it shows a leak: the
    /// token is revoked everywhere, and the caller gets `ReuseDetected`.
    pub async fn verify(
        &self,
        token: &str,
        workspace_header: Option<&str>,
        required: &[String],
        client: &ClientInfo,
        presentation: Presentation,
        audience: Option<&Audience>,
    ) -> Result<Verified, VerifyFailure> {
        let outcome = self
            .verifier
            .verify(VerifyRequest {
                token,
                workspace_header,
                required,
                client: client.as_client(),
                from_a_product: presentation == Presentation::Question,
                audience,
            })
            .await;
        match &outcome {
            Err(VerifyFailure::RotatedOut(record)) => match presentation {
                Presentation::Rotation => {
                    self.tokens.revoke_reused(record, client).await?;
                    return Err(VerifyFailure::Denied {
                        denial: tessera_core::Denial::ReuseDetected,
                        retry_after: None,
                    });
                }
                Presentation::Use | Presentation::Question => {
                    let first_in_interval = self
                        .rotated_out_audited
                        .entry_by_ref(&record.id)
                        .or_insert(())
                        .is_fresh();
                    if first_in_interval {
                        self.tokens.rotated_out_presented(record, client).await;
                    }
                }
            },
            Ok(verified) => {
                if let Some((token_id, digest)) = verified.ends_handoff() {
                    self.tokens.complete_handoff(token_id, digest).await;
                }
            }
            Err(_) => {}
        }
        match outcome {
            // A verifier learns nothing of a token outside its audience, not
            // even that one of its old secrets was presented.
            Err(VerifyFailure::RotatedOut(record))
                if audience
                    .is_some_and(|a| !a.admits(&record.kind, record.workspace_id.as_deref())) =>
            {
                Err(VerifyFailure::Denied {
                    denial: tessera_core::Denial::Unknown,
                    retry_after: None,
                })
            }
            outcome => outcome,
        }
    }
}
