//! Golden tests: provider fixtures in `tests/golden/<dialect>/` in, snapshots out.
//!
//! * `request_*.json` (`{alias, upstream, stream, body}`) → the upstream request body.
//! * `response_*.json` (an upstream reply) → the OpenAI completion.
//! * `stream_*.sse` (upstream SSE bytes) → one line per client chunk, then `[DONE]` or `ERROR`.
//! * `overrides/<dialect>_*.json` (`{dialect, alias, upstream, stream, overrides, body}`) → the
//!   upstream request after `post_body_parameter_overrides`.
//!
//! Snapshots sit beside each fixture as `*.expected`. `UPDATE_GOLDEN=1 cargo test -p
//! uni-api-core --test golden` rewrites them; review the diff by eye before committing.
//! Every stream fixture is also fed in several chunkings (one byte at a time, and cut at every
//! position in two), which must all give the same output.

use std::path::{Path, PathBuf};

use serde_json::Value;
use uni_api_core::adapters::{self, Dialect, ResponseCtx};
use uni_api_core::config::Config;
use uni_api_core::sse::SseDecoder;
use uni_api_core::stream::{Flow, StreamTranslator};

fn dialect_config(dialect: &str) -> Config {
    dialect_config_with(dialect, "")
}

/// The provider for `dialect`, with `preferences` (YAML lines under it) when given.
fn dialect_config_with(dialect: &str, preferences: &str) -> Config {
    let base = match dialect {
        "anthropic" => "https://api.anthropic.com/v1/messages",
        "gemini" => "https://generativelanguage.googleapis.com/v1beta",
        "cohere" => "https://api.cohere.com",
        "cohere_v1" => "https://api.cohere.com/v1/chat",
        "cloudflare" => "https://api.cloudflare.com\n    cf_account_id: acc123",
        "openai" => "https://api.openai.com/v1",
        other => panic!("no golden config for {other}"),
    };
    let yaml = format!(
        "providers:\n  - provider: p\n    base_url: {base}\n    api: sk-test\n    model: [m]\n{preferences}api_keys: [{{api: k}}]\n"
    );
    Config::from_yaml_str(&yaml, &|_| None).unwrap()
}

fn ctx(alias: &str, wants_usage: bool) -> ResponseCtx {
    ResponseCtx { alias: alias.into(), created: 1_700_000_000, wants_usage, nonce: 0xfeed }
}

fn check(fixture: &Path, actual: &str) {
    let expected_path = PathBuf::from(format!("{}.expected", fixture.display()));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&expected_path)
        .unwrap_or_else(|_| panic!("no snapshot {}; run with UPDATE_GOLDEN=1", expected_path.display()));
    assert_eq!(actual, expected, "snapshot mismatch for {}", fixture.display());
}

fn pretty(bytes: &[u8]) -> String {
    let value: Value = serde_json::from_slice(bytes).unwrap();
    serde_json::to_string_pretty(&value).unwrap() + "\n"
}

fn run_stream(dialect: Dialect, input: &[u8], chunks: &[&[u8]]) -> String {
    let _ = input;
    let mut translator = adapters::translator(dialect, "model", ctx("alias", true));
    let mut decoder = SseDecoder::new();
    let mut lines = Vec::new();
    let mut events = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk, &mut |e| events.push(e)).expect("within the limit");
    }
    decoder.finish(&mut |e| events.push(e)).expect("fixtures are within the limit");
    let mut out = Vec::new();
    for event in &events {
        match translator.on_event(event, &mut out) {
            Ok(flow) => {
                lines.extend(out.drain(..).map(|b| String::from_utf8(b.to_vec()).unwrap()));
                if flow == Flow::Done {
                    lines.push("[DONE]".into());
                    return lines.join("\n") + "\n";
                }
            }
            Err(e) => {
                lines.extend(out.drain(..).map(|b| String::from_utf8(b.to_vec()).unwrap()));
                lines.push(format!("ERROR {}: {e}", e.code()));
                return lines.join("\n") + "\n";
            }
        }
    }
    match translator.finish() {
        Ok(()) => lines.push("[DONE]".into()),
        Err(e) => lines.push(format!("ERROR {}: {e}", e.code())),
    }
    lines.join("\n") + "\n"
}

