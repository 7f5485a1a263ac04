//! The request pipeline in front of every route: who is asking (session → [`Actor`]), CSRF
//! protection for every state-changing request, and the sign-in guard for portal pages.

use crate::api::error::ApiError;
use crate::startup::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use domain::identity::Role;
use service::auth::{constant_time_eq, random_token};
use service::web::{
    cookie_value, ClientIp, CookieSecurity, CsrfToken, CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE,
};
use service::{Actor, SessionToken};
use std::net::SocketAddr;

/// The largest form body inspected for a CSRF token (content forms with long bodies fit).
const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

/// The upload page's import form carries a whole file, URL-encoded: up to three bytes for each
/// of the file's (`,` is `%2C`), so a file of the page's largest size fits with room for the
/// other fields. The file's own size is checked after decoding; the REST API takes larger ones.
pub const MAX_IMPORT_FORM_BYTES: usize = 3 * domain::facts::MAX_PAGE_IMPORT_BYTES + 1024 * 1024;

/// How large a form posted to `path` may be.
fn form_limit(path: &str) -> usize {
    if path == "/rpc/import_facts" {
        MAX_IMPORT_FORM_BYTES
    } else {
        MAX_FORM_BYTES
    }
}

/// Pages that need a signed-in user; anything else is public or answers for itself.
fn is_portal_page(path: &str) -> bool {
    path == "/me"
        || path == "/tier"
        || path == "/rebates"
        || path == "/deals"
        || path.starts_with("/deals/")
        || path == "/notifications"
        || path == "/scorecard"
        || path == "/dashboard"
        || path == "/audit"
        || (path.starts_with("/partners/") && path.ends_with("/scorecard"))
        || path.starts_with("/rebates/")
        || path.starts_with("/rooms/")
        || path.starts_with("/items/")
        || path == "/studio"
        || path.starts_with("/studio/")
}

/// Requests that may change state without a CSRF token: creating a session through the JSON
/// API. Browsers cannot send `application/json` across origins without a CORS preflight, which
/// Atrium never grants, and the Origin check below still applies.
fn is_csrf_exempt(method: &Method, path: &str) -> bool {
    method == Method::POST && path == "/api/v1/session"
}

fn is_loopback_host(headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let name = if host.starts_with('[') {
        host.split(']')
            .next()
            .map(|h| h.trim_start_matches('['))
            .unwrap_or_default()
    } else {
        host.split(':').next().unwrap_or_default()
    };
    matches!(name, "localhost" | "127.0.0.1" | "::1") || name.ends_with(".localhost")
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie_value(h, name))
}

/// An Origin from another site is refused outright, token or not.
fn origin_matches_host(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    origin_host.eq_ignore_ascii_case(host)
}

fn csrf_refusal(path: &str, message: &'static str) -> Response {
    refusal(path, StatusCode::FORBIDDEN, "csrf_failed", message)
}

/// A request refused before it reaches its handler, in the shape its caller reads: a server
/// function's errors decode in the UI's own shape, the API's in its own.
fn refusal(path: &str, status: StatusCode, code: &'static str, message: &'static str) -> Response {
    if path.starts_with("/rpc/") {
        let body = serde_json::json!({ "code": code, "message": message, "field": null });
        return (status, axum::Json(body)).into_response();
    }
    ApiError::plain(status, code, message).into_response()
}

/// Reads the CSRF token a state-changing request carries: the header, or the form field of a
/// URL-encoded body of at most `limit` bytes (which is then handed on unchanged).
async fn submitted_token(request: Request, limit: usize) -> Result<(Option<String>, Request), Response> {
    let path = request.uri().path().to_owned();
    if let Some(token) = request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        let token = token.to_owned();
        return Ok((Some(token), request));
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((None, request));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        // A page's form is large when it carries an import, which only a signed-in importer
        // may send that large: said so to the person at the page.
        let message = if path.starts_with("/rpc/") {
            "the form is too large: if your session has ended, sign in again; files larger than the page takes go in with the API or `atrium import`"
        } else {
            "the form is too large"
        };
        refusal(&path, StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    })?;
    let token = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v.into_owned());
    Ok((token, Request::from_parts(parts, Body::from(bytes))))
}

