//! The `atrium` server: configuration, the request pipeline, the REST API and start-up.
//! The binary in `main.rs` is a thin command-line front over this library, which the
//! integration tests drive in-process.

// Deeply nested view types of the interface are laid out while compiling this crate.
#![recursion_limit = "512"]

pub mod api;
pub mod config;
pub mod health;
pub mod jobs;
pub mod render;
pub mod startup;
pub mod web;
