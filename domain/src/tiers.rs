//! Tiers (RULES.md §4): qualification, progress to the next tier, upgrades, reviews with grace,
//! overrides, and a history entry for every change with its cause and the deciding values.

use crate::calendar::Date;
use crate::facts::PartnerFacts;
use crate::identity::TierRank;
use crate::metrics::{Metric, MetricValue};
use crate::period::FiscalCalendar;
use serde::{Deserialize, Serialize};

/// `metric ≥ threshold`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    /// What is measured.
    pub metric: Metric,
    /// The value it must reach (minor units for money, basis points for growth).
    pub threshold: i64,
}

/// A tier of the program ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierDefinition {
    /// Position, 0 = entry tier.
    pub rank: TierRank,
    /// Name, e.g. `Gold`.
    pub name: String,
    /// All must hold (AND). Rank 0 usually has none.
    pub criteria: Vec<Criterion>,
}

/// How downgrades happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewPolicy {
    /// Months (1–12) whose first day is a review day.
    pub review_months: Vec<u8>,
    /// Days a partner keeps its tier after a review finds it below.
    pub grace_days: u16,
}

impl Default for ReviewPolicy {
    fn default() -> Self {
        Self {
            review_months: vec![1],
            grace_days: 90,
        }
    }
}

/// One criterion evaluated: the value, the threshold and what remains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriterionResult {
    /// The criterion.
    pub criterion: Criterion,
    /// The metric's value, or why it has none.
    pub value: MetricValue,
    /// Whether `value ≥ threshold` (false when undefined).
    pub met: bool,
    /// `max(0, threshold − value)`; the whole threshold when undefined.
    pub remaining: i64,
    /// `min(100, value × 100 / threshold)`, 0 when undefined or negative.
    pub percent: u8,
}

impl Criterion {
    /// Evaluates this criterion for a partner as of `as_of`.
    pub fn evaluate(
        &self,
        facts: &PartnerFacts<'_>,
        as_of: Date,
        calendar: FiscalCalendar,
    ) -> CriterionResult {
        let value = self.metric.evaluate(facts, as_of, calendar);
        self.judge(value)
    }

    /// Judges an already computed value against the threshold.
    pub fn judge(&self, value: MetricValue) -> CriterionResult {
        let (met, remaining, percent) = match value.value() {
            Some(v) => {
                let percent = if self.threshold <= 0 {
                    100
                } else {
                    (i128::from(v.max(0)) * 100 / i128::from(self.threshold)).min(100) as u8
                };
                (
                    v >= self.threshold,
                    (i128::from(self.threshold) - i128::from(v)).max(0) as i64,
                    percent,
                )
            }
            None => (false, self.threshold.max(0), 0),
        };
        CriterionResult {
            criterion: self.clone(),
            value,
            met,
            remaining,
            percent,
        }
    }
}

/// Tiers of one program version, lowest rank first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierLadder {
    /// The tiers, ranks 0…n in order.
    pub tiers: Vec<TierDefinition>,
    /// The fiscal calendar the windows use.
    pub calendar: FiscalCalendar,
    /// The review policy.
    pub review: ReviewPolicy,
}

/// The qualified tier with the evaluation of every tier's criteria.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qualification {
    /// The highest tier whose criteria all hold.
    pub qualified: TierRank,
    /// Per tier (same order as the ladder), each criterion's result.
    pub tiers: Vec<Vec<CriterionResult>>,
}

/// Progress towards the tier above a given one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierProgress {
    /// The next tier.
    pub next: TierRank,
    /// Its name.
    pub name: String,
    /// Each of its criteria.
    pub criteria: Vec<CriterionResult>,
}

impl TierLadder {
    /// The highest rank of the ladder.
    pub fn top(&self) -> TierRank {
        self.tiers.last().map_or(TierRank(0), |t| t.rank)
    }

    /// The name of a rank.
    pub fn name(&self, rank: TierRank) -> &str {
        self.tiers
            .iter()
            .find(|t| t.rank == rank)
            .map_or("", |t| t.name.as_str())
    }

    /// Qualified tier on `as_of`: the highest-ranked tier whose criteria all hold.
    pub fn qualify(&self, facts: &PartnerFacts<'_>, as_of: Date) -> Qualification {
        self.qualify_with(|metric| metric.evaluate(facts, as_of, self.calendar))
    }

