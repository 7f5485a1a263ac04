//! [`Portal`]: the service layer's entry point, and everything about who is signed in.

use crate::audit::{self, AuditEntry};
use crate::auth::{self, Actor, SessionToken};
use crate::clock::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::store::Store;
use domain::content::Room;
use domain::identity::{
    EmailAddress, Me, OrganisationKind, OrganisationSummary, PartnerType, Persona, Region, Role, TierBadge,
    TierRank,
};
use domain::FieldError;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::sync::Arc;

/// Tunable limits of the service layer.
#[derive(Debug, Clone)]
pub struct PortalSettings {
    /// How long a session lasts after sign-in.
    pub session_ttl_millis: i64,
    /// The window in which failed sign-ins are counted.
    pub login_window_millis: i64,
    /// Failed sign-ins allowed per e-mail address within the window.
    pub max_failures_per_email: i64,
    /// Failed sign-ins allowed per client address within the window.
    pub max_failures_per_client: i64,
    /// Whether notifications are also queued as e-mail (when SMTP is configured).
    pub mail_enabled: bool,
    /// The portal's address as users reach it, for links in e-mail.
    pub public_url: String,
}

impl Default for PortalSettings {
    fn default() -> Self {
        Self {
            session_ttl_millis: 7 * 24 * 3600 * 1000,
            login_window_millis: 15 * 60 * 1000,
            max_failures_per_email: 5,
            max_failures_per_client: 30,
            mail_enabled: false,
            public_url: "http://localhost:3000".into(),
        }
    }
}

/// The service layer. Cheap to clone; every caller (server functions, REST handlers, CLI)
/// holds one.
#[derive(Clone)]
pub struct Portal {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    events: crate::events::EventBus,
    clock: Arc<dyn Clock>,
    settings: PortalSettings,
    /// The program versions' time zones, read from the database by
    /// [`Portal::load_business_calendar`]; UTC until then.
    business_calendar: std::sync::RwLock<crate::business_dates::BusinessCalendar>,
    /// Held while the calendar is read from the database and replaced.
    business_calendar_load: tokio::sync::Mutex<()>,
    /// Held by the one bulk load of this process that may hold a pooled connection while it
    /// waits for a second (see `Portal::import_sales`).
    bulk_load_turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal")
            .field("backend", &self.inner.store.backend())
            .finish()
    }
}

/// The columns that make an [`Actor`]; followed by a `WHERE` clause.
const ACTOR_SELECT: &str = "SELECT u.id, u.email, u.display_name, u.role, u.persona, \
     o.id AS org_id, o.name AS org_name, o.kind AS org_kind, o.partner_type, o.region, o.tier_rank, \
     o.distributor_id, t.name AS tier_name \
     FROM users u JOIN organisations o ON o.id = u.organisation_id \
     LEFT JOIN tiers t ON t.rank = o.tier_rank ";

/// Reads a stored code back into its vocabulary type; a bad value is a storage bug.
pub(crate) fn stored<T>(
    value: &str,
    parse: fn(&str, &str) -> Result<T, FieldError>,
    column: &str,
) -> ServiceResult<T> {
    parse(value, column).map_err(|e| ServiceError::Internal(anyhow::anyhow!("corrupt stored value: {e}")))
}

