//! The service layer's error: every failure a caller can see, with the HTTP status and the
//! stable code that the REST API and the UI both use. Internal errors are logged, never shown.

use domain::FieldError;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No valid session.
    #[error("sign in to continue")]
    Unauthenticated,
    /// Signed in, but this role may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The thing does not exist, or belongs to someone the caller may not see.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Input failed validation.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// E-mail and password do not match an active user.
    #[error("the e-mail address or password is incorrect")]
    BadCredentials,
    /// Too many failed sign-ins.
    #[error("too many failed sign-in attempts; try again in {retry_after_secs} seconds")]
    RateLimited {
        /// Seconds until the oldest counted failure leaves the window.
        retry_after_secs: u64,
    },
    /// The request conflicts with the current state (e.g. the demo is already loaded).
    #[error("{0}")]
    Conflict(String),
    /// A bug or an outage; details go to the log only.
    #[error("something went wrong on our side")]
    Internal(#[source] anyhow::Error),
}

impl ServiceError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::Unauthenticated | ServiceError::BadCredentials => 401,
            ServiceError::Forbidden(_) => 403,
            ServiceError::NotFound(_) => 404,
            ServiceError::Conflict(_) => 409,
            ServiceError::Invalid(_) => 422,
            ServiceError::RateLimited { .. } => 429,
            ServiceError::Internal(_) => 500,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Unauthenticated => "unauthenticated",
            ServiceError::BadCredentials => "bad_credentials",
            ServiceError::Forbidden(_) => "forbidden",
            ServiceError::NotFound(_) => "not_found",
            ServiceError::Conflict(_) => "conflict",
            ServiceError::Invalid(_) => "invalid",
            ServiceError::RateLimited { .. } => "rate_limited",
            ServiceError::Internal(_) => "internal",
        }
    }

    /// The field that was wrong, for validation errors.
    pub fn field(&self) -> Option<&str> {
        match self {
            ServiceError::Invalid(e) => Some(&e.field),
            _ => None,
        }
    }

    /// The message shown to the user. For validation errors the field travels separately.
    pub fn user_message(&self) -> String {
        match self {
            ServiceError::Invalid(e) => e.message.clone(),
            other => other.to_string(),
        }
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        ServiceError::Internal(e.into())
    }
}

impl From<anyhow::Error> for ServiceError {
    fn from(e: anyhow::Error) -> Self {
        ServiceError::Internal(e)
    }
}

/// The service layer's result.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// A role check: `Ok` when `allowed`, otherwise [`ServiceError::Forbidden`] saying `refusal`.
pub fn permit(allowed: bool, refusal: &'static str) -> ServiceResult<()> {
    if allowed {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(refusal))
    }
}