    /// Qualified tier from metric values supplied by `value_of` (facts, or a snapshot plus
    /// what-if additions). Tiers usually share metrics (revenue over the same window at rising
    /// thresholds): each distinct metric is asked for once.
    pub fn qualify_with(&self, mut value_of: impl FnMut(&Metric) -> MetricValue) -> Qualification {
        let mut computed: Vec<(&Metric, MetricValue)> = Vec::new();
        let tiers: Vec<Vec<CriterionResult>> = self
            .tiers
            .iter()
            .map(|tier| {
                tier.criteria
                    .iter()
                    .map(|c| {
                        let value = match computed.iter().find(|(m, _)| *m == &c.metric) {
                            Some((_, value)) => value.clone(),
                            None => {
                                let value = value_of(&c.metric);
                                computed.push((&c.metric, value.clone()));
                                value
                            }
                        };
                        c.judge(value)
                    })
                    .collect()
            })
            .collect();
        let qualified = self
            .tiers
            .iter()
            .zip(&tiers)
            .filter(|(_, results)| results.iter().all(|r| r.met))
            .map(|(tier, _)| tier.rank)
            .max()
            .unwrap_or(TierRank(0));
        Qualification { qualified, tiers }
    }

    /// Progress to the tier above `current`, or `None` at the top.
    pub fn progress(&self, qualification: &Qualification, current: TierRank) -> Option<TierProgress> {
        let index = self.tiers.iter().position(|t| t.rank > current)?;
        let tier = &self.tiers[index];
        Some(TierProgress {
            next: tier.rank,
            name: tier.name.clone(),
            criteria: qualification.tiers[index].clone(),
        })
    }
}

/// Why a partner's effective tier changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierChangeCause {
    /// Qualified above the effective tier on an evaluation.
    Upgrade,
    /// Still below at the end of a review's grace period.
    Review,
    /// A vendor admin set the tier.
    Override,
    /// An override ended.
    OverrideExpired,
}

/// One entry of a partner's tier history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierChange {
    /// When it took effect.
    pub on: Date,
    /// Tier before.
    pub from: TierRank,
    /// Tier after.
    pub to: TierRank,
    /// Why.
    pub cause: TierChangeCause,
    /// The values that decided it: `(criterion label, value)` of the tier qualified for.
    pub deciding_values: Vec<(String, MetricValue)>,
}

/// A vendor admin's override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierOverride {
    /// The tier to hold.
    pub tier: TierRank,
    /// Why (shown in history).
    pub reason: String,
    /// First day it no longer applies.
    pub ends_on: Date,
}

/// A partner's tier standing between evaluations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierStanding {
    /// The tier the partner has, computed (without override).
    pub computed: TierRank,
    /// Set after a review found the partner below: it keeps its tier until this day.
    pub at_risk_until: Option<Date>,
    /// An active override.
    pub override_: Option<TierOverride>,
}

impl TierStanding {
    /// A new partner at the entry tier.
    pub fn new() -> Self {
        Self {
            computed: TierRank(0),
            at_risk_until: None,
            override_: None,
        }
    }

    /// The effective tier: the override while one is active, else the computed tier.
    pub fn effective(&self) -> TierRank {
        self.override_.as_ref().map_or(self.computed, |o| o.tier)
    }
}

impl Default for TierStanding {
    fn default() -> Self {
        Self::new()
    }
}

