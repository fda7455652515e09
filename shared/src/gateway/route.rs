//! From a parsed request to an answer: rate limits, the channels that may serve the model, their
//! order, the attempt loop (see `attempts`), and the account of the outcome.

use std::sync::Arc;

use super::accounting::{Ledger, Served};
use super::attempts::Run;
use super::estimate;
use super::keepalive;
use super::keys::StoreKey;
use super::moderation;
use super::reply::Reply;
use super::request::ClientRequest;
use super::{Inner, ResponseBody};
use crate::adapters::{self, Endpoint};
use crate::config::{ClientKey, Scheduling};
use crate::doors::affinity::stable_hash;
use crate::error::GatewayError;
use crate::platform::UnixMillis;
use crate::scheduler::{
    final_status, order_candidates, order_for_conversation, Admission, Candidate, RateRule, RouteError,
};

/// Serves a parsed request and accounts for it, whatever the outcome.
pub(super) async fn serve(
    generation: &Arc<Inner>,
    ledger: Ledger,
    request: Result<ClientRequest, GatewayError>,
) -> http::Response<ResponseBody> {
    let inner = &**generation;
    let key = &inner.config.clients[ledger.client];
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            ledger.failed(inner, "", &error, false);
            return ledger.door.error_response(&error);
        }
    };
    if key.moderation && request.endpoint == Endpoint::Chat {
        if let Err(error) = moderation::check(inner, &ledger, key, &request).await {
            let flagged = matches!(error, GatewayError::Flagged { .. });
            ledger.failed(inner, &request.model, &error, flagged);
            return request.door.error_response(&error);
        }
    }
    if let Some(interval) = keepalive::interval(inner, ledger.client, &request) {
        return keepalive::serve(generation.clone(), ledger, request, interval).await;
    }
    match route(inner, &ledger, key, &request).await {
        Ok(response) => response,
        Err(error) => {
            ledger.failed(inner, &request.model, &error, false);
            request.door.error_response(&error)
        }
    }
}

/// Limits, routing and the attempts of one request; accounts for a success (a stream when it
/// ends). A failure is returned for the caller to account and render.
pub(super) async fn route(
    inner: &Inner,
    ledger: &Ledger,
    key: &ClientKey,
    request: &ClientRequest,
) -> Result<http::Response<ResponseBody>, GatewayError> {
    let (client, now) = (ledger.client, ledger.started);
    let config = &*inner.config;
    let model = request.model.as_str();

    // Only a model that exists is counted: requests for endless made-up names create no state.
    let candidates = eligible(inner, client, request)?;
    let limits = [
        (config.global.rate_limit.as_ref(), StoreKey::GlobalRate { model }),
        (key.rate_limit.as_ref(), StoreKey::ClientRate { client: &key.fingerprint, model }),
    ];
    for (table, id) in limits {
        if let Some(rules) = table.and_then(|t| t.lookup(model)).filter(|r| !r.is_empty()) {
            if let Admission::Limited { retry_after_ms } = admit(inner, id, rules, now).await {
                return Err(GatewayError::RateLimited {
                    model: model.into(),
                    retry_after_secs: retry_after_ms.div_ceil(1000).max(1),
                });
            }
        }
    }

    let ordered = order(inner, key, request, candidates, now).await;
    let mut run = Run::new(inner, request, now, key.auto_retry.max_attempts());
    for candidate in &ordered {
        if run.exhausted() {
            break;
        }
        if let Some(mut success) = run.try_channel(candidate).await? {
            let served = Served {
                provider: &config.providers[candidate.provider].name,
                upstream_model: &candidate.upstream,
                failed: run.failed_attempts(),
                key_number: success.key_number,
            };
            match &mut success.reply {
                Reply::Full { usage, .. } => ledger.served(inner, model, &served, *usage),
                Reply::Relay { body, .. } => body.on_end(ledger.stream_end(inner, model, &served)),
                Reply::Stream(driver) => driver.on_end(ledger.stream_end(inner, model, &served)),
            }
            return Ok(success.into_http());
        }
    }
    let out_of_time = run.ran_out_of_time();
    let (failures, attempts) = run.into_failures();
    if out_of_time && inner.platform.runtime.shutting_down() {
        return Err(GatewayError::ShuttingDown);
    }
    let status = if out_of_time { http::StatusCode::GATEWAY_TIMEOUT } else { final_status(&failures) };
    let tried = attempts.len();
    Err(GatewayError::Upstream {
        status,
        message: if out_of_time {
            let secs = config.global.request_timeout.as_secs_f64();
            format!("no answer for model `{model}` within the request's deadline of {secs} s (request_timeout) after {tried} attempt(s); see `attempts`")
        } else if tried == 1 {
            format!("the upstream for model `{model}` failed: {}", attempts[0].reason)
        } else {
            format!("all {tried} attempts for model `{model}` failed; see `attempts`")
        },
        attempts,
    })
}

