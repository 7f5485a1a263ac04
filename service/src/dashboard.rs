//! The vendor's channel dashboard (vendor staff only).

use crate::auth::Actor;
use crate::error::{ServiceError, ServiceResult};
use crate::portal::Portal;
use crate::workflow::ApprovalScope;
use domain::dashboard::{ChannelDashboard, ReachRow, RevenueRow, RiskRow, WITHIN_REACH_PERCENT};
use domain::identity::{OrganisationKind, PartnerType, Region};
use domain::period::FiscalPeriod;
use domain::FieldError;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// What the dashboard is narrowed to; every part is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardFilter {
    /// A fiscal period such as `2026-Q2` (default: the current one).
    pub period: Option<FiscalPeriod>,
    /// One region.
    pub region: Option<Region>,
    /// One partner type.
    pub partner_type: Option<PartnerType>,
    /// One effective tier rank.
    pub tier: Option<i64>,
}

impl DashboardFilter {
    /// Reads the filter from query-string values; empty values mean "all".
    pub fn parse(period: &str, region: &str, partner_type: &str, tier: &str) -> Result<Self, FieldError> {
        let some = |v: &str| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
        Ok(Self {
            period: some(period)
                .map(|p| FiscalPeriod::parse(&p, "period"))
                .transpose()?,
            region: some(region).map(|r| Region::parse(&r, "region")).transpose()?,
            partner_type: some(partner_type)
                .map(|t| PartnerType::parse(&t, "type"))
                .transpose()?,
            tier: some(tier)
                .map(|t| {
                    t.parse::<i64>()
                        .map_err(|_| FieldError::new("tier", format!("`{t}` is not a tier rank")))
                })
                .transpose()?,
        })
    }
}

struct PartnerRow {
    id: i64,
    name: String,
    partner_type: String,
    region: String,
    tier_rank: i64,
}

