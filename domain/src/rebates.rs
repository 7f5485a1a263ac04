//! Rebate plans and statements (RULES.md §5): exact to the minor unit, explained line by line,
//! with lines that always add up to the total.

use crate::facts::{same_code, Sale};
use crate::money::apply_rate;
use crate::period::FiscalPeriod;
use serde::{Deserialize, Serialize};

/// A band: from `threshold` (minor units) upwards, `rate_bps` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Band {
    /// Lower edge, inclusive, in minor units.
    pub threshold: i64,
    /// Rate in basis points.
    pub rate_bps: i64,
}

/// How a plan turns a basis into a rebate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RebateStructure {
    /// One rate on the whole basis.
    Flat {
        /// Rate in basis points.
        rate_bps: i64,
    },
    /// The highest band whose threshold ≤ basis sets the rate for the whole basis.
    Retroactive {
        /// Bands, ascending thresholds, the first at 0.
        bands: Vec<Band>,
    },
    /// Each band's rate applies to the part of the basis inside it.
    Incremental {
        /// Bands, ascending thresholds, the first at 0.
        bands: Vec<Band>,
    },
    /// Rate × the growth over the same period last year.
    Growth {
        /// Rate in basis points.
        rate_bps: i64,
    },
}

/// A product line paid at a multiple of the rate (basis points: 15000 = 1.5×).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accelerator {
    /// The product line.
    pub product_line: String,
    /// Multiplier in basis points.
    pub multiplier_bps: i64,
}

/// A rebate plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebatePlan {
    /// Identifier used by tiers' benefits, e.g. `gold-rebate`.
    pub id: String,
    /// Name shown on statements.
    pub name: String,
    /// Product lines that make the basis; empty = all.
    #[serde(default)]
    pub product_lines: Vec<String>,
    /// The structure.
    pub structure: RebateStructure,
    /// Below this basis (minor units) the rebate is 0.
    #[serde(default)]
    pub min_basis: Option<i64>,
    /// The total never exceeds this (minor units).
    #[serde(default)]
    pub cap: Option<i64>,
    /// Multipliers per product line (flat and retroactive only).
    #[serde(default)]
    pub accelerators: Vec<Accelerator>,
    /// Decimals of the program currency, for the amounts the explanation lines write.
    #[serde(default = "two_decimals")]
    pub minor_digits: u32,
}

fn two_decimals() -> u32 {
    2
}

/// What a statement line explains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// A basis group at a rate (and multiplier).
    Basis,
    /// An incremental band.
    Band,
    /// Growth over last year.
    Growth,
    /// The basis is below the plan's minimum.
    BelowMinimum,
    /// No rebate on a basis ≤ 0.
    NoBasis,
    /// No growth baseline.
    NoBaseline,
    /// Reduction to the cap.
    Cap,
    /// A restatement of a locked earlier period.
    Adjustment,
}

/// One explained line; the amounts of a statement's lines add up to its total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    /// What the line is.
    pub kind: LineKind,
    /// A sentence for people, e.g. "cloud 40,000.00 × 400 bp × 1.5".
    pub description: String,
    /// The amount the rate applied to (minor units), when there is one.
    pub basis: Option<i64>,
    /// The rate, when there is one.
    pub rate_bps: Option<i64>,
    /// The multiplier, when not 1×.
    pub multiplier_bps: Option<i64>,
    /// The line's amount (minor units).
    pub amount: i64,
}

/// The rebate of one partner, plan and period, explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebateCalculation {
    /// The period.
    pub period: FiscalPeriod,
    /// The plan's id.
    pub plan_id: String,
    /// The basis: the period's sales for the plan's product lines, returns included.
    pub basis: i64,
    /// The lines.
    pub lines: Vec<StatementLine>,
    /// The total: the sum of the lines.
    pub total: i64,
}

fn money(minor: i64, digits: u32) -> String {
    crate::money::format_minor(minor, digits)
}

fn multiplier_text(bps: i64) -> String {
    let whole = bps / 10_000;
    let rest = (bps % 10_000).abs();
    if rest == 0 {
        format!("{whole}")
    } else {
        format!("{whole}.{}", format!("{rest:04}").trim_end_matches('0'))
    }
}

impl RebatePlan {
    /// Whether a sale counts towards this plan's basis.
    pub fn covers(&self, sale: &Sale) -> bool {
        self.covers_line(&sale.product_line)
    }

