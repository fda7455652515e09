//! The attempt loop: one request tried over its channels, and each channel over its slots
//! (upstream keys, or a Vertex account's regions), with failover and cooldowns.
//!
//! Invariant: an attempt may be retried elsewhere only while nothing has been sent to the client.
//! A stream is committed once its first frame is ready and has passed the error triggers.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{select, Either};
use http::{header, HeaderValue, StatusCode};
use serde_json::Value;

use super::discovery::collect;
use super::keys::StoreKey;
use super::reply::{Reply, Success, Upstream};
use super::request::ClientRequest;
use super::route::{admit, degraded};
use super::Inner;
use crate::adapters::raw::RawObject;
use crate::adapters::{self, images, openai, AdapterError, Dialect, Endpoint, ResponseCtx};
use crate::config::{KeySchedule, Provider, Secret};
use crate::doors::affinity::stable_hash;
use crate::doors::{keeps_reasoning, Door, NativeCall};
use crate::error::{scrub, Attempt, GatewayError};
use crate::log_text::LogText;
use crate::platform::{SendOptions, TransportErrorKind, UnixMillis};
use crate::scheduler::{keys_for_conversation, order_keys, Admission, Candidate, Failure, Scope};
use crate::stream::{Driver, RelayBody, StreamError};

/// Largest non-streamed upstream answer the gateway buffers.
const MAX_UPSTREAM_BODY_BYTES: usize = 64 * 1024 * 1024;
/// How much of an upstream error body is quoted back.
const MAX_QUOTED_ERROR: usize = 500;

/// One way to try a channel: one of its upstream keys, or one region of its Vertex account.
#[derive(Clone, Copy, Debug)]
struct Slot<'a> {
    /// Index into the provider's keys.
    key: Option<usize>,
    region: Option<&'a str>,
}

/// The attempt loop's state for one request.
pub(super) struct Run<'a> {
    inner: &'a Inner,
    request: &'a ClientRequest,
    now: UnixMillis,
    max_attempts: usize,
    /// When the request's overall deadline (`preferences.request_timeout`) runs out.
    deadline: UnixMillis,
    /// Whether attempts stopped because the deadline ran out.
    out_of_time: bool,
    made: usize,
    failures: Vec<Failure>,
    attempts: Vec<Attempt>,
    /// The request in the hub's language, without and with the client's reasoning settings
    /// (made when the first translated channel is reached; a chat request is its own hub).
    hubs: [Option<RawObject>; 2],
    /// The hub body with remote images inlined, for dialects that need it, likewise.
    inlined: [Option<RawObject>; 2],
}

/// Why one attempt failed.
enum AttemptError {
    /// The client's request cannot be sent on this channel: a 400 to the client, no cooldown.
    Client(String),
    /// This channel cannot serve the request as configured: skipped, no cooldown.
    Unservable(String),
    /// The upstream failed, or its answer was unusable.
    Failed {
        failure: Failure,
        reason: String,
        /// For request errors: the upstream's own status and body, returned to the client.
        passthrough: Option<(StatusCode, Bytes)>,
    },
}

impl AttemptError {
    fn failed(failure: Failure, reason: impl Into<String>) -> Self {
        Self::Failed { failure, reason: reason.into(), passthrough: None }
    }
}

impl From<AdapterError> for AttemptError {
    fn from(error: AdapterError) -> Self {
        match error {
            AdapterError::Request(reason) => Self::Client(reason),
            AdapterError::Config(reason) => Self::Unservable(reason),
            AdapterError::Upstream(reason) => Self::failed(Failure::BadResponse, reason),
        }
    }
}

impl<'a> Run<'a> {
    pub fn new(inner: &'a Inner, request: &'a ClientRequest, now: UnixMillis, max_attempts: usize) -> Self {
        Self {
            inner,
            request,
            now,
            max_attempts,
            deadline: now.plus(inner.config.global.request_timeout),
            out_of_time: false,
            made: 0,
            failures: Vec::new(),
            attempts: Vec::new(),
            hubs: [None, None],
            inlined: [None, None],
        }
    }

