//! Server-sent events: a push decoder that re-frames arbitrary byte chunks into events, and the
//! one encoder the gateway writes with.
//!
//! Upstream chunks do not line up with events (a chunk may end mid-line or mid-UTF-8 sequence),
//! so the decoder buffers the incomplete tail and emits whole events only. It follows the HTML
//! event-stream rules: lines end in `\n`, `\r\n` or `\r`; `data:` lines of one event join with
//! `\n`; a blank line dispatches; lines starting with `:` are comments. A line that is a JSON
//! object is an event by itself, so newline-delimited JSON streams decode too. A line or an event larger
//! than the decoder's limit (8 MiB by default) is refused, so an upstream cannot make the gateway
//! hold an unbounded amount of memory.

use bytes::{BufMut, Bytes, BytesMut};

/// One decoded event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    pub data: String,
}

/// The largest line or event the decoder holds by default.
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// An upstream line or event over the decoder's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the upstream sent an event larger than {limit} bytes")]
pub struct Oversized {
    pub limit: usize,
}

/// Incremental event-stream decoder.
#[derive(Debug)]
pub struct SseDecoder {
    /// The largest line or event held.
    limit: usize,
    /// A limit was exceeded: the stream is not decoded further.
    overflowed: bool,
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`; a leading `\n` in the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::with_limit(MAX_EVENT_BYTES)
    }
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder refusing lines and events over `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            limit,
            overflowed: false,
            line: Vec::new(),
            after_cr: false,
            event: None,
            data: String::new(),
            has_data: false,
        }
    }

    /// Feeds one chunk; every completed event goes to `emit`. Past the limit nothing more is
    /// decoded and every call answers `Oversized`.
    pub fn feed(&mut self, mut chunk: &[u8], emit: &mut impl FnMut(SseEvent)) -> Result<(), Oversized> {
        if self.overflowed {
            return Err(Oversized { limit: self.limit });
        }
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
            if self.data.len() > self.limit {
                return self.overflow();
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
        if self.line.len() + chunk.len() > self.limit {
            return self.overflow();
        }
        self.line.extend_from_slice(chunk);
        Ok(())
    }

    fn overflow(&mut self) -> Result<(), Oversized> {
        self.overflowed = true;
        self.line = Vec::new();
        self.data = String::new();
        Err(Oversized { limit: self.limit })
    }

    /// End of input: an unterminated last line and event still count (many upstreams omit the
    /// final blank line after `data: [DONE]`), within the limit like any other.
    pub fn finish(&mut self, emit: &mut impl FnMut(SseEvent)) -> Result<(), Oversized> {
        if self.overflowed {
            return Err(Oversized { limit: self.limit });
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, emit);
        }
        // Checked here too: invalid UTF-8 grows as it is replaced (one byte, three of U+FFFD),
        // so a line within the limit can make data past it.
        if self.data.len() > self.limit {
            return self.overflow();
        }
        self.dispatch(emit);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], emit: &mut impl FnMut(SseEvent)) {
        if line.is_empty() {
            self.dispatch(emit);
            return;
        }
        if line[0] == b':' {
            return;
        }
        // A line that is a JSON object is one whole event: newline-delimited JSON streams
        // (Cohere's v1 chat) carry no `data:` fields. Under SSE such a line is an unknown field,
        // which carries nothing, so reading it as data changes no SSE stream.
        if line[0] == b'{' {
            self.dispatch(emit);
            emit(SseEvent { event: None, data: String::from_utf8_lossy(line).into_owned() });
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
            d.feed(c, &mut |e| out.push(e)).unwrap();
        }
        d.finish(&mut |e| out.push(e)).unwrap();
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
    fn json_lines_are_events_of_their_own() {
        let ndjson =
            b"{\"event_type\":\"stream-start\"}\n{\"event_type\":\"text-generation\",\"text\":\"a\"}\n{\"x\":1}";
        assert_eq!(
            decode_chunks(&[ndjson]),
            vec![
                ev(None, "{\"event_type\":\"stream-start\"}"),
                ev(None, "{\"event_type\":\"text-generation\",\"text\":\"a\"}"),
                ev(None, "{\"x\":1}")
            ]
        );
        // Mixed with SSE, a pending event is dispatched first.
        assert_eq!(decode_chunks(&[b"data: a\n{\"b\":2}\n\n"]), vec![ev(None, "a"), ev(None, "{\"b\":2}")]);
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

    #[test]
    fn a_line_or_an_event_over_the_limit_is_refused() {
        let mut d = SseDecoder::with_limit(16);
        let mut out = Vec::new();
        assert!(d.feed(b"data: short\n\n", &mut |e| out.push(e)).is_ok());
        assert_eq!(out.len(), 1);
        assert_eq!(d.feed(b"data: 0123456789abcdef", &mut |e| out.push(e)), Err(Oversized { limit: 16 }));
        assert_eq!(d.feed(b"\n\n", &mut |e| out.push(e)), Err(Oversized { limit: 16 }), "it stays refused");
        let mut d = SseDecoder::with_limit(16);
        let many_lines = b"data: 0123456789\ndata: 0123456789\n";
        assert!(d.feed(many_lines, &mut |e| out.push(e)).is_err(), "an event's lines add up");
        // Found by fuzzing: an unterminated last line of invalid UTF-8 within the line limit
        // grew past it as U+FFFD replaced each byte, and was emitted at the end of input.
        let mut d = SseDecoder::with_limit(16);
        let before = out.len();
        assert!(d.feed(b"data:\xbf\xbf\xbf\xbf\xbf\xbf\xbf\xbf", &mut |e| out.push(e)).is_ok());
        assert_eq!(d.finish(&mut |e| out.push(e)), Err(Oversized { limit: 16 }));
        assert_eq!(out.len(), before, "nothing past the limit is emitted");
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
