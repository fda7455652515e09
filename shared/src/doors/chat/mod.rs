//! The OpenAI door: chat completions (the gateway's internal language, so requests and replies
//! pass as they are) and the other OpenAI endpoints.

pub mod error;

use std::collections::VecDeque;

use bytes::Bytes;

use crate::sse::{encode_data, DONE};
use crate::stream::{FrameEncoder, StreamError};

/// Whether a chat-completion chunk carries model output: non-empty content or reasoning, or a
/// tool call. Read from the bytes (as the upstream wrote them, spaces and all), not parsed.
pub fn chunk_has_output(chunk: &[u8]) -> bool {
    let value_after = |key: &[u8]| {
        memchr::memmem::find_iter(chunk, key).find_map(|at| {
            let rest = &chunk[at + key.len()..];
            let rest = rest.trim_ascii_start().strip_prefix(b":")?.trim_ascii_start();
            rest.first().map(|first| (*first, rest.get(1).copied()))
        })
    };
    let non_empty_string = |key: &[u8]| matches!(value_after(key), Some((b'"', Some(next))) if next != b'"');
    non_empty_string(b"\"content\"")
        || non_empty_string(b"\"reasoning_content\"")
        || non_empty_string(b"\"reasoning\"")
        || matches!(value_after(b"\"tool_calls\""), Some((b'[', Some(next))) if next != b']')
}

/// Chat-completion chunks as `data:` frames, ended by `data: [DONE]`.
#[derive(Default)]
pub struct Frames {
    content: bool,
}

impl FrameEncoder for Frames {
    fn encode(&mut self, payload: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), StreamError> {
        self.content = self.content || chunk_has_output(&payload);
        out.push_back(encode_data(&payload));
        Ok(())
    }

    fn content_started(&self) -> bool {
        self.content
    }

    fn end(&mut self, out: &mut VecDeque<Bytes>) {
        out.push_back(Bytes::from_static(DONE));
    }

    fn fail(&mut self, error: &StreamError, out: &mut VecDeque<Bytes>) {
        out.push_back(error::stream_frame(error));
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_has_output;

    #[test]
    fn output_is_told_from_openings_and_usage() {
        let yes: [&[u8]; 5] = [
            br#"{"choices":[{"delta":{"content":"Hi"}}]}"#,
            br#"{"choices":[{"delta":{"role":"assistant", "content" : "Hi"}}]}"#,
            br#"{"choices":[{"delta":{"reasoning_content":"hm"}}]}"#,
            br#"{"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}"#,
            br#"{"choices":[{"delta":{"content":"","reasoning":"x"}}]}"#,
        ];
        let no: [&[u8]; 4] = [
            br#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            br#"{"choices":[{"delta":{"content":null}}]}"#,
            br#"{"choices":[],"usage":{"prompt_tokens":1}}"#,
            br#"{"choices":[{"delta":{"tool_calls":[]}}]}"#,
        ];
        assert!(yes.iter().all(|c| chunk_has_output(c)));
        assert!(!no.iter().any(|c| chunk_has_output(c)));
    }
}