    /// Makes the hub body a translated channel of `dialect` needs: the client's request in the
    /// hub's language, with remote images inlined where the dialect needs it.
    async fn prepare_hub(&mut self, dialect: Dialect) -> Result<(), GatewayError> {
        let request = self.request;
        let slot = keeps_reasoning(dialect) as usize;
        if request.door != Door::Chat && self.hubs[slot].is_none() {
            let hub = request
                .door
                .hub_for(&request.body, dialect, request.stream)
                .map_err(|e| GatewayError::BadRequest(e.to_string()))?;
            self.hubs[slot] = Some(hub);
        }
        if images::needs_inlining(dialect) && self.inlined[slot].is_none() {
            let hub = self.hubs[slot].as_ref().unwrap_or(&request.body);
            let urls = images::remote_image_urls(hub);
            if !urls.is_empty() {
                self.inlined[slot] = Some(self.inner.inline_images(hub, &urls, self.remaining()).await?);
            }
        }
        Ok(())
    }

    /// The hub body for a translated channel of `dialect` (after `prepare_hub`).
    fn hub_body(&self, dialect: Dialect) -> &RawObject {
        let slot = keeps_reasoning(dialect) as usize;
        let inlined = self.inlined[slot].as_ref().filter(|_| images::needs_inlining(dialect));
        inlined.or(self.hubs[slot].as_ref()).unwrap_or(&self.request.body)
    }

    /// Whether the request may make no more attempts (`AUTO_RETRY`).
    pub fn exhausted(&mut self) -> bool {
        if self.remaining().is_zero() || self.inner.platform.runtime.shutting_down() {
            self.out_of_time = true;
        }
        self.out_of_time || self.made >= self.max_attempts
    }

    /// Time left before the request's deadline.
    fn remaining(&self) -> Duration {
        Duration::from_millis(self.deadline.0.saturating_sub(self.inner.platform.runtime.now().0))
    }

    /// Whether the attempts stopped because the request's deadline ran out.
    pub fn ran_out_of_time(&self) -> bool {
        self.out_of_time
    }

    /// The attempts that failed so far.
    pub fn failed_attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    pub fn into_failures(self) -> (Vec<Failure>, Vec<Attempt>) {
        (self.failures, self.attempts)
    }

