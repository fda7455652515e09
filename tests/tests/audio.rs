//! Audio: transcriptions (multipart in, text or JSON out, routed and failed over like chat, with
//! a size limit) and speech (audio bytes relayed as they arrive, never a clean end on a break).

use std::time::Duration;

use serde_json::{json, Value};
use uni_api_tests::{error_code, Mock, Reply, TestGateway};

const AUDIO: &[u8] = b"RIFF\x00\x01\x02fake-wave-data\x7f";

fn yaml(a: &Mock, b: &Mock, extra: &str) -> String {
    format!(
        "providers:\n  - provider: a\n    base_url: {}\n    model: [{{whisper-1: whisper}}, {{tts-1: speech}}]\n  - provider: b\n    base_url: {}\n    model: [{{whisper-large: whisper}}]\napi_keys:\n  - api: k\npreferences:\n  cooldown_period: 0\n{extra}",
        a.base(),
        b.base()
    )
}

/// A hand-written multipart body, as curl or an SDK would send it.
fn form(fields: &[(&str, &str)], file: Option<&[u8]>) -> (String, Vec<u8>) {
    let boundary = "----client-boundary-42";
    let mut body = Vec::new();
    if let Some(file) = file {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"talk.wav\"\r\nContent-Type: audio/wav\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(b"\r\n");
    }
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn transcribe(gw: &TestGateway, content_type: &str, body: Vec<u8>) -> reqwest::Response {
    gw.http
        .post(gw.url("/v1/audio/transcriptions"))
        .bearer_auth("k")
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn transcriptions_are_relayed_as_multipart_with_the_model_renamed_and_fail_over() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.script([
        Reply::Json(503, json!({"error": {"message": "busy"}})),
        Reply::Raw(200, "text/plain; charset=utf-8", "hello from a\n".into()),
    ]);
    b.script([Reply::Json(200, json!({"text": "hello from b"}))]);
    let gw = TestGateway::start(&yaml(&a, &b, "")).await;

    let (content_type, body) =
        form(&[("model", "whisper"), ("language", "de"), ("response_format", "json")], Some(AUDIO));
    let response = transcribe(&gw, &content_type, body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let reply: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(reply, json!({"text": "hello from b"}));

    // Each upstream got the client's form with its own model id, under the gateway's boundary.
    for (mock, model) in [(&a, "whisper-1"), (&b, "whisper-large")] {
        let sent = &mock.received()[0];
        assert_eq!(sent.path, "/v1/audio/transcriptions");
        let sent_type = sent.header("content-type").unwrap();
        assert!(sent_type.starts_with("multipart/form-data; boundary=uni-api-"), "{sent_type}");
        let raw = &mock.raw_bodies()[0];
        assert!(raw.contains(&format!("name=\"model\"\r\n\r\n{model}\r\n")), "{raw}");
        assert!(raw.contains("name=\"language\"\r\n\r\nde\r\n"), "{raw}");
        assert!(raw.contains("filename=\"talk.wav\"\r\nContent-Type: audio/wav\r\n\r\n"), "{raw}");
        assert!(raw.contains(std::str::from_utf8(AUDIO).unwrap()), "the file bytes are passed unchanged");
        assert!(!raw.contains("client-boundary"), "{raw}");
    }

    // Text answers keep the upstream's content type.
    let (content_type, body) = form(&[("model", "whisper"), ("response_format", "text")], Some(AUDIO));
    let response = transcribe(&gw, &content_type, body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(response.text().await.unwrap(), "hello from a\n");
}

#[tokio::test]
async fn a_second_model_field_sent_as_a_file_does_not_reach_the_upstream() {
    // The key may use `whisper`; a file field called `model` naming another model must not
    // reach the upstream, whose form parser might take it over the text field.
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.script([Reply::Json(200, json!({"text": "ok"}))]);
    let gw = TestGateway::start(&yaml(&a, &b, "")).await;
    let (content_type, mut body) = form(&[("model", "whisper")], Some(AUDIO));
    let end = body.len() - "------client-boundary-42--\r\n".len();
    body.splice(
        end..end,
        b"------client-boundary-42\r\nContent-Disposition: form-data; name=\"model\"; filename=\"m.txt\"\r\nContent-Type: text/plain\r\n\r\ngpt-4-expensive\r\n".iter().copied(),
    );
    let response = transcribe(&gw, &content_type, body).await;
    assert_eq!(response.status(), 200);
    let raw = &a.raw_bodies()[0];
    assert!(!raw.contains("expensive"), "{raw}");
    assert_eq!(raw.matches("name=\"model\"\r\n\r\nwhisper-1\r\n").count(), 2, "{raw}");
}

#[tokio::test]
async fn bad_transcription_requests_get_clear_errors() {
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    let gw = TestGateway::start(&yaml(&a, &b, "  max_audio_upload_mb: 1\n")).await;
    let cases: Vec<(String, Vec<u8>, u16, &str, &str)> = vec![
        {
            let (t, b) = form(&[("model", "whisper")], None);
            (t, b, 400, "invalid_request", "`file` is required")
        },
        {
            let (t, b) = form(&[], Some(AUDIO));
            (t, b, 400, "invalid_request", "`model` is required")
        },
        ("application/json".into(), b"{}".to_vec(), 400, "invalid_request", "multipart/form-data"),
        (
            "multipart/form-data; boundary=x".into(),
            b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\ncut".to_vec(),
            400,
            "invalid_request",
            "malformed",
        ),
        {
            let (t, b) = form(&[("model", "whisper")], Some(&vec![b'a'; 1024 * 1024 + 1]));
            (t, b, 413, "request_too_large", "larger than")
        },
        {
            let (t, b) = form(&[("model", "nope")], Some(AUDIO));
            (t, b, 404, "model_not_found", "nope")
        },
    ];
    for (content_type, body, status, code, text) in cases {
        let response = transcribe(&gw, &content_type, body).await;
        assert_eq!(response.status(), status);
        let reply: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(error_code(&reply), code, "{reply}");
        assert!(reply["error"]["message"].as_str().unwrap().contains(text), "{reply}");
    }
    assert!(a.received().is_empty() && b.received().is_empty());
}

#[tokio::test]
async fn speech_audio_is_relayed_as_it_arrives_and_a_break_is_not_a_clean_end() {
    if uni_api_tests::native_only(
        "local workerd (Miniflare's front) ends a relayed body cleanly when the upstream breaks",
    ) {
        return;
    }
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.script([
        Reply::Raw(200, "audio/mpeg", "ID3-mp3-bytes".into()),
        // One chunk, then the upstream goes quiet with the connection open.
        Reply::StreamThenHang(vec!["first-chunk".into()]),
        Reply::StreamThenBreak(vec!["partial".into()]),
    ]);
    let gw = TestGateway::start(&yaml(&a, &b, "")).await;
    let speak = || gw.post("/v1/audio/speech", "k", json!({"model": "speech", "input": "hi", "voice": "alloy"}));

    let response = speak().await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/mpeg");
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"ID3-mp3-bytes");
    let sent = &a.received()[0];
    assert_eq!(sent.path, "/v1/audio/speech");
    assert_eq!(sent.body, json!({"model": "tts-1", "input": "hi", "voice": "alloy"}));

    // The first chunk reaches the client while the upstream is still sending: nothing is buffered.
    let mut response = speak().await;
    let first = tokio::time::timeout(Duration::from_secs(10), response.chunk()).await.expect("first chunk relayed");
    assert_eq!(first.unwrap().unwrap().as_ref(), b"data: first-chunk\n\n");
    drop(response);

    // An upstream that breaks mid-body breaks the client's transfer too.
    let response = speak().await;
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err(), "a broken relay must not end cleanly");
}

#[tokio::test]
async fn a_speech_relay_that_goes_quiet_is_cut_off_and_recorded_by_how_it_ended() {
    if uni_api_tests::native_only("reads the native gateway's SQLite file") {
        return;
    }
    use uni_api_core::platform::StatsStore;
    use uni_api_native::stats::{Stats, StatsTarget};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats.db");
    let stats = Stats::open(&StatsTarget::Sqlite(path.clone())).await.unwrap().unwrap();
    let store: std::sync::Arc<dyn StatsStore> = stats.store();
    let (a, b) = (Mock::start("a").await, Mock::start("b").await);
    a.script([
        Reply::Raw(200, "audio/mpeg", "ID3-whole".into()),
        Reply::StreamThenHang(vec!["first-chunk".into()]),
        Reply::StreamThenHang(vec!["first-chunk".into()]),
    ]);
    // The idle timeout of a relay is the model's timeout, as for an event stream.
    let gw = TestGateway::start_with_stats(&yaml(&a, &b, "  model_timeout:\n    speech: 1\n"), store).await;
    let speak = || gw.post("/v1/audio/speech", "k", json!({"model": "speech", "input": "hi", "voice": "alloy"}));

    assert_eq!(speak().await.bytes().await.unwrap().as_ref(), b"ID3-whole");
    // Quiet for longer than the timeout: the transfer is cut off, not left open.
    let stalled = tokio::time::timeout(Duration::from_secs(10), speak().await.bytes()).await;
    assert!(stalled.expect("cut off within the idle timeout").is_err(), "a stalled relay must not end cleanly");
    // The client leaves mid-relay.
    let mut leaving = speak().await;
    assert!(leaving.chunk().await.unwrap().is_some());
    drop(leaving);
    tokio::time::sleep(Duration::from_millis(300)).await;

    stats.flush().await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let rows: Vec<(i64, Option<String>)> = conn
        .prepare("SELECT success, error FROM uni_api_requests WHERE endpoint = '/v1/audio/speech' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[0], (1, None));
    assert_eq!(rows[1].0, 0);
    assert!(rows[1].1.as_deref().unwrap_or("").contains("no data for 1 s"), "{rows:?}");
    assert_eq!(rows[2], (0, Some("cancelled by the client".into())));
}
