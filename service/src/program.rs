//! The channel program in the service layer: versions with effective dates, tier evaluation
//! over stored facts, overrides, and each partner's tier view (RULES.md §3–4).

use crate::audit::{self, AuditEntry};
use crate::auth::Actor;
use crate::error::{ServiceError, ServiceResult};
use crate::portal::Portal;
use crate::store::{id_list, Backend, Placeholders, ID_CHUNK};
use domain::calendar::Date;
use domain::facts::{Certification, PartnerFacts, Sale, WonDeal};
use domain::identity::{OrganisationKind, Role, TierBadge, TierRank};
use domain::metrics::{Metric, MetricValue};
use domain::program::{BenefitKind, Program, ProgramDoc};
use domain::scorecard::{
    CriterionView, NextTierView, PartnerTierView, ProgramVersionView, TierHistoryEntry, TierOverrideView,
};
use domain::tiers::{TierChange, TierChangeCause, TierOverride, TierStanding};
use domain::FieldError;
use sqlx::Row;
use std::collections::HashMap;

/// A program version as stored.
#[derive(Debug, Clone)]
pub struct StoredProgram {
    /// Row id.
    pub id: i64,
    /// First day it applies.
    pub effective_from: Date,
    /// The validated program.
    pub program: Program,
    /// Its document.
    pub document: ProgramDoc,
}

fn stored_date(text: &str, column: &str) -> ServiceResult<Date> {
    Date::parse(text, column).map_err(|e| ServiceError::Internal(anyhow::anyhow!("corrupt stored date: {e}")))
}

fn cause_code(cause: &TierChangeCause) -> &'static str {
    match cause {
        TierChangeCause::Upgrade => "upgrade",
        TierChangeCause::Review => "review",
        TierChangeCause::Override => "override",
        TierChangeCause::OverrideExpired => "override_expired",
    }
}

/// Sales as tier evaluation reads them: summed per organisation, product line and day. Every
/// sales metric adds amounts over a window of days and a set of product lines (RULES.md §3), so
/// sums evaluate exactly as the individual sales would, and two sums for the same day and line
/// (one read from the table, one gathered by an import) as their total would.
#[derive(Debug, Default)]
pub(crate) struct SalesFacts {
    /// By selling partner.
    sales: HashMap<i64, Vec<Sale>>,
    /// By the distributor the sales went through.
    sold_through: HashMap<i64, Vec<Sale>>,
}

impl SalesFacts {
    /// Adds `total`, the sum of `owner`'s sales of `product_line` booked on `day`: sales it sold
    /// itself, or with `through_distributor`, sales that went through it.
    pub(crate) fn add(
        &mut self,
        owner: i64,
        through_distributor: bool,
        product_line: String,
        day: Date,
        total: i64,
    ) {
        let list = if through_distributor {
            &mut self.sold_through
        } else {
            &mut self.sales
        };
        list.entry(owner).or_default().push(Sale {
            external_id: String::new(),
            partner_id: owner,
            distributor_id: through_distributor.then_some(owner),
            booked_on: day,
            product_line,
            amount_minor: total,
        });
    }

    /// Takes in `other`'s sums beside these.
    pub(crate) fn extend(&mut self, other: SalesFacts) {
        for (mine, theirs) in [
            (&mut self.sales, other.sales),
            (&mut self.sold_through, other.sold_through),
        ] {
            for (owner, sums) in theirs {
                mine.entry(owner).or_default().extend(sums);
            }
        }
    }
}

/// Many partners' facts, by partner.
#[derive(Debug, Default)]
struct FactsBook {
    sales: SalesFacts,
    won_deals: HashMap<i64, Vec<WonDeal>>,
    certifications: HashMap<i64, Vec<Certification>>,
}

impl FactsBook {
    fn facts(&self, partner_id: i64) -> PartnerFacts<'_> {
        fn of<T>(map: &HashMap<i64, Vec<T>>, id: i64) -> &[T] {
            map.get(&id).map_or(&[], Vec::as_slice)
        }
        PartnerFacts {
            partner_id,
            sales: of(&self.sales.sales, partner_id),
            sold_through: of(&self.sales.sold_through, partner_id),
            won_deals: of(&self.won_deals, partner_id),
            certifications: of(&self.certifications, partner_id),
        }
    }
}

/// A standing as stored, joined with the organisation's tier (where a partner never evaluated
/// starts).
struct StoredStanding {
    standing: TierStanding,
    evaluated_on: Option<Date>,
    tier_rank: TierRank,
}

fn standing_from_row(row: &sqlx::any::AnyRow) -> ServiceResult<StoredStanding> {
    let tier_rank =
        TierRank(u8::try_from(row.try_get::<Option<i64>, _>("tier_rank")?.unwrap_or(0)).unwrap_or(0));
    let (standing, evaluated_on) = standing_and_day(row)?;
    Ok(StoredStanding {
        standing,
        evaluated_on,
        tier_rank,
    })
}

