//! Golden tests of the front doors: every door against every upstream dialect.
//!
//! * `doors/<door>/request_*.json` (`{model, upstream, stream, headers?, body}`) → the upstream
//!   request each dialect's channel is sent, snapshotted as `request_*.json.<dialect>.expected`
//!   (the door's own API: the body as written but the model; others: through the hub).
//! * Every upstream reply of `<dialect>/response_*.json` → the door's reply, and every upstream
//!   stream of `<dialect>/stream_*.sse` → the door's frames as the client reads them, in
//!   `doors/<door>/from_<dialect>/`. Responses-API upstream fixtures sit in
//!   `doors/responses/native/`.
//!
//! Each stream is also fed one byte at a time and cut in two at every position, which must not
//! change the frames. `UPDATE_GOLDEN=1 cargo test -p uni-api-core --test golden_doors`
//! rewrites the snapshots; review the diff by eye.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use serde_json::Value;
use uni_api_core::adapters::raw::RawObject;
use uni_api_core::adapters::{self, Dialect, ResponseCtx};
use uni_api_core::config::Config;
use uni_api_core::doors::gemini::Framing;
use uni_api_core::doors::{Door, NativeCall};
use uni_api_core::sse::SseDecoder;
use uni_api_core::stream::{Flow, FrameEncoder, StreamTranslator};

const DOORS: [(&str, Door); 3] =
    [("messages", Door::Messages), ("responses", Door::Responses), ("gemini", Door::Gemini(Framing::Sse))];

/// Upstream dialects, their fixture folders and a channel config for each.
const DIALECTS: [(&str, Dialect, &str); 5] = [
    ("openai", Dialect::OpenAi, "https://api.openai.com/v1"),
    ("anthropic", Dialect::Anthropic, "https://api.anthropic.com/v1/messages"),
    ("gemini", Dialect::Gemini, "https://generativelanguage.googleapis.com/v1beta"),
    ("cohere", Dialect::Cohere, "https://api.cohere.com"),
    ("cloudflare", Dialect::Cloudflare, "https://api.cloudflare.com\n    cf_account_id: acc123"),
];

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn config(base: &str) -> Config {
    let yaml = format!(
        "providers:\n  - provider: p\n    base_url: {base}\n    api: sk-test\n    model: [m]\napi_keys: [{{api: k}}]\n"
    );
    Config::from_yaml_str(&yaml, &|_| None).unwrap()
}

fn ctx() -> ResponseCtx {
    ResponseCtx { alias: "client-model".into(), created: 1_700_000_000, wants_usage: true, nonce: 0xfeed }
}

fn check(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("no snapshot {}; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(actual, expected, "snapshot mismatch for {}", path.display());
}

fn pretty(bytes: &[u8]) -> String {
    let value: Value = serde_json::from_slice(bytes).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(bytes)));
    serde_json::to_string_pretty(&value).unwrap() + "\n"
}

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && !name.ends_with(".expected")
        })
        .collect();
    found.sort();
    found
}

/// The client body of a door's first request fixture (replies to Responses need its tools).
fn first_request(door: &str) -> RawObject {
    let path = &files(&golden().join("doors").join(door), "request_")[0];
    let case: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    RawObject::parse(case["body"].to_string().as_bytes()).unwrap()
}

#[test]
fn requests_to_every_dialect() {
    let mut seen = 0;
    for (door_name, door) in DOORS {
        for path in files(&golden().join("doors").join(door_name), "request_") {
            let case: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let body = RawObject::parse(case["body"].to_string().as_bytes()).unwrap();
            let (upstream, alias) = (case["upstream"].as_str().unwrap(), case["model"].as_str().unwrap());
            let stream = case["stream"].as_bool().unwrap();
            let forward: Vec<(HeaderName, HeaderValue)> = case["headers"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.parse().unwrap(), v.as_str().unwrap().parse().unwrap()))
                .collect();
            for (dialect_name, dialect, base) in DIALECTS {
                let config = config(base);
                let provider = &config.providers[0];
                let key = provider.keys.first();
                let request = if door.is_native_on(dialect, upstream) {
                    let call =
                        NativeCall { body: &body, upstream_model: upstream, stream, region: None, forward: &forward };
                    door.build_native(provider, key, &call)
                } else {
                    let hub = door.hub_for(&body, dialect, stream).unwrap();
                    adapters::build_request(provider, key, &hub, upstream, alias, stream, None)
                }
                .unwrap_or_else(|e| panic!("{}: {dialect_name}: {e}", path.display()));
                let mut headers: Vec<String> =
                    request.headers().iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap())).collect();
                headers.sort();
                let snapshot = format!(
                    "{} {}\n{}\n\n{}",
                    request.method(),
                    request.uri(),
                    headers.join("\n"),
                    pretty(request.body())
                );
                check(&PathBuf::from(format!("{}.{dialect_name}.expected", path.display())), &snapshot);
                seen += 1;
            }
        }
    }
    assert!(seen >= 30, "{seen} request snapshots");
}