/// The channels that may serve the request (404, 403 or a 400 when none).
fn eligible(inner: &Inner, client: usize, request: &ClientRequest) -> Result<Vec<Candidate>, GatewayError> {
    let config = &*inner.config;
    let model = request.model.as_str();
    let catalog = inner.catalog();
    let mut candidates = catalog.resolve(config, client, model).map_err(|e| match e {
        RouteError::UnknownModel => GatewayError::ModelNotFound(model.into()),
        RouteError::Forbidden => GatewayError::ModelForbidden(model.into()),
    })?;
    if candidates.iter().any(|c| config.providers[c.provider].left_out.is_some()) {
        let left_out: Vec<_> = candidates
            .iter()
            .map(|c| &config.providers[c.provider])
            .filter_map(|p| Some((&p.name, p.left_out.clone()?)))
            .collect();
        candidates.retain(|c| config.providers[c.provider].left_out.is_none());
        if candidates.is_empty() {
            let why: Vec<String> = left_out.iter().map(|(name, reason)| format!("`{name}`: {reason}")).collect();
            return Err(GatewayError::NoUsableChannel(format!(
                "model `{model}` is served only by providers this host leaves out ({})",
                why.join("; ")
            )));
        }
    }
    if request.has_tools {
        candidates.retain(|c| config.providers[c.provider].tools);
        if candidates.is_empty() {
            return Err(GatewayError::BadRequest(format!(
                "no channel serving `{model}` accepts tools (every one is configured with `tools: false`)"
            )));
        }
    }
    if request.has_images {
        candidates.retain(|c| config.providers[c.provider].image);
        if candidates.is_empty() {
            return Err(GatewayError::BadRequest(format!(
                "no channel serving `{model}` accepts images (every one is configured with `image: false`)"
            )));
        }
    }
    let budget = |c: &Candidate| {
        config.providers[c.provider].tokens_per_request.as_ref().and_then(|t| t.lookup(&c.upstream)).copied()
    };
    if candidates.iter().any(|c| budget(c).is_some()) {
        let estimate = estimate::prompt_tokens(&request.body);
        let largest = candidates.iter().filter_map(budget).max().unwrap_or(0);
        candidates.retain(|c| budget(c).is_none_or(|b| estimate <= b));
        if candidates.is_empty() {
            return Err(GatewayError::OverTokenBudget(format!(
                "the request's prompt is about {estimate} tokens, more than every channel serving `{model}` takes \
                 per request (the largest `tpr` budget is {largest}); shorten it"
            )));
        }
    }
    if request.token_input {
        candidates.retain(|c| adapters::embeds_token_ids(config.providers[c.provider].dialect));
        if candidates.is_empty() {
            return Err(GatewayError::BadRequest(format!(
                "`input` holds token ids, but every channel serving `{model}` is Gemini, which embeds text only: \
                 send the text instead"
            )));
        }
    }
    if let Some(kind) = &request.native_only_tool {
        candidates.retain(|c| request.door.is_native_on(config.providers[c.provider].dialect, &c.upstream));
        if candidates.is_empty() {
            return Err(GatewayError::BadRequest(format!(
                "tools of type `{kind}` run only on an upstream of the {} API itself, and no channel serving `{model}` \
                 is one",
                request.door.name()
            )));
        }
    }
    if request.needs_web_search {
        candidates.retain(|c| {
            let dialect = config.providers[c.provider].dialect;
            request.door.is_native_on(dialect, &c.upstream) || adapters::serves_web_search(dialect)
        });
        if candidates.is_empty() {
            return Err(GatewayError::BadRequest(format!(
                "the request declares a web search tool, which no channel serving `{model}` can run \
                 (Anthropic, Gemini and Vertex channels can)"
            )));
        }
    }
    Ok(candidates)
}

