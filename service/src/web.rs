//! Request facts the web layer hands to the service layer's callers: the CSRF token, the
//! client address and cookie settings. Kept here so the server and the UI's server functions
//! share one definition.

/// Name of the session cookie (HttpOnly).
pub const SESSION_COOKIE: &str = "atrium_session";
/// Name of the CSRF cookie. Readable by the page's script, which echoes it in forms and headers.
pub const CSRF_COOKIE: &str = "atrium_csrf";
/// Form field that carries the CSRF token in `application/x-www-form-urlencoded` posts.
pub const CSRF_FIELD: &str = "csrf_token";
/// Header that carries the CSRF token for script and API clients.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A query-string value with its spaces trimmed; an empty value means "any" (`None`).
pub fn query_text(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}

/// A whole number from a query-string value, empty meaning "any"; anything else is an error
/// naming `field`.
pub fn query_number<N: std::str::FromStr>(field: &str, value: &str) -> Result<Option<N>, domain::FieldError> {
    query_text(value)
        .map(|text| {
            text.parse()
                .map_err(|_| domain::FieldError::new(field, format!("`{text}` is not a whole number")))
        })
        .transpose()
}

/// The CSRF token of the current request (from its cookie, or freshly issued).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfToken(pub String);

/// The client's network address, used to rate-limit sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

/// Whether cookies set on this request's response carry `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieSecurity {
    /// `true` everywhere except plain-http localhost development.
    pub secure: bool,
}

impl CookieSecurity {
    fn suffix(self) -> &'static str {
        if self.secure {
            "; Secure"
        } else {
            ""
        }
    }

    /// `Set-Cookie` value that stores a session token.
    pub fn session_cookie(self, token: &str, max_age_secs: i64) -> String {
        format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
            self.suffix()
        )
    }

    /// `Set-Cookie` value that removes the session cookie.
    pub fn clear_session_cookie(self) -> String {
        format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
            self.suffix()
        )
    }

    /// `Set-Cookie` value that stores the CSRF token (not HttpOnly by design: double submit).
    pub fn csrf_cookie(self, token: &str) -> String {
        format!("{CSRF_COOKIE}={token}; Path=/; SameSite=Lax{}", self.suffix())
    }
}

/// Finds a cookie's value in a `Cookie` header.
pub fn cookie_value<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let header = "atrium_csrf=abc; atrium_session=xyz; other=1";
        assert_eq!(cookie_value(header, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie_value(header, CSRF_COOKIE), Some("abc"));
        assert_eq!(cookie_value(header, "atrium"), None);
    }

    #[test]
    fn session_cookies_are_http_only_and_lax() {
        let c = CookieSecurity { secure: true }.session_cookie("t", 60);
        assert_eq!(
            c,
            "atrium_session=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert!(!CookieSecurity { secure: false }
            .session_cookie("t", 60)
            .contains("Secure"));
    }
}