    /// Tries one channel over its slots. `Ok(None)`: the channel failed, go on.
    pub async fn try_channel(&mut self, candidate: &Candidate) -> Result<Option<Success>, GatewayError> {
        let config = &*self.inner.config;
        let provider = &config.providers[candidate.provider];
        let channel = format!("{}/{}", provider.name, candidate.upstream);
        if !adapters::serves(provider.dialect, self.request.endpoint) {
            let reason =
                format!("the {} engine does not serve {}", provider.dialect.name(), self.request.endpoint.path());
            self.record_skip(channel, Failure::BadResponse, &reason);
            return Ok(None);
        }
        let lacks_route = &self.inner.lacks_native_route[candidate.provider];
        let mut native = self.request.door.is_native_on(provider.dialect, &candidate.upstream)
            && !lacks_route.load(std::sync::atomic::Ordering::Relaxed);
        if !native && self.request.endpoint == Endpoint::Chat {
            self.prepare_hub(provider.dialect).await?;
        }
        // Vertex: one account whose access token serves every region; others: one slot per key.
        let (token, slots) = if provider.dialect == Dialect::Vertex {
            match self.vertex_slots(candidate.provider, provider).await {
                Ok(found) => found,
                Err(reason) => {
                    self.record_skip(channel, Failure::Credential(StatusCode::UNAUTHORIZED), &reason);
                    self.out_of_time |= self.remaining().is_zero();
                    return Ok(None);
                }
            }
        } else {
            let keys = self.key_order(provider).await;
            if keys.is_empty() && !provider.keys.is_empty() {
                self.record_skip(channel, Failure::RateLimited, "every upstream key is cooling down after errors");
                return Ok(None);
            }
            let slots = if provider.keys.is_empty() {
                vec![Slot { key: None, region: None }]
            } else {
                keys.into_iter().map(|k| Slot { key: Some(k), region: None }).collect()
            };
            (None, slots)
        };
        let key_rules =
            provider.key_rate_limit.as_ref().and_then(|t| t.lookup(&candidate.upstream)).filter(|r| !r.is_empty());
        let mut limited = 0;
        let mut region_failed = false;
        for slot in &slots {
            if self.exhausted() {
                break;
            }
            if let (Some(k), Some(rules)) = (slot.key, key_rules) {
                let id = StoreKey::KeyRate {
                    provider: &provider.name,
                    key: &provider.key_ids[k],
                    upstream: &candidate.upstream,
                };
                if admit(self.inner, id, rules, self.now).await != Admission::Admitted {
                    limited += 1;
                    continue;
                }
            }
            self.made += 1;
            let credential = slot.key.map(|k| &provider.keys[k]).or(token.as_ref());
            let mut attempt = self.attempt(provider, credential, candidate, slot.region, native).await;
            if native && answered_no_route(&attempt) {
                // An OpenAI-compatible server without the door's own endpoint: translate instead.
                tracing::info!(provider = %provider.name, door = self.request.door.name(), "no native route; translating");
                lacks_route.store(true, std::sync::atomic::Ordering::Relaxed);
                native = false;
                self.prepare_hub(provider.dialect).await?;
                attempt = self.attempt(provider, credential, candidate, slot.region, native).await;
            }
            let (reason, failure, passthrough) = match attempt {
                Ok(reply) => return Ok(Some(Success { reply, key_number: slot.key.map(|k| k + 1) })),
                Err(AttemptError::Client(reason)) => return Err(GatewayError::BadRequest(reason)),
                Err(AttemptError::Unservable(reason)) => {
                    self.record_skip(channel, Failure::BadResponse, &reason);
                    return Ok(None);
                }
                Err(AttemptError::Failed { failure, reason, passthrough }) => (reason, failure, passthrough),
            };
            let secrets = provider.keys.iter().chain(token.as_ref()).map(Secret::expose);
            let reason = scrub(&reason, secrets);
            self.failures.push(failure);
            self.attempts.push(Attempt {
                channel: match slot.region {
                    Some(region) => format!("{channel}@{region}"),
                    None => channel.clone(),
                },
                key_number: slot.key.map(|k| k + 1),
                status: failure.status().map(|s| s.as_u16()),
                reason: reason.clone(),
            });
            tracing::debug!(channel = %channel, reason = %LogText(&reason), "attempt failed");
            if failure == Failure::Timeout && self.inner.platform.runtime.shutting_down() {
                // Cut short by the host's shutdown: not the channel's fault, and no more tries.
                self.out_of_time = true;
                return Ok(None);
            }
            if failure == Failure::Timeout && self.remaining().is_zero() {
                // Cut short by the request's deadline, not the channel's own timeout: no cooldown.
                self.out_of_time = true;
                return Ok(None);
            }
            let scope = failure.scope();
            if scope == Scope::Request {
                let secrets = provider.keys.iter().chain(token.as_ref()).map(Secret::expose);
                return Err(request_error(reason, passthrough, &channel, secrets));
            }
            if slot.region.is_some() {
                // The next region may answer; the channel sits out only when every region failed.
                region_failed = true;
                continue;
            }
            self.cool_down(provider, candidate, slot.key, scope).await;
            if scope == Scope::Channel {
                return Ok(None);
            }
        }
        if region_failed {
            self.cool_down(provider, candidate, None, Scope::Channel).await;
        }
        if limited == slots.len() {
            self.record_skip(channel, Failure::RateLimited, "every upstream key is at its rate limit");
        }
        Ok(None)
    }