/// The middleware: resolves the session, issues and checks CSRF tokens, guards portal pages.
pub async fn request_context(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let security = CookieSecurity {
        secure: state.secure_cookies_for(is_loopback_host(headers)),
    };
    let existing_csrf = cookie(headers, CSRF_COOKIE)
        .filter(|t| t.len() >= 32)
        .map(str::to_owned);
    let session = cookie(headers, SESSION_COOKIE).map(SessionToken::from_cookie);
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |ConnectInfo(addr)| addr.ip().to_string());

    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let changes_state = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let actor: Option<Actor> = match &session {
        Some(token) => match state.portal.actor_for_session(token).await {
            Ok(actor) => actor,
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => None,
    };
    if changes_state {
        if !origin_matches_host(request.headers()) {
            return csrf_refusal(&path, "cross-site requests are not accepted");
        }
        if !is_csrf_exempt(&method, &path) {
            // Every state-changing API call but signing in and out needs a session. Without one
            // there is no ambient authority for a forged request to borrow, and the caller's
            // problem is the missing sign-in, not the token.
            if actor.is_none() && path.starts_with("/api/v1/") && path != "/api/v1/session" {
                return ApiError::from(service::ServiceError::Unauthenticated).into_response();
            }
            // Only someone who may import gets the import form's larger allowance.
            let may_import = actor
                .as_ref()
                .is_some_and(|a| matches!(a.role, Role::Finance | Role::VendorAdmin));
            let limit = if may_import {
                form_limit(&path)
            } else {
                MAX_FORM_BYTES
            };
            let (submitted, rebuilt) = match submitted_token(request, limit).await {
                Ok(pair) => pair,
                Err(response) => return response,
            };
            request = rebuilt;
            match (&existing_csrf, submitted) {
                (Some(expected), Some(got)) if constant_time_eq(expected, &got) => {}
                _ => return csrf_refusal(
                    &path,
                    "the request's CSRF token is missing or does not match; reload the page and try again",
                ),
            }
        }
    }

    if method == Method::GET {
        if path == "/" {
            return match &actor {
                Some(actor) => match state.portal.me(actor).await {
                    Ok(me) => Redirect::to(&me.home_path).into_response(),
                    Err(e) => ApiError::from(e).into_response(),
                },
                None => Redirect::to("/login").into_response(),
            };
        }
        if actor.is_none() && is_portal_page(&path) {
            return Redirect::to("/login").into_response();
        }
        if actor.is_some() && path == "/login" {
            return Redirect::to("/").into_response();
        }
    }

    let csrf = existing_csrf.clone().unwrap_or_else(random_token);
    let extensions = request.extensions_mut();
    extensions.insert(CsrfToken(csrf.clone()));
    extensions.insert(ClientIp(client_ip));
    extensions.insert(security);
    let stale_session = session.is_some() && actor.is_none();
    if let Some(actor) = actor {
        extensions.insert(actor);
        // Live streams end with the session they were opened with.
        if let Some(token) = &session {
            extensions.insert(token.clone());
        }
    }

    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if existing_csrf.is_none() {
        if let Ok(value) = HeaderValue::from_str(&security.csrf_cookie(&csrf)) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    let sets_session = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.starts_with(SESSION_COOKIE)));
    if stale_session && !sets_session {
        if let Ok(value) = HeaderValue::from_str(&security.clear_session_cookie()) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origins_must_match_the_host() {
        assert!(origin_matches_host(&headers(&[("host", "127.0.0.1:3000")])));
        assert!(origin_matches_host(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "http://127.0.0.1:3000")
        ])));
        assert!(!origin_matches_host(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "https://evil.test")
        ])));
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback_host(&headers(&[("host", "127.0.0.1:3000")])));
        assert!(is_loopback_host(&headers(&[("host", "localhost")])));
        assert!(is_loopback_host(&headers(&[("host", "[::1]:3000")])));
        assert!(!is_loopback_host(&headers(&[("host", "partners.acme.com")])));
    }
}
