//! Rebate runs (RULES.md §5): one statement per partner, plan and period, computed by the
//! domain crate from stored sales, explained line by line; drafts are recomputed, approved and
//! paid statements never change, and later facts for a locked period become an adjustment line
//! on the partner's next open statement. A run is one transaction: it lands whole or not at all.

use crate::audit::{self, AuditEntry};
use crate::auth::Actor;
use crate::error::{permit, ServiceError, ServiceResult};
use crate::portal::Portal;
use crate::store::Placeholders;
use crate::web::{query_number, query_text};
use domain::calendar::Date;
use domain::facts::Sale;
use domain::identity::{OrganisationKind, PartnerType, Role, TierRank};
use domain::period::{FiscalCalendar, FiscalPeriod};
use domain::program::Program;
use domain::rebates::{
    at_pace, grouped, restatement, restates, BasisSale, LineKind, PeriodApproval, PeriodDrafts,
    RebateCalculation, RebateForecast, RebatePlan, RunSummary, StatementLine, StatementPage, StatementStatus,
    StatementView,
};
use sqlx::Row;
use std::collections::{HashMap, HashSet};

/// The longest payout reference accepted: longer than any bank or payout system's reference.
pub const PAYOUT_REFERENCE_MAX: usize = 140;

/// One step of a statement's life: `from` → `to`, with the payout reference of a payment and
/// the total an approver confirmed.
struct Advance<'a> {
    from: StatementStatus,
    to: StatementStatus,
    reference: Option<&'a str>,
    confirmed_total: Option<i64>,
}

/// The statements' columns, joined with the partner's name; followed by a `WHERE` clause.
const SELECT: &str =
    "SELECT s.*, o.name AS partner_name, approver.email AS approver_email, payer.email AS payer_email \
     FROM rebate_statements s JOIN organisations o ON o.id = s.partner_id \
     LEFT JOIN users approver ON approver.id = s.approved_by LEFT JOIN users payer ON payer.id = s.paid_by";

/// Which statements an actor may see, as SQL over `o` (the partner): finance and vendor admins
/// all; partners their own; a distributor's admins also their tier-two resellers'. Other vendor
/// staff (channel managers, content publishers) have no business with the partners' payouts
/// (403). Ids are numbers, never text.
fn statement_scope(actor: &Actor) -> ServiceResult<String> {
    if actor.organisation.kind == OrganisationKind::Vendor {
        permit(
            actor.role.can_run_rebates(),
            "only finance and vendor admins see the partners' rebate statements",
        )?;
        Ok("1 = 1".to_owned())
    } else if actor.role == Role::PartnerAdmin {
        Ok(format!(
            "(o.id = {id} OR o.distributor_id = {id})",
            id = actor.organisation.id
        ))
    } else {
        Ok(format!("o.id = {}", actor.organisation.id))
    }
}

/// Refuses anyone but finance and vendor admins (403).
pub fn require_finance(actor: &Actor) -> ServiceResult<()> {
    permit(
        actor.role.can_run_rebates(),
        "only finance and vendor admins can run, approve and pay rebates",
    )
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("{e}"))
}

/// A sale's fields as the audit log recorded them before a change.
type SaleThen = crate::imports::SaleFields<'static>;

/// One change in a partner's tier history, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TierStep {
    on: Date,
    from: TierRank,
    to: TierRank,
}

/// The effective tier on `date` from a partner's history (oldest first): the tier the last
/// change on or before that day moved to; before the first change, the tier it moved from;
/// with no history, the partner's current tier.
fn tier_on(history: &[TierStep], current: TierRank, date: Date) -> TierRank {
    match history.iter().rev().find(|step| step.on <= date) {
        Some(step) => step.to,
        None => history.first().map_or(current, |step| step.from),
    }
}

fn rank(value: i64) -> TierRank {
    TierRank(u8::try_from(value).unwrap_or(0))
}

/// A partner's sales in a period summed per product line, in the shape a plan reads. A plan's
/// basis and its accelerators only ever add amounts per product line, so one summed sale per
/// line yields the same statement as every sale, without loading a million of them.
#[derive(Debug, Default)]
struct LineTotals {
    period: Vec<Sale>,
    year_before: Vec<Sale>,
}

impl LineTotals {
    fn add(&mut self, partner_id: i64, in_period: bool, product_line: String, amount_minor: i64, on: Date) {
        let sale = Sale {
            external_id: String::new(),
            partner_id,
            distributor_id: None,
            booked_on: on,
            product_line,
            amount_minor,
        };
        if in_period {
            self.period.push(sale);
        } else {
            self.year_before.push(sale);
        }
    }

    /// Adds `sign` × each product line's amount to the period's sales of that line.
    fn add_to_period(&mut self, partner_id: i64, amounts: &[(String, i64)], sign: i64, on: Date) {
        for (line, amount) in amounts {
            match self.period.iter_mut().find(|sale| &sale.product_line == line) {
                Some(sale) => sale.amount_minor += sign * amount,
                None => self.add(partner_id, true, line.clone(), sign * amount, on),
            }
        }
    }

    /// The period's sales as they would stand at the period's end at the pace so far.
    fn at_pace(&self, days_elapsed: i64, days_in_period: i64) -> Self {
        let scale = |sales: &[Sale]| {
            sales
                .iter()
                .map(|sale| Sale {
                    amount_minor: at_pace(sale.amount_minor, days_elapsed, days_in_period),
                    ..sale.clone()
                })
                .collect()
        };
        Self {
            period: scale(&self.period),
            year_before: self.year_before.clone(),
        }
    }

    fn calculate(&self, plan: &RebatePlan, period: FiscalPeriod) -> RebateCalculation {
        plan.calculate(
            period,
            &self.period,
            Some(plan.basis(&self.year_before)),
            Vec::new(),
        )
    }
}

/// A statement the run creates, waiting for its batch insert.
struct NewDraft<'a> {
    partner_id: i64,
    plan_id: String,
    plan_name: &'a str,
    tier: TierRank,
    basis: i64,
    total: i64,
    lines: String,
}

/// The plan id and name of a statement that carries restatements alone: the partner's tier at
/// the period's end has no rebate plan, yet what an earlier locked period now owes, or takes
/// back, must still reach the payout system. A program's plan ids are never blank.
const RESTATEMENTS_ONLY: (&str, &str) = ("", "No rebate plan: restatements only");

/// A statement of restatements alone, before its lines are added.
fn restatements_only(period: FiscalPeriod) -> RebateCalculation {
    RebateCalculation {
        period,
        plan_id: RESTATEMENTS_ONLY.0.to_owned(),
        basis: 0,
        lines: Vec::new(),
        total: 0,
    }
}

/// Why drafts computed before their period ended are not approved: the sales of its last days
/// may be missing, and would reach the partner only as next period's restatement. `what` ends
/// with its verb ("… was", "… were").
fn computed_while_running(what: &str, period: FiscalPeriod) -> String {
    format!(
        "{what} computed while {period} was running, so the period's last sales may be missing; run {period} again, then approve"
    )
}

/// What a statement carries for its partner's locked earlier periods ([`Portal::restatements`]).
#[derive(Default)]
struct Restatements {
    /// Its adjustment lines.
    lines: Vec<StatementLine>,
    /// The locked periods whose difference it holds, with a line or with nothing owed.
    held: Vec<FiscalPeriod>,
}

/// A partner's statement of another period than the one being run or forecast.
struct OtherStatement {
    period: FiscalPeriod,
    draft: bool,
    total: i64,
    lines: Vec<StatementLine>,
}

/// A statement of the period being run, as the run found it.
struct StoredStatement {
    id: i64,
    plan_id: String,
    locked: bool,
    total: i64,
    basis: i64,
    tier_rank: i64,
}

/// What recomputing locked periods reads: the program version in force at the end of each,
/// read once, and in a run over many partners, their tiers and each period's sales for every
/// partner at once.
struct ProgramsByPeriod {
    /// The calendar periods are named in: today's program's.
    naming: FiscalCalendar,
    programs: HashMap<FiscalPeriod, Option<Program>>,
    /// Set for a run that recomputes locked periods of many partners.
    every_partner: Option<EveryPartner>,
}

/// Every partner's tier history and current tier, and the sales totals of each locked period
/// read so far: one pass over the sales per period instead of three queries per partner and
/// period.
struct EveryPartner {
    ranks: HashMap<i64, TierRank>,
    histories: HashMap<i64, Vec<TierStep>>,
    totals: HashMap<FiscalPeriod, HashMap<i64, LineTotals>>,
}

/// From how many partners with locked earlier statements a run reads each locked period's sales
/// once for all of them. One partner's totals come through the sales index in about a third of
/// a millisecond; every partner's in one pass over the index take about as long as a thousand
/// of those for a million sales.
const SET_WIDE_RESTATEMENTS: usize = 256;

impl ProgramsByPeriod {
    fn new(naming: FiscalCalendar) -> Self {
        Self {
            naming,
            programs: HashMap::new(),
            every_partner: None,
        }
    }

    /// For a run over many partners: their tiers as the run read them.
    fn for_every_partner(
        naming: FiscalCalendar,
        ranks: HashMap<i64, TierRank>,
        histories: HashMap<i64, Vec<TierStep>>,
    ) -> Self {
        Self {
            every_partner: Some(EveryPartner {
                ranks,
                histories,
                totals: HashMap::new(),
            }),
            ..Self::new(naming)
        }
    }

