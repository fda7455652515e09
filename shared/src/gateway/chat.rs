//! `POST /v1/chat/completions`: limits, routing, the attempt loop with failover and cooldowns,
//! and the reply (whole or streamed).
//!
//! Invariant: an attempt may be retried elsewhere only while nothing has been sent to the client.
//! A stream is committed once its first frame is ready and has passed the error triggers.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{select, Either};
use http::{header, HeaderValue, StatusCode};
use serde::de::IgnoredAny;
use serde_json::Value;

use super::accounting::{Ledger, Served};
use super::discovery::collect;
use super::moderation;
use super::{Inner, ResponseBody};
use crate::adapters::multipart::Form;
use crate::adapters::raw::RawObject;
use crate::adapters::{self, images, openai, Dialect, Endpoint, ResponseCtx, Translator};
use crate::config::{ClientKey, KeySchedule, Provider, Secret};
use crate::error::{json_response, scrub, Attempt, GatewayError};
use crate::platform::{ByteStream, SendOptions, TransportErrorKind, UnixMillis};
use crate::scheduler::{
    final_status, order_candidates, order_keys, Admission, Candidate, Failure, RateRule, RouteError, Scope,
};
use crate::stream::{Driver, StreamError};
use crate::usage::Usage;

/// Largest non-streamed upstream answer the gateway buffers.
const MAX_UPSTREAM_BODY_BYTES: usize = 64 * 1024 * 1024;
/// How much of an upstream error body is quoted back.
const MAX_QUOTED_ERROR: usize = 500;

/// What the client asked for, read once.
pub(super) struct ChatRequest {
    pub endpoint: Endpoint,
    pub body: RawObject,
    pub model: String,
    /// The client's form, for `multipart/form-data` endpoints (transcriptions).
    form: Option<Form>,
    stream: bool,
    wants_usage: bool,
    has_tools: bool,
    /// Embeddings asked for token ids (`[1, 2]`, `[[1, 2]]`) rather than text.
    token_input: bool,
}

impl ChatRequest {
    /// A non-streamed request the gateway makes itself (the moderation check).
    pub fn new(endpoint: Endpoint, body: RawObject, model: &str) -> Self {
        Self {
            endpoint,
            body,
            model: model.to_owned(),
            form: None,
            stream: false,
            wants_usage: false,
            has_tools: false,
            token_input: false,
        }
    }
}

pub(super) async fn serve(
    inner: &Inner,
    ledger: Ledger,
    content_type: Option<&str>,
    body: Bytes,
    endpoint: Endpoint,
) -> http::Response<ResponseBody> {
    let key = &inner.config.clients[ledger.client];
    let parsed = if endpoint == Endpoint::Transcriptions {
        parse_form(inner, content_type, body).await
    } else {
        parse(&body, endpoint)
    };
    let request = match parsed {
        Ok(request) => request,
        Err(error) => {
            ledger.failed(inner, "", &error, false);
            return error.into_response();
        }
    };
    if key.moderation && endpoint == Endpoint::Chat {
        if let Err(error) = moderation::check(inner, &ledger, key, &request).await {
            let flagged = matches!(error, GatewayError::Flagged { .. });
            ledger.failed(inner, &request.model, &error, flagged);
            return error.into_response();
        }
    }
    match route(inner, &ledger, key, &request).await {
        Ok(response) => response,
        Err(error) => {
            ledger.failed(inner, &request.model, &error, false);
            error.into_response()
        }
    }
}

/// A transcription form: `file` and `model` required, every other field passed on.
async fn parse_form(inner: &Inner, content_type: Option<&str>, body: Bytes) -> Result<ChatRequest, GatewayError> {
    let limit = inner.config.global.max_audio_bytes;
    if body.len() > limit {
        return Err(GatewayError::PayloadTooLarge { limit });
    }
    let content_type = content_type.unwrap_or_default();
    let form = Form::parse(content_type, body).await.map_err(GatewayError::BadRequest)?;
    if !form.has_file("file") {
        return Err(GatewayError::BadRequest(
            "`file` is required (an audio file in a form field called `file`)".into(),
        ));
    }
    let model = match form.text("model") {
        Some(m) if !m.trim().is_empty() => m.trim().to_owned(),
        _ => return Err(GatewayError::BadRequest("`model` is required".into())),
    };
    let body = RawObject::parse(b"{}").map_err(|e| GatewayError::Internal(e.to_string()))?;
    let mut request = ChatRequest::new(Endpoint::Transcriptions, body, &model);
    request.form = Some(form);
    Ok(request)
}

