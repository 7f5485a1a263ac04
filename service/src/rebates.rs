//! Rebate runs (RULES.md §5): one statement per partner, plan and period, computed by the
//! domain crate from stored sales, explained line by line; drafts are recomputed, approved and
//! paid statements never change, and later facts for a locked period become an adjustment line
//! on the partner's next open statement. A run is one transaction: it lands whole or not at all.

use crate::audit::{self, AuditEntry};
use crate::auth::Actor;
use crate::error::{ServiceError, ServiceResult};
use crate::portal::Portal;
use domain::calendar::Date;
use domain::facts::Sale;
use domain::identity::{OrganisationKind, PartnerType, Role, TierRank};
use domain::period::FiscalPeriod;
use domain::program::Program;
use domain::rebates::{
    restatement, BasisSale, LineKind, RebateCalculation, RebateForecast, RebatePlan, RunSummary,
    StatementLine, StatementStatus, StatementView,
};
use sqlx::Row;

/// The statements' columns, joined with the partner's name; followed by a `WHERE` clause.
const SELECT: &str =
    "SELECT s.*, o.name AS partner_name FROM rebate_statements s JOIN organisations o ON o.id = s.partner_id";

/// Which statements an actor may see, as SQL over `o` (the partner): vendor staff all; partners
/// their own; a distributor's admins also their tier-two resellers'. Ids are numbers, never text.
fn statement_scope(actor: &Actor) -> String {
    if actor.organisation.kind == OrganisationKind::Vendor {
        "1 = 1".to_owned()
    } else if actor.role == Role::PartnerAdmin {
        format!(
            "(o.id = {id} OR o.distributor_id = {id})",
            id = actor.organisation.id
        )
    } else {
        format!("o.id = {}", actor.organisation.id)
    }
}

fn require_finance(actor: &Actor) -> ServiceResult<()> {
    if matches!(actor.role, Role::Finance | Role::VendorAdmin) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "only finance and vendor admins can run, approve and pay rebates",
        ))
    }
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("{e}"))
}

impl Portal {
    /// The effective tier of a partner on `date`, from its tier history.
    async fn effective_tier_on(
        &self,
        conn: &mut sqlx::AnyConnection,
        partner_id: i64,
        date: Date,
    ) -> ServiceResult<TierRank> {
        let rank = |v: i64| TierRank(u8::try_from(v).unwrap_or(0));
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT to_rank FROM tier_history WHERE partner_id = $1 AND changed_on <= $2 ORDER BY changed_on DESC, id DESC LIMIT 1",
        )
        .bind(partner_id)
        .bind(date.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = last {
            return Ok(rank(r));
        }
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT from_rank FROM tier_history WHERE partner_id = $1 AND changed_on > $2 ORDER BY changed_on, id LIMIT 1",
        )
        .bind(partner_id)
        .bind(date.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = next {
            return Ok(rank(r));
        }
        let current: Option<i64> = sqlx::query_scalar("SELECT tier_rank FROM organisations WHERE id = $1")
            .bind(partner_id)
            .fetch_one(&mut *conn)
            .await?;
        Ok(rank(current.unwrap_or(0)))
    }

