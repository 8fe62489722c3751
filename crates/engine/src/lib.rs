//! tradeoff's inference engine.

mod api;
mod error;

pub use api::*;
pub use error::{Error, Result};