fn parse(body: &[u8], endpoint: Endpoint) -> Result<ChatRequest, GatewayError> {
    let body = RawObject::parse(body).map_err(|e| {
        GatewayError::BadRequest(if e.is_data() {
            "the request body must be a JSON object".to_owned()
        } else {
            format!("the request body is not valid JSON: {e}")
        })
    })?;
    let model = match body.present("model") {
        None => return Err(GatewayError::BadRequest("`model` is required".into())),
        Some(raw) => match serde_json::from_str::<String>(raw.get()) {
            Ok(m) if !m.is_empty() => m,
            _ => return Err(GatewayError::BadRequest("`model` must be a non-empty string".into())),
        },
    };
    let chat = endpoint == Endpoint::Chat;
    if chat && !body.present("messages").is_some_and(|m| m.get().starts_with('[')) {
        return Err(GatewayError::BadRequest("`messages` must be a list of messages".into()));
    }
    // Only chat is streamed; the other endpoints answer one JSON document.
    let stream = chat && body.field::<bool>("stream").unwrap_or(false);
    let wants_usage = body
        .field::<Value>("stream_options")
        .and_then(|o| o.get("include_usage").and_then(Value::as_bool))
        .unwrap_or(false);
    let has_tools =
        chat && ["tools", "functions"].iter().any(|k| body.field::<Vec<IgnoredAny>>(k).is_some_and(|t| !t.is_empty()));
    let token_input =
        endpoint == Endpoint::Embeddings && body.present("input").is_some_and(|raw| is_token_list(raw.get()));
    Ok(ChatRequest { endpoint, body, model, form: None, stream, wants_usage, has_tools, token_input })
}

/// Whether an embeddings `input` is token ids: a list whose first item is a number or a list.
/// (OpenAI takes a string, a list of strings, a list of ids or a list of id lists, never mixed;
/// looking at the raw text spares parsing a large input twice.)
fn is_token_list(raw_input: &str) -> bool {
    raw_input
        .trim_start()
        .strip_prefix('[')
        .map(str::trim_start)
        .and_then(|rest| rest.chars().next())
        .is_some_and(|first| first.is_ascii_digit() || first == '-' || first == '[')
}