    async fn sales_between(
        &self,
        conn: &mut sqlx::AnyConnection,
        partner_id: i64,
        from: Date,
        to: Date,
    ) -> ServiceResult<Vec<Sale>> {
        let rows = sqlx::query(
            "SELECT external_id, distributor_id, booked_on, product_line, amount_minor FROM sales \
             WHERE partner_id = $1 AND booked_on >= $2 AND booked_on <= $3 ORDER BY booked_on, external_id",
        )
        .bind(partner_id)
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Sale {
                    external_id: row.try_get("external_id")?,
                    partner_id,
                    distributor_id: row.try_get("distributor_id")?,
                    booked_on: Date::parse(&row.try_get::<String, _>("booked_on")?, "booked_on")
                        .map_err(internal)?,
                    product_line: row.try_get("product_line")?,
                    amount_minor: row.try_get("amount_minor")?,
                })
            })
            .collect()
    }

    /// The plan and calculation (without adjustments) for one partner and period.
    async fn calculate(
        &self,
        conn: &mut sqlx::AnyConnection,
        program: &Program,
        partner_id: i64,
        partner_type: PartnerType,
        period: FiscalPeriod,
    ) -> ServiceResult<Option<(RebatePlan, TierRank, RebateCalculation)>> {
        let calendar = program.ladder.calendar;
        let (from, to) = calendar.range(period);
        let tier = self.effective_tier_on(conn, partner_id, to).await?;
        let Some(plan) = program.rebate_plan_for(tier, partner_type).cloned() else {
            return Ok(None);
        };
        let sales = self.sales_between(conn, partner_id, from, to).await?;
        let (last_from, last_to) = calendar.range(period.year_before());
        let last_year = self.sales_between(conn, partner_id, last_from, last_to).await?;
        let calc = plan.calculate(period, &sales, Some(plan.basis(&last_year)), Vec::new());
        Ok(Some((plan, tier, calc)))
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
        let stored = {
            let calendar = self
                .program_on(self.today())
                .await?
                .map(|p| p.program.ladder.calendar)
                .unwrap_or_default();
            let (_, end) = calendar.range(period);
            self.program_on(end).await?.ok_or(ServiceError::NotFound(
                "program in force at the end of that period",
            ))?
        };
        let program = &stored.program;
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let partners =
            sqlx::query("SELECT id, partner_type FROM organisations WHERE kind = 'partner' ORDER BY id")
                .fetch_all(&mut *tx)
                .await?;
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
        };
        for partner in &partners {
            let partner_id: i64 = partner.try_get("id")?;
            let partner_type = crate::portal::stored(
                &partner
                    .try_get::<Option<String>, _>("partner_type")?
                    .unwrap_or_default(),
                PartnerType::parse,
                "partner_type",
            )?;
            let Some((plan, tier, mut calc)) = self
                .calculate(&mut tx, program, partner_id, partner_type, period)
                .await?
            else {
                continue;
            };
            let existing = sqlx::query("SELECT id, status FROM rebate_statements WHERE partner_id = $1 AND plan_id = $2 AND period = $3")
                .bind(partner_id)
                .bind(&plan.id)
                .bind(period.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            let existing_id = match &existing {
                Some(row) if row.try_get::<String, _>("status")? != "draft" => {
                    summary.locked += 1;
                    continue;
                }
                Some(row) => Some(row.try_get::<i64, _>("id")?),
                None => None,
            };
            for line in self
                .restatements(&mut tx, program, partner_id, partner_type, &plan, period)
                .await?
            {
                calc.total += line.amount;
                calc.lines.push(line);
            }
            let lines = serde_json::to_string(&calc.lines).map_err(internal)?;
            match existing_id {
                Some(id) => {
                    sqlx::query(
                        "UPDATE rebate_statements SET tier_rank = $1, basis_minor = $2, total_minor = $3, lines = $4, run_id = $5, \
                         computed_at = $6, plan_name = $7 WHERE id = $8",
                    )
                    .bind(i64::from(tier.0))
                    .bind(calc.basis)
                    .bind(calc.total)
                    .bind(lines)
                    .bind(run_id)
                    .bind(now)
                    .bind(&plan.name)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query(
                        "INSERT INTO rebate_statements (partner_id, plan_id, plan_name, period, tier_rank, status, basis_minor, \
                         total_minor, currency, lines, run_id, computed_at) VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(partner_id)
                    .bind(&plan.id)
                    .bind(&plan.name)
                    .bind(period.to_string())
                    .bind(i64::from(tier.0))
                    .bind(calc.basis)
                    .bind(calc.total)
                    .bind(program.currency.code())
                    .bind(lines)
                    .bind(run_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            summary.drafts += 1;
            summary.draft_total += calc.total;
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

    /// Adjustment lines for locked earlier statements whose facts have changed: for each, the
    /// recomputed total less the locked one less what other statements already carried.
    async fn restatements(
        &self,
        conn: &mut sqlx::AnyConnection,
        program: &Program,
        partner_id: i64,
        partner_type: PartnerType,
        plan: &RebatePlan,
        period: FiscalPeriod,
    ) -> ServiceResult<Vec<StatementLine>> {
        let rows = sqlx::query(
            "SELECT period, total_minor, lines FROM rebate_statements WHERE partner_id = $1 AND plan_id = $2 \
             AND status IN ('approved', 'paid') AND period < $3 ORDER BY period",
        )
        .bind(partner_id)
        .bind(&plan.id)
        .bind(period.to_string())
        .fetch_all(&mut *conn)
        .await?;
        let all_lines: Vec<(String, Vec<StatementLine>)> = sqlx::query(
            "SELECT period, lines FROM rebate_statements WHERE partner_id = $1 AND plan_id = $2 AND period <> $3",
        )
        .bind(partner_id)
        .bind(&plan.id)
        .bind(period.to_string())
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("period")?, serde_json::from_str(&r.try_get::<String, _>("lines")?).map_err(internal)?)))
        .collect::<ServiceResult<_>>()?;
        let mut adjustments = Vec::new();
        for row in rows {
            let locked_period =
                FiscalPeriod::parse(&row.try_get::<String, _>("period")?, "period").map_err(internal)?;
            let lines: Vec<StatementLine> =
                serde_json::from_str(&row.try_get::<String, _>("lines")?).map_err(internal)?;
            let locked_base: i64 = row.try_get::<i64, _>("total_minor")?
                - lines
                    .iter()
                    .filter(|l| l.kind == LineKind::Adjustment)
                    .map(|l| l.amount)
                    .sum::<i64>();
            let Some((_, _, now)) = self
                .calculate(conn, program, partner_id, partner_type, locked_period)
                .await?
            else {
                continue;
            };
            let label = format!("{locked_period} restatement");
            let carried: i64 = all_lines
                .iter()
                .flat_map(|(_, lines)| lines.iter())
                .filter(|l| l.kind == LineKind::Adjustment && l.description == label)
                .map(|l| l.amount)
                .sum();
            if let Some(line) = restatement(locked_period, locked_base + carried, now.total) {
                adjustments.push(line);
            }
        }
        Ok(adjustments)
    }

    fn statement_from_row(row: &sqlx::any::AnyRow) -> ServiceResult<StatementView> {
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
        })
    }

    /// Statements the actor may see, optionally for one period: vendor staff all; partners their
    /// own; a distributor's admins also their tier-two resellers'.
    pub async fn statements(
        &self,
        actor: &Actor,
        period: Option<FiscalPeriod>,
    ) -> ServiceResult<Vec<StatementView>> {
        let scope = statement_scope(actor);
        let rows = match period {
            Some(p) => {
                sqlx::query(&format!(
                    "{SELECT} WHERE {scope} AND s.period = $1 ORDER BY s.period DESC, o.name"
                ))
                .bind(p.to_string())
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!("{SELECT} WHERE {scope} ORDER BY s.period DESC, o.name"))
                    .fetch_all(self.pool())
                    .await?
            }
        };
        rows.iter().map(Self::statement_from_row).collect()
    }

    /// One statement, if the actor may see it.
    pub async fn statement(&self, actor: &Actor, id: i64) -> ServiceResult<StatementView> {
        let row = sqlx::query(&format!(
            "{SELECT} WHERE {} AND s.id = $1",
            statement_scope(actor)
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref()
            .map(Self::statement_from_row)
            .transpose()?
            .ok_or(ServiceError::NotFound("statement"))
    }

    /// The sales of a statement's partner and period, marking those the plan counted.
    pub async fn statement_sales(&self, actor: &Actor, id: i64) -> ServiceResult<Vec<BasisSale>> {
        let statement = self.statement(actor, id).await?;
        let period = FiscalPeriod::parse(&statement.period, "period").map_err(internal)?;
        let calendar = self
            .program_on(self.today())
            .await?
            .map(|p| p.program.ladder.calendar)
            .unwrap_or_default();
        let (from, to) = calendar.range(period);
        let program = self
            .program_on(to)
            .await?
            .ok_or(ServiceError::NotFound("program"))?;
        let plan = program
            .program
            .rebate_plans
            .iter()
            .find(|p| p.id == statement.plan_id);
        let mut conn = self.pool().acquire().await?;
        let sales = self
            .sales_between(&mut conn, statement.partner_id, from, to)
            .await?;
        Ok(sales
            .into_iter()
            .map(|sale| BasisSale {
                counted: plan.is_some_and(|p| p.covers(&sale)),
                external_id: sale.external_id,
                booked_on: sale.booked_on.to_string(),
                product_line: sale.product_line,
                amount: sale.amount_minor,
            })
            .collect())
    }

    /// The current period's rebate so far for a partner the actor may see, if its tier has a plan.
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
        let mut conn = self.pool().acquire().await?;
        let Some((plan, _, calc)) = self
            .calculate(&mut conn, &stored.program, partner_id, partner_type, period)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(RebateForecast {
            period: period.to_string(),
            plan_name: plan.name,
            basis: calc.basis,
            total: calc.total,
            lines: calc.lines,
            as_of: today.to_string(),
        }))
    }

    /// Locks a draft (finance). Approved statements never change again.
    pub async fn approve_statement(&self, actor: &Actor, id: i64) -> ServiceResult<StatementView> {
        require_finance(actor)?;
        self.advance_statement(actor, id, StatementStatus::Draft, StatementStatus::Approved, None)
            .await
    }

    /// Marks an approved statement paid with the payout system's reference (finance).
    pub async fn pay_statement(
        &self,
        actor: &Actor,
        id: i64,
        payout_reference: &str,
    ) -> ServiceResult<StatementView> {
        require_finance(actor)?;
        let reference = payout_reference.trim();
        if reference.is_empty() {
            return Err(
                domain::FieldError::new("payout_reference", "enter the payout system's reference").into(),
            );
        }
        self.advance_statement(
            actor,
            id,
            StatementStatus::Approved,
            StatementStatus::Paid,
            Some(reference),
        )
        .await
    }

    async fn advance_statement(
        &self,
        actor: &Actor,
        id: i64,
        from: StatementStatus,
        to: StatementStatus,
        reference: Option<&str>,
    ) -> ServiceResult<StatementView> {
        let current = self.statement(actor, id).await?;
        if current.status != from {
            return Err(ServiceError::Conflict(format!(
                "the statement is {}; only a {} statement can become {}",
                current.status.as_str(),
                from.as_str(),
                to.as_str()
            )));
        }
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let column = if to == StatementStatus::Paid {
            "paid"
        } else {
            "approved"
        };
        sqlx::query(&format!(
            "UPDATE rebate_statements SET status = $1, {column}_at = $2, {column}_by = $3, \
             payout_reference = COALESCE($4, payout_reference) WHERE id = $5 AND status = $6"
        ))
        .bind(to.as_str())
        .bind(now)
        .bind(actor.user_id)
        .bind(reference)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?;
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
                after: Some(serde_json::json!({ "status": to.as_str(), "payout_reference": reference })),
            },
        )
        .await?;
        tx.commit().await?;
        self.publish_partner_events([current.partner_id], "rebates").await;
        self.statement(actor, id).await
    }

    /// Statements of a period as CSV for the payout system (finance).
    pub async fn statements_csv(&self, actor: &Actor, period: FiscalPeriod) -> ServiceResult<String> {
        require_finance(actor)?;
        let statements = self.statements(actor, Some(period)).await?;
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
            let digits = domain::money::Currency::parse(&s.currency, "currency")
                .map(|c| c.minor_digits())
                .unwrap_or(2);
            let amount = |minor: i64| domain::money::format_minor(minor, digits).replace(',', "");
            writer
                .write_record([
                    s.id.to_string(),
                    s.partner_id.to_string(),
                    s.partner_name.clone(),
                    s.period.clone(),
                    s.plan_name.clone(),
                    s.status.as_str().to_owned(),
                    amount(s.basis),
                    amount(s.total),
                    s.currency.clone(),
                    s.payout_reference.clone().unwrap_or_default(),
                ])
                .map_err(internal)?;
        }
        String::from_utf8(writer.into_inner().map_err(internal)?).map_err(internal)
    }
}