    /// Whether the plan's basis takes sales of this product line (all lines when it names none),
    /// in whatever case the sale spells it.
    pub fn covers_line(&self, product_line: &str) -> bool {
        self.product_lines.is_empty() || self.product_lines.iter().any(|l| same_code(l, product_line))
    }

    /// The basis of `sales` (already limited to the period and partner).
    pub fn basis<'a>(&self, sales: impl IntoIterator<Item = &'a Sale>) -> i64 {
        sales
            .into_iter()
            .filter(|s| self.covers(s))
            .map(|s| s.amount_minor)
            .sum()
    }

    /// Computes the rebate for one partner and period. `sales` are the partner's sales in the
    /// period; `last_year_basis` is the same period's basis a year earlier (growth plans);
    /// `adjustments` are restatement lines carried into this statement.
    pub fn calculate<'a>(
        &self,
        period: FiscalPeriod,
        sales: impl IntoIterator<Item = &'a Sale> + Clone,
        last_year_basis: Option<i64>,
        adjustments: Vec<StatementLine>,
    ) -> RebateCalculation {
        let basis = self.basis(sales.clone());
        let mut lines = Vec::new();
        if let Some(min) = self.min_basis.filter(|min| basis < *min) {
            lines.push(StatementLine {
                kind: LineKind::BelowMinimum,
                description: format!(
                    "basis {} is below the minimum {}",
                    money(basis, self.minor_digits),
                    money(min, self.minor_digits)
                ),
                basis: Some(basis),
                rate_bps: None,
                multiplier_bps: None,
                amount: 0,
            });
        } else {
            match &self.structure {
                RebateStructure::Flat { rate_bps } => self.accelerated(basis, *rate_bps, sales, &mut lines),
                RebateStructure::Retroactive { bands } => {
                    let rate = bands
                        .iter()
                        .rev()
                        .find(|b| b.threshold <= basis)
                        .map(|b| b.rate_bps)
                        .unwrap_or(0);
                    self.accelerated(basis, rate, sales, &mut lines);
                }
                RebateStructure::Incremental { bands } => {
                    incremental(basis, bands, self.minor_digits, &mut lines)
                }
                RebateStructure::Growth { rate_bps } => {
                    growth(basis, last_year_basis, *rate_bps, self.minor_digits, &mut lines)
                }
            }
        }
        let before_cap: i64 = lines.iter().map(|l| l.amount).sum();
        if let Some(cap) = self.cap.filter(|cap| before_cap > *cap) {
            lines.push(StatementLine {
                kind: LineKind::Cap,
                description: format!("capped at {}", money(cap, self.minor_digits)),
                basis: None,
                rate_bps: None,
                multiplier_bps: None,
                amount: cap - before_cap,
            });
        }
        lines.extend(adjustments);
        let total = lines.iter().map(|l| l.amount).sum();
        RebateCalculation {
            period,
            plan_id: self.id.clone(),
            basis,
            lines,
            total,
        }
    }

    /// Flat and retroactive: the band is chosen on the unaccelerated basis; then one group per
    /// accelerated product line and one for everything else, each rounded separately.
    fn accelerated<'a>(
        &self,
        basis: i64,
        rate_bps: i64,
        sales: impl IntoIterator<Item = &'a Sale>,
        lines: &mut Vec<StatementLine>,
    ) {
        if basis <= 0 {
            lines.push(StatementLine {
                kind: LineKind::NoBasis,
                description: format!("basis {} earns no rebate", money(basis, self.minor_digits)),
                basis: Some(basis),
                rate_bps: Some(rate_bps),
                multiplier_bps: None,
                amount: 0,
            });
            return;
        }
        let covered: Vec<&Sale> = sales.into_iter().filter(|s| self.covers(s)).collect();
        let mut plain = basis;
        for accelerator in &self.accelerators {
            let group: i64 = covered
                .iter()
                .filter(|s| same_code(&s.product_line, &accelerator.product_line))
                .map(|s| s.amount_minor)
                .sum();
            if group == 0 {
                continue;
            }
            plain -= group;
            lines.push(StatementLine {
                kind: LineKind::Basis,
                description: format!(
                    "{} {} × {} bp × {}",
                    accelerator.product_line,
                    money(group, self.minor_digits),
                    rate_bps,
                    multiplier_text(accelerator.multiplier_bps)
                ),
                basis: Some(group),
                rate_bps: Some(rate_bps),
                multiplier_bps: Some(accelerator.multiplier_bps),
                amount: apply_rate(group, rate_bps, accelerator.multiplier_bps),
            });
        }
        let label = if self.accelerators.is_empty() {
            "basis"
        } else {
            "other product lines"
        };
        // A basis made wholly of accelerated lines has no plain group to explain.
        if plain != 0 || lines.is_empty() {
            lines.insert(
                0,
                StatementLine {
                    kind: LineKind::Basis,
                    description: format!("{label} {} × {} bp", money(plain, self.minor_digits), rate_bps),
                    basis: Some(plain),
                    rate_bps: Some(rate_bps),
                    multiplier_bps: None,
                    amount: apply_rate(plain, rate_bps, 10_000),
                },
            );
        }
        // Returns of an accelerated line are multiplied too, and can outweigh the rest of a
        // positive basis. As a basis ≤ 0 earns no rebate, a period's own rebate is never below
        // zero: money comes back only as the restatement of a locked period.
        let own: i64 = lines.iter().map(|l| l.amount).sum();
        if own < 0 {
            lines.push(StatementLine {
                kind: LineKind::NoBasis,
                description: format!(
                    "accelerated returns bring the rebate to {}; a period's own rebate is at least {}",
                    money(own, self.minor_digits),
                    money(0, self.minor_digits)
                ),
                basis: None,
                rate_bps: None,
                multiplier_bps: None,
                amount: -own,
            });
        }
    }
}

