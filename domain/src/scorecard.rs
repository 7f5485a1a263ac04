//! What a partner sees of its tier: views shared by the server (which fills them) and the
//! browser (which renders them and answers what-if questions with the same rules).

use crate::calendar::Date;
use crate::identity::TierBadge;
use crate::metrics::{Metric, MetricKind, MetricValue};
use crate::money::format_minor;
use crate::program::ProgramDoc;
use crate::tiers::{CriterionResult, Qualification, TierLadder};
use serde::{Deserialize, Serialize};

/// One criterion of the next tier, ready to draw as a bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionView {
    /// E.g. "Revenue, trailing 12 months".
    pub label: String,
    /// Current value as text ("262,500.00", "4"), or the reason it has none.
    pub value_text: String,
    /// Threshold as text.
    pub threshold_text: String,
    /// What remains as text.
    pub remaining_text: String,
    /// Whether the criterion holds.
    pub met: bool,
    /// 0–100.
    pub percent: u8,
}

fn quantity_text(kind: MetricKind, value: i64, digits: u32) -> String {
    match kind {
        MetricKind::Revenue | MetricKind::SellThrough => format_minor(value, digits),
        MetricKind::GrowthBps => format!("{} %", format_minor(value, 2)),
        MetricKind::DealsWon | MetricKind::CertifiedPeople => value.to_string(),
    }
}

impl CriterionView {
    /// Builds the view of an evaluated criterion; money uses the currency's `digits`.
    pub fn from_result(result: &CriterionResult, digits: u32) -> Self {
        let kind = result.criterion.metric.kind;
        Self {
            label: format!("{}, {}", kind.label(), result.criterion.metric.window.describe()),
            value_text: match &result.value {
                MetricValue::Defined(v) => quantity_text(kind, *v, digits),
                MetricValue::Undefined(reason) => reason.clone(),
            },
            threshold_text: quantity_text(kind, result.criterion.threshold, digits),
            remaining_text: quantity_text(kind, result.remaining, digits),
            met: result.met,
            percent: result.percent,
        }
    }
}

/// The next tier up: its criteria and what it unlocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextTierView {
    /// The tier.
    pub tier: TierBadge,
    /// Progress per criterion.
    pub criteria: Vec<CriterionView>,
    /// Benefits it adds, in words.
    pub unlocks: Vec<String>,
}

/// An override in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierOverrideView {
    /// The tier held.
    pub tier: TierBadge,
    /// Why.
    pub reason: String,
    /// First day it no longer applies.
    pub ends_on: Date,
}

/// One entry of the tier history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierHistoryEntry {
    /// When.
    pub on: Date,
    /// From.
    pub from: TierBadge,
    /// To.
    pub to: TierBadge,
    /// `upgrade`, `review`, `override` or `override_expired`.
    pub cause: String,
    /// The metric values that decided it.
    pub deciding_values: Vec<(String, MetricValue)>,
}

/// A program version in the list of versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramVersionView {
    /// Id.
    pub id: i64,
    /// First day it applies.
    pub effective_from: Date,
    /// When it was saved (Unix milliseconds).
    pub created_at: i64,
    /// Whether it is the version in force today.
    pub in_force: bool,
}

/// A partner's tier standing as `GET /api/v1/partners/{id}/tier` and the "My tier" panel show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerTierView {
    /// The partner.
    pub partner_id: i64,
    /// Its name.
    pub partner_name: String,
    /// The evaluation date.
    pub as_of: Date,
    /// The tier in effect (override, else computed).
    pub effective: TierBadge,
    /// The tier the rules give, ignoring any override.
    pub computed: TierBadge,
    /// The highest tier whose criteria hold today.
    pub qualified: TierBadge,
    /// Set after a review found the partner below its tier.
    pub at_risk_until: Option<Date>,
    /// An override in force.
    pub override_: Option<TierOverrideView>,
    /// What the effective tier gives, in words.
    pub benefits: Vec<String>,
    /// The next tier up, unless at the top.
    pub next: Option<NextTierView>,
    /// Every tier change, newest first.
    pub history: Vec<TierHistoryEntry>,
    /// The program currency.
    pub currency: String,
    /// The program in force, so the browser can answer what-if questions.
    pub program: ProgramDoc,
    /// The current value of every metric the program's criteria use.
    pub metrics: Vec<(Metric, MetricValue)>,
}

/// "What if I add…": extra revenue, won deals and certified people on top of today's values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhatIf {
    /// Extra revenue in minor units (also counts towards sell-through and growth windows).
    pub extra_revenue_minor: i64,
    /// Extra won deals.
    pub extra_deals: i64,
    /// Extra certified people.
    pub extra_certified: i64,
}

impl WhatIf {
    /// The value a metric would have with these additions.
    pub fn adjust(&self, metric: &Metric, value: &MetricValue) -> MetricValue {
        let add = match metric.kind {
            MetricKind::Revenue => self.extra_revenue_minor,
            MetricKind::DealsWon => self.extra_deals,
            MetricKind::CertifiedPeople => self.extra_certified,
            // Growth needs last year's baseline, which the snapshot does not carry.
            MetricKind::SellThrough | MetricKind::GrowthBps => 0,
        };
        match value {
            MetricValue::Defined(v) => MetricValue::Defined(v.saturating_add(add)),
            undefined => undefined.clone(),
        }
    }

    /// The qualification the partner would have, from today's metric values plus these additions.
    pub fn qualify(&self, ladder: &TierLadder, metrics: &[(Metric, MetricValue)]) -> Qualification {
        ladder.qualify_with(|metric| {
            let current = metrics
                .iter()
                .find(|(m, _)| m == metric)
                .map_or(MetricValue::Undefined("not measured".into()), |(_, v)| v.clone());
            self.adjust(metric, &current)
        })
    }
}