fn run_dialect(name: &str, dialect: Dialect) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    let config = dialect_config(name);
    let provider = &config.providers[0];
    let mut seen = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if file.ends_with(".expected") {
            continue;
        }
        seen += 1;
        let input = std::fs::read(&path).unwrap();
        if file.starts_with("request_") {
            let case: Value = serde_json::from_slice(&input).unwrap();
            let body = adapters::raw::RawObject::parse(case["body"].to_string().as_bytes()).unwrap();
            let request = adapters::build_request(
                provider,
                provider.keys.first(),
                &body,
                case["upstream"].as_str().unwrap(),
                case["alias"].as_str().unwrap(),
                case["stream"].as_bool().unwrap(),
                case["region"].as_str(),
            )
            .unwrap();
            let mut headers: Vec<String> =
                request.headers().iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap())).collect();
            headers.sort();
            let snapshot =
                format!("{} {}\n{}\n\n{}", request.method(), request.uri(), headers.join("\n"), pretty(request.body()));
            check(&path, &snapshot);
        } else if file.starts_with("response_") {
            let (body, _) = adapters::parse_response(dialect, "model", &input, &ctx("alias", false)).unwrap();
            check(&path, &pretty(&body));
        } else if file.starts_with("stream_") {
            let whole = run_stream(dialect, &input, &[&input]);
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(run_stream(dialect, &input, &bytes), whole, "{file}: one byte at a time");
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                assert_eq!(run_stream(dialect, &input, &[a, b]), whole, "{file}: cut at {cut}");
            }
            check(&path, &whole);
        } else {
            panic!("unexpected fixture {file}");
        }
    }
    assert!(seen > 0, "no fixtures in {}", dir.display());
}

#[test]
fn anthropic() {
    run_dialect("anthropic", Dialect::Anthropic);
}

#[test]
fn gemini() {
    run_dialect("gemini", Dialect::Gemini);
}

#[test]
fn cloudflare() {
    run_dialect("cloudflare", Dialect::Cloudflare);
}

#[test]
fn cohere() {
    run_dialect("cohere", Dialect::Cohere);
}

#[test]
fn cohere_v1() {
    run_dialect("cohere_v1", Dialect::Cohere);
}

#[test]
fn overrides() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/overrides");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut dialects = std::collections::BTreeSet::new();
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let case: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let dialect = case["dialect"].as_str().unwrap();
        dialects.insert(dialect.to_owned());
        // JSON is YAML: the overrides go into the config exactly as a user would write them.
        let preferences = format!("    preferences:\n      post_body_parameter_overrides: {}\n", case["overrides"]);
        let config = dialect_config_with(dialect, &preferences);
        let provider = &config.providers[0];
        let alias = case["alias"].as_str().unwrap();
        let body = adapters::raw::RawObject::parse(case["body"].to_string().as_bytes()).unwrap();
        let request = adapters::build_request(
            provider,
            provider.keys.first(),
            &body,
            case["upstream"].as_str().unwrap(),
            alias,
            case["stream"].as_bool().unwrap(),
            None,
        )
        .unwrap();
        let overrides = provider.body_overrides.as_ref().expect("the fixture's overrides parse");
        let request = adapters::overrides::apply_to_request(overrides, alias, |k| k == alias, request);
        let snapshot = format!("{} {}\n\n{}", request.method(), request.uri(), pretty(request.body()));
        check(path, &snapshot);
    }
    assert_eq!(dialects.len(), 5, "a fixture per dialect: {dialects:?}");
}