fn incremental(basis: i64, bands: &[Band], digits: u32, lines: &mut Vec<StatementLine>) {
    if basis <= 0 {
        lines.push(StatementLine {
            kind: LineKind::NoBasis,
            description: format!("basis {} earns no rebate", money(basis, digits)),
            basis: Some(basis),
            rate_bps: None,
            multiplier_bps: None,
            amount: 0,
        });
        return;
    }
    for (i, band) in bands.iter().enumerate() {
        if basis <= band.threshold {
            break;
        }
        let upper = bands.get(i + 1).map_or(basis, |next| next.threshold.min(basis));
        let part = upper - band.threshold;
        lines.push(StatementLine {
            kind: LineKind::Band,
            description: format!(
                "{} – {}: {} × {} bp",
                money(band.threshold, digits),
                money(upper, digits),
                money(part, digits),
                band.rate_bps
            ),
            basis: Some(part),
            rate_bps: Some(band.rate_bps),
            multiplier_bps: None,
            amount: apply_rate(part, band.rate_bps, 10_000),
        });
    }
}

fn growth(basis: i64, last_year: Option<i64>, rate_bps: i64, digits: u32, lines: &mut Vec<StatementLine>) {
    match last_year.filter(|b| *b > 0) {
        None => lines.push(StatementLine {
            kind: LineKind::NoBaseline,
            description: match last_year {
                Some(returns) if returns < 0 => format!(
                    "no baseline: the same period last year came to {}",
                    money(returns, digits)
                ),
                _ => "no baseline: no sales in the same period last year".into(),
            },
            basis: Some(basis),
            rate_bps: Some(rate_bps),
            multiplier_bps: None,
            amount: 0,
        }),
        Some(baseline) => {
            let growth = (basis - baseline).max(0);
            lines.push(StatementLine {
                kind: LineKind::Growth,
                description: format!(
                    "growth {} ({} − {}) × {} bp",
                    money(growth, digits),
                    money(basis, digits),
                    money(baseline, digits),
                    rate_bps
                ),
                basis: Some(growth),
                rate_bps: Some(rate_bps),
                multiplier_bps: None,
                amount: apply_rate(growth, rate_bps, 10_000),
            });
        }
    }
}

/// What a rebate run did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's id.
    pub id: i64,
    /// The period.
    pub period: String,
    /// Draft statements created or recomputed.
    pub drafts: usize,
    /// Approved or paid statements left as they were.
    pub locked: usize,
    /// Sum of the drafts' totals (minor units).
    pub draft_total: i64,
    /// The program currency (ISO 4217).
    pub currency: String,
    /// Decimals of the program currency.
    pub minor_digits: u32,
}

