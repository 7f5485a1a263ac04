//! Metrics (RULES.md §3): one number about one partner as of a date over a window.

use crate::calendar::Date;
use crate::facts::{same_code, PartnerFacts, Sale};
use crate::period::{FiscalCalendar, Window};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a metric counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Sum of the partner's sales in the window (minor units).
    Revenue,
    /// Sum of sales in the window whose distributor is the partner (minor units).
    SellThrough,
    /// Won deal registrations in the window.
    DealsWon,
    /// Distinct people with at least one valid certification on D.
    CertifiedPeople,
    /// Revenue growth against the same window a year earlier, in basis points.
    GrowthBps,
}

impl MetricKind {
    /// Whether values are money (shown with the currency's decimals).
    pub fn is_money(self) -> bool {
        matches!(self, MetricKind::Revenue | MetricKind::SellThrough)
    }

    /// A label for people.
    pub fn label(self) -> &'static str {
        match self {
            MetricKind::Revenue => "Revenue",
            MetricKind::SellThrough => "Sell-through",
            MetricKind::DealsWon => "Won deals",
            MetricKind::CertifiedPeople => "Certified people",
            MetricKind::GrowthBps => "Growth",
        }
    }
}

/// A metric definition: kind, window and optional filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metric {
    /// What is counted.
    pub kind: MetricKind,
    /// Over which dates (ignored by `certified_people`, which looks at D only).
    pub window: Window,
    /// Only these product lines (revenue, sell-through, growth); empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_lines: Vec<String>,
    /// Only these certification codes (certified people); empty = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
}

/// A metric's value: a number, or undefined with the reason ("no baseline").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricValue {
    /// The value.
    Defined(i64),
    /// No value, and why.
    Undefined(String),
}

impl MetricValue {
    /// The number, if defined.
    pub fn value(&self) -> Option<i64> {
        match self {
            MetricValue::Defined(v) => Some(*v),
            MetricValue::Undefined(_) => None,
        }
    }
}

fn sum_in(sales: &[Sale], from: Date, to: Date, product_lines: &[String]) -> i64 {
    sales
        .iter()
        .filter(|s| s.booked_on >= from && s.booked_on <= to)
        .filter(|s| product_lines.is_empty() || product_lines.iter().any(|l| same_code(l, &s.product_line)))
        .map(|s| s.amount_minor)
        .sum()
}

impl Metric {
    /// A metric over `window` with no filters.
    pub fn new(kind: MetricKind, window: Window) -> Self {
        Self {
            kind,
            window,
            product_lines: Vec::new(),
            codes: Vec::new(),
        }
    }

    /// Evaluates the metric for one partner as of `as_of`.
    pub fn evaluate(&self, facts: &PartnerFacts<'_>, as_of: Date, calendar: FiscalCalendar) -> MetricValue {
        let (from, to) = self.window.range(as_of, calendar);
        match self.kind {
            MetricKind::Revenue => MetricValue::Defined(sum_in(facts.sales, from, to, &self.product_lines)),
            MetricKind::SellThrough => {
                MetricValue::Defined(sum_in(facts.sold_through, from, to, &self.product_lines))
            }
            MetricKind::DealsWon => MetricValue::Defined(
                facts
                    .won_deals
                    .iter()
                    .filter(|d| d.won_on >= from && d.won_on <= to)
                    .count() as i64,
            ),
            MetricKind::CertifiedPeople => MetricValue::Defined(distinct_people(
                facts
                    .certifications
                    .iter()
                    .filter(|c| c.valid_on(as_of))
                    // A code is one code in any case: `acna` stored before a program named
                    // `ACNA` counts for it.
                    .filter(|c| {
                        self.codes.is_empty() || self.codes.iter().any(|code| same_code(code, &c.code))
                    })
                    .map(|c| c.person.as_str()),
            ) as i64),
            MetricKind::GrowthBps => {
                let current = sum_in(facts.sales, from, to, &self.product_lines);
                let (base_from, base_to) = self.window.year_before(as_of, calendar);
                let baseline = sum_in(facts.sales, base_from, base_to, &self.product_lines);
                growth_bps(current, baseline)
            }
        }
    }
}

/// `(current − baseline) × 10000 / baseline`, truncated toward zero; undefined when the
/// baseline is not positive.
pub fn growth_bps(current: i64, baseline: i64) -> MetricValue {
    if baseline <= 0 {
        return MetricValue::Undefined("no baseline".into());
    }
    let bps = (i128::from(current) - i128::from(baseline)) * 10_000 / i128::from(baseline);
    MetricValue::Defined(i64::try_from(bps).unwrap_or(if bps < 0 { i64::MIN } else { i64::MAX }))
}

/// How many people hold the certifications named: each once, however the files spell them.
/// Case and runs of spaces do not make another person (`theo  nakamura` is `Theo Nakamura`),
/// as one learning system exports names as typed and another in capitals.
pub fn distinct_people<'a>(names: impl IntoIterator<Item = &'a str>) -> usize {
    names.into_iter().map(person_key).collect::<BTreeSet<_>>().len()
}