    /// A Vertex channel's access token and its regions, starting where the rotation stands.
    async fn vertex_slots(
        &self,
        index: usize,
        provider: &'a Provider,
    ) -> Result<(Option<Secret>, Vec<Slot<'a>>), String> {
        let account = provider.vertex.as_ref().ok_or("no Vertex service account configured")?;
        let token = self.inner.vertex_token(index, self.remaining()).await?;
        let mut regions: Vec<&str> = account.regions.iter().map(String::as_str).collect();
        if regions.len() > 1 {
            let id = StoreKey::RegionCursor { provider: &provider.name }.to_string();
            let cursor = self.inner.platform.store.next_cursor(&id).await.unwrap_or_else(degraded);
            let first = (cursor % regions.len() as u64) as usize;
            regions.rotate_left(first);
        }
        let slots = regions.into_iter().map(|region| Slot { key: None, region: Some(region) }).collect();
        Ok((Some(token), slots))
    }

    fn record_skip(&mut self, channel: String, failure: Failure, reason: &str) {
        self.failures.push(failure);
        self.attempts.push(Attempt { channel, key_number: None, status: None, reason: reason.into() });
    }

    /// The provider's key indices in schedule order, without keys that are cooling down.
    async fn key_order(&self, provider: &Provider) -> Vec<usize> {
        let runtime = &self.inner.platform.runtime;
        let store = &self.inner.platform.store;
        let count = provider.keys.len();
        if count <= 1 {
            return (0..count).collect();
        }
        let conversation = self.request.conversation.filter(|_| provider.key_schedule != KeySchedule::FixedPriority);
        let cursor = if provider.key_schedule == KeySchedule::RoundRobin && conversation.is_none() {
            let id = StoreKey::KeyCursor { provider: &provider.name }.to_string();
            store.next_cursor(&id).await.unwrap_or_else(degraded)
        } else {
            0
        };
        let order = match conversation {
            Some(conversation) => keys_for_conversation(count, conversation, stable_hash(provider.name.as_bytes())),
            None => order_keys(count, provider.key_schedule, cursor, runtime.random_u64()),
        };
        if provider.key_cooldown.is_zero() {
            return order;
        }
        let ids: Vec<String> = order
            .iter()
            .map(|&key| StoreKey::KeyCooldown { provider: &provider.name, key: &provider.key_ids[key] }.to_string())
            .collect();
        let ends = store.cooldowns(&ids, self.now).await.unwrap_or_else(|_| vec![None; ids.len()]);
        order.into_iter().zip(ends).filter(|(_, end)| end.is_none()).map(|(k, _)| k).collect()
    }

    async fn cool_down(&self, provider: &Provider, candidate: &Candidate, key: Option<usize>, scope: Scope) {
        let config = &*self.inner.config;
        let store = &*self.inner.platform.store;
        let channel_period = config.cooldown_period(provider);
        let key_scoped = scope == Scope::Key && provider.keys.len() > 1;
        let (id, period) = match (key_scoped, key) {
            (true, Some(key)) if !provider.key_cooldown.is_zero() => {
                (StoreKey::KeyCooldown { provider: &provider.name, key: &provider.key_ids[key] }, provider.key_cooldown)
            }
            (false, _) if !channel_period.is_zero() => {
                (StoreKey::ChannelCooldown { provider: &provider.name, upstream: &candidate.upstream }, channel_period)
            }
            _ => return,
        };
        if let Err(e) = store.start_cooldown(&id.to_string(), self.now.plus(period)).await {
            tracing::warn!(error = %e, "could not record a cooldown");
        }
    }

