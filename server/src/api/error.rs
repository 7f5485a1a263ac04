//! The REST API's one error shape: `{"error": {"code", "message", "field"}}`.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use service::ServiceError;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// Details of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code: `unauthenticated`, `bad_credentials`, `forbidden`,
    /// `not_found`, `invalid`, `rate_limited`, `csrf_failed`, `conflict`, `internal`, …
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// The field at fault (validation errors only), e.g. `audience.personas[1]`.
    pub field: Option<String>,
}

/// An error answered by the API.
#[derive(Debug)]
pub enum ApiError {
    /// From the service layer.
    Service(ServiceError),
    /// Raised by the web layer itself (CSRF, malformed requests, unknown routes).
    Plain {
        /// HTTP status.
        status: StatusCode,
        /// Stable code.
        code: &'static str,
        /// Message.
        message: String,
        /// Field at fault.
        field: Option<String>,
    },
}

impl ApiError {
    /// An error raised by the web layer.
    pub fn plain(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Plain {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        ApiError::Service(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, field, retry_after) = match self {
            ApiError::Service(e) => {
                if let ServiceError::Internal(inner) = &e {
                    tracing::error!(error = format!("{inner:#}"), "internal error");
                }
                let retry_after = match &e {
                    ServiceError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
                    _ => None,
                };
                (
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    e.code(),
                    e.user_message(),
                    e.field().map(str::to_owned),
                    retry_after,
                )
            }
            ApiError::Plain {
                status,
                code,
                message,
                field,
            } => (status, code, message, field, None),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                field,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A JSON body whose decoding errors name the field: `422 invalid` with `field` set to the
/// path of the offending value (`audience.min_tier`) or the missing or unknown key.
pub struct ApiJson<T>(pub T);

fn field_from_message(message: &str) -> Option<String> {
    ["missing field `", "unknown field `"].iter().find_map(|prefix| {
        let start = message.find(prefix)? + prefix.len();
        let len = message[start..].find('`')?;
        Some(message[start..start + len].to_owned())
    })
}

/// A raw request body whose rejection answers in the API's error shape: `413 too_large` over
/// the endpoint's limit, `400 bad_request` when it cannot be read whole.
pub struct ApiBytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(ApiBytes)
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::plain(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        "the body is larger than this endpoint takes",
                    )
                } else {
                    ApiError::plain(StatusCode::BAD_REQUEST, "bad_request", e.body_text())
                }
            })
    }
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = is_json(&req);
        let ApiBytes(bytes) = ApiBytes::from_request(req, state).await?;
        json_body(is_json, &bytes).map(ApiJson)
    }
}

/// A JSON body that may be left out: no body at all reads as `T::default()`; a body that is
/// there is read as [`ApiJson`] reads it.
pub struct ApiOptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiOptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = is_json(&req);
        let ApiBytes(bytes) = ApiBytes::from_request(req, state).await?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        json_body(is_json, &bytes).map(ApiOptionalJson)
    }
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}

/// Reads a JSON body, answering `415` for another media type and `422` naming the field a
/// value is wrong or missing in.
fn json_body<T: DeserializeOwned>(is_json: bool, bytes: &[u8]) -> Result<T, ApiError> {
    if !is_json {
        return Err(ApiError::plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // The path points at the offending value; for a missing key it points at the object
        // that lacks it, so the key is appended.
        let field = match field_from_message(&message) {
            Some(key) if message.starts_with("missing field") && path != "." => Some(format!("{path}.{key}")),
            Some(key) if path == "." => Some(key),
            _ => (path != ".").then_some(path),
        };
        let message = message.split(" at line ").next().unwrap_or_default().to_owned();
        ApiError::Plain {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid",
            message,
            field,
        }
    })
}

/// Query parameters, a malformed or unknown one answered in the API's error shape (`422`
/// naming it) rather than as plain text.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|query| ApiQuery(query.0))
            .map_err(|e| {
                let text = e.body_text();
                let message = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                // `preview: provided string was not …` names its parameter first.
                let (field, message) = match message.split_once(": ") {
                    Some((name, rest)) if !name.contains(' ') => (Some(name.to_owned()), rest),
                    _ => (field_from_message(message), message),
                };
                ApiError::Plain {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: "invalid",
                    message: message.to_owned(),
                    field,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::field_from_message;

    #[test]
    fn serde_messages_yield_the_field() {
        assert_eq!(
            field_from_message("missing field `title` at line 1 column 2").as_deref(),
            Some("title")
        );
        assert_eq!(
            field_from_message("unknown field `colour`, expected one of `title`").as_deref(),
            Some("colour")
        );
        assert_eq!(field_from_message("invalid type: string"), None);
    }
}