    /// A locked period's calculation for a partner (without adjustments) under the program
    /// version in force at its end: `None` when no version was, or the partner's tier on its
    /// last day has no plan.
    async fn recompute(
        &mut self,
        portal: &Portal,
        conn: &mut sqlx::AnyConnection,
        partner_id: i64,
        partner_type: PartnerType,
        period: FiscalPeriod,
    ) -> ServiceResult<Option<RebateCalculation>> {
        self.get(conn, period).await?;
        let Some(program) = self.programs.get(&period).and_then(Option::as_ref) else {
            return Ok(None);
        };
        let calendar = program.ladder.calendar;
        let (_, to) = calendar.range(period);
        let Some(every) = &mut self.every_partner else {
            let tier = portal.effective_tier_on(conn, partner_id, to).await?;
            let Some(plan) = program.rebate_plan_for(tier, partner_type) else {
                return Ok(None);
            };
            let totals = portal
                .line_totals(conn, calendar, period, Some(partner_id))
                .await?
                .remove(&partner_id)
                .unwrap_or_default();
            return Ok(Some(totals.calculate(plan, period)));
        };
        let history = every.histories.get(&partner_id).map_or(&[][..], Vec::as_slice);
        let current = every.ranks.get(&partner_id).copied().unwrap_or(TierRank(0));
        let Some(plan) = program.rebate_plan_for(tier_on(history, current, to), partner_type) else {
            return Ok(None);
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = every.totals.entry(period) {
            slot.insert(portal.line_totals(conn, calendar, period, None).await?);
        }
        let no_sales = LineTotals::default();
        let totals = every.totals[&period].get(&partner_id).unwrap_or(&no_sales);
        Ok(Some(totals.calculate(plan, period)))
    }

    /// Reads on the caller's connection, which is held throughout a run or a forecast.
    async fn get(
        &mut self,
        conn: &mut sqlx::AnyConnection,
        period: FiscalPeriod,
    ) -> ServiceResult<Option<&Program>> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.programs.entry(period) {
            let (_, end) = self.naming.range(period);
            let program = Portal::program_on_in(conn, end)
                .await?
                .map(|stored| stored.program);
            slot.insert(program);
        }
        Ok(self.programs.get(&period).and_then(Option::as_ref))
    }
}

fn approved_during_run() -> ServiceError {
    ServiceError::Conflict(
        "a statement of this period was approved, or its draft replaced by another run, while the run was computing; run it again".into(),
    )
}

/// Records in the audit log that a run moved a draft's figures: `before` as the run found it,
/// `after` as the run left it.
async fn record_recompute(
    tx: &mut sqlx::AnyConnection,
    actor: Option<&Actor>,
    now: i64,
    draft: &StoredStatement,
    after: serde_json::Value,
) -> ServiceResult<()> {
    audit::record(
        tx,
        now,
        AuditEntry {
            actor_user_id: actor.map(|a| a.user_id),
            action: "statement.recompute",
            entity_type: "rebate_statement",
            entity_id: draft.id.to_string(),
            before: Some(serde_json::json!({
                "total": draft.total, "basis": draft.basis, "tier_rank": draft.tier_rank
            })),
            after: Some(after),
        },
    )
    .await?;
    Ok(())
}

/// Removes a draft the run no longer produces (the partner's tier, and so its plan, changed
/// before the period's end, or its tier has no plan now), so that only one statement per
/// partner and period can be approved and paid.
async fn discard_draft(
    tx: &mut sqlx::AnyConnection,
    actor: Option<&Actor>,
    now: i64,
    draft: &StoredStatement,
    period: FiscalPeriod,
) -> ServiceResult<()> {
    let deleted = sqlx::query("DELETE FROM rebate_statements WHERE id = $1 AND status = 'draft'")
        .bind(draft.id)
        .execute(&mut *tx)
        .await?;
    if deleted.rows_affected() != 1 {
        return Err(approved_during_run());
    }
    audit::record(
        tx,
        now,
        AuditEntry {
            actor_user_id: actor.map(|a| a.user_id),
            action: "statement.discard",
            entity_type: "rebate_statement",
            entity_id: draft.id.to_string(),
            before: Some(serde_json::json!({
                "period": period.to_string(), "plan_id": draft.plan_id, "status": "draft", "total": draft.total
            })),
            after: None,
        },
    )
    .await?;
    Ok(())
}