/// One sale behind a statement's basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasisSale {
    /// The source's id.
    pub external_id: String,
    /// Booking date, `YYYY-MM-DD`.
    pub booked_on: String,
    /// Product line.
    pub product_line: String,
    /// Amount in minor units.
    pub amount: i64,
    /// Whether the statement's basis holds it: the plan's product lines include it and it
    /// was there when the statement was computed.
    pub counted: bool,
    /// Imported after the statement was computed, or moved to its partner or period by a
    /// re-import since: not in its basis. A draft takes it in at the next run; an approved or
    /// paid one never changes, and a later statement carries the difference as a restatement.
    #[serde(default)]
    pub arrived_later: bool,
    /// Changed by a re-import after the statement was computed: shown with the values it had
    /// then, which the basis holds, even if it has since moved to another partner or period;
    /// the difference goes the way of [`BasisSale::arrived_later`].
    #[serde(default)]
    pub changed_later: bool,
    /// The statement has no rebate plan (its partner's tier had none): it carries restatements
    /// of earlier periods only, and no sale of its own period is in a basis.
    #[serde(default)]
    pub without_plan: bool,
}

impl BasisSale {
    /// Whether the sale is in the basis and why, in the words the statement page and its
    /// export use.
    pub fn in_basis(&self) -> &'static str {
        if self.arrived_later {
            "No: arrived later"
        } else if self.without_plan {
            "No: the tier had no rebate plan"
        } else if !self.counted {
            "No: not a product line of the plan"
        } else if self.changed_later {
            "Yes, as it was before a later change"
        } else {
            "Yes"
        }
    }
}

/// The rebate of the period in progress, computed from the sales so far; nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebateForecast {
    /// The period in progress.
    pub period: String,
    /// The plan of the partner's tier today.
    pub plan_name: String,
    /// Basis so far, minor units.
    pub basis: i64,
    /// Rebate so far, minor units.
    pub total: i64,
    /// The explanation.
    pub lines: Vec<StatementLine>,
    /// The date the sales run to.
    pub as_of: String,
    /// The rebate the whole period would earn if sales go on at the pace so far (each product
    /// line's sales scaled from the days elapsed to the days in the period), minor units.
    pub projected_total: i64,
    /// The basis that projection stands on, minor units.
    pub projected_basis: i64,
    /// The period's last day.
    pub period_ends: String,
    /// The program currency (ISO 4217).
    pub currency: String,
    /// Decimals of the program currency.
    pub minor_digits: u32,
    /// The partner's tier has no plan: the period's statement will carry restatements of
    /// earlier locked periods alone, and `lines` are those.
    #[serde(default)]
    pub restatements_only: bool,
}

/// Scales an amount from the days elapsed to the days in the period (the pace so far),
/// rounded half to even. With no day elapsed there is no pace: the amount is returned as is.
pub fn at_pace(amount: i64, days_elapsed: i64, days_in_period: i64) -> i64 {
    if days_elapsed <= 0 || days_elapsed >= days_in_period {
        return amount;
    }
    let scaled = crate::money::div_round_half_even(
        i128::from(amount) * i128::from(days_in_period),
        i128::from(days_elapsed),
    );
    i64::try_from(scaled).unwrap_or(if amount < 0 { i64::MIN } else { i64::MAX })
}

/// Where a statement is in its life: drafts are recomputed, approved and paid ones never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementStatus {
    /// Computed, may be recomputed.
    Draft,
    /// Locked by finance.
    Approved,
    /// Paid out, with a payout reference.
    Paid,
}

impl StatementStatus {
    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            StatementStatus::Draft => "draft",
            StatementStatus::Approved => "approved",
            StatementStatus::Paid => "paid",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "draft" => Some(StatementStatus::Draft),
            "approved" => Some(StatementStatus::Approved),
            "paid" => Some(StatementStatus::Paid),
            _ => None,
        }
    }
}

