//! Run-time configuration: defaults, then an optional TOML file, then environment variables.
//!
//! | setting | file key | environment | default |
//! |---|---|---|---|
//! | database | `database_url` | `DATABASE_URL` | `sqlite://data/atrium.db` |
//! | database connections per instance | `database_connections` | `ATRIUM_DB_CONNECTIONS` | 8 on SQLite, 16 on Postgres |
//! | listen address | `bind` | `ATRIUM_BIND` | the `site-addr` of the Leptos settings (127.0.0.1:3000) |
//! | log format | `log_format` | `ATRIUM_LOG_FORMAT` | `text` (`json` for log shippers) |
//! | `Secure` cookies | `secure_cookies` | `ATRIUM_SECURE_COOKIES` | `auto`: on, except plain-http localhost |
//! | site settings file | — | `ATRIUM_SITE_CONFIG` | `Leptos.toml` |
//! | SMTP relay for e-mail | `smtp_url` | `ATRIUM_SMTP_URL` | none: in-app notifications only |
//! | sender of e-mail | `smtp_from` | `ATRIUM_SMTP_FROM` | `Atrium <atrium@localhost>` |
//! | the portal's public address (links in e-mail) | `public_url` | `ATRIUM_PUBLIC_URL` | `http://localhost:3000` |
//!
//! The file is `atrium.toml` in the working directory, or the path in `ATRIUM_CONFIG`.

use anyhow::Context;
use serde::Deserialize;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

/// How cookies get the `Secure` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SecureCookies {
    /// `Secure` unless the request's host is a loopback name (plain-http development).
    #[default]
    Auto,
    /// Always `Secure` (behind a TLS-terminating proxy on any host).
    Always,
    /// Never `Secure` (only for a private plain-http network).
    Never,
}

impl std::str::FromStr for SecureCookies {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            other => anyhow::bail!("ATRIUM_SECURE_COOKIES must be auto, always or never (got `{other}`)"),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything the binary needs to start.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite://…` or `postgres://…`.
    pub database_url: Option<String>,
    /// The most connections this instance opens to the database.
    pub database_connections: Option<NonZeroU32>,
    /// Address to listen on, e.g. `0.0.0.0:3000`.
    pub bind: Option<String>,
    /// Log format.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Cookie `Secure` policy.
    #[serde(default)]
    pub secure_cookies: SecureCookies,
    /// `smtp://[user:password@]host[:port]`: where e-mail is handed over.
    pub smtp_url: Option<String>,
    /// The `From` of e-mail.
    pub smtp_from: Option<String>,
    /// The address users reach the portal at.
    pub public_url: Option<String>,
}

impl Config {
    /// Loads the file (if any) and applies environment overrides.
    pub fn load() -> anyhow::Result<Self> {
        let path = std::env::var_os("ATRIUM_CONFIG").map(PathBuf::from);
        let mut config = match &path {
            Some(path) => Self::from_file(path)?,
            None if Path::new("atrium.toml").exists() => Self::from_file(Path::new("atrium.toml"))?,
            None => Self::default(),
        };
        config.apply_environment(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Applies the environment's overrides, each variable read through `var`.
    fn apply_environment(&mut self, var: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(url) = var("DATABASE_URL") {
            self.database_url = Some(url);
        }
        if let Some(connections) = var("ATRIUM_DB_CONNECTIONS") {
            self.database_connections = Some(connections.trim().parse().map_err(|_| {
                anyhow::anyhow!("ATRIUM_DB_CONNECTIONS must be a whole number from 1 (got `{connections}`)")
            })?);
        }
        if let Some(bind) = var("ATRIUM_BIND") {
            self.bind = Some(bind);
        }
        if let Some(format) = var("ATRIUM_LOG_FORMAT") {
            self.log_format = match format.as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                other => anyhow::bail!("ATRIUM_LOG_FORMAT must be text or json (got `{other}`)"),
            };
        }
        if let Some(secure) = var("ATRIUM_SECURE_COOKIES") {
            self.secure_cookies = secure.parse()?;
        }
        for (name, slot) in [
            ("ATRIUM_SMTP_URL", &mut self.smtp_url),
            ("ATRIUM_SMTP_FROM", &mut self.smtp_from),
            ("ATRIUM_PUBLIC_URL", &mut self.public_url),
        ] {
            if let Some(value) = var(name) {
                *slot = Some(value).filter(|v| !v.is_empty());
            }
        }
        Ok(())
    }

    /// The SMTP relay, when e-mail is configured.
    pub fn smtp(&self) -> anyhow::Result<Option<service::notify::SmtpSettings>> {
        let Some(url) = &self.smtp_url else {
            return Ok(None);
        };
        let rest = url.strip_prefix("smtp://").ok_or_else(|| {
            anyhow::anyhow!("ATRIUM_SMTP_URL must look like smtp://[user:password@]host[:port]")
        })?;
        let (credentials, address) = match rest.rsplit_once('@') {
            Some((userinfo, address)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (Some((user.to_owned(), password.to_owned())), address)
            }
            None => (None, rest),
        };
        let address = address.trim_end_matches('/');
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .map_err(|_| anyhow::anyhow!("ATRIUM_SMTP_URL: `{port}` is not a port"))?,
            ),
            None => (address, 25),
        };
        if host.is_empty() {
            anyhow::bail!("ATRIUM_SMTP_URL names no host");
        }
        Ok(Some(service::notify::SmtpSettings {
            host: host.to_owned(),
            port,
            from: self
                .smtp_from
                .clone()
                .unwrap_or_else(|| "Atrium <atrium@localhost>".to_owned()),
            credentials,
        }))
    }

    /// The service layer's settings from this configuration.
    pub fn portal_settings(&self) -> service::PortalSettings {
        let defaults = service::PortalSettings::default();
        service::PortalSettings {
            mail_enabled: self.smtp_url.is_some(),
            public_url: self.public_url.clone().unwrap_or(defaults.public_url.clone()),
            ..defaults
        }
    }

    fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{} is not a valid Atrium configuration", path.display()))
    }

    /// The database URL in force.
    pub fn database_url(&self) -> &str {
        self.database_url
            .as_deref()
            .unwrap_or(service::store::DEFAULT_DATABASE_URL)
    }
}