fn standing_and_day(row: &sqlx::any::AnyRow) -> ServiceResult<(TierStanding, Option<Date>)> {
    let rank = |v: i64| TierRank(u8::try_from(v).unwrap_or(0));
    let Some(computed) = row.try_get::<Option<i64>, _>("computed_rank")? else {
        // Never evaluated: start from the tier the organisation was given.
        let tier = row.try_get::<Option<i64>, _>("tier_rank")?.unwrap_or(0);
        return Ok((
            TierStanding {
                computed: rank(tier),
                at_risk_until: None,
                override_: None,
            },
            None,
        ));
    };
    let override_ = match (
        row.try_get::<Option<i64>, _>("override_rank")?,
        row.try_get::<Option<String>, _>("override_reason")?,
        row.try_get::<Option<String>, _>("override_ends_on")?,
    ) {
        (Some(tier), Some(reason), Some(ends)) => Some(TierOverride {
            tier: rank(tier),
            reason,
            ends_on: stored_date(&ends, "override_ends_on")?,
        }),
        _ => None,
    };
    let at_risk_until = row
        .try_get::<Option<String>, _>("at_risk_until")?
        .map(|d| stored_date(&d, "at_risk_until"))
        .transpose()?;
    let evaluated_on = stored_date(&row.try_get::<String, _>("evaluated_on")?, "evaluated_on")?;
    Ok((
        TierStanding {
            computed: rank(computed),
            at_risk_until,
            override_,
        },
        Some(evaluated_on),
    ))
}

/// A standing to record, with the tier changes that led to it.
struct StandingWrite<'a> {
    partner_id: i64,
    standing: &'a TierStanding,
    /// The organisation's tier as stored, when known: it is only written when it differs.
    stored_rank: Option<TierRank>,
    changes: &'a [(TierChange, i64)],
}