impl Portal {
    /// The channel dashboard for a period and filters (vendor staff).
    pub async fn channel_dashboard(
        &self,
        actor: &Actor,
        filter: &DashboardFilter,
    ) -> ServiceResult<ChannelDashboard> {
        if actor.organisation.kind != OrganisationKind::Vendor {
            return Err(ServiceError::Forbidden(
                "the channel dashboard is for vendor staff",
            ));
        }
        let today = self.today();
        let stored = self
            .program_on(today)
            .await?
            .ok_or(ServiceError::NotFound("program"))?;
        let calendar = stored.program.ladder.calendar;
        let period = filter.period.unwrap_or_else(|| calendar.period_of(today));
        let (from, to) = calendar.range(period);
        let tier_names: HashMap<i64, String> = sqlx::query("SELECT rank, name FROM tiers")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get::<i64, _>("rank")?, r.try_get::<String, _>("name")?)))
            .collect::<Result<_, sqlx::Error>>()?;
        if let Some(tier) = filter.tier.filter(|t| !tier_names.contains_key(t)) {
            let mut ranks: Vec<(&i64, &String)> = tier_names.iter().collect();
            ranks.sort();
            let known: Vec<String> = ranks
                .iter()
                .map(|(rank, name)| format!("{rank} {name}"))
                .collect();
            return Err(FieldError::new(
                "tier",
                format!("`{tier}` is not a tier of the program ({})", known.join(", ")),
            )
            .into());
        }
        let partners: Vec<PartnerRow> = sqlx::query(
            "SELECT id, name, partner_type, region, tier_rank FROM organisations WHERE kind = 'partner' ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok(PartnerRow {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                partner_type: r.try_get::<Option<String>, _>("partner_type")?.unwrap_or_default(),
                region: r.try_get::<Option<String>, _>("region")?.unwrap_or_default(),
                tier_rank: r.try_get::<Option<i64>, _>("tier_rank")?.unwrap_or(0),
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        let partners: Vec<PartnerRow> = partners
            .into_iter()
            .filter(|p| filter.region.is_none_or(|r| r.as_str() == p.region))
            .filter(|p| filter.partner_type.is_none_or(|t| t.as_str() == p.partner_type))
            .filter(|p| filter.tier.is_none_or(|t| t == p.tier_rank))
            .collect();
        let revenue: HashMap<i64, i64> = sqlx::query(
            "SELECT partner_id, CAST(SUM(amount_minor) AS BIGINT) AS revenue FROM sales \
             WHERE booked_on >= $1 AND booked_on <= $2 GROUP BY partner_id",
        )
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>("partner_id")?,
                r.try_get::<i64, _>("revenue")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()?;

        let group = |key: &dyn Fn(&PartnerRow) -> (String, String)| -> Vec<RevenueRow> {
            let mut groups: BTreeMap<String, RevenueRow> = BTreeMap::new();
            for p in &partners {
                let (k, label) = key(p);
                let row = groups.entry(k.clone()).or_insert(RevenueRow {
                    key: k,
                    label,
                    partners: 0,
                    revenue: 0,
                });
                row.partners += 1;
                row.revenue += revenue.get(&p.id).copied().unwrap_or(0);
            }
            groups.into_values().collect()
        };
        let by_tier = group(&|p| {
            (
                format!("{:03}", p.tier_rank),
                tier_names
                    .get(&p.tier_rank)
                    .cloned()
                    .unwrap_or_else(|| p.tier_rank.to_string()),
            )
        });
        let by_type = group(&|p| {
            let label = PartnerType::parse(&p.partner_type, "type")
                .map_or_else(|_| p.partner_type.clone(), |t| t.label().to_owned());
            (p.partner_type.clone(), label)
        });
        let by_region = group(&|p| {
            let label = Region::parse(&p.region, "region")
                .map_or_else(|_| p.region.clone(), |r| r.label().to_owned());
            (p.region.clone(), label)
        });

        let mut within_reach = Vec::new();
        let mut at_risk = Vec::new();
        for p in &partners {
            let view = self.partner_tier(actor, p.id).await?;
            if let Some(next) = &view.next {
                let weakest = next.criteria.iter().filter(|c| !c.met).min_by_key(|c| c.percent);
                if let Some(weakest) = weakest {
                    let lowest = next.criteria.iter().map(|c| c.percent).min().unwrap_or(0);
                    if lowest >= WITHIN_REACH_PERCENT {
                        within_reach.push(ReachRow {
                            partner_id: p.id,
                            name: p.name.clone(),
                            tier: view.effective.clone(),
                            next_tier: next.tier.clone(),
                            weakest: format!("{}: {} to go", weakest.label, weakest.remaining_text),
                            percent: lowest,
                        });
                    }
                }
            }
            if view.at_risk_until.is_some() || view.qualified.rank < view.computed.rank {
                at_risk.push(RiskRow {
                    partner_id: p.id,
                    name: p.name.clone(),
                    tier: view.effective.clone(),
                    qualified: view.qualified.clone(),
                    at_risk_until: view.at_risk_until,
                });
            }
        }
        within_reach.sort_by(|a, b| b.percent.cmp(&a.percent).then(a.name.cmp(&b.name)));
        at_risk.sort_by(|a, b| {
            (a.at_risk_until.is_none(), a.at_risk_until, &a.name).cmp(&(
                b.at_risk_until.is_none(),
                b.at_risk_until,
                &b.name,
            ))
        });
        // Approvals started in the period (its days in the program's time zone), for the
        // partners the filters select.
        let business_calendar = self.business_calendar();
        let approvals = ApprovalScope {
            started_from: business_calendar.day_start_millis(from),
            started_before: business_calendar.day_start_millis(to.add_days(1)),
            partners: partners.iter().map(|p| p.id).collect(),
        };
        Ok(ChannelDashboard {
            period: period.to_string(),
            from,
            to,
            currency: stored.program.currency.code().to_owned(),
            minor_digits: stored.program.currency.minor_digits(),
            partners: partners.len(),
            revenue: partners
                .iter()
                .map(|p| revenue.get(&p.id).copied().unwrap_or(0))
                .sum(),
            by_tier,
            by_type,
            by_region,
            within_reach,
            at_risk,
            approvals: self.workflow_turnaround(Some(&approvals)).await?,
            tiers: self.tiers().await?,
        })
    }
}