/// The Leptos site settings (output name, site root, address). Under `cargo leptos` they come
/// from the environment it sets; a deployed binary reads `Leptos.toml` (or the file named by
/// `ATRIUM_SITE_CONFIG`) instead, because there is no Cargo.toml beside it.
pub fn site_options() -> anyhow::Result<leptos::config::LeptosOptions> {
    let file = std::env::var("ATRIUM_SITE_CONFIG").unwrap_or_else(|_| "Leptos.toml".to_owned());
    let from_cargo_leptos = std::env::var_os("LEPTOS_OUTPUT_NAME").is_some();
    let conf = if from_cargo_leptos || !Path::new(&file).exists() {
        leptos::config::get_configuration(None)
    } else {
        leptos::config::get_configuration(Some(&file))
    }
    .map_err(|e| anyhow::anyhow!("cannot read the site settings: {e}"))?;
    Ok(conf.leptos_options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_parse_and_reject_unknown_keys() {
        let config: Config = toml::from_str(
            "database_url = \"postgres://db/atrium\"\nbind = \"0.0.0.0:8080\"\nlog_format = \"json\"\nsecure_cookies = \"always\"",
        )
        .unwrap();
        assert_eq!(config.database_url(), "postgres://db/atrium");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.secure_cookies, SecureCookies::Always);
        assert!(toml::from_str::<Config>("databse_url = \"x\"").is_err());
        assert_eq!(Config::default().database_url(), "sqlite://data/atrium.db");
    }

    #[test]
    fn connection_counts_are_whole_numbers_from_one() {
        let config: Config = toml::from_str("database_connections = 4").unwrap();
        assert_eq!(config.database_connections, NonZeroU32::new(4));
        for bad in ["0", "-4", "2.5", "\"eight\""] {
            let refused = toml::from_str::<Config>(&format!("database_connections = {bad}")).unwrap_err();
            assert!(
                refused.to_string().contains("database_connections"),
                "{bad}: {refused}"
            );
        }

        let from_environment = |value: &str| {
            let mut config = Config::default();
            config
                .apply_environment(|name| (name == "ATRIUM_DB_CONNECTIONS").then(|| value.to_owned()))
                .map(|()| config)
        };
        for (value, connections) in [("1", 1), (" 32 ", 32)] {
            assert_eq!(
                from_environment(value).unwrap().database_connections,
                NonZeroU32::new(connections)
            );
        }
        for bad in ["0", "-1", "eight", "", "2.5"] {
            let refused = from_environment(bad).unwrap_err();
            assert!(
                refused.to_string().contains("ATRIUM_DB_CONNECTIONS"),
                "{bad}: {refused}"
            );
        }
    }

    #[test]
    fn smtp_urls_parse() {
        let config = |url: &str| Config {
            smtp_url: Some(url.to_owned()),
            ..Config::default()
        };
        let smtp = config("smtp://mail.example.com").smtp().unwrap().unwrap();
        assert_eq!(
            (smtp.host.as_str(), smtp.port, smtp.credentials),
            ("mail.example.com", 25, None)
        );
        let smtp = config("smtp://bot:s3cret@127.0.0.1:2525")
            .smtp()
            .unwrap()
            .unwrap();
        assert_eq!((smtp.host.as_str(), smtp.port), ("127.0.0.1", 2525));
        assert_eq!(smtp.credentials, Some(("bot".into(), "s3cret".into())));
        assert!(config("http://x").smtp().is_err());
        assert!(config("smtp://x:port").smtp().is_err());
        assert!(Config::default().smtp().unwrap().is_none());
        assert!(config("smtp://x").portal_settings().mail_enabled);
    }

    /// Leptos.toml is the run-time twin of the cargo-leptos metadata in Cargo.toml: the values a
    /// deployed binary needs to find its assets must agree with what the build produced.
    #[test]
    fn leptos_toml_agrees_with_the_build_metadata() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let runtime = leptos::config::get_config_from_file(root.join("Leptos.toml"))
            .unwrap()
            .leptos_options;
        let cargo: toml::Value =
            toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
        let build = &cargo["workspace"]["metadata"]["leptos"][0];
        assert_eq!(&*runtime.output_name, build["output-name"].as_str().unwrap());
        assert_eq!(&*runtime.site_pkg_dir, build["site-pkg-dir"].as_str().unwrap());
        assert_eq!(
            runtime.site_addr.to_string(),
            build["site-addr"].as_str().unwrap()
        );
    }
}
