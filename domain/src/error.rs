//! The one error shape for invalid input: which field, and what is wrong with it.

use serde::{Deserialize, Serialize};

/// A value that failed validation, naming the field (or `row.field`) it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field path, e.g. `title` or `audience.personas[1]`.
    pub field: String,
    /// A sentence a user can act on.
    pub message: String,
}

impl FieldError {
    /// Builds an error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