fn actor_from_row(row: &AnyRow) -> ServiceResult<Actor> {
    let kind = stored(
        &row.try_get::<String, _>("org_kind")?,
        OrganisationKind::parse,
        "organisations.kind",
    )?;
    let partner_type = row
        .try_get::<Option<String>, _>("partner_type")?
        .map(|v| stored(&v, PartnerType::parse, "organisations.partner_type"))
        .transpose()?;
    let region = row
        .try_get::<Option<String>, _>("region")?
        .map(|v| stored(&v, Region::parse, "organisations.region"))
        .transpose()?;
    let tier = match (
        row.try_get::<Option<i64>, _>("tier_rank")?,
        row.try_get::<Option<String>, _>("tier_name")?,
    ) {
        (Some(rank), Some(name)) => Some(TierBadge {
            rank: TierRank(u8::try_from(rank).unwrap_or(u8::MAX)),
            name,
        }),
        _ => None,
    };
    Ok(Actor {
        user_id: row.try_get("id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: stored(&row.try_get::<String, _>("role")?, Role::parse, "users.role")?,
        persona: row
            .try_get::<Option<String>, _>("persona")?
            .map(|v| stored(&v, Persona::parse, "users.persona"))
            .transpose()?,
        organisation: OrganisationSummary {
            id: row.try_get("org_id")?,
            name: row.try_get("org_name")?,
            kind,
            partner_type,
            region,
            tier,
            distributor_id: row.try_get("distributor_id")?,
        },
    })
}

impl Portal {
    /// Builds the service layer over a migrated store.
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: PortalSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                events: crate::events::EventBus::default(),
                clock,
                settings,
                business_calendar: Default::default(),
                business_calendar_load: Default::default(),
                bulk_load_turn: Default::default(),
            }),
        }
    }

    /// The store underneath (for health checks and shutdown).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The current time in Unix milliseconds.
    pub fn now(&self) -> i64 {
        self.inner.clock.now_millis()
    }

    /// Takes the fact clock's lock for the rest of the transaction and returns the time to stamp
    /// its writes with: the clock's, or one past the last time handed out when the clock has not
    /// moved on. Sales imports and rebate runs call this first thing, so they commit in the order
    /// of their stamps, and a statement's `computed_at` divides the sales it saw from those
    /// stored later (migration `fact_clock`).
    pub(crate) async fn fact_time(&self, tx: &mut sqlx::AnyConnection) -> ServiceResult<i64> {
        Ok(sqlx::query_scalar(
            "UPDATE fact_clock SET at = CASE WHEN at < $1 THEN $1 ELSE at + 1 END WHERE id = 1 RETURNING at",
        )
        .bind(self.now())
        .fetch_one(tx)
        .await?)
    }

    /// The business calendar: which time zone turns instants into dates.
    pub fn business_calendar(&self) -> crate::business_dates::BusinessCalendar {
        self.inner
            .business_calendar
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn business_calendar_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.business_calendar_load
    }

    pub(crate) fn bulk_load_turn(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.bulk_load_turn
    }

    pub(crate) fn set_business_calendar(&self, calendar: crate::business_dates::BusinessCalendar) {
        *self
            .inner
            .business_calendar
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = calendar;
    }

    /// How long a new session lasts, in seconds (the session cookie's `Max-Age`).
    pub fn session_ttl_secs(&self) -> i64 {
        self.inner.settings.session_ttl_millis / 1000
    }

    /// Live updates of partner figures.
    pub fn events(&self) -> &crate::events::EventBus {
        &self.inner.events
    }

    /// The limits and switches this service layer runs with.
    pub fn settings(&self) -> &PortalSettings {
        &self.inner.settings
    }

    pub(crate) fn pool(&self) -> &sqlx::AnyPool {
        self.inner.store.pool()
    }

    /// Signs a user in. Failed attempts are counted per e-mail and per client address; past the
    /// limit every attempt is refused until the window has passed. `previous` is the session the
    /// browser already had, which is ended so that a session id never survives a sign-in.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client_ip: &str,
        previous: Option<&SessionToken>,
    ) -> ServiceResult<(SessionToken, Me)> {
        let email = EmailAddress::parse(email, "email")?;
        if password.is_empty() {
            return Err(FieldError::new("password", "enter your password").into());
        }
        let now = self.now();
        let settings = &self.inner.settings;
        let since = now - settings.login_window_millis;
        for (column, value, limit) in [
            ("email", email.as_str(), settings.max_failures_per_email),
            ("client_ip", client_ip, settings.max_failures_per_client),
        ] {
            let row = sqlx::query(&format!(
                "SELECT COUNT(*) AS failures, MIN(failed_at) AS oldest FROM login_failures \
                 WHERE {column} = $1 AND failed_at > $2"
            ))
            .bind(value)
            .bind(since)
            .fetch_one(self.pool())
            .await?;
            let failures: i64 = row.try_get("failures")?;
            if failures >= limit {
                let oldest: i64 = row.try_get::<Option<i64>, _>("oldest")?.unwrap_or(now);
                let retry_after_millis = (oldest + settings.login_window_millis - now).max(1000);
                return Err(ServiceError::RateLimited {
                    retry_after_secs: (retry_after_millis as u64).div_ceil(1000),
                });
            }
        }

        let found =
            sqlx::query("SELECT id, password_hash FROM users WHERE email = $1 AND disabled_at IS NULL")
                .bind(email.as_str())
                .fetch_optional(self.pool())
                .await?;
        let (user_id, phc) = match &found {
            Some(row) => (
                Some(row.try_get::<i64, _>("id")?),
                row.try_get::<String, _>("password_hash")?,
            ),
            None => (None, auth::decoy_hash().to_owned()),
        };
        let candidate = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || auth::verify_password(&candidate, &phc))
            .await
            .map_err(|e| ServiceError::Internal(e.into()))?;
        let Some(user_id) = user_id.filter(|_| matches) else {
            sqlx::query("INSERT INTO login_failures (email, client_ip, failed_at) VALUES ($1, $2, $3)")
                .bind(email.as_str())
                .bind(client_ip)
                .bind(now)
                .execute(self.pool())
                .await?;
            tracing::warn!(email = email.as_str(), client_ip, "failed sign-in");
            return Err(ServiceError::BadCredentials);
        };

        let token = SessionToken::generate();
        let mut tx = self.pool().begin().await?;
        if let Some(previous) = previous {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(previous.hash())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM login_failures WHERE email = $1")
            .bind(email.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token.hash())
        .bind(user_id)
        .bind(now)
        .bind(now + settings.session_ttl_millis)
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_user_id: Some(user_id),
                action: "session.sign_in",
                entity_type: "user",
                entity_id: user_id.to_string(),
                before: None,
                after: Some(serde_json::json!({ "client_ip": client_ip })),
            },
        )
        .await?;
        tx.commit().await?;
        if let Some(previous) = previous {
            // The session this sign-in replaced ends its live streams too.
            self.publish_session_ended(&previous.hash()).await;
        }
        let actor = self
            .actor_by_user_id(user_id)
            .await?
            .ok_or(ServiceError::BadCredentials)?;
        let me = self.me(&actor).await?;
        Ok((token, me))
    }

    /// Ends a session. Signing out twice is harmless.
    pub async fn sign_out(&self, token: &SessionToken) -> ServiceResult<()> {
        let mut tx = self.pool().begin().await?;
        let ended = sqlx::query("DELETE FROM sessions WHERE token_hash = $1 RETURNING user_id")
            .bind(token.hash())
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = ended {
            let user_id: i64 = row.try_get("user_id")?;
            audit::record(
                &mut tx,
                self.now(),
                AuditEntry {
                    actor_user_id: Some(user_id),
                    action: "session.sign_out",
                    entity_type: "user",
                    entity_id: user_id.to_string(),
                    before: None,
                    after: None,
                },
            )
            .await?;
        }
        tx.commit().await?;
        // Live streams opened with this session close, here and on every other instance.
        self.publish_session_ended(&token.hash()).await;
        Ok(())
    }

    /// How long a session has left, in milliseconds (`None` if it is not valid): a live stream
    /// opened with it ends when the session would.
    pub async fn session_remaining_millis(&self, token: &SessionToken) -> ServiceResult<Option<i64>> {
        let now = self.now();
        let expires_at: Option<i64> =
            sqlx::query_scalar("SELECT expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(token.hash())
                .bind(now)
                .fetch_optional(self.pool())
                .await?;
        Ok(expires_at.map(|at| at - now))
    }

    /// The user behind a session cookie, if the session is valid and the user active.
    pub async fn actor_for_session(&self, token: &SessionToken) -> ServiceResult<Option<Actor>> {
        let row = sqlx::query(&format!(
            "{ACTOR_SELECT} JOIN sessions s ON s.user_id = u.id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL"
        ))
        .bind(token.hash())
        .bind(self.now())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(actor_from_row).transpose()
    }

    /// The active user with this e-mail address, as an actor (command line, demo loader).
    pub async fn actor_by_email(&self, email: &str) -> ServiceResult<Actor> {
        let row = sqlx::query(&format!(
            "{ACTOR_SELECT} WHERE u.email = $1 AND u.disabled_at IS NULL"
        ))
        .bind(email.trim().to_lowercase())
        .fetch_optional(self.pool())
        .await?
        .ok_or(ServiceError::NotFound("user"))?;
        actor_from_row(&row)
    }

    async fn actor_by_user_id(&self, user_id: i64) -> ServiceResult<Option<Actor>> {
        let row = sqlx::query(&format!(
            "{ACTOR_SELECT} WHERE u.id = $1 AND u.disabled_at IS NULL"
        ))
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(actor_from_row).transpose()
    }

    /// The signed-in user's profile.
    pub async fn me(&self, actor: &Actor) -> ServiceResult<Me> {
        let vendor_name: Option<String> =
            sqlx::query_scalar("SELECT name FROM organisations WHERE kind = 'vendor' ORDER BY id LIMIT 1")
                .fetch_optional(self.pool())
                .await?;
        let home_path = match (actor.role, actor.persona) {
            (role, _) if role.can_publish_content() => "/studio".to_owned(),
            (Role::Finance, _) => "/rebates".to_owned(),
            (_, Some(persona)) => format!("/rooms/{}", Room::for_persona(persona)),
            _ => format!("/rooms/{}", Room::Sales),
        };
        Ok(Me {
            user_id: actor.user_id,
            email: actor.email.clone(),
            display_name: actor.display_name.clone(),
            role: actor.role,
            persona: actor.persona,
            organisation: actor.organisation.clone(),
            vendor_name: vendor_name.unwrap_or_else(|| "Atrium".to_owned()),
            home_path,
        })
    }

    /// The program's tiers, lowest first.
    pub async fn tiers(&self) -> ServiceResult<Vec<TierBadge>> {
        let rows = sqlx::query("SELECT rank, name FROM tiers ORDER BY rank")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(TierBadge {
                    rank: TierRank(u8::try_from(row.try_get::<i64, _>("rank")?).unwrap_or(u8::MAX)),
                    name: row.try_get("name")?,
                })
            })
            .collect()
    }

    /// Creates a vendor administrator (the `create-admin` command). Creates the vendor
    /// organisation too when the database has none yet.
    pub async fn create_vendor_admin(
        &self,
        email: &str,
        display_name: &str,
        password: &str,
        vendor_name: &str,
    ) -> ServiceResult<i64> {
        let email = EmailAddress::parse(email, "email")?;
        let display_name = display_name.trim();
        if display_name.is_empty() {
            return Err(FieldError::new("name", "enter the administrator's name").into());
        }
        if password.chars().count() < 12 {
            return Err(FieldError::new("password", "must be at least 12 characters").into());
        }
        let now = self.now();
        let owned = password.to_owned();
        let phc = tokio::task::spawn_blocking(move || auth::hash_password(&owned))
            .await
            .map_err(|e| ServiceError::Internal(e.into()))??;
        let mut tx = self.store().begin_write().await?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(
                FieldError::new("email", format!("{} already has an account", email.as_str())).into(),
            );
        }
        let vendor_id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM organisations WHERE kind = 'vendor' ORDER BY id LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?;
        let vendor_id = match vendor_id {
            Some(id) => id,
            None => {
                let name = vendor_name.trim();
                if name.is_empty() {
                    return Err(FieldError::new("vendor", "name the vendor organisation").into());
                }
                sqlx::query_scalar("INSERT INTO organisations (name, kind, created_at) VALUES ($1, 'vendor', $2) RETURNING id")
                    .bind(name)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        let user_id: i64 = sqlx::query_scalar(
            "INSERT INTO users (organisation_id, email, display_name, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4, 'vendor_admin', $5) RETURNING id",
        )
        .bind(vendor_id)
        .bind(email.as_str())
        .bind(display_name)
        .bind(phc)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_user_id: None,
                action: "user.create",
                entity_type: "user",
                entity_id: user_id.to_string(),
                before: None,
                after: Some(serde_json::json!({ "email": email.as_str(), "role": "vendor_admin" })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(user_id)
    }
}
