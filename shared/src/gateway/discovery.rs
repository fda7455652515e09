//! Model auto-discovery for providers configured without a `model:` list.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::{join_all, select, Either};
use futures_util::StreamExt;

use crate::adapters;
use crate::config::{Config, ModelSource, Provider};
use crate::platform::{ByteStream, Platform, SendOptions};

const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);
const MAX_LISTING_BYTES: usize = 8 * 1024 * 1024;

pub(super) fn needed(config: &Config) -> bool {
    config.providers.iter().any(|p| p.models == ModelSource::Discover)
}

/// The providers (by index) that discover their models.
pub(super) fn wanted(config: &Config) -> impl Iterator<Item = usize> + '_ {
    config
        .providers
        .iter()
        .enumerate()
        .filter(|(_, p)| p.models == ModelSource::Discover && p.left_out.is_none())
        .map(|(i, _)| i)
}

/// Asks each of `providers` (indices) for its model list, all at once.
pub(super) async fn discover(
    config: &Config,
    platform: &Platform,
    providers: &[usize],
) -> (HashMap<usize, Vec<String>>, Vec<String>) {
    let jobs =
        providers.iter().map(|&i| async move { (i, discover_one(config, &config.providers[i], platform).await) });
    let mut found = HashMap::new();
    let mut warnings = Vec::new();
    for (i, result) in join_all(jobs).await {
        let name = &config.providers[i].name;
        match result {
            Ok(ids) => {
                tracing::info!(provider = %name, models = ids.len(), "discovered models");
                found.insert(i, ids);
            }
            Err(reason) => warnings.push(format!(
                "providers[{i}] ({name}): model discovery failed: {reason}; it serves no models until a later try succeeds"
            )),
        }
    }
    (found, warnings)
}

async fn discover_one(config: &Config, provider: &Provider, platform: &Platform) -> Result<Vec<String>, String> {
    let request = adapters::models_request(provider, provider.keys.first())?;
    let options = SendOptions::upstream(provider.proxy.clone().or_else(|| config.global.proxy.clone()));
    let work = async {
        let response = platform.http.send(request, options).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = collect(response.into_body(), MAX_LISTING_BYTES).await?;
        if !status.is_success() {
            return Err(format!("the upstream answered HTTP {}", status.as_u16()));
        }
        adapters::parse_model_list(provider.dialect, &body)
    };
    let timer = platform.runtime.sleep(DISCOVERY_TIMEOUT);
    let result = match select(Box::pin(work), timer).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(format!("no answer within {} s", DISCOVERY_TIMEOUT.as_secs())),
    };
    result.map_err(|e| crate::error::scrub(&e, provider.keys.iter().map(|k| k.expose())))
}

/// Reads a whole body, refusing more than `limit` bytes.
pub(crate) async fn collect(mut body: ByteStream, limit: usize) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        if buf.len() + chunk.len() > limit {
            return Err(format!("the upstream answer is larger than {limit} bytes"));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
