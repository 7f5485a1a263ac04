//! Deal registration (RULES.md §6) in the service layer: registering (also on a reseller's
//! behalf), conflict and duplicate checks, submission onto the approval workflow, decisions,
//! protection periods from the partner's tier, one extension, automatic expiry, won and lost.
//!
//! Who sees a registration: vendor staff all; a partner its own; a distributor also its
//! resellers'. Anyone else is told "not found".

use crate::audit::{self, AuditEntry};
use crate::auth::Actor;
use crate::error::{permit, ServiceError, ServiceResult};
use crate::notify::Message;
use crate::portal::Portal;
use crate::workflow::{Outcome, Subject};
use domain::calendar::Date;
use domain::deals::{
    classify, default_protection_days, describe_due, parse_country, parse_product_lines, protection_ends,
    Clash, CustomerKey, DealAction, DealConflict, DealEvent, DealInput, DealStatus, DealView,
    RegistrationClaim, Turnaround, EXTENSION_DAYS,
};
use domain::identity::{OrganisationKind, Role, TierRank};
use domain::money::{format_minor, parse_minor};
use domain::FieldError;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeSet;

/// The workflow that decides registrations.
const REGISTRATION: &str = "deal_registration";
/// The workflow that decides extensions.
const EXTENSION: &str = "deal_extension";

const SELECT: &str = "SELECT d.*, o.name AS partner_name, o.distributor_id AS partner_distributor_id, \
     r.name AS registrar_org_name, u.display_name AS registrar_name \
     FROM deals d JOIN organisations o ON o.id = d.partner_id \
     JOIN organisations r ON r.id = d.registered_by_org_id \
     JOIN users u ON u.id = d.registered_by_user_id";

/// The registrations an actor may see, as SQL over `d` and `o` (the partner). Ids are numbers.
fn deal_scope(actor: &Actor) -> String {
    if actor.organisation.kind == OrganisationKind::Vendor {
        "1 = 1".to_owned()
    } else {
        format!(
            "(o.id = {id} OR o.distributor_id = {id})",
            id = actor.organisation.id
        )
    }
}

fn is_decider(actor: &Actor) -> bool {
    matches!(actor.role, Role::ChannelManager | Role::VendorAdmin)
}

fn require_decider(actor: &Actor) -> ServiceResult<()> {
    permit(
        is_decider(actor),
        "only channel managers and vendor admins decide registrations",
    )
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("{e}"))
}

fn date_column(row: &AnyRow, column: &str) -> ServiceResult<Option<Date>> {
    row.try_get::<Option<String>, _>(column)?
        .map(|t| Date::parse(&t, column).map_err(internal))
        .transpose()
}

