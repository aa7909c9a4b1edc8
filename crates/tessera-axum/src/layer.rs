use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::config::{ConfigError, TesseraConfig};
use crate::verifier::Verifier;

/// Verifies every request of the routes it wraps with Tessera before they
/// reach the handler.
///
/// Build one per Tessera and derive a layer per route with
/// [`TesseraLayer::require`]: the derived layers share the HTTP connections
/// and the cache, so a token verified for one route is not verified again
/// for the next request to it.
#[derive(Clone)]
pub struct TesseraLayer {
    verifier: Arc<Verifier>,
    required: Arc<[String]>,
}

impl std::fmt::Debug for TesseraLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TesseraLayer")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl TesseraLayer {
    /// # Panics
    ///
    /// When the configuration is unusable (see [`TesseraLayer::try_new`]):
    /// a product must not start with authentication it cannot perform.
    pub fn new(config: TesseraConfig) -> Self {
        match TesseraLayer::try_new(config) {
            Ok(layer) => layer,
            Err(e) => panic!("tessera-axum: {e}"),
        }
    }

    /// Checks the whole configuration up front (URL, header and cookie
    /// names), so that a mistake stops the start instead of answering 503
    /// to every request.
    pub fn try_new(config: TesseraConfig) -> Result<Self, ConfigError> {
        Ok(TesseraLayer {
            verifier: Arc::new(Verifier::new(&config)?),
            required: Arc::from(Vec::new()),
        })
    }

    /// A layer for routes that need these permissions as well as any this
    /// layer already requires. Tessera checks them in the request's
    /// workspace, so a user's personal token must then name one with the
    /// workspace header (else 403 `workspace_required`). Without `require`
    /// the layer only checks that the token is valid.
    pub fn require<I, P>(&self, permissions: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        let mut required: Vec<String> = self.required.to_vec();
        required.extend(permissions.into_iter().map(Into::into));
        // One order for one set: the set is part of the cache key.
        required.sort();
        required.dedup();
        TesseraLayer {
            verifier: self.verifier.clone(),
            required: required.into(),
        }
    }
}

impl<S> Layer<S> for TesseraLayer {
    type Service = TesseraService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TesseraService {
            inner,
            verifier: self.verifier.clone(),
            required: self.required.clone(),
        }
    }
}

/// The service [`TesseraLayer`] wraps around a route.
#[derive(Clone)]
pub struct TesseraService<S> {
    inner: S,
    verifier: Arc<Verifier>,
    required: Arc<[String]>,
}

impl<S> std::fmt::Debug for TesseraService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TesseraService")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<Request<B>> for TesseraService<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The service that was polled ready is the one to call; leave a
        // fresh clone behind for the next request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let required = self.required.clone();
        let presented = verifier.presented(request.headers());
        Box::pin(async move {
            match verifier.verify(presented, &required).await {
                Ok(identity) => {
                    request.extensions_mut().insert(identity);
                    inner.call(request).await.map(IntoResponse::into_response)
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}
