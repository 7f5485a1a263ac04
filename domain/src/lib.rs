//! Atrium's domain: the vocabulary and rules of a channel program.
//!
//! This crate is pure Rust with no I/O so that the server and the browser (WASM) run the very
//! same rules. Types here can only hold valid values: they are built through `parse` or
//! `FromStr`, and an invalid value is a [`FieldError`] that names the field it came from.

pub mod audit;
pub mod calendar;
pub mod content;
pub mod dashboard;
pub mod deals;
pub mod error;
pub mod facts;
pub mod identity;
pub mod metrics;
pub mod money;
pub mod period;
pub mod program;
pub mod rebates;
pub mod scorecard;
pub mod tiers;

pub use error::FieldError;