pub(super) async fn route(
    inner: &Inner,
    ledger: &Ledger,
    key: &ClientKey,
    request: &ChatRequest,
) -> Result<http::Response<ResponseBody>, GatewayError> {
    let (client, now) = (ledger.client, ledger.started);
    let config = &*inner.config;
    let store = &*inner.platform.store;
    let model = request.model.as_str();

    for (scope, table) in [("global", config.global.rate_limit.as_ref()), ("client", key.rate_limit.as_ref())] {
        if let Some(rules) = table.and_then(|t| t.lookup(model)) {
            let id = if scope == "global" {
                format!("rate:global:{model}")
            } else {
                format!("rate:client#{client}:{model}")
            };
            if let Admission::Limited { retry_after_ms } = admit(inner, &id, rules, now).await {
                return Err(GatewayError::RateLimited {
                    model: model.into(),
                    retry_after_secs: retry_after_ms.div_ceil(1000).max(1),
                });
            }
        }
    }

    let catalog = inner.catalog();
    let mut candidates = catalog.resolve(config, client, model).map_err(|e| match e {
        RouteError::UnknownModel => GatewayError::ModelNotFound(model.into()),
        RouteError::Forbidden => GatewayError::ModelForbidden(model.into()),
    })?;
    if request.has_tools {
        candidates.retain(|c| config.providers[c.provider].tools);
        if candidates.is_empty() {
            return Err(GatewayError::BadRequest(format!(
                "no channel serving `{model}` accepts tools (every one is configured with `tools: false`)"
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

    let cursor = if key.scheduling.uses_cursor() && candidates.len() > 1 {
        store.next_cursor(&format!("rr:client#{client}:{model}")).await.unwrap_or_else(degraded)
    } else {
        0
    };
    let ordered = order_candidates(candidates, key.scheduling, cursor, inner.platform.runtime.random_u64());
    let ordered = skip_cooling(inner, ordered, now).await;

    let mut run = Run {
        inner,
        request,
        now,
        max_attempts: key.auto_retry.max_attempts(),
        made: 0,
        failures: Vec::new(),
        attempts: Vec::new(),
        inlined: None,
    };
    for candidate in &ordered {
        if run.made >= run.max_attempts {
            break;
        }
        if let Some(mut response) = run.try_channel(candidate).await? {
            let served = Served {
                provider: &config.providers[candidate.provider].name,
                upstream_model: &candidate.upstream,
                failed: &run.attempts,
                key_number: response.key_number,
            };
            match &mut response.reply {
                Reply::Full { usage, .. } => ledger.served(inner, model, &served, *usage),
                Reply::Relay { .. } => ledger.served(inner, model, &served, None),
                Reply::Stream(driver) => driver.on_end(ledger.stream_end(inner, model, &served)),
            }
            return Ok(response.into_http());
        }
    }
    let status = final_status(&run.failures);
    let tried = run.attempts.len();
    Err(GatewayError::Upstream {
        status,
        message: if tried == 1 {
            format!("the upstream for model `{model}` failed: {}", run.attempts[0].reason)
        } else {
            format!("all {tried} attempts for model `{model}` failed; see `attempts`")
        },
        attempts: run.attempts,
    })
}

/// Drops channels that are cooling down. When all of them are, keeps them all, earliest
/// recovery first: one blip on a one-channel setup must not lock everyone out for minutes.
async fn skip_cooling(inner: &Inner, ordered: Vec<Candidate>, now: UnixMillis) -> Vec<Candidate> {
    let ids: Vec<String> =
        ordered.iter().map(|c| channel_id(&inner.config.providers[c.provider], &c.upstream)).collect();
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

/// The attempt loop's state for one request.
struct Run<'a> {
    inner: &'a Inner,
    request: &'a ChatRequest,
    now: UnixMillis,
    max_attempts: usize,
    made: usize,
    failures: Vec<Failure>,
    attempts: Vec<Attempt>,
    /// The body with remote images inlined, once a channel that needs it has been reached.
    inlined: Option<RawObject>,
}

/// A successful attempt, before it is turned into the client's response.
enum Reply {
    /// A whole answer; JSON unless the upstream said otherwise (transcriptions as text).
    Full {
        body: Bytes,
        usage: Option<Usage>,
        content_type: Option<HeaderValue>,
    },
    Stream(Box<Driver<Translator>>),
    /// Bytes relayed as they arrive (speech audio), with the upstream's content type.
    Relay {
        body: ByteStream,
        content_type: HeaderValue,
    },
}

struct Success {
    reply: Reply,
    key_number: Option<usize>,
}

impl Success {
    fn into_http(self) -> http::Response<ResponseBody> {
        match self.reply {
            Reply::Full { body, content_type, .. } => {
                let mut response = json_response(StatusCode::OK, body);
                if let Some(content_type) = content_type {
                    response.headers_mut().insert(header::CONTENT_TYPE, content_type);
                }
                response
            }
            Reply::Relay { body, content_type } => {
                let mut response = http::Response::new(ResponseBody::Relay(body));
                response.headers_mut().insert(header::CONTENT_TYPE, content_type);
                response
            }
            Reply::Stream(driver) => {
                let mut response = http::Response::new(ResponseBody::Stream(driver.into_stream()));
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                // Ask reverse proxies (nginx) not to buffer the stream.
                headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
                response
            }
        }
    }
}

/// Why one attempt failed, with what the client may be shown.
struct AttemptError {
    failure: Failure,
    reason: String,
    /// For request errors: the upstream's own status and body, returned to the client as is.
    passthrough: Option<(StatusCode, Bytes)>,
}

impl Run<'_> {
    /// Tries one channel over its upstream keys. `Ok(None)`: the channel failed, go on.
    async fn try_channel(&mut self, candidate: &Candidate) -> Result<Option<Success>, GatewayError> {
        let config = &*self.inner.config;
        let provider = &config.providers[candidate.provider];
        let channel = format!("{}/{}", provider.name, candidate.upstream);
        if !adapters::serves(provider.dialect, self.request.endpoint) {
            // Not a failure of the channel: it is skipped without a cooldown.
            let reason =
                format!("the {} engine does not serve {}", provider.dialect.name(), self.request.endpoint.path());
            self.record_skip(channel, Failure::BadResponse, &reason);
            return Ok(None);
        }
        if images::needs_inlining(provider.dialect) && self.inlined.is_none() {
            let urls = images::remote_image_urls(&self.request.body);
            if !urls.is_empty() {
                self.inlined = Some(self.inner.inline_images(&self.request.body, &urls).await?);
            }
        }
        if provider.dialect == Dialect::Vertex {
            return self.try_vertex(candidate, provider, channel).await;
        }
        let keys = self.key_order(provider).await;
        if keys.is_empty() && !provider.keys.is_empty() {
            self.record_skip(channel, Failure::RateLimited, "every upstream key is cooling down after errors");
            return Ok(None);
        }
        let key_rules = provider.key_rate_limit.as_ref().and_then(|t| t.lookup(&candidate.upstream));
        let mut limited = 0;
        let slots: Vec<Option<usize>> =
            if provider.keys.is_empty() { vec![None] } else { keys.into_iter().map(Some).collect() };
        let slot_count = slots.len();
        for slot in slots {
            if self.made >= self.max_attempts {
                return Ok(None);
            }
            if let (Some(k), Some(rules)) = (slot, key_rules) {
                let id = format!("rate:key:{}#{k}:{}", provider.name, candidate.upstream);
                if admit(self.inner, &id, rules, self.now).await != Admission::Admitted {
                    limited += 1;
                    continue;
                }
            }
            self.made += 1;
            let key = slot.map(|k| &provider.keys[k]);
            match self.attempt(provider, key, candidate, None).await {
                Ok(reply) => return Ok(Some(Success { reply, key_number: slot.map(|k| k + 1) })),
                Err(error) => {
                    let scope = error.failure.scope();
                    self.failures.push(error.failure);
                    self.attempts.push(Attempt {
                        channel: channel.clone(),
                        key_number: slot.map(|k| k + 1),
                        status: error.failure.status().map(|s| s.as_u16()),
                        reason: scrub(&error.reason, provider.keys.iter().map(Secret::expose)),
                    });
                    tracing::debug!(channel = %channel, reason = %error.reason, "attempt failed");
                    if scope == Scope::Request {
                        return Err(request_error(error, &channel));
                    }
                    self.cool_down(provider, candidate, slot, scope).await;
                    if scope == Scope::Channel {
                        return Ok(None);
                    }
                }
            }
        }
        if limited == slot_count {
            self.record_skip(channel, Failure::RateLimited, "every upstream key is at its rate limit");
        }
        Ok(None)
    }

    /// A Vertex channel: one service account, requests rotating over its regions and failing
    /// over from one region to the next.
    async fn try_vertex(
        &mut self,
        candidate: &Candidate,
        provider: &Provider,
        channel: String,
    ) -> Result<Option<Success>, GatewayError> {
        let Some(account) = provider.vertex.as_ref() else {
            self.record_skip(channel, Failure::BadResponse, "no Vertex service account configured");
            return Ok(None);
        };
        let token = match self.inner.vertex_token(candidate.provider).await {
            Ok(token) => token,
            Err(reason) => {
                self.record_skip(channel, Failure::Credential(StatusCode::UNAUTHORIZED), &reason);
                return Ok(None);
            }
        };
        let mut regions: Vec<&str> = account.regions.iter().map(String::as_str).collect();
        if regions.len() > 1 {
            let cursor = self
                .inner
                .platform
                .store
                .next_cursor(&format!("rr:regions:{}", provider.name))
                .await
                .unwrap_or_else(degraded);
            let first = (cursor % regions.len() as u64) as usize;
            regions.rotate_left(first);
        }
        let mut last_scope = None;
        for region in regions {
            if self.made >= self.max_attempts {
                break;
            }
            self.made += 1;
            match self.attempt(provider, Some(&token), candidate, Some(region)).await {
                Ok(reply) => return Ok(Some(Success { reply, key_number: None })),
                Err(error) => {
                    let scope = error.failure.scope();
                    self.failures.push(error.failure);
                    self.attempts.push(Attempt {
                        channel: format!("{channel}@{region}"),
                        key_number: None,
                        status: error.failure.status().map(|s| s.as_u16()),
                        reason: scrub(&error.reason, [token.expose()]),
                    });
                    if scope == Scope::Request {
                        return Err(request_error(error, &channel));
                    }
                    last_scope = Some(scope);
                }
            }
        }
        if last_scope.is_some() {
            self.cool_down(provider, candidate, None, Scope::Channel).await;
        }
        Ok(None)
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
        let cursor = if provider.key_schedule == KeySchedule::RoundRobin {
            store.next_cursor(&format!("rr:keys:{}", provider.name)).await.unwrap_or_else(degraded)
        } else {
            0
        };
        let order = order_keys(count, provider.key_schedule, cursor, runtime.random_u64());
        if provider.key_cooldown.is_zero() {
            return order;
        }
        let ids: Vec<String> = order.iter().map(|k| key_id(provider, *k)).collect();
        let ends = store.cooldowns(&ids, self.now).await.unwrap_or_else(|_| vec![None; ids.len()]);
        order.into_iter().zip(ends).filter(|(_, end)| end.is_none()).map(|(k, _)| k).collect()
    }

    async fn cool_down(&self, provider: &Provider, candidate: &Candidate, key: Option<usize>, scope: Scope) {
        let config = &*self.inner.config;
        let store = &*self.inner.platform.store;
        let channel_period = config.cooldown_period(provider);
        let key_scoped = scope == Scope::Key && provider.keys.len() > 1;
        let result = match (key_scoped, key) {
            (true, Some(k)) if !provider.key_cooldown.is_zero() => {
                store.start_cooldown(&key_id(provider, k), self.now.plus(provider.key_cooldown)).await
            }
            (true, _) => Ok(()),
            (false, _) if !channel_period.is_zero() => {
                store.start_cooldown(&channel_id(provider, &candidate.upstream), self.now.plus(channel_period)).await
            }
            (false, _) => Ok(()),
        };
        if let Err(e) = result {
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
    ) -> Result<Reply, AttemptError> {
        let config = &*self.inner.config;
        let runtime = &self.inner.platform.runtime;
        let request = self.request;
        let timeout = config.timeout(provider, &request.model, &candidate.upstream);
        let body = match &self.inlined {
            Some(inlined) if images::needs_inlining(provider.dialect) => inlined,
            _ => &request.body,
        };
        let built = match (request.endpoint, &request.form) {
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
        };
        let upstream_request =
            built.map_err(|reason| AttemptError { failure: Failure::BadResponse, reason, passthrough: None })?;
        let options = SendOptions { proxy: provider.proxy.clone().or_else(|| config.global.proxy.clone()) };
        let work = self.exchange(provider, &candidate.upstream, upstream_request, options, timeout);
        match select(Box::pin(work), runtime.sleep(timeout)).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(AttemptError {
                failure: Failure::Timeout,
                reason: format!("no answer within {} s", fmt_secs(timeout)),
                passthrough: None,
            }),
        }
    }

    async fn exchange(
        &self,
        provider: &Provider,
        upstream_model: &str,
        upstream_request: http::Request<Bytes>,
        options: SendOptions,
        timeout: Duration,
    ) -> Result<Reply, AttemptError> {
        let inner = self.inner;
        let request = self.request;
        let triggers = &inner.config.global.error_triggers;
        let response = inner.platform.http.send(upstream_request, options).await.map_err(|e| AttemptError {
            failure: if e.kind == TransportErrorKind::Timeout { Failure::Timeout } else { Failure::Transport },
            reason: e.to_string(),
            passthrough: None,
        })?;
        let status = response.status();
        let is_event_stream = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !status.is_success() {
            let body = collect(response.into_body(), MAX_UPSTREAM_BODY_BYTES).await.unwrap_or_default();
            let failure = Failure::from_status(status);
            let reason = format!("HTTP {}: {}", status.as_u16(), quote(&body));
            return Err(AttemptError { failure, reason, passthrough: Some((status, body)) });
        }
        if matches!(request.endpoint, Endpoint::Speech | Endpoint::Transcriptions) {
            let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
            if request.endpoint == Endpoint::Speech {
                let content_type = content_type.unwrap_or(HeaderValue::from_static("audio/mpeg"));
                return Ok(Reply::Relay { body: response.into_body(), content_type });
            }
            let body = collect(response.into_body(), MAX_UPSTREAM_BODY_BYTES).await.map_err(|reason| AttemptError {
                failure: Failure::Transport,
                reason,
                passthrough: None,
            })?;
            return Ok(Reply::Full { body, usage: None, content_type });
        }
        let runtime = &inner.platform.runtime;
        let ctx = ResponseCtx {
            alias: request.model.clone(),
            created: runtime.now().0 / 1000,
            wants_usage: request.wants_usage,
            nonce: runtime.random_u64(),
        };
        if request.stream && is_event_stream {
            let translator = adapters::translator(provider.dialect, upstream_model, ctx);
            let mut driver = Driver::new(response.into_body(), translator, inner.platform.runtime.clone(), timeout);
            driver.prime().await.map_err(stream_failure)?;
            if let Some(trigger) = triggers.iter().find(|t| driver.pending().any(|f| contains(f, t))) {
                return Err(trigger_hit(trigger));
            }
            return Ok(Reply::Stream(Box::new(driver)));
        }
        let body = collect(response.into_body(), MAX_UPSTREAM_BODY_BYTES).await.map_err(|reason| AttemptError {
            failure: Failure::Transport,
            reason,
            passthrough: None,
        })?;
        if let Some(trigger) = triggers.iter().find(|t| contains(&body, t)) {
            return Err(trigger_hit(trigger));
        }
        if request.stream {
            return Err(AttemptError {
                failure: Failure::BadResponse,
                reason: format!("asked to stream, the upstream answered without an event stream: {}", quote(&body)),
                passthrough: None,
            });
        }
        let parsed = match request.endpoint {
            Endpoint::Chat => adapters::parse_response(provider.dialect, upstream_model, &body, &ctx),
            _ => adapters::parse_passthrough(provider.dialect, &body, &request.model),
        };
        let (body, usage) =
            parsed.map_err(|reason| AttemptError { failure: Failure::BadResponse, reason, passthrough: None })?;
        Ok(Reply::Full { body, usage, content_type: None })
    }
}

/// The upstream's own answer when it blames the request; wrapped if it is not an OpenAI error.
fn request_error(error: AttemptError, channel: &str) -> GatewayError {
    let (status, body) = error.passthrough.unwrap_or((StatusCode::BAD_REQUEST, Bytes::new()));
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("error").map(openai::error_message))
        .unwrap_or_else(|| error.reason.clone());
    GatewayError::Upstream {
        status,
        message: format!("the upstream rejected the request: {message}"),
        attempts: vec![Attempt {
            channel: channel.into(),
            key_number: None,
            status: Some(status.as_u16()),
            reason: error.reason,
        }],
    }
}

fn stream_failure(error: StreamError) -> AttemptError {
    let failure = match error {
        StreamError::Idle(_) => Failure::Timeout,
        StreamError::Transport(_) => Failure::Transport,
        StreamError::Truncated | StreamError::Corrupt(_) | StreamError::Upstream(_) => Failure::BadResponse,
    };
    AttemptError { failure, reason: error.to_string(), passthrough: None }
}

fn trigger_hit(trigger: &str) -> AttemptError {
    AttemptError {
        failure: Failure::BadResponse,
        reason: format!("the reply contains the error trigger `{trigger}`"),
        passthrough: None,
    }
}

async fn admit(inner: &Inner, id: &str, rules: &[RateRule], now: UnixMillis) -> Admission {
    inner.platform.store.admit(id, rules, now).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "rate-limit state unavailable; admitting");
        Admission::Admitted
    })
}

fn degraded<E: std::fmt::Display>(e: E) -> u64 {
    tracing::warn!(error = %e, "scheduling cursor unavailable; starting at the first channel");
    0
}

fn channel_id(provider: &Provider, upstream: &str) -> String {
    format!("cool:ch:{}/{upstream}", provider.name)
}

fn key_id(provider: &Provider, key: usize) -> String {
    format!("cool:key:{}#{key}", provider.name)
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

#[cfg(test)]
mod tests {
    use super::is_token_list;

    #[test]
    fn token_inputs_are_told_from_text() {
        assert!(is_token_list("[1, 2, 3]"));
        assert!(is_token_list(" [ [1, 2], [3] ]"));
        assert!(!is_token_list(r#"["one", "two"]"#));
        assert!(!is_token_list(r#""text""#));
        assert!(!is_token_list("[]"));
    }
}
