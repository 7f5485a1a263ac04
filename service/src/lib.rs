//! Atrium's service layer: the single gate between callers (Leptos server functions, the REST
//! API, the command line) and storage. Authorisation, partner isolation, validation and
//! transactions live here, so they are written once.

pub mod audit;
pub mod auth;
pub mod business_dates;
pub mod clock;
pub mod content;
pub mod dashboard;
pub mod deals;
pub mod demo;
pub mod error;
pub mod events;
pub mod imports;
pub mod markdown;
pub mod notify;
pub mod portal;
pub mod program;
pub mod rebates;
pub mod scorecard;
pub mod simulate;
pub mod store;
pub mod web;
pub mod workflow;

pub use auth::{Actor, SessionToken};
pub use clock::{Clock, SystemClock};
pub use error::ServiceError;
pub use portal::{Portal, PortalSettings};
pub use store::{Backend, Store};