fn split_lines(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn subject(id: i64) -> Subject {
    Subject { kind: "deal", id }
}

/// A stored registration, as read for a transition.
struct Stored {
    id: i64,
    partner_id: i64,
    registered_by_user_id: i64,
    customer_name: String,
    customer_key: CustomerKey,
    product_lines: Vec<String>,
    status: DealStatus,
    expires_on: Option<Date>,
    extended: bool,
    snapshot: serde_json::Value,
}

fn stored_from_row(row: &AnyRow) -> ServiceResult<Stored> {
    let status = crate::portal::stored(
        &row.try_get::<String, _>("status")?,
        DealStatus::parse,
        "deals.status",
    )?;
    let product_lines = split_lines(&row.try_get::<String, _>("product_lines")?);
    let expires_on = date_column(row, "expires_on")?;
    Ok(Stored {
        id: row.try_get("id")?,
        partner_id: row.try_get("partner_id")?,
        registered_by_user_id: row.try_get("registered_by_user_id")?,
        customer_name: row.try_get("customer_name")?,
        customer_key: CustomerKey::from_stored(row.try_get("customer_key")?),
        snapshot: serde_json::json!({
            "status": status,
            "expires_on": expires_on,
            "product_lines": product_lines,
        }),
        product_lines,
        status,
        expires_on,
        extended: row.try_get::<i64, _>("extended")? != 0,
    })
}

/// What the derived columns of a new registration are.
struct Validated {
    partner_id: i64,
    customer_name: String,
    customer_domain: Option<String>,
    key: CustomerKey,
    country: String,
    lines: Vec<String>,
    amount_minor: i64,
    currency: String,
    expected_close_on: Date,
    notes: String,
}

impl Portal {
    /// The customer key a name and domain give, for the form's preview.
    pub fn customer_key_preview(&self, name: &str, domain: Option<&str>) -> ServiceResult<CustomerKey> {
        Ok(CustomerKey::derive(name, domain)?)
    }

    /// The product lines a registration can name: those sales were booked under, and those the
    /// program's rebate plans name.
    pub async fn product_lines(&self) -> ServiceResult<Vec<String>> {
        let mut lines: BTreeSet<String> =
            sqlx::query_scalar::<_, String>("SELECT DISTINCT product_line FROM sales")
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .collect();
        if let Some(program) = self.program_on(self.today()).await? {
            for plan in &program.program.rebate_plans {
                lines.extend(plan.product_lines.iter().cloned());
            }
        }
        Ok(lines.into_iter().collect())
    }

    /// The resellers a distributor may register for (empty for everyone else).
    pub async fn registrable_partners(&self, actor: &Actor) -> ServiceResult<Vec<(i64, String)>> {
        if !actor.role.is_partner() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query("SELECT id, name FROM organisations WHERE id = $1 OR distributor_id = $1 ORDER BY id = $1 DESC, name")
            .bind(actor.organisation.id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .collect()
    }

    async fn validate_deal(&self, actor: &Actor, input: &DealInput) -> ServiceResult<Validated> {
        if !actor.role.is_partner() {
            return Err(ServiceError::Forbidden("deals are registered by partners"));
        }
        let partner_id = match input.partner_id {
            None => actor.organisation.id,
            Some(id) if id == actor.organisation.id => id,
            Some(id) => {
                let distributor: Option<Option<i64>> = sqlx::query_scalar(
                    "SELECT distributor_id FROM organisations WHERE id = $1 AND kind = 'partner'",
                )
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
                if distributor.flatten() != Some(actor.organisation.id) {
                    return Err(ServiceError::NotFound("partner"));
                }
                id
            }
        };
        let customer_name = input.customer_name.trim().to_owned();
        if customer_name.is_empty() {
            return Err(FieldError::new("customer_name", "enter the customer's name").into());
        }
        if customer_name.chars().count() > 200 {
            return Err(
                FieldError::new("customer_name", "keep the customer's name under 200 characters").into(),
            );
        }
        let customer_domain = input
            .customer_domain
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        let key = CustomerKey::derive(&customer_name, customer_domain.as_deref())?;
        let country = parse_country(&input.country)?;
        let lines = parse_product_lines(&input.product_lines)?;
        let currency = self.program_currency().await?;
        let amount_minor = parse_minor(input.amount.trim(), currency.minor_digits(), "amount")?;
        if amount_minor <= 0 {
            return Err(FieldError::new("amount", "the estimated amount must be more than zero").into());
        }
        let expected_close_on = Date::parse(input.expected_close_on.trim(), "expected_close_on")?;
        if expected_close_on < self.today() {
            return Err(
                FieldError::new("expected_close_on", "the expected close date is in the past").into(),
            );
        }
        let notes = input.notes.trim().to_owned();
        if notes.chars().count() > 4000 {
            return Err(FieldError::new("notes", "keep the notes under 4,000 characters").into());
        }
        Ok(Validated {
            partner_id,
            customer_name,
            customer_domain,
            key,
            country,
            lines,
            amount_minor,
            currency: currency.code().to_owned(),
            expected_close_on,
            notes,
        })
    }

    /// Registrations for the same customer key, for conflict checks.
    async fn claims_on(
        &self,
        conn: &mut AnyConnection,
        key: &CustomerKey,
    ) -> ServiceResult<Vec<RegistrationClaim>> {
        let rows = sqlx::query("SELECT id, partner_id, customer_key, product_lines, status, expires_on, extended, registered_by_user_id, customer_name FROM deals WHERE customer_key = $1")
            .bind(key.as_str())
            .fetch_all(&mut *conn)
            .await?;
        rows.iter()
            .map(|r| {
                let s = stored_from_row(r)?;
                Ok(RegistrationClaim {
                    id: s.id,
                    partner_id: s.partner_id,
                    customer_key: s.customer_key,
                    product_lines: s.product_lines,
                    status: s.status,
                    expires_on: s.expires_on,
                })
            })
            .collect()
    }

    /// Refuses a duplicate of the partner's own live registration, naming it; returns conflicts.
    async fn check_clash(
        &self,
        conn: &mut AnyConnection,
        candidate: Option<i64>,
        partner_id: i64,
        key: &CustomerKey,
        lines: &[String],
    ) -> ServiceResult<Vec<i64>> {
        let claims = self.claims_on(conn, key).await?;
        match classify(candidate, partner_id, key, lines, &claims, self.today()) {
            Clash::Duplicate { existing } => Err(ServiceError::Conflict(format!(
                "duplicate: your organisation already registered this customer for {} as deal #{existing}",
                lines.join(", ")
            ))),
            Clash::Conflicts(ids) => Ok(ids),
            Clash::Clear => Ok(Vec::new()),
        }
    }

    async fn history(
        &self,
        conn: &mut AnyConnection,
        deal_id: i64,
        actor: Option<i64>,
        from: Option<DealStatus>,
        to: DealStatus,
        note: &str,
    ) -> ServiceResult<()> {
        sqlx::query(
            "INSERT INTO deal_history (deal_id, occurred_at, actor_user_id, from_status, to_status, note) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(deal_id)
        .bind(self.now())
        .bind(actor)
        .bind(from.map(DealStatus::as_str))
        .bind(to.as_str())
        .bind(note)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn audit_deal(
        &self,
        conn: &mut AnyConnection,
        actor: Option<i64>,
        action: &str,
        id: i64,
        before: Option<serde_json::Value>,
        after: serde_json::Value,
    ) -> ServiceResult<()> {
        audit::record(
            conn,
            self.now(),
            AuditEntry {
                actor_user_id: actor,
                action,
                entity_type: "deal",
                entity_id: id.to_string(),
                before,
                after: Some(after),
            },
        )
        .await?;
        Ok(())
    }

    /// Registers a deal; with `submit` it goes straight to the channel manager. A duplicate of
    /// the partner's own live registration is refused and named; a conflict with another
    /// partner's is saved and flagged for the decision.
    pub async fn register_deal(
        &self,
        actor: &Actor,
        input: DealInput,
        submit: bool,
    ) -> ServiceResult<DealView> {
        let v = self.validate_deal(actor, &input).await?;
        let now = self.now();
        let mut tx = self.store().begin_write().await?;
        let conflicts = self
            .check_clash(&mut tx, None, v.partner_id, &v.key, &v.lines)
            .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO deals (partner_id, registered_by_org_id, registered_by_user_id, customer_name, customer_domain, \
             customer_key, country, product_lines, amount_minor, currency, expected_close_on, notes, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'draft', $13, $13) RETURNING id",
        )
        .bind(v.partner_id)
        .bind(actor.organisation.id)
        .bind(actor.user_id)
        .bind(&v.customer_name)
        .bind(v.customer_domain.as_deref())
        .bind(v.key.as_str())
        .bind(&v.country)
        .bind(v.lines.join(","))
        .bind(v.amount_minor)
        .bind(&v.currency)
        .bind(v.expected_close_on.to_string())
        .bind(&v.notes)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let on_behalf = if v.partner_id == actor.organisation.id {
            String::new()
        } else {
            format!(
                " on behalf of partner #{} by {}",
                v.partner_id, actor.organisation.name
            )
        };
        self.history(
            &mut tx,
            id,
            Some(actor.user_id),
            None,
            DealStatus::Draft,
            &format!("registered{on_behalf}"),
        )
        .await?;
        self.audit_deal(
            &mut tx,
            Some(actor.user_id),
            "deal.register",
            id,
            None,
            serde_json::json!({ "partner_id": v.partner_id, "customer_key": v.key, "product_lines": v.lines, "conflicts": conflicts }),
        )
        .await?;
        if submit {
            self.submit_in(&mut tx, actor, id).await?;
        }
        tx.commit().await?;
        self.publish_partner_events([v.partner_id], "deal").await;
        self.deal(actor, id).await
    }

    async fn load_for_update(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        id: i64,
    ) -> ServiceResult<Stored> {
        let row = sqlx::query(&format!("{SELECT} WHERE d.id = $1 AND {}", deal_scope(actor)))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(ServiceError::NotFound("deal"))?;
        stored_from_row(&row)
    }

    /// Moves `deal` to its next status, recording history and audit.
    async fn transition(
        &self,
        conn: &mut AnyConnection,
        actor: Option<&Actor>,
        deal: &Stored,
        action: DealAction,
        set: &str,
        note: &str,
    ) -> ServiceResult<DealStatus> {
        let next = deal.status.after(action).map_err(ServiceError::Conflict)?;
        let changed = sqlx::query(&format!(
            "UPDATE deals SET status = $1, updated_at = $2{set} WHERE id = $3 AND status = $4"
        ))
        .bind(next.as_str())
        .bind(self.now())
        .bind(deal.id)
        .bind(deal.status.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(ServiceError::Conflict(
                "the registration changed meanwhile; reload and try again".into(),
            ));
        }
        let actor_id = actor.map(|a| a.user_id);
        self.history(conn, deal.id, actor_id, Some(deal.status), next, note)
            .await?;
        self.audit_deal(
            conn,
            actor_id,
            &format!("deal.{}", action.as_str()),
            deal.id,
            Some(deal.snapshot.clone()),
            serde_json::json!({ "status": next, "note": note }),
        )
        .await?;
        Ok(next)
    }

    /// Who decides a partner's registrations: its channel manager, else its distributor's, else
    /// the first channel manager; `None` leaves it to every channel manager.
    async fn assignee_for(&self, conn: &mut AnyConnection, partner_id: i64) -> ServiceResult<Option<i64>> {
        let assigned: Option<i64> = sqlx::query_scalar(
            "SELECT COALESCE(o.channel_manager_id, d.channel_manager_id) FROM organisations o \
             LEFT JOIN organisations d ON d.id = o.distributor_id WHERE o.id = $1",
        )
        .bind(partner_id)
        .fetch_one(&mut *conn)
        .await?;
        if assigned.is_some() {
            return Ok(assigned);
        }
        Ok(sqlx::query_scalar(
            "SELECT id FROM users WHERE role = 'channel_manager' AND disabled_at IS NULL ORDER BY id LIMIT 1",
        )
        .fetch_optional(&mut *conn)
        .await?)
    }

    /// Submits inside the caller's transaction; returns the partner.
    async fn submit_in(&self, conn: &mut AnyConnection, actor: &Actor, id: i64) -> ServiceResult<i64> {
        let deal = self.load_for_update(conn, actor, id).await?;
        if !actor.role.is_partner() {
            return Err(ServiceError::Forbidden(
                "the registering partner submits its registrations",
            ));
        }
        let conflicts = self
            .check_clash(
                conn,
                Some(id),
                deal.partner_id,
                &deal.customer_key,
                &deal.product_lines,
            )
            .await?;
        let note = if conflicts.is_empty() {
            "submitted".to_owned()
        } else {
            let ids: Vec<String> = conflicts.iter().map(|c| format!("#{c}")).collect();
            format!("submitted; conflicts with {}", ids.join(", "))
        };
        self.transition(
            conn,
            Some(actor),
            &deal,
            DealAction::Submit,
            ", submitted_at = $2",
            &note,
        )
        .await?;
        let assignee = self.assignee_for(conn, deal.partner_id).await?;
        self.start_workflow(conn, REGISTRATION, subject(id), assignee, Some(actor.user_id))
            .await?;
        let message = Message {
            kind: "deal.submitted",
            title: format!("New deal registration #{id}: {}", deal.customer_name),
            body: format!(
                "{} registered {} ({}){}.",
                actor.organisation.name,
                deal.customer_name,
                deal.product_lines.join(", "),
                if conflicts.is_empty() {
                    ""
                } else {
                    " — it conflicts with another partner's registration"
                }
            ),
            link: format!("/deals/{id}"),
        };
        self.notify_assignee(conn, assignee, "channel_manager", &message)
            .await?;
        Ok(deal.partner_id)
    }

    /// Submits a draft registration for a decision.
    pub async fn submit_deal(&self, actor: &Actor, id: i64) -> ServiceResult<DealView> {
        let mut tx = self.store().begin_write().await?;
        let partner_id = self.submit_in(&mut tx, actor, id).await?;
        tx.commit().await?;
        self.publish_partner_events([partner_id], "deal").await;
        self.deal(actor, id).await
    }

    /// Approves or rejects the open decision on a registration: the registration itself, or a
    /// requested extension. Approval starts the protection period of the partner's tier.
    pub async fn decide_deal(
        &self,
        actor: &Actor,
        id: i64,
        approve: bool,
        comment: &str,
    ) -> ServiceResult<DealView> {
        let mut tx = self.store().begin_write().await?;
        let deal = self.load_for_update(&mut tx, actor, id).await?;
        require_decider(actor)?;
        let comment = comment.trim();
        if !approve && comment.is_empty() {
            return Err(FieldError::new("comment", "say why the registration is rejected").into());
        }
        let open = self
            .open_decision(&mut tx, subject(id))
            .await?
            .ok_or_else(|| ServiceError::Conflict(format!("deal #{id} has no decision waiting")))?;
        let outcome = if approve {
            Outcome::Approved
        } else {
            Outcome::Rejected
        };
        self.close_workflow(&mut tx, open.instance_id, outcome, Some(actor.user_id), comment)
            .await?;
        let today = self.today();
        let summary = if open.workflow_key == EXTENSION {
            let end = deal
                .expires_on
                .ok_or_else(|| internal("an approved deal without an end"))?;
            if approve {
                let new_end = end.add_days(EXTENSION_DAYS);
                sqlx::query("UPDATE deals SET expires_on = $1, extended = 1, updated_at = $2 WHERE id = $3")
                    .bind(new_end.to_string())
                    .bind(self.now())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let note = format!("extension approved: protected until {}", new_end.human());
                self.history(
                    &mut tx,
                    id,
                    Some(actor.user_id),
                    Some(deal.status),
                    deal.status,
                    &note,
                )
                .await?;
                self.audit_deal(
                    &mut tx,
                    Some(actor.user_id),
                    "deal.extend.approve",
                    id,
                    Some(deal.snapshot.clone()),
                    serde_json::json!({ "expires_on": new_end, "comment": comment }),
                )
                .await?;
                note
            } else {
                let note = format!("extension rejected: {comment}");
                self.history(
                    &mut tx,
                    id,
                    Some(actor.user_id),
                    Some(deal.status),
                    deal.status,
                    &note,
                )
                .await?;
                self.audit_deal(
                    &mut tx,
                    Some(actor.user_id),
                    "deal.extend.reject",
                    id,
                    Some(deal.snapshot.clone()),
                    serde_json::json!({ "comment": comment }),
                )
                .await?;
                note
            }
        } else if approve {
            let days = self.protection_days(&mut tx, deal.partner_id, today).await?;
            let end = protection_ends(today, days);
            let note = if comment.is_empty() {
                format!("approved: {days} days of protection")
            } else {
                format!("approved: {days} days of protection — {comment}")
            };
            self.transition(
                &mut tx,
                Some(actor),
                &deal,
                DealAction::Approve,
                &format!(", decided_at = $2, approved_on = '{today}', expires_on = '{end}'"),
                &note,
            )
            .await?;
            format!("approved, protected until {}", end.human())
        } else {
            self.transition(
                &mut tx,
                Some(actor),
                &deal,
                DealAction::Reject,
                ", decided_at = $2",
                &format!("rejected: {comment}"),
            )
            .await?;
            format!("rejected: {comment}")
        };
        self.notify(
            &mut tx,
            deal.registered_by_user_id,
            &Message {
                kind: "deal.decided",
                title: format!(
                    "Deal #{id} {}: {}",
                    if approve { "approved" } else { "rejected" },
                    deal.customer_name
                ),
                body: format!("{} — {summary}", deal.customer_name),
                link: format!("/deals/{id}"),
            },
        )
        .await?;
        tx.commit().await?;
        self.publish_partner_events([deal.partner_id], "deal").await;
        self.deal(actor, id).await
    }

    /// Protection days of the partner's effective tier under the program in force on `day`.
    async fn protection_days(
        &self,
        conn: &mut AnyConnection,
        partner_id: i64,
        day: Date,
    ) -> ServiceResult<u16> {
        let rank: Option<i64> = sqlx::query_scalar("SELECT tier_rank FROM organisations WHERE id = $1")
            .bind(partner_id)
            .fetch_one(&mut *conn)
            .await?;
        let rank = TierRank(u8::try_from(rank.unwrap_or(0)).unwrap_or(0));
        Ok(match Self::program_on_in(conn, day).await? {
            Some(program) => program.program.deal_protection_days(rank),
            None => default_protection_days(rank.0),
        })
    }

    /// Marks an approved registration won (it then counts towards `deals_won`) or lost.
    /// `on` defaults to today and may not be in the future.
    pub async fn close_deal(
        &self,
        actor: &Actor,
        id: i64,
        won: bool,
        on: Option<Date>,
    ) -> ServiceResult<DealView> {
        let today = self.today();
        let on = on.unwrap_or(today);
        if on > today {
            return Err(FieldError::new(
                if won { "won_on" } else { "lost_on" },
                "the date is in the future",
            )
            .into());
        }
        let mut tx = self.store().begin_write().await?;
        let deal = self.load_for_update(&mut tx, actor, id).await?;
        if !(actor.role.is_partner() || is_decider(actor)) {
            return Err(ServiceError::Forbidden(
                "only the partner or its channel manager closes a registration",
            ));
        }
        let (action, verb) = if won {
            (DealAction::Win, "won")
        } else {
            (DealAction::Lose, "lost")
        };
        self.transition(
            &mut tx,
            Some(actor),
            &deal,
            action,
            &format!(", closed_on = '{on}'"),
            &format!("{verb} on {}", on.human()),
        )
        .await?;
        if let Some(open) = self.open_decision(&mut tx, subject(id)).await? {
            self.close_workflow(
                &mut tx,
                open.instance_id,
                Outcome::Cancelled,
                Some(actor.user_id),
                "registration closed",
            )
            .await?;
        }
        if won {
            sqlx::query(
                "INSERT INTO won_deals (partner_id, reference, won_on, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(deal.partner_id)
            .bind(format!("DEAL-{id}"))
            .bind(on.to_string())
            .bind(self.now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if won {
            self.facts_changed(BTreeSet::from([deal.partner_id])).await?;
        }
        self.publish_partner_events([deal.partner_id], "deal").await;
        self.deal(actor, id).await
    }

    /// Asks for the one 30-day extension of an approved, unexpired registration; it goes
    /// through the same approval as the registration.
    pub async fn request_extension(&self, actor: &Actor, id: i64, reason: &str) -> ServiceResult<DealView> {
        let mut tx = self.store().begin_write().await?;
        let deal = self.load_for_update(&mut tx, actor, id).await?;
        if !actor.role.is_partner() {
            return Err(ServiceError::Forbidden(
                "the registering partner asks for an extension",
            ));
        }
        let today = self.today();
        if deal.status != DealStatus::Approved || deal.expires_on.is_none_or(|end| today >= end) {
            return Err(ServiceError::Conflict(
                "only an approved, unexpired registration can be extended".into(),
            ));
        }
        if deal.extended {
            return Err(ServiceError::Conflict(
                "this registration has had its one extension".into(),
            ));
        }
        if self.open_decision(&mut tx, subject(id)).await?.is_some() {
            return Err(ServiceError::Conflict(
                "an extension has already been requested".into(),
            ));
        }
        let reason = reason.trim();
        let assignee = self.assignee_for(&mut tx, deal.partner_id).await?;
        self.start_workflow(&mut tx, EXTENSION, subject(id), assignee, Some(actor.user_id))
            .await?;
        let note = if reason.is_empty() {
            format!("extension of {EXTENSION_DAYS} days requested")
        } else {
            format!("extension of {EXTENSION_DAYS} days requested: {reason}")
        };
        self.history(
            &mut tx,
            id,
            Some(actor.user_id),
            Some(deal.status),
            deal.status,
            &note,
        )
        .await?;
        self.audit_deal(
            &mut tx,
            Some(actor.user_id),
            "deal.extend.request",
            id,
            Some(deal.snapshot.clone()),
            serde_json::json!({ "reason": reason }),
        )
        .await?;
        let message = Message {
            kind: "deal.extension",
            title: format!("Extension requested for deal #{id}: {}", deal.customer_name),
            body: note.clone(),
            link: format!("/deals/{id}"),
        };
        self.notify_assignee(&mut tx, assignee, "channel_manager", &message)
            .await?;
        tx.commit().await?;
        self.publish_partner_events([deal.partner_id], "deal").await;
        self.deal(actor, id).await
    }

    /// Expires every approved registration whose protection has ended by `today`, each exactly
    /// once (the status change is conditional). A pending extension lapses with it.
    pub async fn expire_deals(&self, today: Date) -> ServiceResult<usize> {
        let due: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM deals WHERE status = 'approved' AND expires_on <= $1 ORDER BY id",
        )
        .bind(today.to_string())
        .fetch_all(self.pool())
        .await?;
        let mut expired = 0;
        for id in due {
            let mut tx = self.pool().begin().await?;
            let changed = sqlx::query(
                "UPDATE deals SET status = 'expired', updated_at = $1 WHERE id = $2 AND status = 'approved' AND expires_on <= $3",
            )
            .bind(self.now())
            .bind(id)
            .bind(today.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed != 1 {
                continue;
            }
            let row = sqlx::query("SELECT * FROM deals WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            let deal = stored_from_row(&row)?;
            let end = deal.expires_on.map(Date::human).unwrap_or_default();
            self.history(
                &mut tx,
                id,
                None,
                Some(DealStatus::Approved),
                DealStatus::Expired,
                &format!("protection ended on {end}"),
            )
            .await?;
            self.audit_deal(
                &mut tx,
                None,
                "deal.expire",
                id,
                Some(serde_json::json!({ "status": "approved" })),
                serde_json::json!({ "status": "expired" }),
            )
            .await?;
            if let Some(open) = self.open_decision(&mut tx, subject(id)).await? {
                self.close_workflow(
                    &mut tx,
                    open.instance_id,
                    Outcome::Cancelled,
                    None,
                    "registration expired",
                )
                .await?;
            }
            self.notify(
                &mut tx,
                deal.registered_by_user_id,
                &Message {
                    kind: "deal.expired",
                    title: format!("Deal #{id} expired: {}", deal.customer_name),
                    body: format!("The protection of {} ended on {end}.", deal.customer_name),
                    link: format!("/deals/{id}"),
                },
            )
            .await?;
            tx.commit().await?;
            self.publish_partner_events([deal.partner_id], "deal").await;
            expired += 1;
        }
        Ok(expired)
    }

    /// Registrations the actor may see: open decisions first (soonest due), then the rest,
    /// newest first.
    pub async fn deals(&self, actor: &Actor) -> ServiceResult<Vec<DealView>> {
        let rows = sqlx::query(&format!(
            "{SELECT} WHERE {} ORDER BY d.updated_at DESC, d.id DESC",
            deal_scope(actor)
        ))
        .fetch_all(self.pool())
        .await?;
        let mut conn = self.pool().acquire().await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            views.push(self.view(&mut conn, actor, row, false).await?);
        }
        views.sort_by_key(|v| (v.decision_due_at.is_none(), v.decision_due_at));
        Ok(views)
    }

    /// The channel manager's queue: registrations waiting for a decision, soonest due first,
    /// with conflicting registrations and the first-come suggestion.
    pub async fn deal_queue(&self, actor: &Actor) -> ServiceResult<Vec<DealView>> {
        require_decider(actor)?;
        let rows = sqlx::query(&format!(
            "{SELECT} JOIN workflow_instances i ON i.subject_type = 'deal' AND i.subject_id = d.id AND i.status = 'open' \
             ORDER BY i.due_at, d.id"
        ))
        .fetch_all(self.pool())
        .await?;
        let mut conn = self.pool().acquire().await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in &rows {
            views.push(self.view(&mut conn, actor, row, false).await?);
        }
        Ok(views)
    }

    /// One registration with its history; 404 if the actor may not see it.
    pub async fn deal(&self, actor: &Actor, id: i64) -> ServiceResult<DealView> {
        let mut conn = self.pool().acquire().await?;
        let row = sqlx::query(&format!("{SELECT} WHERE d.id = $1 AND {}", deal_scope(actor)))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(ServiceError::NotFound("deal"))?;
        self.view(&mut conn, actor, &row, true).await
    }

    async fn view(
        &self,
        conn: &mut AnyConnection,
        actor: &Actor,
        row: &AnyRow,
        with_history: bool,
    ) -> ServiceResult<DealView> {
        let s = stored_from_row(row)?;
        let now = self.now();
        let today = self.today();
        let currency = domain::money::Currency::parse(&row.try_get::<String, _>("currency")?, "currency")
            .map_err(internal)?;
        let amount_minor: i64 = row.try_get("amount_minor")?;
        let open = self.open_decision(conn, subject(s.id)).await?;
        let registrar_org: i64 = row.try_get("registered_by_org_id")?;
        let submitted_at: Option<i64> = row.try_get("submitted_at")?;
        let decision_comment: Option<String> = sqlx::query_scalar(
            "SELECT comment FROM workflow_instances WHERE subject_type = 'deal' AND subject_id = $1 AND status IN ('approved', 'rejected') \
             ORDER BY decided_at DESC LIMIT 1",
        )
        .bind(s.id)
        .fetch_optional(&mut *conn)
        .await?
        .flatten()
        .filter(|c: &String| !c.is_empty());
        // Other partners' registrations are shown to the deciders only.
        let (conflicts, suggestion) = if is_decider(actor) && s.status.is_open() {
            self.conflicts_of(conn, &s, submitted_at, today).await?
        } else {
            (Vec::new(), None)
        };
        let history = if with_history {
            let rows = sqlx::query(
                "SELECT h.occurred_at, h.from_status, h.to_status, h.note, u.display_name FROM deal_history h \
                 LEFT JOIN users u ON u.id = h.actor_user_id WHERE h.deal_id = $1 ORDER BY h.id",
            )
            .bind(s.id)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter()
                .map(|h| {
                    Ok(DealEvent {
                        at: h.try_get("occurred_at")?,
                        actor: h
                            .try_get::<Option<String>, _>("display_name")?
                            .unwrap_or_else(|| "Atrium".into()),
                        from_status: h
                            .try_get::<Option<String>, _>("from_status")?
                            .map(|t| crate::portal::stored(&t, DealStatus::parse, "deal_history.from_status"))
                            .transpose()?,
                        to_status: crate::portal::stored(
                            &h.try_get::<String, _>("to_status")?,
                            DealStatus::parse,
                            "deal_history.to_status",
                        )?,
                        note: h.try_get("note")?,
                    })
                })
                .collect::<ServiceResult<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let can_request_extension = s.status == DealStatus::Approved
            && !s.extended
            && open.is_none()
            && s.expires_on.is_some_and(|end| today < end);
        Ok(DealView {
            id: s.id,
            partner_id: s.partner_id,
            partner_name: row.try_get("partner_name")?,
            registered_on_behalf_by: (registrar_org != s.partner_id)
                .then(|| row.try_get("registrar_org_name"))
                .transpose()?,
            registered_by: row.try_get("registrar_name")?,
            customer_name: s.customer_name,
            customer_domain: row.try_get("customer_domain")?,
            customer_key: s.customer_key,
            country: row.try_get("country")?,
            product_lines: s.product_lines,
            amount_minor,
            currency: currency.code().to_owned(),
            amount: format_minor(amount_minor, currency.minor_digits()),
            expected_close_on: date_column(row, "expected_close_on")?
                .ok_or_else(|| internal("deal without close date"))?,
            notes: row.try_get("notes")?,
            status: s.status,
            submitted_at,
            decision_due_at: open.as_ref().map(|o| o.due_at),
            decision_clock: open.as_ref().map(|o| describe_due(o.due_at, now)),
            pending_decision: open.as_ref().map(|o| {
                if o.workflow_key == EXTENSION {
                    "extension"
                } else {
                    "registration"
                }
                .to_owned()
            }),
            assignee: open.and_then(|o| o.assignee),
            approved_on: date_column(row, "approved_on")?,
            expires_on: s.expires_on,
            extended: s.extended,
            can_request_extension,
            decision_comment,
            conflicts,
            suggestion,
            history,
        })
    }

    /// Other partners' live registrations overlapping `deal`, earliest first, and the
    /// first-come, first-served suggestion.
    async fn conflicts_of(
        &self,
        conn: &mut AnyConnection,
        deal: &Stored,
        submitted_at: Option<i64>,
        today: Date,
    ) -> ServiceResult<(Vec<DealConflict>, Option<String>)> {
        let claims = self.claims_on(conn, &deal.customer_key).await?;
        let Clash::Conflicts(ids) = classify(
            Some(deal.id),
            deal.partner_id,
            &deal.customer_key,
            &deal.product_lines,
            &claims,
            today,
        ) else {
            return Ok((Vec::new(), None));
        };
        let mut conflicts = Vec::new();
        for id in ids {
            let row = sqlx::query(&format!("{SELECT} WHERE d.id = $1"))
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
            let other = stored_from_row(&row)?;
            let currency = domain::money::Currency::parse(&row.try_get::<String, _>("currency")?, "currency")
                .map_err(internal)?;
            conflicts.push(DealConflict {
                id,
                partner_name: row.try_get("partner_name")?,
                customer_name: other.customer_name,
                product_lines: other.product_lines,
                status: other.status,
                submitted_at: row.try_get("submitted_at")?,
                amount: format_minor(row.try_get("amount_minor")?, currency.minor_digits()),
            });
        }
        conflicts.sort_by_key(|c| (c.submitted_at.unwrap_or(i64::MAX), c.id));
        let first = &conflicts[0];
        let earlier = first.status == DealStatus::Approved
            || first.submitted_at.unwrap_or(i64::MAX) < submitted_at.unwrap_or(i64::MAX);
        let suggestion = if earlier {
            format!(
                "Reject: {} registered this customer first (deal #{}, {}); first come, first served.",
                first.partner_name,
                first.id,
                first.status.label().to_lowercase()
            )
        } else {
            format!(
                "Approve: this registration came first; deal #{} by {} came later.",
                first.id, first.partner_name
            )
        };
        Ok((conflicts, Some(suggestion)))
    }

    /// Turnaround of every approval workflow (vendor staff).
    pub async fn turnaround(&self, actor: &Actor) -> ServiceResult<Vec<Turnaround>> {
        if actor.organisation.kind != OrganisationKind::Vendor {
            return Err(ServiceError::Forbidden(
                "the turnaround report is for vendor staff",
            ));
        }
        self.workflow_turnaround(None).await
    }
}