/// A rebate statement as finance and the partner see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementView {
    /// Id.
    pub id: i64,
    /// The partner.
    pub partner_id: i64,
    /// Its name.
    pub partner_name: String,
    /// The plan's id.
    pub plan_id: String,
    /// The plan's name.
    pub plan_name: String,
    /// The period, e.g. `2026-Q2`.
    pub period: String,
    /// The tier whose plan applied (effective on the period's last day).
    pub tier_rank: i64,
    /// Draft, approved or paid.
    pub status: StatementStatus,
    /// The basis in minor units.
    pub basis: i64,
    /// The total in minor units: the sum of the lines.
    pub total: i64,
    /// The currency.
    pub currency: String,
    /// The explanation.
    pub lines: Vec<StatementLine>,
    /// Set when paid.
    pub payout_reference: Option<String>,
    /// When finance approved it, milliseconds since the Unix epoch.
    #[serde(default)]
    pub approved_at: Option<i64>,
    /// Who approved it (their e-mail address); told to finance and vendor admins only.
    #[serde(default)]
    pub approved_by: Option<String>,
    /// When it was marked paid, milliseconds since the Unix epoch.
    #[serde(default)]
    pub paid_at: Option<i64>,
    /// Who marked it paid (their e-mail address); told to finance and vendor admins only.
    #[serde(default)]
    pub paid_by: Option<String>,
    /// For a draft of a period still running: the first day it can be approved (the day after
    /// the period ends, when the tier that sets its plan and the period's sales are known).
    #[serde(default)]
    pub approvable_from: Option<String>,
    /// When it was last computed, milliseconds since the Unix epoch. Read on the server only:
    /// not sent, so that a run over the same facts answers the same statement.
    #[serde(skip)]
    pub computed_at: i64,
    /// For a draft of a period that has ended: it was computed while the period was running,
    /// so sales of the period's last days may be missing. A run of the period comes before
    /// its approval.
    #[serde(default)]
    pub computed_while_running: bool,
}

/// One page of a statement list, and how many statements its filter matches in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementPage {
    /// The statements on the page: newest period first, then by partner name.
    pub statements: Vec<StatementView>,
    /// How many statements the filter matches, on every page.
    pub total: usize,
    /// How many matching statements come before this page.
    pub offset: usize,
    /// The most statements a page holds.
    pub limit: usize,
}

impl StatementPage {
    /// `Showing 51–100 of 5,000 statements`, or `1 statement`.
    pub fn range_text(&self) -> String {
        let plural = if self.total == 1 { "" } else { "s" };
        let shown = self.statements.len();
        if shown == self.total {
            return format!("{} statement{plural}", grouped(self.total));
        }
        format!(
            "Showing {}–{} of {} statement{plural}",
            grouped(self.offset + 1),
            grouped(self.offset + shown),
            grouped(self.total)
        )
    }

    /// Whether a later page holds more.
    pub fn has_next(&self) -> bool {
        self.offset + self.statements.len() < self.total
    }
}

/// A count with thousands separators: `5,000`.
pub fn grouped(count: usize) -> String {
    crate::money::format_minor(i64::try_from(count).unwrap_or(i64::MAX), 0)
}

/// The drafts of a period that finance can approve in one step, as the approver reads them:
/// the approval names the count and total it was shown, so a run in between cannot slip in
/// other figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodDrafts {
    /// The period, e.g. `2026-Q2`.
    pub period: String,
    /// Drafts that can be approved.
    pub count: usize,
    /// Their totals added up (minor units).
    pub total: i64,
    /// Their currency (the program's).
    pub currency: String,
    /// Decimals of the currency.
    pub minor_digits: u32,
    /// For a period still running: the first day its drafts can be approved.
    pub approvable_from: Option<String>,
}

/// What approving a period's drafts did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodApproval {
    /// The period.
    pub period: String,
    /// Statements approved.
    pub approved: usize,
    /// Their totals added up (minor units).
    pub total: i64,
    /// Their currency.
    pub currency: String,
    /// Decimals of the currency.
    pub minor_digits: u32,
}

/// The adjustment line a locked period's restatement carries into the next open statement:
/// `new total − locked total`, or nothing when they agree.
pub fn restatement(period: FiscalPeriod, locked_total: i64, new_total: i64) -> Option<StatementLine> {
    (new_total != locked_total).then(|| StatementLine {
        kind: LineKind::Adjustment,
        description: restatement_label(period),
        basis: None,
        rate_bps: None,
        multiplier_bps: None,
        amount: new_total - locked_total,
    })
}

/// The description of a locked period's restatement line, "2026-Q1 restatement".
pub fn restatement_label(period: FiscalPeriod) -> String {
    format!("{period} restatement")
}

