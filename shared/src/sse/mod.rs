//! Server-sent events: a push decoder that re-frames arbitrary byte chunks into events, and the
//! one encoder the gateway writes with.
//!
//! Upstream chunks do not line up with events (a chunk may end mid-line or mid-UTF-8 sequence),
//! so the decoder buffers the incomplete tail and emits whole events only. It follows the HTML
//! event-stream rules: lines end in `\n`, `\r\n` or `\r`; `data:` lines of one event join with
//! `\n`; a blank line dispatches; lines starting with `:` are comments.

use bytes::{BufMut, Bytes, BytesMut};

/// One decoded event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    pub data: String,
}

/// Incremental event-stream decoder.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`; a leading `\n` in the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk; every completed event goes to `emit`.
    pub fn feed(&mut self, mut chunk: &[u8], emit: &mut impl FnMut(SseEvent)) {
        if self.after_cr {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', chunk) {
            let ending = chunk[pos];
            if self.line.is_empty() {
                self.process_line(&chunk[..pos], emit);
            } else {
                self.line.extend_from_slice(&chunk[..pos]);
                let line = std::mem::take(&mut self.line);
                self.process_line(&line, emit);
                self.line = line;
                self.line.clear();
            }
            chunk = &chunk[pos + 1..];
            if ending == b'\r' {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
        }
        self.line.extend_from_slice(chunk);
    }

    /// End of input: an unterminated last line and event still count (many upstreams omit the
    /// final blank line after `data: [DONE]`).
    pub fn finish(&mut self, emit: &mut impl FnMut(SseEvent)) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, emit);
        }
        self.dispatch(emit);
    }

    fn process_line(&mut self, line: &[u8], emit: &mut impl FnMut(SseEvent)) {
        if line.is_empty() {
            self.dispatch(emit);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            _ => {} // `id`, `retry` and unknown fields carry nothing the gateway needs.
        }
    }

    fn dispatch(&mut self, emit: &mut impl FnMut(SseEvent)) {
        if self.has_data {
            emit(SseEvent { event: self.event.take(), data: std::mem::take(&mut self.data) });
        }
        self.event = None;
        self.has_data = false;
    }
}

/// `data: <payload>\n\n`.
pub fn encode_data(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 8);
    out.put_slice(b"data: ");
    out.put_slice(payload);
    out.put_slice(b"\n\n");
    out.freeze()
}

/// `event: <name>\ndata: <payload>\n\n` (Anthropic and Responses streams name every event).
pub fn encode_event(name: &str, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(name.len() + payload.len() + 16);
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\ndata: ");
    out.put_slice(payload);
    out.put_slice(b"\n\n");
    out.freeze()
}

/// The terminator OpenAI clients wait for.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_chunks(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c, &mut |e| out.push(e));
        }
        d.finish(&mut |e| out.push(e));
        out
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent { event: event.map(str::to_owned), data: data.to_owned() }
    }

    #[test]
    fn decodes_events_comments_and_multiline_data() {
        let input = b": keep-alive\n\ndata: {\"a\":1}\n\nevent: message_stop\ndata: x\ndata: y\n\nid: 7\nretry: 10\ndata: [DONE]\n\n";
        assert_eq!(
            decode_chunks(&[input]),
            vec![ev(None, "{\"a\":1}"), ev(Some("message_stop"), "x\ny"), ev(None, "[DONE]")]
        );
    }

    #[test]
    fn handles_crlf_and_lone_cr_line_endings() {
        assert_eq!(
            decode_chunks(&[b"data: a\r\n\r\ndata: b\r\rdata:c\n\n"]),
            vec![ev(None, "a"), ev(None, "b"), ev(None, "c")]
        );
        assert_eq!(decode_chunks(&[b"data: a\r", b"\n\r", b"\n"]), vec![ev(None, "a")]);
    }

    #[test]
    fn flushes_an_unterminated_last_event_at_eof() {
        assert_eq!(decode_chunks(&[b"data: one\n\ndata: [DONE]"]), vec![ev(None, "one"), ev(None, "[DONE]")]);
    }

    #[test]
    fn splits_inside_utf8_sequences_are_reassembled() {
        let text = "data: héllo 🌍\n\n".as_bytes();
        let mut chunks: Vec<&[u8]> = Vec::new();
        for i in 0..text.len() {
            chunks.push(&text[i..i + 1]);
        }
        assert_eq!(decode_chunks(&chunks), vec![ev(None, "héllo 🌍")]);
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_events(cuts in proptest::collection::vec(0usize..400, 0..12)) {
            let input: &[u8] = b"event: a\ndata: {\"x\":\"\xc3\xa9\"}\r\n\r\n: c\ndata: 1\ndata: 2\n\ndata: 3\r\rdata: [DONE]\n\n";
            let whole = decode_chunks(&[input]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for c in cuts {
                chunks.push(&input[last..c]);
                last = c;
            }
            chunks.push(&input[last..]);
            prop_assert_eq!(decode_chunks(&chunks), whole);
        }
    }
}