impl Portal {
    /// Tier histories, oldest change first, of one partner or (with `None`) of every partner.
    async fn tier_histories(
        &self,
        conn: &mut sqlx::AnyConnection,
        partner_id: Option<i64>,
    ) -> ServiceResult<HashMap<i64, Vec<TierStep>>> {
        // Two statements rather than `$1 IS NULL OR partner_id = $1`, which no index serves:
        // one partner's history is read through its index.
        let rows = match partner_id {
            Some(partner_id) => {
                sqlx::query(
                    "SELECT partner_id, changed_on, from_rank, to_rank FROM tier_history \
                     WHERE partner_id = $1 ORDER BY partner_id, changed_on, id",
                )
                .bind(partner_id)
                .fetch_all(&mut *conn)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT partner_id, changed_on, from_rank, to_rank FROM tier_history \
                     ORDER BY partner_id, changed_on, id",
                )
                .fetch_all(&mut *conn)
                .await?
            }
        };
        let mut histories: HashMap<i64, Vec<TierStep>> = HashMap::new();
        for row in &rows {
            histories
                .entry(row.try_get("partner_id")?)
                .or_default()
                .push(TierStep {
                    on: Date::parse(&row.try_get::<String, _>("changed_on")?, "changed_on")
                        .map_err(internal)?,
                    from: rank(row.try_get("from_rank")?),
                    to: rank(row.try_get("to_rank")?),
                });
        }
        Ok(histories)
    }

    /// Sales of `period` and of the same period a year before, summed per partner and product
    /// line in one pass over the table: of one partner or (with `None`) of every partner.
    async fn line_totals(
        &self,
        conn: &mut sqlx::AnyConnection,
        calendar: FiscalCalendar,
        period: FiscalPeriod,
        partner_id: Option<i64>,
    ) -> ServiceResult<HashMap<i64, LineTotals>> {
        let (from, to) = calendar.range(period);
        let (last_from, last_to) = calendar.range(period.year_before());
        // One row per partner and product line with both sums, so that the grouping follows the
        // `sales_partner` index (partner, product line, date, amount) and reads no table rows.
        // One partner's sales are read through the index from its first entry: a filter of
        // `$5 IS NULL OR partner_id = $5` would read every partner's, since no index serves it.
        let one_partner = if partner_id.is_some() {
            "AND partner_id = $5"
        } else {
            ""
        };
        let sql = format!(
            "SELECT partner_id, product_line, \
             CAST(SUM(CASE WHEN booked_on >= $1 THEN amount_minor END) AS BIGINT) AS period_total, \
             CAST(SUM(CASE WHEN booked_on < $1 THEN amount_minor END) AS BIGINT) AS year_before_total \
             FROM sales WHERE (booked_on >= $1 AND booked_on <= $2 OR booked_on >= $3 AND booked_on <= $4) \
             {one_partner} GROUP BY partner_id, product_line"
        );
        let mut query = sqlx::query(&sql)
            .bind(from.to_string())
            .bind(to.to_string())
            .bind(last_from.to_string())
            .bind(last_to.to_string());
        if let Some(partner_id) = partner_id {
            query = query.bind(partner_id);
        }
        let rows = query.fetch_all(&mut *conn).await?;
        let mut totals: HashMap<i64, LineTotals> = HashMap::new();
        for row in &rows {
            let partner: i64 = row.try_get("partner_id")?;
            let line: String = row.try_get("product_line")?;
            let entry = totals.entry(partner).or_default();
            if let Some(total) = row.try_get::<Option<i64>, _>("period_total")? {
                entry.add(partner, true, line.clone(), total, from);
            }
            if let Some(total) = row.try_get::<Option<i64>, _>("year_before_total")? {
                entry.add(partner, false, line, total, last_from);
            }
        }
        Ok(totals)
    }

    /// The effective tier of a partner on `date`, from its tier history.
    async fn effective_tier_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        partner_id: i64,
        date: Date,
    ) -> ServiceResult<TierRank> {
        let history = self
            .tier_histories(conn, Some(partner_id))
            .await?
            .remove(&partner_id)
            .unwrap_or_default();
        let current: Option<i64> = sqlx::query_scalar("SELECT tier_rank FROM organisations WHERE id = $1")
            .bind(partner_id)
            .fetch_one(&mut *conn)
            .await?;
        Ok(tier_on(&history, rank(current.unwrap_or(0)), date))
    }

    /// Runs rebates for a fiscal period: creates or recomputes the drafts of every partner whose
    /// tier on the period's last day has a rebate plan, leaving approved and paid ones alone.
    /// `actor` is `None` for the command line.
    pub async fn run_rebates(
        &self,
        actor: Option<&Actor>,
        period: FiscalPeriod,
    ) -> ServiceResult<RunSummary> {
        if let Some(actor) = actor {
            require_finance(actor)?;
        }
        let naming = self.fiscal_calendar().await?;
        let stored = {
            let (_, end) = naming.range(period);
            self.program_on(end).await?.ok_or(ServiceError::NotFound(
                "program in force at the end of that period",
            ))?
        };
        let program = &stored.program;
        let calendar = program.ladder.calendar;
        let (period_start, period_end) = calendar.range(period);
        // A period that has not begun has no facts yet; its drafts would only collect the
        // restatements owed on the partner's real next statement.
        if period_start > self.today() {
            return Err(domain::FieldError::new(
                "period",
                format!(
                    "{period} has not begun (it starts on {period_start}); run a period that has started"
                ),
            )
            .into());
        }
        let mut tx = self.pool().begin().await?;
        // Waits for a sales import in progress to commit, so the statements count every sale
        // stamped before `now` and none stamped after.
        let now = self.fact_time(&mut tx).await?;
        let run_id: i64 = sqlx::query(
            "INSERT INTO rebate_runs (period, started_at, started_by, statements, total_minor) VALUES ($1, $2, $3, 0, 0) RETURNING id",
        )
        .bind(period.to_string())
        .bind(now)
        .bind(actor.map(|a| a.user_id))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let mut summary = RunSummary {
            id: run_id,
            period: period.to_string(),
            drafts: 0,
            locked: 0,
            draft_total: 0,
            currency: program.currency.code().to_owned(),
            minor_digits: program.currency.minor_digits(),
        };
        // Everything the run reads comes in a handful of set-wide queries; the rebate engine then
        // works from memory, partner by partner.
        let partners = sqlx::query(
            "SELECT id, partner_type, tier_rank FROM organisations WHERE kind = 'partner' ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let histories = self.tier_histories(&mut tx, None).await?;
        let totals = self.line_totals(&mut tx, calendar, period, None).await?;
        // The period's statements so far, by partner: at most one per partner is kept, the one of
        // the plan that applies now (a partner whose tier changed before the period's end must not
        // keep a draft of its old plan beside the new one).
        let mut existing: HashMap<i64, Vec<StoredStatement>> = HashMap::new();
        for row in sqlx::query(
            "SELECT id, partner_id, plan_id, status, total_minor, basis_minor, tier_rank FROM rebate_statements \
             WHERE period = $1",
        )
        .bind(period.to_string())
        .fetch_all(&mut *tx)
        .await?
        {
            existing
                .entry(row.try_get("partner_id")?)
                .or_default()
                .push(StoredStatement {
                    id: row.try_get("id")?,
                    plan_id: row.try_get("plan_id")?,
                    locked: row.try_get::<String, _>("status")? != "draft",
                    total: row.try_get("total_minor")?,
                    basis: row.try_get("basis_minor")?,
                    tier_rank: row.try_get("tier_rank")?,
                });
        }
        // Partners with a locked earlier statement, whatever its plan: a change to that period's
        // facts is carried on the partner's next statement.
        let locked_earlier: HashSet<i64> = sqlx::query_scalar(
            "SELECT DISTINCT partner_id FROM rebate_statements WHERE status IN ('approved', 'paid') AND period < $1",
        )
        .bind(period.to_string())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let mut programs = if locked_earlier.len() >= SET_WIDE_RESTATEMENTS {
            let mut ranks = HashMap::with_capacity(partners.len());
            for partner in &partners {
                let current = partner.try_get::<Option<i64>, _>("tier_rank")?.unwrap_or(0);
                ranks.insert(partner.try_get::<i64, _>("id")?, rank(current));
            }
            ProgramsByPeriod::for_every_partner(naming, ranks, histories.clone())
        } else {
            ProgramsByPeriod::new(naming)
        };
        // Read before any of them changes: the run changes a partner's other statements only
        // while it handles that partner.
        let mut every_others = if programs.every_partner.is_some() {
            Some(Self::other_statements(&mut tx, None, period).await?)
        } else {
            None
        };
        let no_sales = LineTotals::default();
        let mut new_drafts = Vec::new();
        for partner in &partners {
            let partner_id: i64 = partner.try_get("id")?;
            let partner_type = crate::portal::stored(
                &partner
                    .try_get::<Option<String>, _>("partner_type")?
                    .unwrap_or_default(),
                PartnerType::parse,
                "partner_type",
            )?;
            let current = rank(partner.try_get::<Option<i64>, _>("tier_rank")?.unwrap_or(0));
            let history = histories.get(&partner_id).map_or(&[][..], Vec::as_slice);
            let tier = tier_on(history, current, period_end);
            let plan = program.rebate_plan_for(tier, partner_type);
            let stored = existing.remove(&partner_id).unwrap_or_default();
            let locked = stored.iter().filter(|s| s.locked).count();
            summary.locked += locked;
            // A locked statement settles the period for the partner: nothing is computed, and a
            // draft left beside it (of an earlier plan) is discarded.
            if locked > 0 {
                for stale in stored.iter().filter(|s| !s.locked) {
                    discard_draft(&mut tx, actor, now, stale, period).await?;
                }
                continue;
            }
            // Otherwise the period's statement is the plan's, computed from the sales, with what
            // earlier locked periods now owe added; or, when the tier has no plan any more, a
            // statement of those restatements alone, so that a clawback still reaches the payout
            // system.
            let Restatements {
                lines: restated,
                held,
            } = if locked_earlier.contains(&partner_id) {
                let others = match &mut every_others {
                    Some(every) => every.remove(&partner_id).unwrap_or_default(),
                    None => Self::other_statements(&mut tx, Some(partner_id), period)
                        .await?
                        .remove(&partner_id)
                        .unwrap_or_default(),
                };
                self.restatements(&mut tx, &mut programs, partner_id, partner_type, period, &others)
                    .await?
            } else {
                Restatements::default()
            };
            if !held.is_empty() {
                self.release_later_carries(&mut tx, actor, now, run_id, partner_id, period, &held)
                    .await?;
            }
            let mut calc = match plan {
                Some(plan) => totals
                    .get(&partner_id)
                    .unwrap_or(&no_sales)
                    .calculate(plan, period),
                None => restatements_only(period),
            };
            let plan_name = plan.map_or(RESTATEMENTS_ONLY.1, |plan| plan.name.as_str());
            let issued = plan.is_some() || !restated.is_empty();
            for line in restated {
                calc.total += line.amount;
                calc.lines.push(line);
            }
            // Any other draft of the period (of an earlier plan) is discarded.
            let keep = issued
                .then(|| stored.iter().find(|s| s.plan_id == calc.plan_id))
                .flatten();
            for stale in stored.iter().filter(|s| Some(s.id) != keep.map(|k| k.id)) {
                discard_draft(&mut tx, actor, now, stale, period).await?;
            }
            if !issued {
                continue;
            }
            let lines = serde_json::to_string(&calc.lines).map_err(internal)?;
            summary.drafts += 1;
            summary.draft_total += calc.total;
            match keep {
                Some(draft) => {
                    let id = draft.id;
                    let updated = sqlx::query(
                        "UPDATE rebate_statements SET tier_rank = $1, basis_minor = $2, total_minor = $3, lines = $4, run_id = $5, \
                         computed_at = $6, plan_name = $7 WHERE id = $8 AND status = 'draft'",
                    )
                    .bind(i64::from(tier.0))
                    .bind(calc.basis)
                    .bind(calc.total)
                    .bind(lines)
                    .bind(run_id)
                    .bind(now)
                    .bind(plan_name)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    if updated.rows_affected() != 1 {
                        return Err(approved_during_run());
                    }
                    // A draft whose figures move (its total, its basis, or the tier it is
                    // paid at) says so in its own history; the run's entry alone would not
                    // tell which statements changed. A capped total can stay while its
                    // basis grows.
                    let before = (draft.total, draft.basis, draft.tier_rank);
                    if before != (calc.total, calc.basis, i64::from(tier.0)) {
                        let after = serde_json::json!({
                            "total": calc.total, "basis": calc.basis, "tier_rank": tier.0, "run_id": run_id
                        });
                        record_recompute(&mut tx, actor, now, draft, after).await?;
                    }
                }
                None => new_drafts.push(NewDraft {
                    partner_id,
                    plan_id: calc.plan_id,
                    plan_name,
                    tier,
                    basis: calc.basis,
                    total: calc.total,
                    lines,
                }),
            }
        }
        // New drafts go in a few hundred to a statement: one round trip each instead of one per
        // partner, well under both databases' limits on bound values.
        const CHUNK: usize = 400;
        for chunk in new_drafts.chunks(CHUNK) {
            let mut placeholders = Placeholders::new(self.store().backend());
            let values = placeholders.rows(chunk.len(), 12);
            let sql = format!(
                "INSERT INTO rebate_statements (partner_id, plan_id, plan_name, period, tier_rank, status, basis_minor, \
                 total_minor, currency, lines, run_id, computed_at) VALUES {values}"
            );
            let mut insert = sqlx::query(&sql);
            for draft in chunk {
                insert = insert
                    .bind(draft.partner_id)
                    .bind(&draft.plan_id)
                    .bind(draft.plan_name)
                    .bind(period.to_string())
                    .bind(i64::from(draft.tier.0))
                    .bind("draft")
                    .bind(draft.basis)
                    .bind(draft.total)
                    .bind(program.currency.code())
                    .bind(&draft.lines)
                    .bind(run_id)
                    .bind(now);
            }
            insert.execute(&mut *tx).await.map_err(|e| {
                // Runs take turns on the fact clock, so another run of the period cannot have
                // stored this partner's draft meanwhile; should one ever have, this run is to
                // be tried again, not reported as a database failure.
                if e.as_database_error().is_some_and(|d| d.is_unique_violation()) {
                    ServiceError::Conflict(format!(
                        "another run of {period} stored its drafts first; run it again to recompute them"
                    ))
                } else {
                    e.into()
                }
            })?;
        }
        sqlx::query("UPDATE rebate_runs SET statements = $1, total_minor = $2 WHERE id = $3")
            .bind(summary.drafts as i64)
            .bind(summary.draft_total)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_user_id: actor.map(|a| a.user_id),
                action: "rebates.run",
                entity_type: "rebate_run",
                entity_id: run_id.to_string(),
                before: None,
                after: serde_json::to_value(&summary).ok(),
            },
        )
        .await?;
        tx.commit().await?;
        let partners: Vec<i64> =
            sqlx::query_scalar("SELECT DISTINCT partner_id FROM rebate_statements WHERE run_id = $1")
                .bind(run_id)
                .fetch_all(self.pool())
                .await?;
        self.publish_partner_events(partners, "rebates").await;
        Ok(summary)
    }

    /// Statements of other periods than `period`, oldest first, by partner: of one partner, or
    /// (with `None`) of every partner, which a run over many partners with locked quarters reads
    /// once rather than partner by partner.
    async fn other_statements(
        conn: &mut sqlx::AnyConnection,
        partner_id: Option<i64>,
        period: FiscalPeriod,
    ) -> ServiceResult<HashMap<i64, Vec<OtherStatement>>> {
        let one_partner = if partner_id.is_some() {
            "AND partner_id = $2"
        } else {
            ""
        };
        let sql = format!(
            "SELECT partner_id, period, status, total_minor, lines FROM rebate_statements \
             WHERE period <> $1 {one_partner} ORDER BY partner_id, period, id"
        );
        let mut query = sqlx::query(&sql).bind(period.to_string());
        if let Some(partner_id) = partner_id {
            query = query.bind(partner_id);
        }
        let mut by_partner: HashMap<i64, Vec<OtherStatement>> = HashMap::new();
        for row in query.fetch_all(&mut *conn).await? {
            by_partner
                .entry(row.try_get("partner_id")?)
                .or_default()
                .push(OtherStatement {
                    period: FiscalPeriod::parse(&row.try_get::<String, _>("period")?, "period")
                        .map_err(internal)?,
                    draft: row.try_get::<String, _>("status")? == "draft",
                    total: row.try_get("total_minor")?,
                    lines: serde_json::from_str(&row.try_get::<String, _>("lines")?).map_err(internal)?,
                });
        }
        Ok(by_partner)
    }

    /// Adjustment lines for the partner's locked earlier statements whose facts have changed:
    /// for each locked period, the total recomputed under the program version in force at that
    /// period's end, less the locked total, less what other statements already carried.
    ///
    /// A locked period's difference goes on the partner's next statement that is still open
    /// (RULES.md §5): a draft of a period between the locked one and `period` takes it, and
    /// `period` carries nothing for it; otherwise `period` holds it. What counts as carried is
    /// what locked statements carried, never a draft's line: so a statement's lines depend on
    /// the facts and on which statements are locked, not on the order periods were run in. A
    /// draft of a later period may still carry a line for a period `period` holds (it was run
    /// first); the run takes that line off it ([`Portal::release_later_carries`]), so that a
    /// difference is never carried twice.
    ///
    /// `others` are the partner's statements of other periods than `period`, oldest first
    /// ([`Portal::other_statements`]).
    #[allow(clippy::too_many_arguments)]
    async fn restatements(
        &self,
        conn: &mut sqlx::AnyConnection,
        programs: &mut ProgramsByPeriod,
        partner_id: i64,
        partner_type: PartnerType,
        period: FiscalPeriod,
        others: &[OtherStatement],
    ) -> ServiceResult<Restatements> {
        // What each locked period paid, adjustments it carried for earlier periods left out.
        let mut locked_base: Vec<(FiscalPeriod, i64)> = Vec::new();
        for locked in others.iter().filter(|o| !o.draft && o.period < period) {
            let base = locked.total
                - locked
                    .lines
                    .iter()
                    .filter(|l| l.kind == LineKind::Adjustment)
                    .map(|l| l.amount)
                    .sum::<i64>();
            match locked_base.last_mut() {
                Some((p, total)) if *p == locked.period => *total += base,
                _ => locked_base.push((locked.period, base)),
            }
        }
        // Nothing locked before the period, nothing to restate (most partners, most of the
        // time: the forecast asks on every scorecard).
        if locked_base.is_empty() {
            return Ok(Restatements::default());
        }
        let others: Vec<(FiscalPeriod, bool, &[StatementLine])> = others
            .iter()
            .map(|o| (o.period, o.draft, o.lines.as_slice()))
            .collect();
        // A draft is open unless a statement of its period is locked: such a draft is stale, the
        // period's next run discards it, and it takes or carries nothing.
        let locked_periods: HashSet<FiscalPeriod> = others
            .iter()
            .filter(|(_, draft, _)| !draft)
            .map(|(other, _, _)| *other)
            .collect();
        let open = |other: FiscalPeriod, draft: bool| draft && !locked_periods.contains(&other);
        let mut restated = Restatements::default();
        for (locked_period, base) in locked_base {
            let carried_by_earlier_draft = others
                .iter()
                .any(|(other, draft, _)| open(*other, *draft) && locked_period < *other && *other < period);
            if carried_by_earlier_draft {
                continue;
            }
            restated.held.push(locked_period);
            // No program then, or no plan for the partner's tier at that period's end any more
            // (its type changed, say): nothing to recompute it with, so nothing is restated.
            let Some(recomputed) = programs
                .recompute(self, conn, partner_id, partner_type, locked_period)
                .await?
            else {
                continue;
            };
            let now = recomputed.total;
            let carried: i64 = others
                .iter()
                .filter(|(_, draft, _)| !draft)
                .flat_map(|(_, _, lines)| lines.iter())
                .filter(|l| restates(l, locked_period))
                .map(|l| l.amount)
                .sum();
            restated
                .lines
                .extend(restatement(locked_period, base + carried, now));
        }
        Ok(restated)
    }

    /// Takes off the partner's drafts of periods after `period` the restatement lines of the
    /// locked periods `period` now holds (see [`Portal::restatements`]): such a draft was
    /// computed while no open statement stood between it and the locked period. A draft left
    /// with nothing (one of restatements alone) is discarded. Each change is in the audit log.
    #[allow(clippy::too_many_arguments)]
    async fn release_later_carries(
        &self,
        tx: &mut sqlx::AnyConnection,
        actor: Option<&Actor>,
        now: i64,
        run_id: i64,
        partner_id: i64,
        period: FiscalPeriod,
        held: &[FiscalPeriod],
    ) -> ServiceResult<()> {
        let later = sqlx::query(
            "SELECT id, period, plan_id, total_minor, basis_minor, tier_rank, lines FROM rebate_statements \
             WHERE partner_id = $1 AND period > $2 AND status = 'draft'",
        )
        .bind(partner_id)
        .bind(period.to_string())
        .fetch_all(&mut *tx)
        .await?;
        for row in later {
            let mut lines: Vec<StatementLine> =
                serde_json::from_str(&row.try_get::<String, _>("lines")?).map_err(internal)?;
            let released: i64 = lines
                .iter()
                .filter(|l| held.iter().any(|p| restates(l, *p)))
                .map(|l| l.amount)
                .sum();
            let before = lines.len();
            lines.retain(|l| !held.iter().any(|p| restates(l, *p)));
            if lines.len() == before {
                continue;
            }
            let draft = StoredStatement {
                id: row.try_get("id")?,
                plan_id: row.try_get("plan_id")?,
                locked: false,
                total: row.try_get("total_minor")?,
                basis: row.try_get("basis_minor")?,
                tier_rank: row.try_get("tier_rank")?,
            };
            let draft_period =
                FiscalPeriod::parse(&row.try_get::<String, _>("period")?, "period").map_err(internal)?;
            if lines.is_empty() && draft.plan_id == RESTATEMENTS_ONLY.0 {
                discard_draft(tx, actor, now, &draft, draft_period).await?;
                continue;
            }
            let total = draft.total - released;
            // Its basis is not recomputed, so it keeps the time it was computed at (a draft
            // computed while its period ran is still to be run again before approval).
            let updated = sqlx::query(
                "UPDATE rebate_statements SET total_minor = $1, lines = $2 WHERE id = $3 AND status = 'draft'",
            )
            .bind(total)
            .bind(serde_json::to_string(&lines).map_err(internal)?)
            .bind(draft.id)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                return Err(approved_during_run());
            }
            let after = serde_json::json!({
                "total": total, "basis": draft.basis, "tier_rank": draft.tier_rank, "run_id": run_id,
                "restatements_moved_to": period.to_string()
            });
            record_recompute(tx, actor, now, &draft, after).await?;
        }
        Ok(())
    }

    /// A statement as `reader` sees it: the vendor's people who approved and paid it are named
    /// to vendor staff only (a partner sees when, not who).
    fn statement_from_row(row: &sqlx::any::AnyRow, reader: &Actor) -> ServiceResult<StatementView> {
        let staff = reader.organisation.kind == OrganisationKind::Vendor;
        let named = |column: &str| -> ServiceResult<Option<String>> {
            Ok(if staff { row.try_get(column)? } else { None })
        };
        Ok(StatementView {
            id: row.try_get("id")?,
            partner_id: row.try_get("partner_id")?,
            partner_name: row.try_get("partner_name")?,
            plan_id: row.try_get("plan_id")?,
            plan_name: row.try_get("plan_name")?,
            period: row.try_get("period")?,
            tier_rank: row.try_get("tier_rank")?,
            status: StatementStatus::parse(&row.try_get::<String, _>("status")?)
                .ok_or_else(|| internal("bad status"))?,
            basis: row.try_get("basis_minor")?,
            total: row.try_get("total_minor")?,
            currency: row.try_get("currency")?,
            lines: serde_json::from_str(&row.try_get::<String, _>("lines")?).map_err(internal)?,
            payout_reference: row.try_get("payout_reference")?,
            approved_at: row.try_get("approved_at")?,
            approved_by: named("approver_email")?,
            paid_at: row.try_get("paid_at")?,
            paid_by: named("payer_email")?,
            approvable_from: None,
            computed_at: row.try_get("computed_at")?,
            computed_while_running: false,
        })
    }

    /// Notes on each draft of a period still running the day it can be approved from, and on
    /// each draft of an ended period whether it was computed while the period ran.
    async fn mark_approvable(&self, statements: &mut [StatementView]) -> ServiceResult<()> {
        if !statements.iter().any(|s| s.status == StatementStatus::Draft) {
            return Ok(());
        }
        let today = self.today();
        let calendar = self.fiscal_calendar().await?;
        let business_days = self.business_calendar();
        for statement in statements
            .iter_mut()
            .filter(|s| s.status == StatementStatus::Draft)
        {
            let period = FiscalPeriod::parse(&statement.period, "period").map_err(internal)?;
            let (_, last_day) = calendar.range(period);
            statement.approvable_from = (last_day >= today).then(|| last_day.add_days(1).to_string());
            statement.computed_while_running =
                last_day < today && business_days.date_at(statement.computed_at) <= last_day;
        }
        Ok(())
    }

    /// Statements the actor may see that the filter matches, one page of them: vendor staff
    /// all; partners their own; a distributor's admins also their tier-two resellers'.
    pub async fn statements(&self, actor: &Actor, filter: &StatementFilter) -> ServiceResult<StatementPage> {
        if let Some(limit) = filter.limit.filter(|l| !(1..=MAX_STATEMENT_PAGE).contains(l)) {
            return Err(domain::FieldError::new(
                "limit",
                format!("`{limit}` is not between 1 and {MAX_STATEMENT_PAGE}"),
            )
            .into());
        }
        // Both databases take a 64-bit offset; a larger one is a typing error, not a page.
        if i64::try_from(filter.offset).is_err() {
            return Err(domain::FieldError::new("offset", "is too large").into());
        }
        let mut clauses = vec![
            statement_scope(actor)?,
            "($1 IS NULL OR s.period = $1)".to_owned(),
            // Lower-cased or as typed: SQLite lower-cases ASCII letters only, so a name with
            // accents is still found when typed as it is written.
            r"($2 IS NULL OR LOWER(o.name) LIKE $2 ESCAPE '\' OR o.name LIKE $3 ESCAPE '\')".to_owned(),
        ];
        if !filter.statuses.is_empty() {
            // Stored codes, never the caller's text.
            let codes: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            clauses.push(format!("s.status IN ({})", codes.join(", ")));
        }
        let matching = clauses.join(" AND ");
        let period = filter.period.map(|p| p.to_string());
        let partner = filter.partner.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let (lowered, as_typed) = (
            partner.map(|t| like_pattern(&t.to_lowercase())),
            partner.map(like_pattern),
        );
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM rebate_statements s JOIN organisations o ON o.id = s.partner_id WHERE {matching}"
        ))
        .bind(&period)
        .bind(&lowered)
        .bind(&as_typed)
        .fetch_one(self.pool())
        .await?;
        // The id last, so that pages never share or skip a statement.
        let order = "ORDER BY s.period DESC, o.name, s.id";
        let paged = match filter.limit {
            Some(limit) => format!("{order} LIMIT {limit} OFFSET {}", filter.offset),
            None => order.to_owned(),
        };
        let rows = sqlx::query(&format!("{SELECT} WHERE {matching} {paged}"))
            .bind(&period)
            .bind(&lowered)
            .bind(&as_typed)
            .fetch_all(self.pool())
            .await?;
        let mut statements = rows
            .iter()
            .map(|row| Self::statement_from_row(row, actor))
            .collect::<ServiceResult<Vec<_>>>()?;
        self.mark_approvable(&mut statements).await?;
        Ok(StatementPage {
            limit: filter.limit.unwrap_or(statements.len()),
            statements,
            total: usize::try_from(total).map_err(internal)?,
            offset: filter.offset,
        })
    }

    /// The drafts of a period finance can approve together (finance): every draft of the
    /// period, with their count and total. Refused when a partner has two drafts, or drafts
    /// disagree on the currency: a run of the period settles both.
    pub async fn period_drafts(&self, actor: &Actor, period: FiscalPeriod) -> ServiceResult<PeriodDrafts> {
        require_finance(actor)?;
        let rows = sqlx::query(
            "SELECT partner_id, total_minor, currency, computed_at FROM rebate_statements WHERE period = $1 AND status = 'draft'",
        )
        .bind(period.to_string())
        .fetch_all(self.pool())
        .await?;
        let (_, last_day) = self.fiscal_calendar().await?.range(period);
        let program_currency = match self.program_on(last_day).await? {
            Some(stored) => stored.program.currency.code().to_owned(),
            None => String::new(),
        };
        let mut partners = HashSet::new();
        let mut currencies = std::collections::BTreeSet::new();
        let mut total: i64 = 0;
        for row in &rows {
            if !partners.insert(row.try_get::<i64, _>("partner_id")?) {
                return Err(ServiceError::Conflict(format!(
                    "a partner has two drafts of {period}; run the period again before approving them together"
                )));
            }
            currencies.insert(row.try_get::<String, _>("currency")?);
            total = total
                .checked_add(row.try_get("total_minor")?)
                .ok_or_else(|| internal("the drafts' total overflows"))?;
        }
        if currencies.len() > 1 {
            return Err(ServiceError::Conflict(format!(
                "the drafts of {period} are in more than one currency ({}); run the period again before approving them together",
                currencies.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        let currency = currencies.pop_first().unwrap_or(program_currency);
        // A draft beside an approved statement of its partner's period (left by an earlier
        // plan) is never approved: asking for a run is safer than guessing which one is owed.
        let beside_locked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM rebate_statements d WHERE d.period = $1 AND d.status = 'draft' AND EXISTS \
             (SELECT 1 FROM rebate_statements l WHERE l.partner_id = d.partner_id AND l.period = d.period \
             AND l.status IN ('approved', 'paid'))",
        )
        .bind(period.to_string())
        .fetch_one(self.pool())
        .await?;
        if beside_locked > 0 {
            return Err(ServiceError::Conflict(format!(
                "{beside_locked} draft(s) of {period} sit beside an approved statement; run the period again to discard them"
            )));
        }
        let today = self.today();
        if last_day < today {
            let business_days = self.business_calendar();
            let mut while_running = 0;
            for row in &rows {
                if business_days.date_at(row.try_get("computed_at")?) <= last_day {
                    while_running += 1;
                }
            }
            if while_running > 0 {
                return Err(ServiceError::Conflict(computed_while_running(
                    &format!(
                        "{} draft{} of {period} {}",
                        grouped(while_running),
                        if while_running == 1 { "" } else { "s" },
                        if while_running == 1 { "was" } else { "were" }
                    ),
                    period,
                )));
            }
        }
        Ok(PeriodDrafts {
            period: period.to_string(),
            count: rows.len(),
            total,
            minor_digits: minor_digits(&currency),
            currency,
            approvable_from: (last_day >= self.today()).then(|| last_day.add_days(1).to_string()),
        })
    }

    /// Approves every draft of a period in one step (finance). The approver names the count
    /// and total they were shown ([`Portal::period_drafts`]); if a run or another approval
    /// has changed the drafts since, nothing is approved and the conflict says what they are now.
    pub async fn approve_period(
        &self,
        actor: &Actor,
        period: FiscalPeriod,
        expected_count: usize,
        expected_total: i64,
    ) -> ServiceResult<PeriodApproval> {
        let drafts = self.period_drafts(actor, period).await?;
        if let Some(from) = &drafts.approvable_from {
            return Err(ServiceError::Conflict(format!(
                "{period} is still running; its statements can be approved from {from}"
            )));
        }
        if drafts.count == 0 {
            return Err(ServiceError::Conflict(format!(
                "{period} has no drafts to approve"
            )));
        }
        // Says what the drafts are now: as read here, or as the update found them.
        let changed = |count: usize, total: i64| {
            ServiceError::Conflict(format!(
                "the drafts of {period} changed since you read them: there are now {count} totalling {} {}; review them and approve again",
                domain::money::format_minor(total, drafts.minor_digits),
                drafts.currency
            ))
        };
        if (drafts.count, drafts.total) != (expected_count, expected_total) {
            return Err(changed(drafts.count, drafts.total));
        }
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        // The figures are checked again on what the update itself changed: a run committed
        // between the read above and this statement rolls the approval back.
        let approved = sqlx::query(
            "UPDATE rebate_statements SET status = 'approved', approved_at = $1, approved_by = $2 \
             WHERE period = $3 AND status = 'draft' RETURNING id, partner_id, total_minor, currency",
        )
        .bind(now)
        .bind(actor.user_id)
        .bind(period.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut total: i64 = 0;
        for row in &approved {
            total = total.saturating_add(row.try_get("total_minor")?);
        }
        if (approved.len(), total) != (expected_count, expected_total) {
            return Err(changed(approved.len(), total));
        }
        let mut partners = Vec::with_capacity(approved.len());
        for row in &approved {
            let partner_id: i64 = row.try_get("partner_id")?;
            partners.push(partner_id);
            audit::record(
                &mut tx,
                now,
                AuditEntry {
                    actor_user_id: Some(actor.user_id),
                    action: "statement.approve",
                    entity_type: "rebate_statement",
                    entity_id: row.try_get::<i64, _>("id")?.to_string(),
                    before: Some(serde_json::json!({ "status": "draft" })),
                    // Approved with the rest of its period, not on its own.
                    after: Some(serde_json::json!({
                        "status": "approved", "period_approval": true, "partner_id": partner_id,
                        "period": period.to_string(), "total_minor": row.try_get::<i64, _>("total_minor")?,
                        "currency": row.try_get::<String, _>("currency")?,
                    })),
                },
            )
            .await?;
        }
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_user_id: Some(actor.user_id),
                action: "rebates.approve_period",
                entity_type: "rebate_period",
                entity_id: period.to_string(),
                before: None,
                after: Some(serde_json::json!({
                    "approved": approved.len(), "total": total, "currency": drafts.currency
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.publish_partner_events(partners, "rebates").await;
        Ok(PeriodApproval {
            period: period.to_string(),
            approved: approved.len(),
            total,
            currency: drafts.currency,
            minor_digits: drafts.minor_digits,
        })
    }

    /// One statement, if the actor may see it.
    pub async fn statement(&self, actor: &Actor, id: i64) -> ServiceResult<StatementView> {
        let row = sqlx::query(&format!(
            "{SELECT} WHERE {} AND s.id = $1",
            statement_scope(actor)?
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let mut statement = row
            .as_ref()
            .map(|row| Self::statement_from_row(row, actor))
            .transpose()?
            .ok_or(ServiceError::NotFound("statement"))?;
        self.mark_approvable(std::slice::from_mut(&mut statement)).await?;
        Ok(statement)
    }

    /// The sales of a statement's partner and period, marking those its basis holds: a sale
    /// the plan covers, there when the statement was computed. A sale changed by a re-import
    /// since is shown as it was then (the audit log keeps its earlier values): with its old
    /// amount if it was in the basis, under the partner and period it had then, and as arrived
    /// later where it has only moved in since. So the counted rows always add up to the basis.
    pub async fn statement_sales(&self, actor: &Actor, id: i64) -> ServiceResult<Vec<BasisSale>> {
        let statement = self.statement(actor, id).await?;
        let period = FiscalPeriod::parse(&statement.period, "period").map_err(internal)?;
        let (from, to) = self.fiscal_calendar().await?.range(period);
        let program = self
            .program_on(to)
            .await?
            .ok_or(ServiceError::NotFound("program"))?;
        let plan = program
            .program
            .rebate_plans
            .iter()
            .find(|p| p.id == statement.plan_id);
        let covered = |line: &str| plan.is_some_and(|p| p.covers_line(line));
        let (from, to) = (from.to_string(), to.to_string());
        let in_statement = |then: &SaleThen| {
            then.partner_id == statement.partner_id
                && then.booked_on.as_ref() >= from.as_str()
                && then.booked_on.as_ref() <= to.as_str()
        };
        let computed_at: i64 = sqlx::query_scalar("SELECT computed_at FROM rebate_statements WHERE id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        let then = self.sales_as_they_were(computed_at, statement.partner_id).await?;
        let rows = sqlx::query(
            "SELECT external_id, booked_on, product_line, amount_minor, created_at FROM sales \
             WHERE partner_id = $1 AND booked_on >= $2 AND booked_on <= $3 ORDER BY booked_on, external_id",
        )
        .bind(statement.partner_id)
        .bind(&from)
        .bind(&to)
        .fetch_all(self.pool())
        .await?;
        let mut sales = Vec::with_capacity(rows.len());
        for row in &rows {
            let external_id: String = row.try_get("external_id")?;
            let product_line: String = row.try_get("product_line")?;
            let arrived_later = match then.get(&external_id) {
                Some(then) if in_statement(then) => continue, // shown below, as it was
                // Another partner's, or another period's, when the statement was computed.
                Some(_) => true,
                None => row.try_get::<i64, _>("created_at")? > computed_at,
            };
            sales.push(BasisSale {
                counted: covered(&product_line) && !arrived_later,
                arrived_later,
                changed_later: false,
                without_plan: statement.plan_id.is_empty(),
                external_id,
                booked_on: row.try_get("booked_on")?,
                product_line,
                amount: row.try_get("amount_minor")?,
            });
        }
        for (external_id, then) in then.into_iter().filter(|(_, then)| in_statement(then)) {
            sales.push(BasisSale {
                counted: covered(&then.product_line),
                arrived_later: false,
                changed_later: true,
                without_plan: statement.plan_id.is_empty(),
                external_id,
                booked_on: then.booked_on.into_owned(),
                product_line: then.product_line.into_owned(),
                amount: then.amount_minor,
            });
        }
        sales.sort_by(|a, b| (&a.booked_on, &a.external_id).cmp(&(&b.booked_on, &b.external_id)));
        Ok(sales)
    }

    /// A statement's drill-down as CSV, every sale of it, for a partner or finance to reconcile
    /// against their own books: `external_id, booked_on, product_line, amount, in_basis`, where
    /// the counted amounts add up to the basis.
    pub async fn statement_sales_csv(&self, actor: &Actor, id: i64) -> ServiceResult<String> {
        let statement = self.statement(actor, id).await?;
        let digits = minor_digits(&statement.currency);
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer
            .write_record(["external_id", "booked_on", "product_line", "amount", "in_basis"])
            .map_err(internal)?;
        for sale in self.statement_sales(actor, id).await? {
            writer
                .write_record([
                    domain::dashboard::spreadsheet_safe(&sale.external_id).as_ref(),
                    &sale.booked_on,
                    domain::dashboard::spreadsheet_safe(&sale.product_line).as_ref(),
                    &domain::money::format_minor_plain(sale.amount, digits),
                    sale.in_basis(),
                ])
                .map_err(internal)?;
        }
        String::from_utf8(writer.into_inner().map_err(internal)?).map_err(internal)
    }

    /// The sales changed by a re-import after `at` that were stored before it, each with the
    /// values it had at `at`: the first change's `before` in the audit log. Only sales that are
    /// `partner`'s now or were before one of their changes are read, with all their changes, so
    /// a drill-down reads its own partner's changes rather than every changed sale's.
    async fn sales_as_they_were(&self, at: i64, partner: i64) -> ServiceResult<HashMap<String, SaleThen>> {
        // A `before` is `SaleFields` as JSON, where `partner_id` is never the last field: the
        // pattern finds every entry that names the partner (and the check below is exact).
        let named = format!("%\"partner_id\":{partner},%");
        let rows = sqlx::query(
            "SELECT a.entity_id, a.before_json FROM audit_log a JOIN sales s ON s.external_id = a.entity_id \
             WHERE a.entity_type = 'sale' AND a.action = 'sale.update' AND a.occurred_at > $1 AND s.created_at <= $1 \
             AND a.entity_id IN (SELECT c.entity_id FROM audit_log c JOIN sales cs ON cs.external_id = c.entity_id \
                 WHERE c.entity_type = 'sale' AND c.action = 'sale.update' AND c.occurred_at > $1 \
                 AND (cs.partner_id = $2 OR c.before_json LIKE $3)) \
             ORDER BY a.id",
        )
        .bind(at)
        .bind(partner)
        .bind(&named)
        .fetch_all(self.pool())
        .await?;
        let mut then = HashMap::new();
        for row in rows {
            let external_id: String = row.try_get("entity_id")?;
            if then.contains_key(&external_id) {
                continue; // a later change: the first one's `before` is the value at `at`
            }
            let before: Option<String> = row.try_get("before_json")?;
            let before: SaleThen = serde_json::from_str(before.as_deref().unwrap_or("null"))
                .map_err(|e| internal(format!("audit entry of sale {external_id}: {e}")))?;
            then.insert(external_id, before);
        }
        Ok(then)
    }

    /// The current period's rebate so far for a partner the actor may see, with the restatements
    /// a run today would carry: none when its tier has no plan and nothing is restated.
    pub async fn rebate_forecast(
        &self,
        actor: &Actor,
        partner_id: i64,
    ) -> ServiceResult<Option<RebateForecast>> {
        self.require_partner_visible(actor, partner_id).await?;
        let today = self.today();
        let Some(stored) = self.program_on(today).await? else {
            return Ok(None);
        };
        let period = stored.program.ladder.calendar.period_of(today);
        let partner_type: Option<String> =
            sqlx::query_scalar("SELECT partner_type FROM organisations WHERE id = $1")
                .bind(partner_id)
                .fetch_one(self.pool())
                .await?;
        let partner_type = crate::portal::stored(
            &partner_type.unwrap_or_default(),
            PartnerType::parse,
            "partner_type",
        )?;
        let calendar = stored.program.ladder.calendar;
        let (_, to) = calendar.range(period);
        // The run pays the plan of the program version in force at the period's end, so the
        // forecast reads that version's plan too (one already imported for a later date).
        let at_end = match self.program_on(to).await? {
            Some(version) => version,
            None => stored,
        };
        // Taken after every read on the pool: holding it while waiting for a second one
        // could wait for ever once every connection is held that way.
        let mut conn = self.pool().acquire().await?;
        let tier = self.effective_tier_on(&mut conn, partner_id, to).await?;
        let plan = at_end.program.rebate_plan_for(tier, partner_type);
        // What earlier locked periods now owe, or take back, as a run today would carry it on
        // this period's statement: part of the rebate so far, and of the forecast, even for a
        // tier with no plan (whose statement carries those lines alone).
        let others = Self::other_statements(&mut conn, Some(partner_id), period)
            .await?
            .remove(&partner_id)
            .unwrap_or_default();
        let restated = self
            .restatements(
                &mut conn,
                &mut ProgramsByPeriod::new(calendar),
                partner_id,
                partner_type,
                period,
                &others,
            )
            .await?
            .lines;
        let (plan_name, mut so_far, mut projected) = match plan {
            Some(plan) => {
                let (so_far, projected) = self
                    .forecast_of(&mut conn, plan, (partner_id, period), calendar, today)
                    .await?;
                (plan.name.clone(), so_far, projected)
            }
            None if restated.is_empty() => return Ok(None),
            // The statement will carry the restatements alone: the so-far figures are theirs.
            None => (
                RESTATEMENTS_ONLY.1.to_owned(),
                restatements_only(period),
                restatements_only(period),
            ),
        };
        for line in restated {
            so_far.total += line.amount;
            projected.total += line.amount;
            so_far.lines.push(line);
        }
        Ok(Some(RebateForecast {
            period: period.to_string(),
            plan_name,
            basis: so_far.basis,
            total: so_far.total,
            lines: so_far.lines,
            as_of: today.to_string(),
            projected_total: projected.total,
            projected_basis: projected.basis,
            period_ends: to.to_string(),
            currency: at_end.program.currency.code().to_owned(),
            minor_digits: at_end.program.currency.minor_digits(),
            restatements_only: plan.is_none(),
        }))
    }

    /// A plan's rebate on a partner's sales of the period so far (up to `today`), and on the
    /// whole period at the pace so far.
    async fn forecast_of(
        &self,
        conn: &mut sqlx::AnyConnection,
        plan: &RebatePlan,
        (partner_id, period): (i64, FiscalPeriod),
        calendar: FiscalCalendar,
        today: Date,
    ) -> ServiceResult<(RebateCalculation, RebateCalculation)> {
        let (from, to) = calendar.range(period);
        let mut so_far = self
            .line_totals(conn, calendar, period, Some(partner_id))
            .await?
            .remove(&partner_id)
            .unwrap_or_default();
        // Sales booked for a later day of the period (a renewal entered ahead, say) have not
        // happened yet: they are not part of the rebate so far, nor of its pace, and they join
        // the forecast as they are.
        let ahead: Vec<(String, i64)> = sqlx::query_as(
            "SELECT product_line, CAST(SUM(amount_minor) AS BIGINT) FROM sales \
             WHERE partner_id = $1 AND booked_on > $2 AND booked_on <= $3 GROUP BY product_line",
        )
        .bind(partner_id)
        .bind(today.to_string())
        .bind(to.to_string())
        .fetch_all(&mut *conn)
        .await?;
        so_far.add_to_period(partner_id, &ahead, -1, from);
        let calc = so_far.calculate(plan, period);
        // Days are counted inclusively: on the period's first day one day has elapsed.
        let elapsed = today.days_since_epoch() - from.days_since_epoch() + 1;
        let length = to.days_since_epoch() - from.days_since_epoch() + 1;
        let mut at_pace = so_far.at_pace(elapsed, length);
        at_pace.add_to_period(partner_id, &ahead, 1, from);
        Ok((calc, at_pace.calculate(plan, period)))
    }

    /// A rebate run as it ended, as its audit entry recorded it (finance; 404 otherwise, or
    /// for no such run).
    pub async fn rebate_run(&self, actor: &Actor, id: i64) -> ServiceResult<RunSummary> {
        if require_finance(actor).is_err() {
            return Err(ServiceError::NotFound("rebate run"));
        }
        let recorded: Option<Option<String>> = sqlx::query_scalar(
            "SELECT after_json FROM audit_log WHERE action = 'rebates.run' AND entity_type = 'rebate_run' \
             AND entity_id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await?;
        let recorded = recorded.flatten().ok_or(ServiceError::NotFound("rebate run"))?;
        serde_json::from_str(&recorded).map_err(internal)
    }

    /// Finance's check before acting on one statement. Anyone else is refused, but a statement
    /// they may not read is not found first, exactly as when reading it: another organisation's
    /// id answers 404 on every endpoint.
    async fn require_finance_for(&self, actor: &Actor, id: i64) -> ServiceResult<()> {
        if let Err(refused) = require_finance(actor) {
            self.statement(actor, id).await?;
            return Err(refused);
        }
        Ok(())
    }

    /// Locks a draft (finance). Approved statements never change again. `confirmed_total`, in
    /// minor units, is the total the approver was shown: a draft recomputed since is refused
    /// rather than approved at a sum nobody confirmed.
    pub async fn approve_statement(
        &self,
        actor: &Actor,
        id: i64,
        confirmed_total: Option<i64>,
    ) -> ServiceResult<StatementView> {
        self.require_finance_for(actor, id).await?;
        let step = Advance {
            from: StatementStatus::Draft,
            to: StatementStatus::Approved,
            reference: None,
            confirmed_total,
        };
        self.advance_statement(actor, id, step).await
    }

    /// The fiscal calendar periods are named in: today's program's (the default calendar when
    /// there is no program yet).
    async fn fiscal_calendar(&self) -> ServiceResult<domain::period::FiscalCalendar> {
        Ok(self
            .program_on(self.today())
            .await?
            .map(|p| p.program.ladder.calendar)
            .unwrap_or_default())
    }

    /// Marks an approved statement paid with the payout system's reference (finance).
    pub async fn pay_statement(
        &self,
        actor: &Actor,
        id: i64,
        payout_reference: &str,
    ) -> ServiceResult<StatementView> {
        self.require_finance_for(actor, id).await?;
        let reference = payout_reference.trim();
        if reference.is_empty() {
            return Err(
                domain::FieldError::new("payout_reference", "enter the payout system's reference").into(),
            );
        }
        if let Some(problem) = payout_reference_problem(reference) {
            return Err(domain::FieldError::new("payout_reference", problem).into());
        }
        if reference.chars().count() > PAYOUT_REFERENCE_MAX {
            return Err(domain::FieldError::new(
                "payout_reference",
                format!("must be at most {PAYOUT_REFERENCE_MAX} characters"),
            )
            .into());
        }
        let step = Advance {
            from: StatementStatus::Approved,
            to: StatementStatus::Paid,
            reference: Some(reference),
            confirmed_total: None,
        };
        self.advance_statement(actor, id, step).await
    }

    async fn advance_statement(
        &self,
        actor: &Actor,
        id: i64,
        step: Advance<'_>,
    ) -> ServiceResult<StatementView> {
        let Advance {
            from,
            to,
            reference,
            confirmed_total,
        } = step;
        let current = self.statement(actor, id).await?;
        if current.status != from {
            return Err(ServiceError::Conflict(format!(
                "the statement is {}; only {} {} statement can become {}",
                current.status.as_str(),
                if from == StatementStatus::Approved {
                    "an"
                } else {
                    "a"
                },
                from.as_str(),
                to.as_str()
            )));
        }
        if from == StatementStatus::Draft {
            // The plan is the one of the tier on the period's last day, and the period's sales
            // are not all in before it ends: a statement of a period still running is a
            // forecast, not a sum to lock and pay.
            if let Some(approvable_from) = &current.approvable_from {
                return Err(ServiceError::Conflict(format!(
                    "{} is still running; its statements can be approved from {approvable_from}",
                    current.period
                )));
            }
            // One statement per partner and period is paid: a draft left beside a locked one
            // (from before its plan changed) is never approved.
            let locked: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM rebate_statements WHERE partner_id = $1 AND period = $2 AND id <> $3 \
                 AND status IN ('approved', 'paid')",
            )
            .bind(current.partner_id)
            .bind(&current.period)
            .bind(id)
            .fetch_one(self.pool())
            .await?;
            if locked > 0 {
                return Err(ServiceError::Conflict(format!(
                    "{}'s {} statement is already approved; run the period again to discard this draft",
                    current.partner_name, current.period
                )));
            }
            if current.computed_while_running {
                return Err(ServiceError::Conflict(computed_while_running(
                    &format!("{}'s draft of {} was", current.partner_name, current.period),
                    FiscalPeriod::parse(&current.period, "period").map_err(internal)?,
                )));
            }
        }
        if let Some(confirmed) = confirmed_total.filter(|&t| t != current.total) {
            let money = |minor| domain::money::format_minor(minor, minor_digits(&current.currency));
            return Err(ServiceError::Conflict(format!(
                "{}'s {} draft was recomputed: it totals {} {}, not the {} you confirmed; review it and approve again",
                current.partner_name,
                current.period,
                money(current.total),
                current.currency,
                money(confirmed),
            )));
        }
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let column = if to == StatementStatus::Paid {
            "paid"
        } else {
            "approved"
        };
        let changed = sqlx::query(&format!(
            "UPDATE rebate_statements SET status = $1, {column}_at = $2, {column}_by = $3, \
             payout_reference = COALESCE($4, payout_reference) \
             WHERE id = $5 AND status = $6 AND total_minor = $7 AND computed_at = $8"
        ))
        .bind(to.as_str())
        .bind(now)
        .bind(actor.user_id)
        .bind(reference)
        .bind(id)
        .bind(from.as_str())
        .bind(current.total)
        .bind(current.computed_at)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() != 1 {
            // Another request moved it, or a run recomputed it, since it was read: what was
            // read (and would be recorded) is not what is stored. Nothing is recorded.
            return Err(ServiceError::Conflict(format!(
                "the statement changed while you confirmed it (it is no longer the {} read); reload it",
                from.as_str()
            )));
        }
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_user_id: Some(actor.user_id),
                action: if to == StatementStatus::Paid {
                    "statement.pay"
                } else {
                    "statement.approve"
                },
                entity_type: "rebate_statement",
                entity_id: id.to_string(),
                before: Some(serde_json::json!({ "status": from.as_str() })),
                // What was approved or paid, to whom and how much, readable in the log alone.
                after: Some(serde_json::json!({
                    "status": to.as_str(), "payout_reference": reference, "partner_id": current.partner_id,
                    "partner": current.partner_name, "period": current.period, "plan": current.plan_name,
                    "total_minor": current.total, "currency": current.currency,
                })),
            },
        )
        .await?;
        tx.commit().await?;
        self.publish_partner_events([current.partner_id], "rebates").await;
        self.statement(actor, id).await
    }

    /// Statements of a period in the given statuses as CSV for the payout system (finance).
    /// A payout export is [`PAYOUT_STATUSES`]: a draft can still change and is not owed.
    pub async fn statements_csv(
        &self,
        actor: &Actor,
        period: FiscalPeriod,
        statuses: &[StatementStatus],
    ) -> ServiceResult<String> {
        require_finance(actor)?;
        let filter = StatementFilter {
            period: Some(period),
            statuses: statuses.to_vec(),
            ..StatementFilter::default()
        };
        let statements = self.statements(actor, &filter).await?.statements;
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer
            .write_record([
                "statement_id",
                "partner_id",
                "partner",
                "period",
                "plan",
                "status",
                "basis",
                "total",
                "currency",
                "payout_reference",
            ])
            .map_err(internal)?;
        for s in &statements {
            let digits = minor_digits(&s.currency);
            let amount = |minor: i64| domain::money::format_minor_plain(minor, digits);
            writer
                .write_record([
                    s.id.to_string(),
                    s.partner_id.to_string(),
                    domain::dashboard::spreadsheet_safe(&s.partner_name).into_owned(),
                    s.period.clone(),
                    domain::dashboard::spreadsheet_safe(&s.plan_name).into_owned(),
                    s.status.as_str().to_owned(),
                    amount(s.basis),
                    amount(s.total),
                    s.currency.clone(),
                    domain::dashboard::spreadsheet_safe(s.payout_reference.as_deref().unwrap_or_default())
                        .into_owned(),
                ])
                .map_err(internal)?;
        }
        String::from_utf8(writer.into_inner().map_err(internal)?).map_err(internal)
    }
}

/// What is wrong with a payout reference (already trimmed and not empty), if anything. It goes
/// into the payout CSV and back to the payout system exactly as written, so it is one line of
/// visible text: no control characters, no line or paragraph separators, no invisible format
/// characters (zero-width spaces and joiners, the marks that reorder text, byte-order marks,
/// tags), which could make a reference look blank or read otherwise than it is; and it does
/// not begin as a spreadsheet formula does, which the export would have to alter.
fn payout_reference_problem(reference: &str) -> Option<&'static str> {
    let unseen = |c: char| {
        c.is_control()
            || matches!(c,
                '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}'
                | '\u{0890}'..='\u{0891}' | '\u{08E2}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E007F}')
    };
    if reference.chars().any(unseen) {
        return Some(
            "must be one line of visible text, without tabs, line breaks, zero-width or direction marks",
        );
    }
    if reference.starts_with(['=', '+', '-', '@']) {
        return Some("must not begin with =, +, - or @, which a spreadsheet reads as a formula");
    }
    None
}

/// The decimals of a stored statement's currency (its code was checked when the program was).
fn minor_digits(currency: &str) -> u32 {
    domain::money::Currency::parse(currency, "currency")
        .map(|c| c.minor_digits())
        .unwrap_or(2)
}

/// Which statements a list holds, and which page of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementFilter {
    /// One fiscal period; every period when `None`.
    pub period: Option<FiscalPeriod>,
    /// These statuses; every status when empty.
    pub statuses: Vec<StatementStatus>,
    /// Partners whose name holds this text, in any case.
    pub partner: Option<String>,
    /// Statements before the page.
    pub offset: usize,
    /// The most on the page, 1 to [`MAX_STATEMENT_PAGE`]; every statement when `None`.
    pub limit: Option<usize>,
}

/// The most statements one page holds.
pub const MAX_STATEMENT_PAGE: usize = 1000;

impl StatementFilter {
    /// Reads a filter from query-string values, empty meaning "any": `period` like `2026-Q2`,
    /// `status` as [`parse_statuses`] reads it, `partner` text in the name, `offset` and
    /// `limit` whole numbers (`limit` empty: `default_limit`).
    pub fn parse(
        period: &str,
        status: &str,
        partner: &str,
        offset: &str,
        limit: &str,
        default_limit: Option<usize>,
    ) -> Result<Self, domain::FieldError> {
        Ok(Self {
            period: query_text(period)
                .map(|p| FiscalPeriod::parse(p, "period"))
                .transpose()?,
            statuses: query_text(status)
                .map(parse_statuses)
                .transpose()?
                .unwrap_or_default(),
            partner: query_text(partner).map(str::to_owned),
            offset: query_number("offset", offset)?.unwrap_or(0),
            limit: query_number("limit", limit)?.or(default_limit),
        })
    }
}

/// A `LIKE` pattern matching `text` anywhere, its `%`, `_` and `\` taken as themselves.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The statuses a payout export holds unless asked otherwise: what is owed and what was paid.
pub const PAYOUT_STATUSES: &[StatementStatus] = &[StatementStatus::Approved, StatementStatus::Paid];

/// Reads an export's `status` filter: `draft`, `approved`, `paid` separated by commas, or `all`.
pub fn parse_statuses(text: &str) -> Result<Vec<StatementStatus>, domain::FieldError> {
    if text.trim().eq_ignore_ascii_case("all") {
        return Ok(vec![
            StatementStatus::Draft,
            StatementStatus::Approved,
            StatementStatus::Paid,
        ]);
    }
    let mut statuses = Vec::new();
    for code in text.split(',').map(str::trim) {
        let status = StatementStatus::parse(&code.to_ascii_lowercase()).ok_or_else(|| {
            domain::FieldError::new(
                "status",
                format!("`{code}` is not a status; use draft, approved, paid or all"),
            )
        })?;
        if !statuses.contains(&status) {
            statuses.push(status);
        }
    }
    Ok(statuses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Date {
        Date::parse(text, "date").unwrap()
    }

    #[test]
    fn the_tier_on_a_day_comes_from_the_history_around_it() {
        let history = [
            TierStep {
                on: day("2026-03-01"),
                from: TierRank(1),
                to: TierRank(2),
            },
            TierStep {
                on: day("2026-06-15"),
                from: TierRank(2),
                to: TierRank(3),
            },
        ];
        let now = TierRank(3);
        assert_eq!(tier_on(&history, now, day("2026-01-31")), TierRank(1));
        assert_eq!(tier_on(&history, now, day("2026-03-01")), TierRank(2));
        assert_eq!(tier_on(&history, now, day("2026-06-14")), TierRank(2));
        assert_eq!(tier_on(&history, now, day("2026-06-30")), TierRank(3));
        assert_eq!(tier_on(&[], TierRank(2), day("2026-06-30")), TierRank(2));
    }

    #[test]
    fn summed_lines_give_the_same_statement_as_every_sale() {
        let plan = RebatePlan {
            id: "gold".into(),
            name: "Gold".into(),
            product_lines: vec!["hardware".into(), "cloud".into()],
            structure: domain::rebates::RebateStructure::Retroactive {
                bands: vec![
                    domain::rebates::Band {
                        threshold: 0,
                        rate_bps: 200,
                    },
                    domain::rebates::Band {
                        threshold: 5_000_000,
                        rate_bps: 300,
                    },
                ],
            },
            min_basis: None,
            cap: None,
            accelerators: vec![domain::rebates::Accelerator {
                product_line: "cloud".into(),
                multiplier_bps: 15_000,
            }],
            minor_digits: 2,
        };
        let period = FiscalPeriod::parse("2026-Q2", "period").unwrap();
        let sale = |id: &str, line: &str, amount: i64| Sale {
            external_id: id.into(),
            partner_id: 7,
            distributor_id: None,
            booked_on: day("2026-05-01"),
            product_line: line.into(),
            amount_minor: amount,
        };
        let sales = [
            sale("a", "hardware", 2_000_001),
            sale("b", "cloud", 1_999_999),
            sale("c", "hardware", 1_500_003),
            sale("d", "services", 900_000),
            sale("e", "cloud", -250_001),
        ];
        let mut totals = LineTotals::default();
        for (line, amount) in [
            ("hardware", 3_500_004),
            ("cloud", 1_749_998),
            ("services", 900_000),
        ] {
            totals.add(7, true, line.into(), amount, day("2026-04-01"));
        }
        let every_sale = plan.calculate(period, &sales, Some(0), Vec::new());
        assert_eq!(totals.calculate(&plan, period), every_sale);
        assert_eq!(every_sale.basis, 5_250_002);
    }
}