fn deciding_values(q: &Qualification, ladder: &TierLadder, rank: TierRank) -> Vec<(String, MetricValue)> {
    let index = ladder.tiers.iter().position(|t| t.rank == rank).unwrap_or(0);
    q.tiers
        .get(index)
        .map(|results| {
            results
                .iter()
                .map(|r| {
                    (
                        format!(
                            "{} {}",
                            r.criterion.metric.kind.label(),
                            r.criterion.metric.window.describe()
                        ),
                        r.value.clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

impl TierLadder {
    /// Runs the evaluation of `today` (RULES.md §4): override expiry, upgrades, reviews on the
    /// first day of each review month (judged as of the day before), and the end of grace.
    /// Returns the changes to the effective tier, in order.
    pub fn evaluate_day(
        &self,
        standing: &mut TierStanding,
        facts: &PartnerFacts<'_>,
        today: Date,
    ) -> Vec<TierChange> {
        let mut changes = Vec::new();
        let before = standing.effective();
        if standing.override_.as_ref().is_some_and(|o| today >= o.ends_on) {
            standing.override_ = None;
            if standing.effective() != before {
                changes.push(TierChange {
                    on: today,
                    from: before,
                    to: standing.effective(),
                    cause: TierChangeCause::OverrideExpired,
                    deciding_values: Vec::new(),
                });
            }
        }

        let now = self.qualify(facts, today);
        if now.qualified > standing.computed {
            let from = standing.effective();
            standing.computed = now.qualified;
            standing.at_risk_until = None;
            if standing.effective() != from {
                changes.push(TierChange {
                    on: today,
                    from,
                    to: standing.effective(),
                    cause: TierChangeCause::Upgrade,
                    deciding_values: deciding_values(&now, self, now.qualified),
                });
            }
        }

        let review_day = today.day() == 1 && self.review.review_months.contains(&today.month());
        let grace_ends = standing.at_risk_until.is_some_and(|until| today >= until);
        if review_day || grace_ends || standing.at_risk_until.is_some() {
            let judged = self.qualify(facts, today.add_days(-1));
            if judged.qualified >= standing.computed {
                // Qualifies again (or still): any risk is cleared.
                standing.at_risk_until = None;
            } else if grace_ends {
                let from = standing.effective();
                let dropped = judged
                    .qualified
                    .max(TierRank(standing.computed.0.saturating_sub(1)));
                standing.computed = dropped;
                standing.at_risk_until = None;
                if standing.effective() != from {
                    changes.push(TierChange {
                        on: today,
                        from,
                        to: standing.effective(),
                        cause: TierChangeCause::Review,
                        deciding_values: deciding_values(&judged, self, judged.qualified),
                    });
                }
            } else if review_day && standing.at_risk_until.is_none() {
                standing.at_risk_until = Some(today.add_days(i64::from(self.review.grace_days)));
            }
        }
        changes
    }

    /// Sets an override from `today`.
    pub fn apply_override(
        &self,
        standing: &mut TierStanding,
        override_: TierOverride,
        today: Date,
    ) -> Option<TierChange> {
        let from = standing.effective();
        let to = override_.tier;
        standing.override_ = Some(override_);
        (from != to).then(|| TierChange {
            on: today,
            from,
            to,
            cause: TierChangeCause::Override,
            deciding_values: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Certification, Sale, WonDeal};
    use crate::metrics::MetricKind;
    use crate::period::Window;

    fn d(text: &str) -> Date {
        Date::parse(text, "date").unwrap()
    }

    fn criterion(kind: MetricKind, threshold: i64) -> Criterion {
        Criterion {
            metric: Metric::new(kind, Window::TrailingMonths(12)),
            threshold,
        }
    }

    /// The RULES.md §4 tier example's ladder.
    fn ladder() -> TierLadder {
        TierLadder {
            tiers: vec![
                TierDefinition {
                    rank: TierRank(0),
                    name: "Registered".into(),
                    criteria: vec![],
                },
                TierDefinition {
                    rank: TierRank(1),
                    name: "Silver".into(),
                    criteria: vec![
                        criterion(MetricKind::Revenue, 5_000_000),
                        criterion(MetricKind::CertifiedPeople, 1),
                    ],
                },
                TierDefinition {
                    rank: TierRank(2),
                    name: "Gold".into(),
                    criteria: vec![
                        criterion(MetricKind::Revenue, 25_000_000),
                        criterion(MetricKind::CertifiedPeople, 3),
                        criterion(MetricKind::DealsWon, 5),
                    ],
                },
            ],
            calendar: FiscalCalendar::default(),
            review: ReviewPolicy::default(),
        }
    }

    struct Owned {
        sales: Vec<Sale>,
        deals: Vec<WonDeal>,
        certs: Vec<Certification>,
    }

    impl Owned {
        fn facts(&self) -> PartnerFacts<'_> {
            PartnerFacts {
                partner_id: 7,
                sales: &self.sales,
                sold_through: &[],
                won_deals: &self.deals,
                certifications: &self.certs,
            }
        }
    }

    fn partner(revenue: i64, people: usize, deals: usize, on: &str) -> Owned {
        Owned {
            sales: vec![Sale {
                external_id: "s1".into(),
                partner_id: 7,
                distributor_id: None,
                booked_on: d(on),
                product_line: "hardware".into(),
                amount_minor: revenue,
            }],
            deals: (0..deals)
                .map(|_| WonDeal {
                    partner_id: 7,
                    won_on: d(on),
                })
                .collect(),
            certs: (0..people)
                .map(|i| Certification {
                    partner_id: 7,
                    person: format!("p{i}"),
                    code: "ACNA".into(),
                    earned_on: d("2025-01-01"),
                    expires_on: d("2028-01-01"),
                })
                .collect(),
        }
    }

    #[test]
    fn rules_4_tier_example_qualifies_for_silver_with_gold_progress() {
        let p = partner(26_250_000, 3, 4, "2026-03-15");
        let ladder = ladder();
        let q = ladder.qualify(&p.facts(), d("2026-06-30"));
        assert_eq!(q.qualified, TierRank(1), "Silver");
        let progress = ladder.progress(&q, q.qualified).unwrap();
        assert_eq!(progress.name, "Gold");
        let [revenue, certified, deals] = progress.criteria.as_slice() else {
            panic!("three criteria")
        };
        assert!(revenue.met && certified.met);
        assert!(!deals.met);
        assert_eq!(deals.value, MetricValue::Defined(4));
        assert_eq!(deals.remaining, 1);
        assert_eq!(deals.percent, 80);
        assert_eq!(revenue.percent, 100);
    }

    #[test]
    fn upgrades_take_effect_on_the_evaluation_day() {
        let ladder = ladder();
        let mut standing = TierStanding::new();
        let p = partner(26_250_000, 3, 5, "2026-03-15");
        let changes = ladder.evaluate_day(&mut standing, &p.facts(), d("2026-04-02"));
        assert_eq!(standing.effective(), TierRank(2));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].cause, TierChangeCause::Upgrade);
        assert_eq!(changes[0].deciding_values.len(), 3);
    }

    #[test]
    fn downgrades_wait_for_review_and_grace_and_drop_one_step() {
        let mut ladder = ladder();
        ladder.tiers.push(TierDefinition {
            rank: TierRank(3),
            name: "Platinum".into(),
            criteria: vec![criterion(MetricKind::Revenue, 100_000_000)],
        });
        let mut standing = TierStanding {
            computed: TierRank(3),
            at_risk_until: None,
            override_: None,
        };
        let nothing = partner(0, 0, 0, "2020-01-01");
        // Not a review day: no change even though it qualifies for nothing.
        assert!(ladder
            .evaluate_day(&mut standing, &nothing.facts(), d("2026-12-15"))
            .is_empty());
        // Review on 1 January: at risk for 90 days, tier kept.
        assert!(ladder
            .evaluate_day(&mut standing, &nothing.facts(), d("2027-01-01"))
            .is_empty());
        assert_eq!(standing.at_risk_until, Some(d("2027-04-01")));
        assert_eq!(standing.effective(), TierRank(3));
        // Grace ends: one step down only, from Platinum to Gold.
        let changes = ladder.evaluate_day(&mut standing, &nothing.facts(), d("2027-04-01"));
        assert_eq!(standing.effective(), TierRank(2));
        assert_eq!(changes[0].cause, TierChangeCause::Review);
        assert_eq!(standing.at_risk_until, None);
    }

    #[test]
    fn qualifying_again_during_grace_clears_the_risk() {
        let ladder = ladder();
        let mut standing = TierStanding {
            computed: TierRank(2),
            at_risk_until: None,
            override_: None,
        };
        let weak = partner(0, 0, 0, "2020-01-01");
        ladder.evaluate_day(&mut standing, &weak.facts(), d("2027-01-01"));
        assert!(standing.at_risk_until.is_some());
        let strong = partner(26_250_000, 3, 5, "2027-01-20");
        ladder.evaluate_day(&mut standing, &strong.facts(), d("2027-02-01"));
        assert_eq!(standing.at_risk_until, None);
        assert!(ladder
            .evaluate_day(&mut standing, &strong.facts(), d("2027-04-01"))
            .is_empty());
        assert_eq!(standing.effective(), TierRank(2));
    }

    #[test]
    fn overrides_hold_until_their_end_date() {
        let ladder = ladder();
        let mut standing = TierStanding::new();
        let p = partner(0, 0, 0, "2020-01-01");
        let change = ladder
            .apply_override(
                &mut standing,
                TierOverride {
                    tier: TierRank(2),
                    reason: "strategic".into(),
                    ends_on: d("2026-09-01"),
                },
                d("2026-06-01"),
            )
            .unwrap();
        assert_eq!(change.cause, TierChangeCause::Override);
        assert_eq!(standing.effective(), TierRank(2));
        assert_eq!(standing.computed, TierRank(0), "the computed tier is still shown");
        assert!(ladder
            .evaluate_day(&mut standing, &p.facts(), d("2026-08-31"))
            .is_empty());
        let changes = ladder.evaluate_day(&mut standing, &p.facts(), d("2026-09-01"));
        assert_eq!(changes[0].cause, TierChangeCause::OverrideExpired);
        assert_eq!(standing.effective(), TierRank(0));
    }

    #[test]
    fn undefined_metrics_fail_and_say_why() {
        let c = Criterion {
            metric: Metric::new(MetricKind::GrowthBps, Window::TrailingMonths(12)),
            threshold: 1_000,
        };
        let p = partner(5_000, 0, 0, "2026-03-01");
        let r = c.evaluate(&p.facts(), d("2026-06-30"), FiscalCalendar::default());
        assert!(!r.met);
        assert_eq!(r.value, MetricValue::Undefined("no baseline".into()));
        assert_eq!(r.remaining, 1_000);
        assert_eq!(r.percent, 0);
    }
}