/// The channels in the order to try them, without those cooling down.
async fn order(
    inner: &Inner,
    key: &ClientKey,
    request: &ClientRequest,
    candidates: Vec<Candidate>,
    now: UnixMillis,
) -> Vec<Candidate> {
    let config = &*inner.config;
    let model = request.model.as_str();
    // A fixed priority already keeps a conversation on one channel; the balancing algorithms
    // give way to the conversation's own order.
    let conversation = request.conversation.filter(|_| key.scheduling != Scheduling::FixedPriority);
    let ordered = match conversation {
        // One conversation, one channel while it is healthy: its prompt cache keeps hitting.
        Some(conversation) => order_for_conversation(candidates, conversation, |c| {
            stable_hash(config.providers[c.provider].name.as_bytes())
                ^ stable_hash(c.upstream.as_bytes()).rotate_left(7)
        }),
        None => {
            let store = &*inner.platform.store;
            let cursor = if key.scheduling.uses_cursor() && candidates.len() > 1 {
                let id = StoreKey::ChannelCursor { client: &key.fingerprint, model }.to_string();
                store.next_cursor(&id).await.unwrap_or_else(degraded)
            } else {
                0
            };
            order_candidates(candidates, key.scheduling, cursor, inner.platform.runtime.random_u64())
        }
    };
    skip_cooling(inner, ordered, now).await
}

/// Drops channels that are cooling down. When all of them are, keeps them all, earliest
/// recovery first: one blip on a one-channel setup must not lock everyone out for minutes.
async fn skip_cooling(inner: &Inner, ordered: Vec<Candidate>, now: UnixMillis) -> Vec<Candidate> {
    let ids: Vec<String> = ordered
        .iter()
        .map(|c| {
            let provider = &inner.config.providers[c.provider].name;
            StoreKey::ChannelCooldown { provider, upstream: &c.upstream }.to_string()
        })
        .collect();
    let ends = inner.platform.store.cooldowns(&ids, now).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cooldown state unavailable; trying every channel");
        vec![None; ids.len()]
    });
    if ends.iter().any(Option::is_none) {
        return ordered.into_iter().zip(ends).filter(|(_, end)| end.is_none()).map(|(c, _)| c).collect();
    }
    let mut cooling: Vec<(Candidate, Option<UnixMillis>)> = ordered.into_iter().zip(ends).collect();
    cooling.sort_by_key(|(_, end)| *end);
    cooling.into_iter().map(|(c, _)| c).collect()
}

/// Counts a request against `rules`; a store that cannot answer admits (and says so).
pub(super) async fn admit(inner: &Inner, id: StoreKey<'_>, rules: &[RateRule], now: UnixMillis) -> Admission {
    inner.platform.store.admit(&id.to_string(), rules, now).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "rate-limit state unavailable; admitting");
        Admission::Admitted
    })
}

/// The cursor to use when the store cannot say: the first channel.
pub(super) fn degraded<E: std::fmt::Display>(e: E) -> u64 {
    tracing::warn!(error = %e, "scheduling cursor unavailable; starting at the first channel");
    0
}
