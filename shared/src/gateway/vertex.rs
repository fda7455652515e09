//! Vertex AI access tokens: one per service account, cached until a minute before it expires,
//! refreshed by one request at a time (concurrent requests wait for that refresh, not start their
//! own). A request waits no longer than its own time left; a failed refresh is remembered for
//! `FAILURE_MEMORY`, so a token endpoint that is down or hangs is not asked again by every request.

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::lock::Mutex;

use super::discovery::collect;
use super::Inner;
use crate::adapters::vertex::auth;
use crate::config::{Provider, Secret, VertexAccount};
use crate::error::scrub;
use crate::platform::{SendOptions, UnixMillis};

const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Refresh this long before the token's end, so no request carries a token about to expire.
const EARLY_REFRESH: Duration = Duration::from_secs(60);
const FAILURE_MEMORY: Duration = Duration::from_secs(10);

/// One service account's token, or the refresh that just failed.
#[derive(Default)]
pub(super) struct TokenSlot {
    token: Option<(Secret, UnixMillis)>,
    failed: Option<(String, UnixMillis)>,
}

/// The cached token of each provider (indexed like `Config::providers`).
pub(super) type TokenSlots = Vec<Mutex<TokenSlot>>;

pub(super) fn slots(providers: usize) -> TokenSlots {
    (0..providers).map(|_| Mutex::new(TokenSlot::default())).collect()
}

impl Inner {
    /// A valid access token for provider `index`'s service account, within `wait`.
    pub(super) async fn vertex_token(&self, index: usize, wait: Duration) -> Result<Secret, String> {
        match select(Box::pin(self.refreshed_token(index)), self.platform.runtime.sleep(wait)).await {
            Either::Left((result, _)) => result,
            // Another request's refresh goes on; this one has run out of time.
            Either::Right(_) => {
                Err(format!("Vertex AI token: none within the {} s the request had left", wait.as_secs_f64()))
            }
        }
    }

    async fn refreshed_token(&self, index: usize) -> Result<Secret, String> {
        let provider = &self.config.providers[index];
        let account = provider.vertex.as_ref().ok_or("no Vertex service account configured")?;
        // Holding the slot across the refresh makes concurrent requests share one token request.
        // Where requests cannot wait for each other, a request finding a refresh under way makes
        // its own (a burst at expiry costs a few token requests, not a hung request).
        let mut slot = if self.platform.runtime.shares_work_across_requests() {
            self.vertex_tokens[index].lock().await
        } else {
            match self.vertex_tokens[index].try_lock() {
                Some(slot) => slot,
                None => return self.token_exchange(provider, account).await.map(|(token, _)| token),
            }
        };
        let now = self.platform.runtime.now();
        if let Some((token, until)) = &slot.token {
            if *until > now.plus(EARLY_REFRESH) {
                return Ok(token.clone());
            }
        }
        if let Some((reason, until)) = &slot.failed {
            if *until > now {
                return Err(reason.clone());
            }
        }
        match self.token_exchange(provider, account).await {
            Ok((token, until)) => {
                slot.token = Some((token.clone(), until));
                slot.failed = None;
                Ok(token)
            }
            Err(reason) => {
                slot.failed = Some((reason.clone(), self.platform.runtime.now().plus(FAILURE_MEMORY)));
                Err(reason)
            }
        }
    }

    /// One request to the token endpoint: the token and when it expires.
    async fn token_exchange(
        &self,
        provider: &Provider,
        account: &VertexAccount,
    ) -> Result<(Secret, UnixMillis), String> {
        let now = self.platform.runtime.now();
        let assertion = auth::assertion(account, now.0 / 1000)?;
        let request = auth::token_request(account, &assertion)?;
        let options = SendOptions::upstream(provider.proxy.clone().or_else(|| self.config.global.proxy.clone()));
        let exchange = async {
            let response = self.platform.http.send(request, options).await.map_err(|e| e.to_string())?;
            let status = response.status();
            let body = collect(response.into_body(), 1024 * 1024).await?;
            auth::parse_token(&body).map_err(|e| {
                if status.is_success() {
                    e
                } else {
                    format!("HTTP {}: {e}", status.as_u16())
                }
            })
        };
        let result = match select(Box::pin(exchange), self.platform.runtime.sleep(TOKEN_TIMEOUT)).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(format!("the token endpoint did not answer within {} s", TOKEN_TIMEOUT.as_secs())),
        };
        let (token, expires_in) =
            result.map_err(|e| format!("Vertex AI token: {}", scrub(&e, [account.private_key.expose()])))?;
        Ok((Secret::new(token), now.plus(Duration::from_secs(expires_in))))
    }
}
