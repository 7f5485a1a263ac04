//! The vendor's channel dashboard: revenue by tier, partner type and region, partners within
//! reach of the next tier or at risk of losing theirs, and approval turnaround.

use crate::calendar::Date;
use crate::deals::Turnaround;
use crate::identity::TierBadge;
use serde::{Deserialize, Serialize};

/// Revenue of a group of partners in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevenueRow {
    /// The group's code (`2`, `reseller`, `emea`).
    pub key: String,
    /// Its name for people.
    pub label: String,
    /// Partners in the group (after the filters).
    pub partners: usize,
    /// Their revenue in the period, minor units.
    pub revenue: i64,
}

/// A partner close to the next tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReachRow {
    /// Partner id.
    pub partner_id: i64,
    /// Name.
    pub name: String,
    /// Effective tier.
    pub tier: TierBadge,
    /// The tier within reach.
    pub next_tier: TierBadge,
    /// The least complete criterion, e.g. "Won deals, trailing 12 months: 1 to go".
    pub weakest: String,
    /// The least complete criterion's percent (0–100).
    pub percent: u8,
}

/// A partner below its tier's criteria.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskRow {
    /// Partner id.
    pub partner_id: i64,
    /// Name.
    pub name: String,
    /// Effective tier.
    pub tier: TierBadge,
    /// The tier its figures qualify for today.
    pub qualified: TierBadge,
    /// Set after a review found it below: it keeps its tier until then.
    pub at_risk_until: Option<Date>,
}

/// Everything on the channel dashboard for one period and set of filters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelDashboard {
    /// The fiscal period, e.g. `2026-Q4`.
    pub period: String,
    /// First and last day of the period.
    pub from: Date,
    /// Last day of the period.
    pub to: Date,
    /// Program currency.
    pub currency: String,
    /// Its minor digits.
    pub minor_digits: u32,
    /// Partners matching the filters.
    pub partners: usize,
    /// Their revenue in the period.
    pub revenue: i64,
    /// Revenue by effective tier.
    pub by_tier: Vec<RevenueRow>,
    /// Revenue by partner type.
    pub by_type: Vec<RevenueRow>,
    /// Revenue by region.
    pub by_region: Vec<RevenueRow>,
    /// Partners with every criterion of the next tier at 80 % or more, closest first.
    pub within_reach: Vec<ReachRow>,
    /// Partners whose figures no longer hold their tier, soonest deadline first.
    pub at_risk: Vec<RiskRow>,
    /// Approval turnaround per workflow.
    pub approvals: Vec<Turnaround>,
    /// The program's tiers, for the tier filter.
    pub tiers: Vec<TierBadge>,
}

/// How close "within reach" is: every criterion of the next tier at least this far.
pub const WITHIN_REACH_PERCENT: u8 = 80;

/// The tables of the dashboard, by the name their CSV export uses.
pub const TABLES: [&str; 6] = [
    "revenue-by-tier",
    "revenue-by-type",
    "revenue-by-region",
    "within-reach",
    "at-risk",
    "approvals",
];

