//! Pure policy: who may use which channel, in which order, how often, and what a failure means.
//! Nothing here does I/O; time and randomness arrive as arguments.

pub mod affinity;
pub mod catalog;
pub mod failure;
pub mod order;
pub mod rate_window;

pub use affinity::{keys_for_conversation, order_for_conversation};
pub use catalog::{Candidate, Catalog, RouteError};
pub use failure::{final_status, Failure, Scope};
pub use order::{order_candidates, order_keys};
pub use rate_window::{Admission, RateRule, RateWindow};