/// Where a door's replies from a dialect are snapshotted, and the upstream fixtures fed in.
fn reply_sources() -> Vec<(&'static str, Door, String, Dialect, PathBuf)> {
    let mut sources = Vec::new();
    for (door_name, door) in DOORS {
        for (dialect_name, dialect, _) in DIALECTS {
            sources.push((door_name, door, format!("from_{dialect_name}"), dialect, golden().join(dialect_name)));
        }
    }
    // The Responses door's own API upstream.
    sources.push((
        "responses",
        Door::Responses,
        "from_responses".into(),
        Dialect::OpenAi,
        golden().join("doors/responses/native"),
    ));
    sources
}

#[test]
fn replies_from_every_dialect() {
    let mut seen = 0;
    for (door_name, door, folder, dialect, dir) in reply_sources() {
        let native = door.is_native_on(dialect, "model") && (dialect != Dialect::OpenAi || folder == "from_responses");
        let request = first_request(door_name);
        for path in files(&dir, "response_") {
            let upstream = std::fs::read(&path).unwrap();
            let reply = if native {
                door.read_native_reply(&upstream, "client-model").map(|(b, _)| b)
            } else {
                adapters::parse_response(dialect, "model", &upstream, &ctx())
                    .and_then(|(hub, _)| door.reply_from_chat(hub, &ctx(), &request))
            }
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            check(
                &golden().join("doors").join(door_name).join(&folder).join(format!("{name}.expected")),
                &pretty(&reply),
            );
            seen += 1;
        }
    }
    assert!(seen >= 28, "{seen} reply snapshots");
}

/// Feeds `chunks` through a translator and an encoder as the stream driver does: the frames the
/// client reads, and `END` or `FAILED` after them.
fn drive<T: StreamTranslator, E: FrameEncoder>(mut translator: T, mut encoder: E, chunks: &[&[u8]]) -> String {
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk, &mut |e| events.push(e)).expect("within the limit");
    }
    decoder.finish(&mut |e| events.push(e)).expect("fixtures are within the limit");
    let mut frames = VecDeque::new();
    let mut payloads = Vec::new();
    let mut outcome = None;
    for event in &events {
        let flow = translator.on_event(event, &mut payloads);
        let encoded: Result<(), _> = payloads.drain(..).try_for_each(|p: Bytes| encoder.encode(p, &mut frames));
        match flow.and_then(|f| encoded.map(|()| f)) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Done) => {
                encoder.end(&mut frames);
                outcome = Some("END".to_owned());
                break;
            }
            Err(e) => {
                encoder.fail(&e, &mut frames);
                outcome = Some(format!("FAILED {}", e.code()));
                break;
            }
        }
    }
    let outcome = outcome.unwrap_or_else(|| match translator.finish() {
        Ok(()) => {
            encoder.end(&mut frames);
            "END".to_owned()
        }
        Err(e) => {
            encoder.fail(&e, &mut frames);
            format!("FAILED {}", e.code())
        }
    });
    let text: Vec<u8> = frames.into_iter().flat_map(|b| b.to_vec()).collect();
    format!("{}\n--- {outcome}\n", String::from_utf8(text).unwrap())
}

fn run_stream(door: Door, dialect: Dialect, native: bool, request: &RawObject, chunks: &[&[u8]]) -> String {
    if native {
        let (relay, encoder) = door.relay("client-model").unwrap();
        drive(relay, encoder, chunks)
    } else {
        drive(adapters::translator(dialect, "model", ctx()), door.encoder(ctx(), request), chunks)
    }
}

#[test]
fn streams_from_every_dialect_in_any_chunking() {
    let mut seen = 0;
    for (door_name, door, folder, dialect, dir) in reply_sources() {
        let native = door.is_native_on(dialect, "model") && (dialect != Dialect::OpenAi || folder == "from_responses");
        let request = first_request(door_name);
        for path in files(&dir, "stream_") {
            let input = std::fs::read(&path).unwrap();
            let whole = run_stream(door, dialect, native, &request, &[&input]);
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert_eq!(run_stream(door, dialect, native, &request, &bytes), whole, "{door_name} {name}: byte by byte");
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                assert_eq!(
                    run_stream(door, dialect, native, &request, &[a, b]),
                    whole,
                    "{door_name} {name}: cut at {cut}"
                );
            }
            check(&golden().join("doors").join(door_name).join(&folder).join(format!("{name}.expected")), &whole);
            seen += 1;
        }
    }
    assert!(seen >= 45, "{seen} stream snapshots");
}