impl ChannelDashboard {
    /// One table as rows of cells, header first; `None` for an unknown table name.
    pub fn table(&self, name: &str) -> Option<Vec<Vec<String>>> {
        let money = |minor: i64| crate::money::format_minor(minor, self.minor_digits).replace(',', "");
        let revenue = |rows: &[RevenueRow], what: &str| {
            let mut out = vec![vec![
                what.to_owned(),
                "partners".into(),
                format!("revenue_{}", self.currency.to_lowercase()),
            ]];
            out.extend(
                rows.iter()
                    .map(|r| vec![r.label.clone(), r.partners.to_string(), money(r.revenue)]),
            );
            out
        };
        Some(match name {
            "revenue-by-tier" => revenue(&self.by_tier, "tier"),
            "revenue-by-type" => revenue(&self.by_type, "partner_type"),
            "revenue-by-region" => revenue(&self.by_region, "region"),
            "within-reach" => {
                let mut out = vec![vec![
                    "partner_id".into(),
                    "partner".into(),
                    "tier".into(),
                    "next_tier".into(),
                    "weakest_criterion".into(),
                    "percent".into(),
                ]];
                out.extend(self.within_reach.iter().map(|r| {
                    vec![
                        r.partner_id.to_string(),
                        r.name.clone(),
                        r.tier.name.clone(),
                        r.next_tier.name.clone(),
                        r.weakest.clone(),
                        r.percent.to_string(),
                    ]
                }));
                out
            }
            "at-risk" => {
                let mut out = vec![vec![
                    "partner_id".into(),
                    "partner".into(),
                    "tier".into(),
                    "qualifies_for".into(),
                    "at_risk_until".into(),
                ]];
                out.extend(self.at_risk.iter().map(|r| {
                    vec![
                        r.partner_id.to_string(),
                        r.name.clone(),
                        r.tier.name.clone(),
                        r.qualified.name.clone(),
                        r.at_risk_until.map(|d| d.to_string()).unwrap_or_default(),
                    ]
                }));
                out
            }
            "approvals" => {
                let hours = |h: Option<f64>| h.map(|h| format!("{h:.1}")).unwrap_or_default();
                let mut out = vec![vec![
                    "approval".into(),
                    "decided".into(),
                    "waiting".into(),
                    "median_hours".into(),
                    "p90_hours".into(),
                    "breaches".into(),
                ]];
                out.extend(self.approvals.iter().map(|t| {
                    vec![
                        t.workflow.clone(),
                        t.decided.to_string(),
                        t.open.to_string(),
                        hours(t.median_hours),
                        hours(t.p90_hours),
                        t.breaches.to_string(),
                    ]
                }));
                out
            }
            _ => return None,
        })
    }
}

/// Rows of cells as CSV (RFC 4180: fields with commas, quotes or line breaks are quoted).
pub fn to_csv(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .map(|cell| {
                let cell = spreadsheet_safe(cell);
                if cell.contains([',', '"', '\n', '\r']) {
                    format!("\"{}\"", cell.replace('"', "\"\""))
                } else {
                    cell.into_owned()
                }
            })
            .collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// A text cell a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return, as a partner's name might) gets a leading `'` so that it is shown as
/// text; numbers such as `-1234.56` are left as they are.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    let is_number = |text: &str| {
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && digits.bytes().filter(|b| *b == b'.').count() <= 1
            && digits.bytes().any(|b| b.is_ascii_digit())
    };
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_number(cell) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_exported_as_text_and_numbers_as_numbers() {
        for (cell, exported) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1 555", "'+1 555"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("-", "'-"),
            ("\tx", "'\tx"),
            ("-1234.56", "-1234.56"),
            ("+12", "+12"),
            ("Northwind", "Northwind"),
        ] {
            assert_eq!(spreadsheet_safe(cell), exported, "{cell}");
        }
        let rows = vec![vec!["=1+1".to_owned(), "-5.00".to_owned()]];
        assert_eq!(to_csv(&rows), "'=1+1,-5.00\r\n");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let rows = vec![
            vec!["a".to_owned(), "b,c".to_owned()],
            vec!["say \"hi\"".to_owned(), "x\ny".to_owned()],
        ];
        assert_eq!(to_csv(&rows), "a,\"b,c\"\r\n\"say \"\"hi\"\"\",\"x\ny\"\r\n");
    }

    #[test]
    fn every_table_has_a_header_and_unknown_tables_none() {
        let dashboard = ChannelDashboard {
            period: "2026-Q4".into(),
            from: Date::parse("2026-10-01", "d").unwrap(),
            to: Date::parse("2026-12-31", "d").unwrap(),
            currency: "USD".into(),
            minor_digits: 2,
            partners: 1,
            revenue: 123_456,
            by_tier: vec![RevenueRow {
                key: "2".into(),
                label: "Gold".into(),
                partners: 1,
                revenue: 123_456,
            }],
            by_type: vec![],
            by_region: vec![],
            within_reach: vec![],
            at_risk: vec![],
            approvals: vec![],
            tiers: vec![],
        };
        for table in TABLES {
            assert!(!dashboard.table(table).unwrap()[0].is_empty(), "{table}");
        }
        assert_eq!(
            dashboard.table("revenue-by-tier").unwrap()[1],
            vec!["Gold", "1", "1234.56"]
        );
        assert!(dashboard.table("nope").is_none());
    }
}
