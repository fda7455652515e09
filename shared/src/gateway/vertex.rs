//! Vertex AI access tokens: one per service account, cached until a minute before it expires,
//! refreshed by one request at a time (concurrent requests wait for that refresh, not start their own).

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::lock::Mutex;

use super::discovery::collect;
use super::Inner;
use crate::adapters::vertex::auth;
use crate::config::Secret;
use crate::error::scrub;
use crate::platform::{SendOptions, UnixMillis};

const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Refresh this long before the token's end, so no request carries a token about to expire.
const EARLY_REFRESH: Duration = Duration::from_secs(60);

/// The cached token of each provider (indexed like `Config::providers`).
pub(super) type TokenSlots = Vec<Mutex<Option<(Secret, UnixMillis)>>>;

pub(super) fn slots(providers: usize) -> TokenSlots {
    (0..providers).map(|_| Mutex::new(None)).collect()
}

impl Inner {
    /// A valid access token for provider `index`'s service account.
    pub(super) async fn vertex_token(&self, index: usize) -> Result<Secret, String> {
        let provider = &self.config.providers[index];
        let account = provider.vertex.as_ref().ok_or("no Vertex service account configured")?;
        // Holding the slot across the refresh makes concurrent requests share one token request.
        let mut slot = self.vertex_tokens[index].lock().await;
        let now = self.platform.runtime.now();
        if let Some((token, until)) = slot.as_ref() {
            if *until > now.plus(EARLY_REFRESH) {
                return Ok(token.clone());
            }
        }
        let assertion = auth::assertion(account, now.0 / 1000)?;
        let request = auth::token_request(account, &assertion)?;
        let options = SendOptions { proxy: provider.proxy.clone().or_else(|| self.config.global.proxy.clone()) };
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
        let token = Secret::new(token);
        *slot = Some((token.clone(), now.plus(Duration::from_secs(expires_in))));
        Ok(token)
    }
}
