//! Outbound requests made on a client's behalf (image URLs): a reqwest client whose resolver
//! hands the connector only the addresses `Destinations` allows, so the address checked is the
//! address connected to (no second lookup an attacker's DNS could answer differently).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use uni_api_core::platform::{Destinations, TransportError, TransportErrorKind};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Resolves with the system resolver, then keeps the allowed addresses.
struct GuardedResolver {
    destinations: Arc<Destinations>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let destinations = self.destinations.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let open = destinations.allows_host(&host);
            let allowed: Vec<SocketAddr> =
                found.into_iter().filter(|a| open || destinations.allows_ip(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// A client built for one allow list and proxy.
struct Built {
    destinations: Arc<Destinations>,
    proxy: Option<String>,
    client: reqwest::Client,
}

/// One guarded client per allow list (a config has one; a reload brings a new one).
#[derive(Default)]
pub struct GuardedClients {
    current: Mutex<Option<Built>>,
}

impl GuardedClients {
    pub fn client(
        &self,
        destinations: &Arc<Destinations>,
        proxy: Option<&str>,
        agent: &str,
    ) -> Result<reqwest::Client, TransportError> {
        let mut current = self.current.lock();
        if let Some(built) = current.as_ref() {
            if Arc::ptr_eq(&built.destinations, destinations) && built.proxy.as_deref() == proxy {
                return Ok(built.client.clone());
            }
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(agent)
            // A redirect could point anywhere, including a private address: not followed.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver { destinations: destinations.clone() }));
        builder = match proxy {
            // Behind a proxy, the proxy resolves names; literal addresses were checked already.
            Some(proxy) => builder.proxy(
                reqwest::Proxy::all(proxy)
                    .map_err(|_| TransportError::new(TransportErrorKind::Other, "invalid proxy URL"))?,
            ),
            None => builder.no_proxy(),
        };
        let client = builder.build().map_err(|e| TransportError::new(TransportErrorKind::Other, e.to_string()))?;
        *current =
            Some(Built { destinations: destinations.clone(), proxy: proxy.map(str::to_owned), client: client.clone() });
        Ok(client)
    }
}
