//! Wire types of the dialects, as serde structs. Only what translation needs is modelled;
//! OpenAI passthrough never builds these (it keeps raw JSON, see `adapters::raw`).

pub mod openai;