/// Records standings (a few hundred to a statement), the partners' effective tiers where they
/// changed, and their tier changes (with audit entries).
async fn write_standings(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    now: i64,
    evaluated_on: Date,
    writes: &[StandingWrite<'_>],
    actor_user_id: Option<i64>,
) -> ServiceResult<()> {
    for chunk in writes.chunks(ID_CHUNK) {
        let mut placeholders = Placeholders::new(backend);
        let values = placeholders.rows(chunk.len(), 7);
        let sql = format!(
            "INSERT INTO tier_standings (partner_id, computed_rank, at_risk_until, override_rank, override_reason, \
             override_ends_on, evaluated_on) VALUES {values} \
             ON CONFLICT (partner_id) DO UPDATE SET computed_rank = excluded.computed_rank, \
             at_risk_until = excluded.at_risk_until, override_rank = excluded.override_rank, \
             override_reason = excluded.override_reason, override_ends_on = excluded.override_ends_on, \
             evaluated_on = excluded.evaluated_on"
        );
        let mut upsert = sqlx::query(&sql);
        for write in chunk {
            let standing = write.standing;
            upsert = upsert
                .bind(write.partner_id)
                .bind(i64::from(standing.computed.0))
                .bind(standing.at_risk_until.map(|d| d.to_string()))
                .bind(standing.override_.as_ref().map(|o| i64::from(o.tier.0)))
                .bind(standing.override_.as_ref().map(|o| o.reason.clone()))
                .bind(standing.override_.as_ref().map(|o| o.ends_on.to_string()))
                .bind(evaluated_on.to_string());
        }
        upsert.execute(&mut *tx).await?;
    }
    for write in writes {
        record_tier_changes(tx, now, write, actor_user_id).await?;
    }
    Ok(())
}

/// Writes a partner's effective tier where it differs from the stored one, and its changes.
async fn record_tier_changes(
    tx: &mut sqlx::AnyConnection,
    now: i64,
    write: &StandingWrite<'_>,
    actor_user_id: Option<i64>,
) -> ServiceResult<()> {
    let partner_id = write.partner_id;
    let effective = write.standing.effective();
    if write.stored_rank != Some(effective) {
        sqlx::query("UPDATE organisations SET tier_rank = $1 WHERE id = $2")
            .bind(i64::from(effective.0))
            .bind(partner_id)
            .execute(&mut *tx)
            .await?;
    }
    for (change, version_id) in write.changes {
        let values =
            serde_json::to_string(&change.deciding_values).map_err(|e| ServiceError::Internal(e.into()))?;
        sqlx::query(
            "INSERT INTO tier_history (partner_id, changed_on, from_rank, to_rank, cause, deciding_values, \
                 program_version_id, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(partner_id)
        .bind(change.on.to_string())
        .bind(i64::from(change.from.0))
        .bind(i64::from(change.to.0))
        .bind(cause_code(&change.cause))
        .bind(values)
        .bind(*version_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        audit::record(
                tx,
                now,
                AuditEntry {
                    actor_user_id,
                    action: "tier.change",
                    entity_type: "organisation",
                    entity_id: partner_id.to_string(),
                    before: Some(serde_json::json!({ "tier_rank": change.from.0 })),
                    after: Some(serde_json::json!({ "tier_rank": change.to.0, "cause": cause_code(&change.cause), "on": change.on })),
                },
            )
            .await?;
    }
    Ok(())
}

/// What an evaluation of partners found.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// The tier changes, of the partners whose tier changed.
    pub tier_changes: HashMap<i64, Vec<TierChange>>,
    /// Partners whose standing visibly moved: their tier, or whether they are at risk of a
    /// downgrade.
    pub moved: Vec<i64>,
}

impl Portal {
    /// Today's business date: the calendar date in the time zone of the program in force
    /// (UTC unless it names one; RULES.md §1).
    pub fn today(&self) -> Date {
        self.business_calendar().date_at(self.now())
    }

    /// Reads every program version's time zone, so that [`Portal::today`] follows them. Run at
    /// start-up; storing a version or loading the demo runs it again, and so does every
    /// scheduler pass, for versions another instance stored.
    pub async fn load_business_calendar(&self) -> ServiceResult<()> {
        // One load at a time, so an older read never replaces a newer one.
        let _one_at_a_time = self.business_calendar_lock().lock().await;
        let rows = sqlx::query("SELECT effective_from, document FROM program_versions")
            .fetch_all(self.pool())
            .await?;
        let mut zones = Vec::with_capacity(rows.len());
        for row in rows {
            let from = stored_date(&row.try_get::<String, _>("effective_from")?, "effective_from")?;
            // A stored version was valid when it was stored; if its zone cannot be read now,
            // the portal still starts, on UTC for that version, and says so in the log.
            let name = ProgramDoc::from_toml(&row.try_get::<String, _>("document")?)
                .and_then(|doc| doc.validate())
                .ok()
                .and_then(|program| program.time_zone);
            let zone = crate::business_dates::time_zone(name.as_deref()).unwrap_or_else(|e| {
                tracing::error!(%from, error = %e, "a stored program version's time zone is unknown; using UTC");
                jiff::tz::TimeZone::UTC
            });
            zones.push((from, zone));
        }
        self.set_business_calendar(crate::business_dates::BusinessCalendar::new(zones));
        Ok(())
    }

    /// The program version in force on `date`, if any.
    pub async fn program_on(&self, date: Date) -> ServiceResult<Option<StoredProgram>> {
        program_starting_by(self.pool(), &date.to_string()).await
    }

    /// [`Portal::program_on`], read on a connection the caller already holds. Code holding a
    /// connection (a transaction, say) reads through it: waiting for a second connection of the
    /// pool could wait for ever once every connection is held by such code.
    pub(crate) async fn program_on_in(
        conn: &mut sqlx::AnyConnection,
        date: Date,
    ) -> ServiceResult<Option<StoredProgram>> {
        program_starting_by(conn, &date.to_string()).await
    }

    /// The version that starts last, scheduled or in force, if any.
    pub(crate) async fn latest_program(&self) -> ServiceResult<Option<StoredProgram>> {
        // Dates are stored as `YYYY-MM-DD`, so this sorts after every one of them.
        program_starting_by(self.pool(), "9999-12-31").await
    }

    /// Every version, newest first.
    pub async fn program_versions(&self) -> ServiceResult<Vec<ProgramVersionView>> {
        let today = self.today();
        let rows = sqlx::query(
            "SELECT id, effective_from, created_at FROM program_versions ORDER BY effective_from DESC",
        )
        .fetch_all(self.pool())
        .await?;
        let mut in_force_seen = false;
        rows.iter()
            .map(|row| {
                let effective_from =
                    stored_date(&row.try_get::<String, _>("effective_from")?, "effective_from")?;
                let in_force = !in_force_seen && effective_from <= today;
                in_force_seen |= in_force;
                Ok(ProgramVersionView {
                    id: row.try_get("id")?,
                    effective_from,
                    created_at: row.try_get("created_at")?,
                    in_force,
                })
            })
            .collect()
    }

    /// Adds a program version from `effective_from` (vendor admins). Past decisions keep the
    /// version they were made with, so a version may not start before today.
    pub async fn put_program(
        &self,
        actor: &Actor,
        effective_from: Date,
        document: ProgramDoc,
    ) -> ServiceResult<ProgramVersionView> {
        if actor.role != Role::VendorAdmin {
            return Err(ServiceError::Forbidden(
                "only vendor admins can change the program",
            ));
        }
        self.add_program_version(Some(actor.user_id), effective_from, document)
            .await
    }

    /// Adds a program version from the command line (`atrium program import`).
    pub async fn import_program(
        &self,
        effective_from: Date,
        document: ProgramDoc,
    ) -> ServiceResult<ProgramVersionView> {
        self.add_program_version(None, effective_from, document).await
    }

    async fn add_program_version(
        &self,
        actor_user_id: Option<i64>,
        effective_from: Date,
        document: ProgramDoc,
    ) -> ServiceResult<ProgramVersionView> {
        let program = document
            .validate()
            .map_err(|e| FieldError::new(format!("program.{}", e.field), e.message))?;
        let today = self.today();
        if effective_from < today {
            return Err(FieldError::new(
                "effective_from",
                "must be today or later: changing targets never rewrites history",
            )
            .into());
        }
        crate::business_dates::time_zone(program.time_zone.as_deref())
            .map_err(|e| FieldError::new("program.time_zone", e.message))?;
        // Stored as validated: a blank zone is no zone, a padded one is trimmed.
        let document = ProgramDoc {
            time_zone: program.time_zone.clone(),
            ..document
        };
        // Every stored version shares these two, so the latest stands for all of them. A
        // period's name must mean the same dates under every version: with another fiscal year
        // start, `2027-Q1` could name months an earlier version called `2026-Q3`, and the same
        // sales would be paid on two statements.
        if let Some(latest) = self.latest_program().await? {
            if latest.program.currency != program.currency {
                return Err(FieldError::new(
                    "program.currency",
                    "a program keeps one currency across versions",
                )
                .into());
            }
            if latest.program.ladder.calendar != program.ladder.calendar {
                return Err(FieldError::new(
                    "program.fiscal_year_start_month",
                    format!(
                        "a program keeps its fiscal year across versions (it starts in month {})",
                        latest.document.fiscal_year_start_month
                    ),
                )
                .into());
            }
        }
        let now = self.now();
        let mut tx = self.store().begin_write().await?;
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM program_versions WHERE effective_from = $1")
                .bind(effective_from.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
            return Err(FieldError::new(
                "effective_from",
                format!("a version already starts on {effective_from}"),
            )
            .into());
        }
        let id: i64 = sqlx::query(
            "INSERT INTO program_versions (effective_from, document, created_at, created_by) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(effective_from.to_string())
        .bind(document.to_toml())
        .bind(now)
        .bind(actor_user_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_user_id,
                action: "program.version",
                entity_type: "program_version",
                entity_id: id.to_string(),
                before: None,
                after: Some(serde_json::json!({ "effective_from": effective_from, "name": program.name })),
            },
        )
        .await?;
        tx.commit().await?;
        // The version is stored: a failed reload must not report it as refused.
        if let Err(e) = self.load_business_calendar().await {
            tracing::error!(error = %e, "reading the program versions' time zones failed; the scheduler retries");
        }
        if effective_from <= today {
            self.sync_tier_names(&program).await?;
        }
        Ok(ProgramVersionView {
            id,
            effective_from,
            created_at: now,
            in_force: effective_from <= today,
        })
    }

    /// Keeps the `tiers` table (names used by targeting and badges) in step with the program
    /// in force.
    pub(crate) async fn sync_tier_names(&self, program: &Program) -> ServiceResult<()> {
        let mut tx = self.pool().begin().await?;
        for tier in &program.ladder.tiers {
            sqlx::query(
                "INSERT INTO tiers (rank, name) VALUES ($1, $2) ON CONFLICT (rank) DO UPDATE SET name = excluded.name",
            )
            .bind(i64::from(tier.rank.0))
            .bind(&tier.name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn partner_facts(
        &self,
        partner_id: i64,
    ) -> ServiceResult<(Vec<Sale>, Vec<Sale>, Vec<WonDeal>, Vec<Certification>)> {
        let sale = |row: &sqlx::any::AnyRow| -> ServiceResult<Sale> {
            Ok(Sale {
                external_id: row.try_get("external_id")?,
                partner_id: row.try_get("partner_id")?,
                distributor_id: row.try_get("distributor_id")?,
                booked_on: stored_date(&row.try_get::<String, _>("booked_on")?, "booked_on")?,
                product_line: row.try_get("product_line")?,
                amount_minor: row.try_get("amount_minor")?,
            })
        };
        const SALE_COLUMNS: &str =
            "external_id, partner_id, distributor_id, booked_on, product_line, amount_minor";
        let sales = sqlx::query(&format!("SELECT {SALE_COLUMNS} FROM sales WHERE partner_id = $1"))
            .bind(partner_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(sale)
            .collect::<ServiceResult<Vec<_>>>()?;
        let sold_through = sqlx::query(&format!(
            "SELECT {SALE_COLUMNS} FROM sales WHERE distributor_id = $1"
        ))
        .bind(partner_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(sale)
        .collect::<ServiceResult<Vec<_>>>()?;
        let deals = sqlx::query("SELECT won_on FROM won_deals WHERE partner_id = $1")
            .bind(partner_id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|row| {
                Ok(WonDeal {
                    partner_id,
                    won_on: stored_date(&row.try_get::<String, _>("won_on")?, "won_on")?,
                })
            })
            .collect::<ServiceResult<Vec<_>>>()?;
        let certifications = sqlx::query(
            "SELECT person, code, earned_on, expires_on FROM certifications WHERE partner_id = $1",
        )
        .bind(partner_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            Ok(Certification {
                partner_id,
                person: row.try_get("person")?,
                code: row.try_get("code")?,
                earned_on: stored_date(&row.try_get::<String, _>("earned_on")?, "earned_on")?,
                expires_on: stored_date(&row.try_get::<String, _>("expires_on")?, "expires_on")?,
            })
        })
        .collect::<ServiceResult<Vec<_>>>()?;
        Ok((sales, sold_through, deals, certifications))
    }

    async fn load_standing(&self, partner_id: i64) -> ServiceResult<(TierStanding, Option<Date>)> {
        self.load_standings(&[partner_id])
            .await?
            .remove(&partner_id)
            .map(|stored| (stored.standing, stored.evaluated_on))
            .ok_or(ServiceError::NotFound("partner"))
    }

    /// The stored standings of partners, with the day each was last evaluated (`None`: never).
    async fn load_standings(&self, partners: &[i64]) -> ServiceResult<HashMap<i64, StoredStanding>> {
        let mut standings = HashMap::with_capacity(partners.len());
        for chunk in partners.chunks(ID_CHUNK) {
            let sql = format!(
                "SELECT o.id, s.computed_rank, s.at_risk_until, s.override_rank, s.override_reason, s.override_ends_on, \
                 s.evaluated_on, o.tier_rank FROM organisations o LEFT JOIN tier_standings s ON s.partner_id = o.id \
                 WHERE o.kind = 'partner' AND o.id IN ({})",
                id_list(chunk)
            );
            for row in sqlx::query(&sql).fetch_all(self.pool()).await? {
                standings.insert(row.try_get("id")?, standing_from_row(&row)?);
            }
        }
        Ok(standings)
    }

    async fn save_standing(
        &self,
        partner_id: i64,
        standing: &TierStanding,
        evaluated_on: Date,
        changes: &[(TierChange, i64)],
        actor_user_id: Option<i64>,
    ) -> ServiceResult<()> {
        let write = StandingWrite {
            partner_id,
            standing,
            stored_rank: None,
            changes,
        };
        let mut tx = self.pool().begin().await?;
        let backend = self.store().backend();
        write_standings(
            &mut tx,
            backend,
            self.now(),
            evaluated_on,
            &[write],
            actor_user_id,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Facts of many partners in a few set-wide queries; their sales as `sales` gives them, or,
    /// without it, read from the table.
    async fn facts_book(&self, partners: &[i64], sales: Option<SalesFacts>) -> ServiceResult<FactsBook> {
        // The chunks are read two at a time, alternately, on two pooled connections: the
        // grouping is the database's work, and a second connection puts the second core to it.
        // Chunks hold different partners, so the two halves' books never share a key.
        let read_sales = sales.is_none();
        let chunks = || partners.chunks(ID_CHUNK);
        let (mut book, odd) = tokio::try_join!(
            self.facts_of(chunks().step_by(2), read_sales),
            self.facts_of(chunks().skip(1).step_by(2), read_sales),
        )?;
        book.sales.extend(odd.sales);
        book.won_deals.extend(odd.won_deals);
        book.certifications.extend(odd.certifications);
        if let Some(sales) = sales {
            book.sales = sales;
        }
        Ok(book)
    }

    /// Every stored sale, summed as tier evaluation reads them.
    pub(crate) async fn stored_sales_facts(
        &self,
        conn: &mut sqlx::AnyConnection,
    ) -> ServiceResult<SalesFacts> {
        let mut facts = SalesFacts::default();
        self.read_sales_facts(conn, None, &mut facts).await?;
        Ok(facts)
    }

    /// Reads into `facts` the sales of the organisations in `ids` (an SQL list), or of every
    /// organisation.
    async fn read_sales_facts(
        &self,
        conn: &mut sqlx::AnyConnection,
        ids: Option<&str>,
        facts: &mut SalesFacts,
    ) -> ServiceResult<()> {
        // Each partner's daily sums come back as one row holding a JSON array of
        // `[product_line, booked_on, total]`: a few thousand rows through the driver for a
        // million sales instead of a row per partner, line and day, where the driver's cost per
        // row was most of the evaluation's time.
        let days = match self.store().backend() {
            Backend::Sqlite => "json_group_array(json_array(product_line, booked_on, total))",
            Backend::Postgres => "CAST(json_agg(json_build_array(product_line, booked_on, total)) AS TEXT)",
        };
        for owner in ["partner_id", "distributor_id"] {
            let which = match ids {
                Some(ids) => format!("{owner} IN ({ids})"),
                None => format!("{owner} IS NOT NULL"),
            };
            let sql = format!(
                "SELECT {owner}, {days} FROM (SELECT {owner}, product_line, booked_on, \
                 CAST(SUM(amount_minor) AS BIGINT) AS total FROM sales WHERE {which} \
                 GROUP BY {owner}, product_line, booked_on) daily GROUP BY {owner}"
            );
            let rows: Vec<(i64, String)> = sqlx::query_as(&sql).fetch_all(&mut *conn).await?;
            for (owner_id, json) in rows {
                let daily: Vec<(String, String, i64)> = serde_json::from_str(&json)
                    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("daily sales do not read: {e}")))?;
                for (product_line, booked_on, total) in daily {
                    let day = stored_date(&booked_on, "booked_on")?;
                    facts.add(owner_id, owner == "distributor_id", product_line, day, total);
                }
            }
        }
        Ok(())
    }

    /// The facts of the partners in `chunks`, one chunk after another; their sales only when
    /// `read_sales` says so.
    async fn facts_of(
        &self,
        chunks: impl Iterator<Item = &[i64]>,
        read_sales: bool,
    ) -> ServiceResult<FactsBook> {
        let mut book = FactsBook::default();
        for chunk in chunks {
            let ids = id_list(chunk);
            // One connection per chunk, taken when nothing else is held.
            let mut conn = self.pool().acquire().await?;
            if read_sales {
                self.read_sales_facts(&mut conn, Some(&ids), &mut book.sales)
                    .await?;
            }
            let sql = format!("SELECT partner_id, won_on FROM won_deals WHERE partner_id IN ({ids})");
            for row in sqlx::query(&sql).fetch_all(&mut *conn).await? {
                let partner_id: i64 = row.try_get("partner_id")?;
                book.won_deals.entry(partner_id).or_default().push(WonDeal {
                    partner_id,
                    won_on: stored_date(&row.try_get::<String, _>("won_on")?, "won_on")?,
                });
            }
            let sql = format!(
                "SELECT partner_id, person, code, earned_on, expires_on FROM certifications WHERE partner_id IN ({ids})"
            );
            for row in sqlx::query(&sql).fetch_all(&mut *conn).await? {
                let partner_id: i64 = row.try_get("partner_id")?;
                book.certifications
                    .entry(partner_id)
                    .or_default()
                    .push(Certification {
                        partner_id,
                        person: row.try_get("person")?,
                        code: row.try_get("code")?,
                        earned_on: stored_date(&row.try_get::<String, _>("earned_on")?, "earned_on")?,
                        expires_on: stored_date(&row.try_get::<String, _>("expires_on")?, "expires_on")?,
                    });
            }
        }
        Ok(book)
    }

    /// The program versions in force on some day from `from` to `to`, oldest first.
    async fn programs_between(&self, from: Date, to: Date) -> ServiceResult<Vec<StoredProgram>> {
        let mut programs: Vec<StoredProgram> = self.program_on(from).await?.into_iter().collect();
        let later: Vec<String> = sqlx::query_scalar(
            "SELECT effective_from FROM program_versions WHERE effective_from > $1 AND effective_from <= $2 \
             ORDER BY effective_from",
        )
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(self.pool())
        .await?;
        for day in later {
            if let Some(program) = self.program_on(stored_date(&day, "effective_from")?).await? {
                if programs.last().is_none_or(|p| p.id != program.id) {
                    programs.push(program);
                }
            }
        }
        Ok(programs)
    }

    /// Evaluates one partner for every day since its last evaluation up to `today` (at most a
    /// year back), each day under the program version in force that day, and records changes.
    pub async fn evaluate_partner(&self, partner_id: i64, today: Date) -> ServiceResult<Vec<TierChange>> {
        Ok(self
            .evaluate_partners(&[partner_id], today)
            .await?
            .tier_changes
            .remove(&partner_id)
            .unwrap_or_default())
    }

    /// Evaluates partners as [`Portal::evaluate_partner`] does, reading their facts in a few
    /// set-wide queries and recording every standing in one transaction.
    pub async fn evaluate_partners(&self, partners: &[i64], today: Date) -> ServiceResult<Evaluation> {
        self.evaluate_partners_with(partners, today, None).await
    }

    /// [`Portal::evaluate_partners`], with the partners' sales as `sales` gives them (every
    /// stored sale of theirs, summed) or, without it, read from the table.
    pub(crate) async fn evaluate_partners_with(
        &self,
        partners: &[i64],
        today: Date,
        sales: Option<SalesFacts>,
    ) -> ServiceResult<Evaluation> {
        let started = std::time::Instant::now();
        let mut standings = self.load_standings(partners).await?;
        if let Some(missing) = partners.iter().find(|id| !standings.contains_key(id)) {
            tracing::debug!(
                partner = missing,
                "evaluation asked for an organisation that is not a partner"
            );
            return Err(ServiceError::NotFound("partner"));
        }
        let first_day = |last: Option<Date>| match last {
            Some(last) if last >= today => today,
            Some(last) => last.add_days(1).max(today.add_days(-366)),
            None => today,
        };
        let earliest = standings
            .values()
            .map(|stored| first_day(stored.evaluated_on))
            .min()
            .unwrap_or(today);
        let programs = self.programs_between(earliest, today).await?;
        let book = self.facts_book(partners, sales).await?;
        tracing::debug!(partners = partners.len(), elapsed = ?started.elapsed(), "standings and facts read");
        let mut evaluated = Vec::with_capacity(partners.len());
        let mut moved = Vec::new();
        for &partner_id in partners {
            let Some(mut stored) = standings.remove(&partner_id) else {
                continue;
            };
            let facts = book.facts(partner_id);
            let at_risk_before = stored.standing.at_risk_until;
            let mut changes = Vec::new();
            let mut day = first_day(stored.evaluated_on);
            while day <= today {
                if let Some(p) = programs.iter().rev().find(|p| p.effective_from <= day) {
                    changes.extend(
                        p.program
                            .ladder
                            .evaluate_day(&mut stored.standing, &facts, day)
                            .into_iter()
                            .map(|c| (c, p.id)),
                    );
                }
                day = day.add_days(1);
            }
            if !changes.is_empty() || stored.standing.at_risk_until != at_risk_before {
                moved.push(partner_id);
            }
            evaluated.push((partner_id, stored, changes));
        }
        let writes: Vec<StandingWrite<'_>> = evaluated
            .iter()
            .map(|(partner_id, stored, changes)| StandingWrite {
                partner_id: *partner_id,
                standing: &stored.standing,
                stored_rank: Some(stored.tier_rank),
                changes,
            })
            .collect();
        tracing::debug!(moved = moved.len(), elapsed = ?started.elapsed(), "partners evaluated");
        let mut tx = self.pool().begin().await?;
        write_standings(&mut tx, self.store().backend(), self.now(), today, &writes, None).await?;
        let tier_changes = evaluated
            .into_iter()
            .filter(|(_, _, changes)| !changes.is_empty())
            .map(|(partner_id, _, changes)| (partner_id, changes.into_iter().map(|(c, _)| c).collect()))
            .collect();
        tx.commit().await?;
        tracing::debug!(elapsed = ?started.elapsed(), "standings written");
        Ok(Evaluation { tier_changes, moved })
    }

    /// Evaluates every partner as of `today` (the daily job). Returns how many changed tier.
    pub async fn evaluate_all(&self, today: Date) -> ServiceResult<usize> {
        if let Some(program) = self.program_on(today).await? {
            self.sync_tier_names(&program.program).await?;
        }
        let partners: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM organisations WHERE kind = 'partner' ORDER BY id")
                .fetch_all(self.pool())
                .await?;
        let evaluation = self.evaluate_partners(&partners, today).await?;
        // Open scorecards follow a tier change and also a review that puts a partner at risk
        // of a downgrade (or clears it), which changes no tier.
        self.publish_partner_events(evaluation.moved, "tier").await;
        Ok(evaluation.tier_changes.len())
    }

    /// Whether `actor` may read partner `partner_id`'s tier: vendor staff all, partners their
    /// own organisation, a distributor's admins also their tier-two resellers. Anyone else, and
    /// an id that is not a partner's, gets "not found".
    pub(crate) async fn require_partner_visible(&self, actor: &Actor, partner_id: i64) -> ServiceResult<()> {
        let reseller_of: Option<Option<i64>> =
            sqlx::query_scalar("SELECT distributor_id FROM organisations WHERE id = $1 AND kind = 'partner'")
                .bind(partner_id)
                .fetch_optional(self.pool())
                .await?;
        let Some(reseller_of) = reseller_of else {
            return Err(ServiceError::NotFound("partner"));
        };
        let visible = actor.organisation.kind == OrganisationKind::Vendor
            || actor.organisation.id == partner_id
            || actor.role == Role::PartnerAdmin && reseller_of == Some(actor.organisation.id);
        if visible {
            Ok(())
        } else {
            Err(ServiceError::NotFound("partner"))
        }
    }

    /// Whether `actor` may see partner `partner_id`'s figures (as [`Portal::partner_tier`]);
    /// "not found" otherwise.
    pub async fn check_partner_visible(&self, actor: &Actor, partner_id: i64) -> ServiceResult<()> {
        self.require_partner_visible(actor, partner_id).await
    }

    /// A partner's tier: effective, computed and qualified tier, progress to the next tier,
    /// what it unlocks, the history, and the program and metric values for what-if questions.
    pub async fn partner_tier(&self, actor: &Actor, partner_id: i64) -> ServiceResult<PartnerTierView> {
        self.require_partner_visible(actor, partner_id).await?;
        let today = self.today();
        let stored = self
            .program_on(today)
            .await?
            .ok_or(ServiceError::NotFound("program"))?;
        let program = &stored.program;
        let ladder = &program.ladder;
        let (standing, _) = self.load_standing(partner_id).await?;
        let org = sqlx::query("SELECT name, partner_type FROM organisations WHERE id = $1")
            .bind(partner_id)
            .fetch_one(self.pool())
            .await?;
        let partner_type = crate::portal::stored(
            &org.try_get::<Option<String>, _>("partner_type")?
                .unwrap_or_default(),
            domain::identity::PartnerType::parse,
            "partner_type",
        )?;
        let (sales, sold_through, deals, certifications) = self.partner_facts(partner_id).await?;
        let facts = PartnerFacts {
            partner_id,
            sales: &sales,
            sold_through: &sold_through,
            won_deals: &deals,
            certifications: &certifications,
        };
        let qualification = ladder.qualify(&facts, today);
        let badge = |rank: TierRank| TierBadge {
            rank,
            name: ladder.name(rank).to_owned(),
        };
        let digits = program.currency.minor_digits();
        let next = ladder
            .progress(&qualification, standing.effective())
            .map(|progress| {
                let index = ladder
                    .tiers
                    .iter()
                    .position(|t| t.rank == progress.next)
                    .unwrap_or(0);
                NextTierView {
                    tier: badge(progress.next),
                    criteria: progress
                        .criteria
                        .iter()
                        .map(|r| CriterionView::from_result(r, digits))
                        .collect(),
                    unlocks: program.benefits[index]
                        .iter()
                        .filter(|b| b.applies_to(partner_type))
                        .map(|b| describe_benefit(&b.kind, program))
                        .collect(),
                }
            });
        let current_benefits = ladder
            .tiers
            .iter()
            .position(|t| t.rank == standing.effective())
            .map(|i| {
                program.benefits[i]
                    .iter()
                    .filter(|b| b.applies_to(partner_type))
                    .map(|b| describe_benefit(&b.kind, program))
                    .collect()
            })
            .unwrap_or_default();
        let mut metrics: Vec<(Metric, MetricValue)> = Vec::new();
        for tier in &ladder.tiers {
            for c in &tier.criteria {
                if !metrics.iter().any(|(m, _)| *m == c.metric) {
                    metrics.push((
                        c.metric.clone(),
                        c.metric.evaluate(&facts, today, ladder.calendar),
                    ));
                }
            }
        }
        let history = sqlx::query(
            "SELECT changed_on, from_rank, to_rank, cause, deciding_values FROM tier_history WHERE partner_id = $1 \
             ORDER BY changed_on DESC, id DESC",
        )
        .bind(partner_id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|row| {
            let values: Vec<(String, MetricValue)> =
                serde_json::from_str(&row.try_get::<String, _>("deciding_values")?).unwrap_or_default();
            Ok(TierHistoryEntry {
                on: stored_date(&row.try_get::<String, _>("changed_on")?, "changed_on")?,
                from: badge(TierRank(u8::try_from(row.try_get::<i64, _>("from_rank")?).unwrap_or(0))),
                to: badge(TierRank(u8::try_from(row.try_get::<i64, _>("to_rank")?).unwrap_or(0))),
                cause: row.try_get("cause")?,
                deciding_values: values,
            })
        })
        .collect::<ServiceResult<Vec<_>>>()?;
        Ok(PartnerTierView {
            partner_id,
            partner_name: org.try_get("name")?,
            as_of: today,
            effective: badge(standing.effective()),
            computed: badge(standing.computed),
            qualified: badge(qualification.qualified),
            at_risk_until: standing.at_risk_until,
            override_: standing.override_.as_ref().map(|o| TierOverrideView {
                tier: badge(o.tier),
                reason: o.reason.clone(),
                ends_on: o.ends_on,
            }),
            benefits: current_benefits,
            next,
            history,
            currency: program.currency.code().to_owned(),
            program: stored.document.clone(),
            metrics,
        })
    }

    /// Sets a partner's tier by hand until `ends_on` (vendor admins), with a reason.
    pub async fn override_tier(
        &self,
        actor: &Actor,
        partner_id: i64,
        tier: i64,
        reason: &str,
        ends_on: Date,
    ) -> ServiceResult<PartnerTierView> {
        if actor.role != Role::VendorAdmin {
            return Err(ServiceError::Forbidden(
                "only vendor admins can override a partner's tier",
            ));
        }
        let today = self.today();
        let stored = self
            .program_on(today)
            .await?
            .ok_or(ServiceError::NotFound("program"))?;
        let ladder = &stored.program.ladder;
        let (mut standing, _) = self.load_standing(partner_id).await?;
        let Some(rank) = u8::try_from(tier)
            .ok()
            .map(TierRank)
            .filter(|r| *r <= ladder.top())
        else {
            return Err(FieldError::new(
                "tier",
                format!(
                    "tier rank {tier} does not exist; ranks run from 0 to {}",
                    ladder.top().0
                ),
            )
            .into());
        };
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(FieldError::new("reason", "say why the tier is overridden").into());
        }
        if ends_on <= today {
            return Err(FieldError::new("ends_on", "must be after today").into());
        }
        let change = ladder.apply_override(
            &mut standing,
            TierOverride {
                tier: rank,
                reason: reason.to_owned(),
                ends_on,
            },
            today,
        );
        let changes: Vec<(TierChange, i64)> = change.into_iter().map(|c| (c, stored.id)).collect();
        self.save_standing(partner_id, &standing, today, &changes, Some(actor.user_id))
            .await?;
        self.publish_partner_events([partner_id], "tier").await;
        self.partner_tier(actor, partner_id).await
    }
}

/// A benefit in words, for "what the next tier unlocks".
fn describe_benefit(kind: &BenefitKind, program: &Program) -> String {
    let percent = |bps: i64| {
        domain::money::format_minor(bps, 2)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    };
    match kind {
        BenefitKind::DiscountBps { bps } => format!("{} % discount", percent(*bps)),
        BenefitKind::RebatePlan { plan } => program
            .rebate_plans
            .iter()
            .find(|p| p.id == *plan)
            .map_or_else(|| plan.clone(), |p| p.name.clone()),
        BenefitKind::MdfBps { bps } => format!(
            "Market-development funds: {} % of last period's revenue",
            percent(*bps)
        ),
        BenefitKind::DealProtectionDays { days } => format!("{days}-day deal protection"),
        BenefitKind::Rooms { rooms } => format!("Rooms: {}", rooms.join(", ")),
        BenefitKind::Text { text } => text.clone(),
    }
}

/// The latest version starting on or before `date` (`YYYY-MM-DD`).
async fn program_starting_by<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    date: &str,
) -> ServiceResult<Option<StoredProgram>> {
    let row = sqlx::query(
        "SELECT id, effective_from, document FROM program_versions WHERE effective_from <= $1 \
         ORDER BY effective_from DESC LIMIT 1",
    )
    .bind(date)
    .fetch_optional(executor)
    .await?;
    row.map(|row| {
        let document = ProgramDoc::from_toml(&row.try_get::<String, _>("document")?)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored program does not parse: {e}")))?;
        let program = document
            .validate()
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored program does not validate: {e}")))?;
        Ok(StoredProgram {
            id: row.try_get("id")?,
            effective_from: stored_date(&row.try_get::<String, _>("effective_from")?, "effective_from")?,
            program,
            document,
        })
    })
    .transpose()
}
