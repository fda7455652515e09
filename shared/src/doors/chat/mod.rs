//! The OpenAI door: chat completions (the gateway's internal language, so requests and replies
//! pass as they are) and the other OpenAI endpoints.

pub mod error;

use std::collections::VecDeque;

use bytes::Bytes;

use crate::sse::{encode_data, DONE};
use crate::stream::{FrameEncoder, StreamError};

/// Chat-completion chunks as `data:` frames, ended by `data: [DONE]`.
pub struct Frames;

impl FrameEncoder for Frames {
    fn encode(&mut self, payload: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), StreamError> {
        out.push_back(encode_data(&payload));
        Ok(())
    }

    fn end(&mut self, out: &mut VecDeque<Bytes>) {
        out.push_back(Bytes::from_static(DONE));
    }

    fn fail(&mut self, error: &StreamError, out: &mut VecDeque<Bytes>) {
        out.push_back(error::stream_frame(error));
    }
}