/// Whether `line` is the restatement of the locked `period`.
pub fn restates(line: &StatementLine, period: FiscalPeriod) -> bool {
    line.kind == LineKind::Adjustment && line.description == restatement_label(period)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Date;

    fn page(offset: usize, shown: usize, total: usize) -> StatementPage {
        let statement = StatementView {
            id: 1,
            partner_id: 2,
            partner_name: "Northwind Systems".into(),
            plan_id: "silver-flat".into(),
            plan_name: "Silver flat rebate".into(),
            period: "2026-Q2".into(),
            tier_rank: 1,
            status: StatementStatus::Draft,
            basis: 0,
            total: 0,
            currency: "USD".into(),
            lines: Vec::new(),
            payout_reference: None,
            approved_at: None,
            approved_by: None,
            paid_at: None,
            paid_by: None,
            approvable_from: None,
            computed_at: 0,
            computed_while_running: false,
        };
        StatementPage {
            statements: vec![statement; shown],
            total,
            offset,
            limit: 50,
        }
    }

    #[test]
    fn a_page_says_which_statements_it_shows() {
        assert_eq!(
            page(50, 50, 5000).range_text(),
            "Showing 51–100 of 5,000 statements"
        );
        assert!(page(50, 50, 5000).has_next());
        assert_eq!(
            page(4950, 50, 5000).range_text(),
            "Showing 4,951–5,000 of 5,000 statements"
        );
        assert!(!page(4950, 50, 5000).has_next());
        assert_eq!(page(0, 1, 1).range_text(), "1 statement");
        assert_eq!(page(0, 12, 12).range_text(), "12 statements");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    const Q2: FiscalPeriod = FiscalPeriod {
        year: 2026,
        quarter: 2,
    };

    fn sale(line: &str, amount: i64) -> Sale {
        Sale {
            external_id: format!("{line}{amount}"),
            partner_id: 1,
            distributor_id: None,
            booked_on: Date::new(2026, 5, 1).unwrap(),
            product_line: line.into(),
            amount_minor: amount,
        }
    }

    fn plan(structure: RebateStructure) -> RebatePlan {
        RebatePlan {
            id: "p".into(),
            name: "Plan".into(),
            product_lines: vec![],
            structure,
            min_basis: None,
            cap: None,
            accelerators: vec![],
            minor_digits: 2,
        }
    }

    fn bands(pairs: &[(i64, i64)]) -> Vec<Band> {
        pairs
            .iter()
            .map(|(threshold, rate_bps)| Band {
                threshold: *threshold,
                rate_bps: *rate_bps,
            })
            .collect()
    }

    fn check_sum(calc: &RebateCalculation) {
        assert_eq!(calc.lines.iter().map(|l| l.amount).sum::<i64>(), calc.total);
    }

    #[test]
    fn the_pace_so_far_scales_to_the_whole_period() {
        // 30 of 91 days: 3,000.00 → 9,100.00.
        assert_eq!(at_pace(300_000, 30, 91), 910_000);
        assert_eq!(at_pace(-300, 30, 91), -910);
        assert_eq!(at_pace(1, 2, 3), 2, "1.5 → 2, half to even");
        assert_eq!(at_pace(5, 0, 91), 5, "no day elapsed: no pace");
        assert_eq!(at_pace(5, 91, 91), 5, "the period is over");
    }

    #[test]
    fn rules_5_example_1_flat() {
        let p = plan(RebateStructure::Flat { rate_bps: 200 });
        let calc = p.calculate(Q2, &[sale("hardware", 1_234_567)], None, vec![]);
        assert_eq!(calc.total, 24_691);
        let calc = p.calculate(Q2, &[sale("hardware", 123_425)], None, vec![]);
        assert_eq!(calc.total, 2_468, "24.685 rounds half to even to 24.68");
        check_sum(&calc);
    }

    #[test]
    fn rules_5_example_2_retroactive_with_accelerator() {
        let mut p = plan(RebateStructure::Retroactive {
            bands: bands(&[(0, 300), (10_000_000, 400), (25_000_000, 500)]),
        });
        p.accelerators = vec![Accelerator {
            product_line: "cloud".into(),
            multiplier_bps: 15_000,
        }];
        let sales = [
            sale("hardware", 12_000_000),
            sale("cloud", 4_000_000),
            sale("hardware", -500_000),
        ];
        let calc = p.calculate(Q2, &sales, None, vec![]);
        assert_eq!(calc.basis, 15_500_000);
        let amounts: Vec<i64> = calc.lines.iter().map(|l| l.amount).collect();
        assert_eq!(
            amounts,
            [460_000, 240_000],
            "hardware 4,600.00 and cloud 2,400.00"
        );
        assert_eq!(calc.total, 700_000);
        assert!(
            calc.lines[1].description.contains("× 1.5"),
            "{}",
            calc.lines[1].description
        );
        check_sum(&calc);
        // Exactly at a threshold, the band applies.
        let at = p.calculate(Q2, &[sale("hardware", 10_000_000)], None, vec![]);
        assert_eq!(at.lines[0].rate_bps, Some(400));
    }

    #[test]
    fn a_product_line_is_one_line_in_any_case() {
        // `Storage` stored before the program named `storage`: the same line, so it earns the
        // accelerator beside `storage` and counts in a basis limited to `STORAGE`.
        let mut p = plan(RebateStructure::Flat { rate_bps: 300 });
        p.product_lines = vec!["STORAGE".into(), "hardware".into()];
        p.accelerators = vec![Accelerator {
            product_line: "storage".into(),
            multiplier_bps: 20_000,
        }];
        let sales = [
            sale("Storage", 1_000_000),
            sale("storage", 1_000_000),
            sale("Hardware", 500_000),
            sale("cloud", 700_000),
        ];
        let calc = p.calculate(Q2, &sales, None, vec![]);
        assert_eq!(calc.basis, 2_500_000, "cloud is not in the basis");
        let described: Vec<&str> = calc.lines.iter().map(|l| l.description.as_str()).collect();
        assert_eq!(
            described,
            [
                "other product lines 5,000.00 × 300 bp",
                "storage 20,000.00 × 300 bp × 2"
            ]
        );
        assert_eq!(calc.total, 15_000 + 120_000);
        check_sum(&calc);
        // A basis wholly of accelerated lines has no "other product lines" line of 0.00.
        let calc = p.calculate(Q2, &[sale("storage", 1_000_000)], None, vec![]);
        let described: Vec<&str> = calc.lines.iter().map(|l| l.description.as_str()).collect();
        assert_eq!(described, ["storage 10,000.00 × 300 bp × 2"]);
        assert_eq!(calc.total, 60_000);
        check_sum(&calc);
    }

    #[test]
    fn accelerated_returns_never_take_a_period_below_zero() {
        let mut p = plan(RebateStructure::Flat { rate_bps: 200 });
        p.accelerators = vec![Accelerator {
            product_line: "cloud".into(),
            multiplier_bps: 30_000,
        }];
        // Basis 500.00: hardware 20.00, cloud −500.00 × 2 % × 3 = −30.00, so −10.00 before the
        // floor line adds it back.
        let calc = p.calculate(
            Q2,
            &[sale("hardware", 100_000), sale("cloud", -50_000)],
            None,
            vec![],
        );
        let amounts: Vec<i64> = calc.lines.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, [2_000, -3_000, 1_000]);
        assert_eq!(calc.total, 0);
        assert_eq!(calc.lines[2].kind, LineKind::NoBasis);
        assert!(
            calc.lines[2].description.contains("-10.00"),
            "{:?}",
            calc.lines[2]
        );
        check_sum(&calc);
        // A restatement still takes money back: the floor is the period's own rebate only.
        let back = restatement(Q2, 5_000, 0).unwrap();
        let calc = p.calculate(
            Q2,
            &[sale("hardware", 100_000), sale("cloud", -50_000)],
            None,
            vec![back],
        );
        assert_eq!(calc.total, -5_000);
        // Returns that do not outweigh the rest are simply netted.
        let calc = p.calculate(
            Q2,
            &[sale("hardware", 100_000), sale("cloud", -10_000)],
            None,
            vec![],
        );
        assert_eq!(calc.total, 2_000 - 600);
        assert_eq!(calc.lines.len(), 2);
    }

    #[test]
    fn a_baseline_of_returns_is_named() {
        let p = plan(RebateStructure::Growth { rate_bps: 1_000 });
        let calc = p.calculate(Q2, &[sale("hardware", 100_000)], Some(-200_000), vec![]);
        assert_eq!(calc.total, 0);
        assert_eq!(calc.lines[0].kind, LineKind::NoBaseline);
        assert_eq!(
            calc.lines[0].description,
            "no baseline: the same period last year came to -2,000.00"
        );
        let calc = p.calculate(Q2, &[sale("hardware", 100_000)], Some(0), vec![]);
        assert_eq!(
            calc.lines[0].description,
            "no baseline: no sales in the same period last year"
        );
    }

    #[test]
    fn rules_5_example_3_incremental_with_cap() {
        let mut p = plan(RebateStructure::Incremental {
            bands: bands(&[(0, 300), (10_000_000, 500), (50_000_000, 700)]),
        });
        p.cap = Some(4_000_000);
        let calc = p.calculate(Q2, &[sale("hardware", 62_000_000)], None, vec![]);
        let amounts: Vec<i64> = calc.lines.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, [300_000, 2_000_000, 840_000]);
        assert_eq!(calc.total, 3_140_000);
        let capped = p.calculate(Q2, &[sale("hardware", 80_000_000)], None, vec![]);
        assert_eq!(
            capped.lines.iter().map(|l| l.amount).take(3).sum::<i64>(),
            4_400_000
        );
        assert_eq!(capped.lines.last().unwrap().kind, LineKind::Cap);
        assert_eq!(capped.total, 4_000_000);
        check_sum(&capped);
    }

    #[test]
    fn rules_5_example_4_growth() {
        let p = plan(RebateStructure::Growth { rate_bps: 1_000 });
        let calc = p.calculate(Q2, &[sale("hardware", 15_000_000)], Some(12_000_000), vec![]);
        assert_eq!(calc.total, 300_000);
        let none = p.calculate(Q2, &[sale("hardware", 15_000_000)], Some(0), vec![]);
        assert_eq!(none.total, 0);
        assert_eq!(none.lines[0].kind, LineKind::NoBaseline);
        let shrink = p.calculate(Q2, &[sale("hardware", 10_000_000)], Some(12_000_000), vec![]);
        assert_eq!(shrink.total, 0);
    }

    #[test]
    fn rules_5_example_5_below_minimum() {
        let mut p = plan(RebateStructure::Flat { rate_bps: 200 });
        p.min_basis = Some(1_000_000);
        let calc = p.calculate(Q2, &[sale("hardware", 999_999)], None, vec![]);
        assert_eq!(calc.total, 0);
        assert_eq!(calc.lines[0].kind, LineKind::BelowMinimum);
        assert!(calc.lines[0].description.contains("below the minimum 10,000.00"));
    }

    #[test]
    fn rules_5_example_6_restatement_adjustment() {
        let q1 = FiscalPeriod {
            year: 2026,
            quarter: 1,
        };
        let line = restatement(q1, 100_000, 106_000).unwrap();
        assert_eq!(line.amount, 6_000);
        assert_eq!(line.description, "2026-Q1 restatement");
        assert!(restatement(q1, 100_000, 100_000).is_none());
        let p = plan(RebateStructure::Flat { rate_bps: 200 });
        let q2 = p.calculate(Q2, &[sale("hardware", 1_000_000)], None, vec![line]);
        assert_eq!(q2.total, 20_000 + 6_000);
        check_sum(&q2);
    }

    #[test]
    fn a_basis_at_or_below_zero_earns_nothing() {
        let p = plan(RebateStructure::Flat { rate_bps: 200 });
        assert_eq!(
            p.calculate(Q2, &[sale("hardware", -5_000)], None, vec![]).total,
            0
        );
        let inc = plan(RebateStructure::Incremental {
            bands: bands(&[(0, 300)]),
        });
        assert_eq!(inc.calculate(Q2, &[], None, vec![]).total, 0);
    }

    #[test]
    fn explanations_write_amounts_in_the_currency_s_decimals() {
        // A yen plan: no decimals.
        let mut yen = plan(RebateStructure::Flat { rate_bps: 200 });
        yen.minor_digits = 0;
        let calc = yen.calculate(Q2, &[sale("hardware", 123_456)], None, Vec::new());
        assert_eq!(calc.lines[0].description, "basis 123,456 × 200 bp");
        assert_eq!(calc.total, 2_469);
    }

    #[test]
    fn a_sale_says_why_it_is_out_of_the_basis() {
        let sale = BasisSale {
            external_id: "S-1".into(),
            booked_on: "2026-05-01".into(),
            product_line: "hardware".into(),
            amount: 100,
            counted: false,
            arrived_later: false,
            changed_later: false,
            without_plan: false,
        };
        assert_eq!(sale.in_basis(), "No: not a product line of the plan");
        let restatements_only = BasisSale {
            without_plan: true,
            ..sale.clone()
        };
        assert_eq!(restatements_only.in_basis(), "No: the tier had no rebate plan");
        let late = BasisSale {
            arrived_later: true,
            ..restatements_only
        };
        assert_eq!(late.in_basis(), "No: arrived later");
        let counted = BasisSale {
            counted: true,
            ..sale
        };
        assert_eq!(counted.in_basis(), "Yes");
    }
}