    /// One upstream call, bounded by the model's timeout until the reply is committed.
    async fn attempt(
        &self,
        provider: &Provider,
        key: Option<&Secret>,
        candidate: &Candidate,
        region: Option<&str>,
        native: bool,
    ) -> Result<Reply, AttemptError> {
        let config = &*self.inner.config;
        let runtime = &self.inner.platform.runtime;
        let request = self.request;
        let timeout = config.timeout(provider, &request.model, &candidate.upstream);
        let body = self.hub_body(provider.dialect);
        let upstream_request = match (request.endpoint, &request.form) {
            _ if native => {
                let call = NativeCall {
                    body: &request.body,
                    upstream_model: &candidate.upstream,
                    stream: request.stream,
                    region,
                    forward: &request.forward,
                };
                request.door.build_native(provider, key, &call)
            }
            (Endpoint::Transcriptions, Some(form)) => {
                let boundary = format!("uni-api-{:016x}", runtime.random_u64());
                adapters::build_multipart_request(provider, key, form, &candidate.upstream, request.endpoint, &boundary)
            }
            (Endpoint::Chat, _) => adapters::build_request(
                provider,
                key,
                body,
                &candidate.upstream,
                &request.model,
                request.stream,
                region,
            ),
            (other, _) => adapters::build_passthrough_request(provider, key, body, &candidate.upstream, other),
        }?;
        let upstream_request = match &provider.body_overrides {
            None => upstream_request,
            Some(overrides) => {
                let catalog = self.inner.catalog();
                let is_model = |key: &str| catalog.upstream(candidate.provider, key).is_some();
                adapters::overrides::apply_to_request(overrides, &request.model, is_model, upstream_request)
            }
        };
        let options = SendOptions::upstream(provider.proxy.clone().or_else(|| config.global.proxy.clone()));
        let work = self.exchange(provider, &candidate.upstream, upstream_request, options, timeout, native);
        let budget = self.remaining();
        match select(Box::pin(work), runtime.sleep(timeout.min(budget))).await {
            Either::Left((result, _)) => result,
            Either::Right(_) if budget < timeout => Err(AttemptError::failed(
                Failure::Timeout,
                format!(
                    "cut off after {} s: the request's deadline (request_timeout, {} s) ran out",
                    fmt_secs(budget),
                    fmt_secs(self.inner.config.global.request_timeout)
                ),
            )),
            Either::Right(_) => {
                Err(AttemptError::failed(Failure::Timeout, format!("no answer within {} s", fmt_secs(timeout))))
            }
        }
    }

    async fn exchange(
        &self,
        provider: &Provider,
        upstream_model: &str,
        upstream_request: http::Request<Bytes>,
        options: SendOptions,
        timeout: Duration,
        native: bool,
    ) -> Result<Reply, AttemptError> {
        let inner = self.inner;
        let request = self.request;
        let triggers = &inner.config.global.error_triggers;
        let response = inner.platform.http.send(upstream_request, options).await.map_err(|e| {
            let failure = if e.kind == TransportErrorKind::Timeout { Failure::Timeout } else { Failure::Transport };
            AttemptError::failed(failure, e.to_string())
        })?;
        let status = response.status();
        let is_stream = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            // Server-sent events, or newline-delimited JSON (Cohere's v1 chat streams).
            .is_some_and(|v| {
                ["text/event-stream", "application/stream+json", "application/x-ndjson", "application/jsonl"]
                    .iter()
                    .any(|kind| v.starts_with(kind))
            });
        if !status.is_success() {
            let body = collect(response.into_body(), MAX_UPSTREAM_BODY_BYTES).await.unwrap_or_default();
            let failure = Failure::from_status(status);
            let reason = format!("HTTP {}: {}", status.as_u16(), quote(&body));
            return Err(AttemptError::Failed { failure, reason, passthrough: Some((status, body)) });
        }
        if matches!(request.endpoint, Endpoint::Speech | Endpoint::Transcriptions) {
            let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
            if request.endpoint == Endpoint::Speech {
                let content_type = content_type.unwrap_or(HeaderValue::from_static("audio/mpeg"));
                let body = RelayBody::new(response.into_body(), inner.platform.runtime.clone(), timeout);
                return Ok(Reply::Relay { body, content_type });
            }
            let body = collect(response.into_body(), MAX_UPSTREAM_BODY_BYTES)
                .await
                .map_err(|reason| AttemptError::failed(Failure::Transport, reason))?;
            return Ok(Reply::Full { body, usage: None, content_type });
        }
        let runtime = &inner.platform.runtime;
        let ctx = ResponseCtx {
            alias: request.model.clone(),
            created: runtime.now().0 / 1000,
            // A door other than chat writes usage into its own events, so it always needs it.
            wants_usage: request.wants_usage || request.door != Door::Chat,
            nonce: runtime.random_u64(),
        };
        if request.stream && is_stream {
            let (upstream, encoder) = match request.door.relay(&request.model).filter(|_| native) {
                Some((relay, encoder)) => (Upstream::Relay(relay), encoder),
                None => {
                    let translator = adapters::translator(provider.dialect, upstream_model, ctx.clone());
                    (Upstream::Dialect(translator), request.door.encoder(ctx, &request.body))
                }
            };
            let mut driver =
                Driver::new(response.into_body(), upstream, encoder, inner.platform.runtime.clone(), timeout);
            driver.prime().await.map_err(stream_failure)?;
            if let Some(trigger) = triggers.iter().find(|t| driver.pending().any(|f| contains(f, t))) {
                return Err(trigger_hit(trigger));
            }
            return Ok(Reply::Stream(Box::new(driver)));
        }
        let body = collect(response.into_body(), MAX_UPSTREAM_BODY_BYTES)
            .await
            .map_err(|reason| AttemptError::failed(Failure::Transport, reason))?;
        if let Some(trigger) = triggers.iter().find(|t| contains(&body, t)) {
            return Err(trigger_hit(trigger));
        }
        if request.stream {
            return Err(AttemptError::failed(
                Failure::BadResponse,
                format!("asked to stream, the upstream answered without an event stream: {}", quote(&body)),
            ));
        }
        let (body, usage) = match request.endpoint {
            _ if native => request.door.read_native_reply(&body, &request.model)?,
            Endpoint::Chat => {
                let (completion, usage) = adapters::parse_response(provider.dialect, upstream_model, &body, &ctx)?;
                (request.door.reply_from_chat(completion, &ctx, &request.body)?, usage)
            }
            _ => adapters::parse_passthrough(provider.dialect, &body, &request.model)?,
        };
        Ok(Reply::Full { body, usage, content_type: None })
    }
}

