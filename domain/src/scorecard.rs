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
        "{}: {tiers} tier{}, {plans} rebate plan{}, {} currency",
        program.name,
        if tiers == 1 { "" } else { "s" },
        if plans == 1 { "" } else { "s" },
        program.currency
    )
}