/// A person's name as people are told apart: Unicode compatibility form (a composed and a
/// decomposed `José`, or full-width letters, are the same letters), lower case, single spaces.
pub fn person_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let normalised: String = name.nfkc().collect();
    normalised
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Certification, WonDeal};

    fn d(text: &str) -> Date {
        Date::parse(text, "date").unwrap()
    }

    fn sale(on: &str, line: &str, amount: i64) -> Sale {
        Sale {
            external_id: format!("{on}-{line}-{amount}"),
            partner_id: 1,
            distributor_id: None,
            booked_on: d(on),
            product_line: line.into(),
            amount_minor: amount,
        }
    }

    #[test]
    fn revenue_sums_the_window_with_returns_and_filters() {
        let sales = [
            sale("2025-06-30", "hardware", 1_000), // the day before the window
            sale("2025-07-01", "hardware", 12_000_000),
            sale("2026-03-01", "cloud", 4_000_000),
            sale("2026-06-30", "hardware", -500_000),
            sale("2026-07-01", "hardware", 9_999), // after D
        ];
        let facts = PartnerFacts {
            partner_id: 1,
            sales: &sales,
            ..PartnerFacts::default()
        };
        let revenue = Metric::new(MetricKind::Revenue, Window::TrailingMonths(12));
        assert_eq!(
            revenue
                .evaluate(&facts, d("2026-06-30"), FiscalCalendar::default())
                .value(),
            Some(15_500_000)
        );
        let cloud = Metric {
            product_lines: vec!["cloud".into()],
            ..revenue
        };
        assert_eq!(
            cloud
                .evaluate(&facts, d("2026-06-30"), FiscalCalendar::default())
                .value(),
            Some(4_000_000)
        );
        // A criterion names its line in any case, as a sale may have been stored.
        let capitals = Metric {
            product_lines: vec!["CLOUD".into()],
            ..cloud
        };
        assert_eq!(
            capitals
                .evaluate(&facts, d("2026-06-30"), FiscalCalendar::default())
                .value(),
            Some(4_000_000)
        );
    }

    #[test]
    fn growth_has_no_baseline_without_last_years_sales() {
        assert_eq!(growth_bps(100, 0), MetricValue::Undefined("no baseline".into()));
        assert_eq!(growth_bps(100, -5), MetricValue::Undefined("no baseline".into()));
        assert_eq!(growth_bps(15_000_000, 12_000_000), MetricValue::Defined(2_500));
        assert_eq!(
            growth_bps(1, 3),
            MetricValue::Defined(-6_666),
            "truncated toward zero"
        );
    }

    #[test]
    fn certified_people_counts_distinct_valid_people() {
        let cert = |person: &str, code: &str, from: &str, to: &str| Certification {
            partner_id: 1,
            person: person.into(),
            code: code.into(),
            earned_on: d(from),
            expires_on: d(to),
        };
        let certs = [
            cert("ana", "ACNA", "2025-01-01", "2027-01-01"),
            cert(" Ana ", "ACSE", "2025-01-01", "2027-01-01"), // the same person, spelt otherwise
            cert("ben", "ACNA", "2024-01-01", "2026-06-30"),   // expired on D (exclusive end)
            cert("cho", "ACSE", "2026-06-30", "2028-06-30"),   // earned on D
        ];
        let facts = PartnerFacts {
            partner_id: 1,
            certifications: &certs,
            ..PartnerFacts::default()
        };
        let metric = Metric::new(MetricKind::CertifiedPeople, Window::TrailingMonths(12));
        assert_eq!(
            metric
                .evaluate(&facts, d("2026-06-30"), FiscalCalendar::default())
                .value(),
            Some(2)
        );
        let acna = Metric {
            codes: vec!["ACNA".into()],
            ..metric
        };
        assert_eq!(
            acna.evaluate(&facts, d("2026-06-30"), FiscalCalendar::default())
                .value(),
            Some(1)
        );
        assert_eq!(
            distinct_people(["Theo Nakamura", "theo  nakamura", "THEO NAKAMURA", "Theo Nakamur"]),
            2
        );
        // Composed and decomposed accents, full-width letters and a no-break space.
        assert_eq!(
            distinct_people([
                "Jos\u{e9} Lima",
                "Jose\u{301} Lima",
                "\u{ff2a}os\u{e9}\u{a0}LIMA",
                "Jose Lima"
            ]),
            2
        );
    }

    #[test]
    fn deals_won_and_sell_through_count_their_window() {
        let deals = [
            WonDeal {
                partner_id: 1,
                won_on: d("2026-01-10"),
            },
            WonDeal {
                partner_id: 1,
                won_on: d("2024-01-10"),
            },
        ];
        let through = [sale("2026-02-01", "hardware", 700)];
        let facts = PartnerFacts {
            partner_id: 1,
            won_deals: &deals,
            sold_through: &through,
            ..PartnerFacts::default()
        };
        let as_of = d("2026-06-30");
        let cal = FiscalCalendar::default();
        assert_eq!(
            Metric::new(MetricKind::DealsWon, Window::TrailingMonths(12))
                .evaluate(&facts, as_of, cal)
                .value(),
            Some(1)
        );
        assert_eq!(
            Metric::new(MetricKind::SellThrough, Window::YearToDate)
                .evaluate(&facts, as_of, cal)
                .value(),
            Some(700)
        );
    }
}