/// Whether an attempt failed because the upstream has no such route (404 or 405 whose body does
/// not speak of the model, which a missing model would).
fn answered_no_route(attempt: &Result<Reply, AttemptError>) -> bool {
    match attempt {
        Err(AttemptError::Failed { passthrough: Some((status, body)), .. }) => {
            matches!(status.as_u16(), 404 | 405)
                && !String::from_utf8_lossy(body).to_ascii_lowercase().contains("model")
        }
        _ => false,
    }
}

/// The upstream's own answer when it blames the request; wrapped if it is not an OpenAI error.
/// The upstream's message is scrubbed of the channel's secrets like every attempt's reason: an
/// upstream that echoes the key it was sent must not hand it to the client.
fn request_error<'a>(
    reason: String,
    passthrough: Option<(StatusCode, Bytes)>,
    channel: &str,
    secrets: impl IntoIterator<Item = &'a str>,
) -> GatewayError {
    let (status, body) = passthrough.unwrap_or((StatusCode::BAD_REQUEST, Bytes::new()));
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("error").map(openai::error_message))
        .map(|message| scrub(&message, secrets))
        .unwrap_or_else(|| reason.clone());
    GatewayError::Upstream {
        status,
        message: format!("the upstream rejected the request: {message}"),
        attempts: vec![Attempt { channel: channel.into(), key_number: None, status: Some(status.as_u16()), reason }],
    }
}

fn stream_failure(error: StreamError) -> AttemptError {
    let failure = match error {
        // A stream the host's shutdown cut before its first token: the caller sees the shutdown.
        StreamError::Idle(_) | StreamError::ShuttingDown => Failure::Timeout,
        StreamError::Transport(_) | StreamError::Failed { .. } => Failure::Transport,
        StreamError::Truncated | StreamError::Corrupt(_) | StreamError::Upstream(_) | StreamError::Oversized(_) => {
            Failure::BadResponse
        }
    };
    AttemptError::failed(failure, error.to_string())
}

fn trigger_hit(trigger: &str) -> AttemptError {
    AttemptError::failed(Failure::BadResponse, format!("the reply contains the error trigger `{trigger}`"))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    memchr::memmem::find(haystack, needle.as_bytes()).is_some()
}

fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    match text.char_indices().nth(MAX_QUOTED_ERROR) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}