/// The program editor's starting point: the version in force as TOML, and every version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramSnapshot {
    /// First day of the version in force.
    pub effective_from: Date,
    /// The version in force, as TOML.
    pub document_toml: String,
    /// Every version, newest first.
    pub versions: Vec<ProgramVersionView>,
}

/// A one-line summary of a valid program, for the editor ("4 tiers, 3 rebate plans").
pub fn describe_program(program: &crate::program::Program) -> String {
    let tiers = program.ladder.tiers.len();
    let plans = program.rebate_plans.len();
    format!(
        "{}: {tiers} tier{}, {plans} rebate plan{}, {} currency, dates in {}",
        program.name,
        if tiers == 1 { "" } else { "s" },
        if plans == 1 { "" } else { "s" },
        program.currency,
        program.time_zone.as_deref().unwrap_or("UTC")
    )
}

/// A sum of money against the target that matters for the next tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgainstTarget {
    /// E.g. "Revenue, 2026-Q4 to date".
    pub label: String,
    /// Value, minor units.
    pub value: i64,
    /// Target, minor units, when the next tier names one.
    pub target: Option<i64>,
}

impl AgainstTarget {
    /// 0–100: how much of the target is reached (100 without a target).
    pub fn percent(&self) -> u8 {
        match self.target {
            Some(target) if target > 0 => {
                let percent = i128::from(self.value.max(0)) * 100 / i128::from(target);
                u8::try_from(percent.min(100)).unwrap_or(100)
            }
            _ => 100,
        }
    }
}

/// Revenue booked in one calendar month, for the chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthRevenue {
    /// First day of the month.
    pub month: Date,
    /// Revenue, minor units.
    pub revenue: i64,
}

/// The partner's registrations, counted by where they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealFunnel {
    /// Waiting for a decision.
    pub submitted: usize,
    /// Approved and protected.
    pub approved: usize,
    /// Won.
    pub won: usize,
    /// Lost.
    pub lost: usize,
    /// Approved registrations whose protection ends within seven days.
    pub expiring_this_week: usize,
}

/// A certification that runs out soon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiringCertification {
    /// Who holds it.
    pub person: String,
    /// Which.
    pub code: String,
    /// First day it is no longer valid.
    pub expires_on: Date,
}

/// A tier-two reseller in its distributor's roll-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResellerRow {
    /// Partner id.
    pub partner_id: i64,
    /// Name.
    pub name: String,
    /// Effective tier.
    pub tier: TierBadge,
    /// Revenue over the trailing 12 months, minor units.
    pub revenue_trailing_12: i64,
    /// Revenue this quarter to date, minor units.
    pub revenue_quarter: i64,
    /// Registrations waiting or protected.
    pub open_deals: usize,
}

/// Everything a partner's scorecard shows, as of one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    /// Tier, benefits, progress to the next tier criterion by criterion, history.
    pub tier: PartnerTierView,
    /// Revenue this fiscal quarter against a quarter of the next tier's yearly revenue target.
    pub revenue_quarter: AgainstTarget,
    /// Revenue over the trailing 12 months against the next tier's revenue target.
    pub revenue_trailing_12: AgainstTarget,
    /// The last 12 calendar months, oldest first.
    pub monthly_revenue: Vec<MonthRevenue>,
    /// Rebates on this fiscal year's approved and paid statements (not drafts, which can still
    /// change), minor units.
    pub rebate_earned: i64,
    /// The current period's rebate so far, when the tier has a plan or restatements are owed.
    pub rebate_forecast: Option<crate::rebates::RebateForecast>,
    /// Registrations by status.
    pub deals: DealFunnel,
    /// People with a valid certification today.
    pub certified_people: usize,
    /// Valid certifications today.
    pub valid_certifications: usize,
    /// Certifications that run out within 60 days, soonest first.
    pub expiring_certifications: Vec<ExpiringCertification>,
    /// A distributor's tier-two resellers (empty for everyone else).
    pub resellers: Vec<ResellerRow>,
    /// Money is in this currency with this many minor digits.
    pub minor_digits: u32,
    /// When the scorecard was computed (Unix ms).
    pub computed_at: i64,
}

/// What a live update says: something about this partner changed; fetch its scorecard again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerEvent {
    /// The partner whose figures changed.
    pub partner_id: i64,
    /// Its distributor, whose roll-up changes too.
    pub distributor_id: Option<i64>,
    /// What happened: `sales`, `certifications`, `deal`, `tier`, `rebates`.
    pub reason: String,
    /// When it was published (Unix microseconds), for latency measurements.
    pub published_at_us: i64,
}

impl PartnerEvent {
    /// Whether a scorecard of `partner_id` shows what this event changed.
    pub fn concerns(&self, partner_id: i64) -> bool {
        self.partner_id == partner_id || self.distributor_id == Some(partner_id)
    }
}

#[cfg(test)]
mod scorecard_tests {
    use super::*;

    #[test]
    fn targets_and_event_audiences() {
        let t = |value, target| AgainstTarget {
            label: String::new(),
            value,
            target,
        };
        assert_eq!(t(50, Some(200)).percent(), 25);
        assert_eq!(t(500, Some(200)).percent(), 100);
        assert_eq!(t(-5, Some(200)).percent(), 0);
        assert_eq!(t(5, None).percent(), 100);
        let event = PartnerEvent {
            partner_id: 7,
            distributor_id: Some(3),
            reason: "sales".into(),
            published_at_us: 0,
        };
        assert!(event.concerns(7) && event.concerns(3));
        assert!(!event.concerns(4));
    }
}
