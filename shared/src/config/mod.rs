//! `api.yaml`: parsed once into validated types (`raw` as written → `model` as meant).

mod credits;
mod error;
mod fields;
mod model;
mod overrides;
mod parse;
mod raw;
mod values;

pub use credits::{ModelPrices, Price, FALLBACK_PRICE};
pub use error::ConfigError;
pub use model::*;
pub use overrides::{BodyOverrides, Matcher, ModelOverrides, OverrideEntry, Removal, REMOVE};
pub use parse::EnvLookup;
pub use values::{parse_rate_limit, ModelTable, Secret};

#[cfg(test)]
mod tests;
