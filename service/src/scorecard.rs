//! A partner's live scorecard: tier and progress, revenue against target, rebates earned and
//! forecast, the deal funnel, certifications, and a distributor's roll-up of its resellers.

use crate::auth::Actor;
use crate::error::{ServiceError, ServiceResult};
use crate::portal::Portal;
use domain::calendar::Date;
use domain::facts::Sale;
use domain::identity::{TierBadge, TierRank};
use domain::metrics::MetricKind;
use domain::money::div_round_half_even;
use domain::period::{FiscalCalendar, Window};
use domain::program::Program;
use domain::scorecard::{
    AgainstTarget, DealFunnel, ExpiringCertification, MonthRevenue, ResellerRow, Scorecard,
};
use sqlx::Row;

/// Certifications running out within this many days are listed.
const EXPIRING_WITHIN_DAYS: i64 = 60;

fn revenue_between(sales: &[Sale], (from, to): (Date, Date)) -> i64 {
    sales
        .iter()
        .filter(|s| s.booked_on >= from && s.booked_on <= to)
        .map(|s| s.amount_minor)
        .sum()
}

/// The yearly revenue target: the next tier's revenue criterion (all product lines), else the
/// current tier's.
fn revenue_target(program: &Program, effective: TierRank) -> Option<i64> {
    let tiers = &program.ladder.tiers;
    let threshold = |rank: u8| {
        tiers.iter().find(|t| t.rank.0 == rank).and_then(|tier| {
            tier.criteria
                .iter()
                .find(|c| c.metric.kind == MetricKind::Revenue && c.metric.product_lines.is_empty())
                .map(|c| match c.metric.window {
                    // A quarter's threshold is a quarter of the year's; a trailing window of n
                    // months is n twelfths of it.
                    Window::QuarterToDate | Window::Period(_) => c.threshold.saturating_mul(4),
                    Window::TrailingMonths(months) if months > 0 && months != 12 => {
                        let yearly = div_round_half_even(i128::from(c.threshold) * 12, i128::from(months));
                        i64::try_from(yearly).unwrap_or(i64::MAX)
                    }
                    _ => c.threshold,
                })
        })
    };
    threshold(effective.0.saturating_add(1)).or_else(|| threshold(effective.0))
}

fn monthly(sales: &[Sale], today: Date) -> Vec<MonthRevenue> {
    let this_month = Date::new(today.year(), today.month(), 1).expect("the first of a month exists");
    (0..12)
        .rev()
        .map(|back| {
            let month = this_month.add_months(-back);
            let next = month.add_months(1);
            MonthRevenue {
                month,
                revenue: sales
                    .iter()
                    .filter(|s| s.booked_on >= month && s.booked_on < next)
                    .map(|s| s.amount_minor)
                    .sum(),
            }
        })
        .collect()
}

impl Portal {
    /// The scorecard of a partner the actor may see (vendor staff any; partners their own; a
    /// distributor's admins also their resellers'); anyone else gets "not found".
    pub async fn scorecard(&self, actor: &Actor, partner_id: i64) -> ServiceResult<Scorecard> {
        let tier = self.partner_tier(actor, partner_id).await?;
        let today = self.today();
        let stored = self
            .program_on(today)
            .await?
            .ok_or(ServiceError::NotFound("program"))?;
        let program = &stored.program;
        let calendar: FiscalCalendar = program.ladder.calendar;
        let (sales, _, _, certifications) = self.partner_facts(partner_id).await?;
        let target = revenue_target(program, tier.effective.rank);
        let quarter = Window::QuarterToDate.range(today, calendar);
        let period = calendar.period_of(today);
        let revenue_quarter = AgainstTarget {
            label: format!("Revenue, {period} to date"),
            value: revenue_between(&sales, quarter),
            target: target.map(|t| i64::try_from(div_round_half_even(i128::from(t), 4)).unwrap_or(i64::MAX)),
        };
        let revenue_trailing_12 = AgainstTarget {
            label: "Revenue, trailing 12 months".into(),
            value: revenue_between(&sales, Window::TrailingMonths(12).range(today, calendar)),
            target,
        };
        let year = period.year.to_string();
        // Earned is what finance has approved: a draft can still be recomputed, and the running
        // period's draft would count its sales a second time beside the forecast.
        let rebate_earned: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(SUM(total_minor) AS BIGINT) FROM rebate_statements WHERE partner_id = $1 AND period LIKE $2 \
             AND status IN ('approved', 'paid')",
        )
        .bind(partner_id)
        .bind(format!("{year}-%"))
        .fetch_one(self.pool())
        .await?;
        let rebate_forecast = self.rebate_forecast(actor, partner_id).await?;
        let deals = self.deal_funnel(partner_id, today).await?;
        let valid: Vec<_> = certifications
            .iter()
            .filter(|c| c.earned_on <= today && today < c.expires_on)
            .collect();
        let certified_people = domain::metrics::distinct_people(valid.iter().map(|c| c.person.as_str()));
        // A person's code is expiring when the last of its valid certifications is: one renewed
        // (or imported again from a system that spells the name otherwise) is not.
        let mut last_expiry: std::collections::HashMap<(String, &str), &_> = std::collections::HashMap::new();
        for c in &valid {
            let latest = last_expiry
                .entry((domain::metrics::person_key(&c.person), c.code.as_str()))
                .or_insert(c);
            if c.expires_on > latest.expires_on {
                *latest = c;
            }
        }
        let mut expiring_certifications: Vec<ExpiringCertification> = last_expiry
            .into_values()
            .filter(|c| c.expires_on <= today.add_days(EXPIRING_WITHIN_DAYS))
            .map(|c| ExpiringCertification {
                person: c.person.clone(),
                code: c.code.clone(),
                expires_on: c.expires_on,
            })
            .collect();
        expiring_certifications.sort_by(|a, b| {
            a.expires_on
                .cmp(&b.expires_on)
                .then(a.person.cmp(&b.person))
                .then(a.code.cmp(&b.code))
        });
        // The roll-up of resellers is for vendor staff and the distributor's admins.
        let resellers = if actor.organisation.kind == domain::identity::OrganisationKind::Vendor
            || actor.role == domain::identity::Role::PartnerAdmin
        {
            self.reseller_rows(partner_id, today, calendar).await?
        } else {
            Vec::new()
        };
        Ok(Scorecard {
            monthly_revenue: monthly(&sales, today),
            revenue_quarter,
            revenue_trailing_12,
            rebate_earned: rebate_earned.unwrap_or(0),
            rebate_forecast,
            deals,
            certified_people,
            valid_certifications: valid.len(),
            expiring_certifications,
            resellers,
            minor_digits: program.currency.minor_digits(),
            computed_at: self.now(),
            tier,
        })
    }

    async fn deal_funnel(&self, partner_id: i64, today: Date) -> ServiceResult<DealFunnel> {
        let rows = sqlx::query("SELECT status, expires_on FROM deals WHERE partner_id = $1")
            .bind(partner_id)
            .fetch_all(self.pool())
            .await?;
        let week_end = today.add_days(7).to_string();
        let mut funnel = DealFunnel::default();
        for row in rows {
            let status: String = row.try_get("status")?;
            match status.as_str() {
                "submitted" => funnel.submitted += 1,
                "approved" => {
                    funnel.approved += 1;
                    if row
                        .try_get::<Option<String>, _>("expires_on")?
                        .is_some_and(|end| end <= week_end)
                    {
                        funnel.expiring_this_week += 1;
                    }
                }
                "won" => funnel.won += 1,
                "lost" => funnel.lost += 1,
                _ => {}
            }
        }
        Ok(funnel)
    }

    async fn reseller_rows(
        &self,
        distributor_id: i64,
        today: Date,
        calendar: FiscalCalendar,
    ) -> ServiceResult<Vec<ResellerRow>> {
        let (t12_from, _) = Window::TrailingMonths(12).range(today, calendar);
        let (quarter_from, _) = Window::QuarterToDate.range(today, calendar);
        let rows = sqlx::query(
            "SELECT o.id, o.name, o.tier_rank, t.name AS tier_name, \
             (SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM sales s WHERE s.partner_id = o.id AND s.booked_on >= $2 AND s.booked_on <= $4) AS t12, \
             (SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) FROM sales s WHERE s.partner_id = o.id AND s.booked_on >= $3 AND s.booked_on <= $4) AS quarter, \
             (SELECT COUNT(*) FROM deals d WHERE d.partner_id = o.id AND d.status IN ('submitted', 'approved')) AS open_deals \
             FROM organisations o LEFT JOIN tiers t ON t.rank = o.tier_rank WHERE o.distributor_id = $1 ORDER BY o.name",
        )
        .bind(distributor_id)
        .bind(t12_from.to_string())
        .bind(quarter_from.to_string())
        .bind(today.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let rank: Option<i64> = row.try_get("tier_rank")?;
                Ok(ResellerRow {
                    partner_id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    tier: TierBadge {
                        rank: TierRank(u8::try_from(rank.unwrap_or(0)).unwrap_or(0)),
                        name: row.try_get::<Option<String>, _>("tier_name")?.unwrap_or_default(),
                    },
                    revenue_trailing_12: row.try_get("t12")?,
                    revenue_quarter: row.try_get("quarter")?,
                    open_deals: usize::try_from(row.try_get::<i64, _>("open_deals")?).unwrap_or(0),
                })
            })
            .collect()
    }
}
