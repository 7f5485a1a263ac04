//! A whole channel program as data (tiers, criteria, benefits, rebate plans, review policy),
//! read from TOML or JSON and validated with errors that name the field path, e.g.
//! `tiers[2].criteria[0].threshold: must be > 0`. See docs/program-format.md.

use crate::content::Room;
use crate::identity::{PartnerType, TierRank};
use crate::metrics::{Metric, MetricKind};
use crate::money::{format_minor, parse_minor, Currency};
use crate::period::{FiscalCalendar, FiscalPeriod, Window};
use crate::rebates::{Accelerator, Band, RebatePlan, RebateStructure};
use crate::tiers::{Criterion, ReviewPolicy, TierDefinition, TierLadder};
use crate::FieldError;
use serde::{Deserialize, Serialize};

/// The largest accelerator multiplier a plan takes, in basis points (10×).
pub const MAX_MULTIPLIER_BPS: i64 = 100_000;

/// What a tier grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BenefitKind {
    /// A price discount in basis points.
    DiscountBps {
        /// Discount.
        bps: i64,
    },
    /// The rebate plan paid for periods that end in this tier.
    RebatePlan {
        /// The plan's id.
        plan: String,
    },
    /// Market-development funds as a share of the previous period's revenue.
    MdfBps {
        /// Share in basis points.
        bps: i64,
    },
    /// Days an approved deal registration is protected.
    DealProtectionDays {
        /// Days.
        days: u16,
    },
    /// Rooms of content the tier unlocks.
    Rooms {
        /// Room slugs.
        rooms: Vec<String>,
    },
    /// A benefit described in words.
    Text {
        /// The description.
        text: String,
    },
}

/// A benefit, possibly limited to some partner types.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Benefit {
    /// What it is.
    #[serde(flatten)]
    pub kind: BenefitKind,
    /// Partner types that get it; empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partner_types: Vec<PartnerType>,
}

/// Why `benefit` cannot join `earlier` benefits of its tier: a partner's tier gives it one
/// rebate plan (RULES.md §5, "the plan of the partner's effective tier"), so two plan benefits of
/// a tier must be for partner types apart. `None` when it can.
fn second_rebate_plan(earlier: &[Benefit], benefit: &Benefit) -> Option<String> {
    let BenefitKind::RebatePlan { plan } = &benefit.kind else {
        return None;
    };
    earlier.iter().enumerate().find_map(|(e, other)| {
        let BenefitKind::RebatePlan { plan: first } = &other.kind else {
            return None;
        };
        let shared = PartnerType::ALL
            .iter()
            .find(|t| benefit.applies_to(**t) && other.applies_to(**t))?;
        Some(format!(
            "a tier gives each partner type one rebate plan, and `{plan}` applies to `{}` partners as `{first}` (benefits[{e}]) does; limit the two to different partner_types",
            shared.as_str()
        ))
    })
}

impl Benefit {
    /// Whether a partner of this type receives the benefit.
    pub fn applies_to(&self, partner_type: PartnerType) -> bool {
        self.partner_types.is_empty() || self.partner_types.contains(&partner_type)
    }
}

/// A validated program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Name.
    pub name: String,
    /// The one currency of the program.
    pub currency: Currency,
    /// Tiers, criteria, calendar and review policy.
    pub ladder: TierLadder,
    /// The IANA time zone of business dates; `None` is UTC. Only its form is checked here
    /// (the browser has no time-zone database); the server checks that it exists.
    pub time_zone: Option<String>,
    /// Benefits per tier, same order as the ladder.
    pub benefits: Vec<Vec<Benefit>>,
    /// Rebate plans.
    pub rebate_plans: Vec<RebatePlan>,
}

impl Program {
    /// The product lines the program names (its criteria's filters, its plans' bases and
    /// accelerators), each once, in the program's own spelling.
    pub fn named_product_lines(&self) -> Vec<String> {
        let criteria = self.ladder.tiers.iter().flat_map(|t| &t.criteria);
        let mut lines: Vec<String> = criteria
            .flat_map(|c| &c.metric.product_lines)
            .chain(self.rebate_plans.iter().flat_map(|p| {
                p.product_lines
                    .iter()
                    .chain(p.accelerators.iter().map(|a| &a.product_line))
            }))
            .cloned()
            .collect();
        lines.sort_unstable();
        lines.dedup();
        lines
    }

    /// The certification codes the program's criteria name, each once, in its own spelling.
    pub fn named_certification_codes(&self) -> Vec<String> {
        let criteria = self.ladder.tiers.iter().flat_map(|t| &t.criteria);
        let mut codes: Vec<String> = criteria.flat_map(|c| &c.metric.codes).cloned().collect();
        codes.sort_unstable();
        codes.dedup();
        codes
    }

    /// The rebate plan of a tier, if it has one and the partner type gets it.
    pub fn rebate_plan_for(&self, tier: TierRank, partner_type: PartnerType) -> Option<&RebatePlan> {
        let index = self.ladder.tiers.iter().position(|t| t.rank == tier)?;
        self.benefits[index]
            .iter()
            .filter(|b| b.applies_to(partner_type))
            .find_map(|b| match &b.kind {
                BenefitKind::RebatePlan { plan } => self.rebate_plans.iter().find(|p| p.id == *plan),
                _ => None,
            })
    }

    /// Deal protection days of a tier (RULES.md §6 defaults when the program names none).
    pub fn deal_protection_days(&self, tier: TierRank) -> u16 {
        let index = self.ladder.tiers.iter().position(|t| t.rank == tier);
        index
            .and_then(|i| {
                self.benefits[i].iter().find_map(|b| match b.kind {
                    BenefitKind::DealProtectionDays { days } => Some(days),
                    _ => None,
                })
            })
            .unwrap_or(match tier.0 {
                0 => 60,
                1 => 90,
                2 => 120,
                _ => 180,
            })
    }
}

/// An amount or count as written in a document: `"50000.00"` or `5`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Quantity {
    /// A whole number (whole currency units for money).
    Whole(i64),
    /// A decimal written as text (money), e.g. `"250000.00"`.
    Decimal(String),
}

/// The document form of a criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionDoc {
    /// `revenue`, `sell_through`, `deals_won`, `certified_people` or `growth_bps`.
    pub metric: String,
    /// `trailing_12_months` (any n), `quarter_to_date`, `year_to_date` or a period `2026-Q2`.
    #[serde(default = "default_window")]
    pub window: String,
    /// Money as `"50000.00"`, counts and basis points as integers.
    pub threshold: Quantity,
    /// Product-line filter (money metrics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_lines: Vec<String>,
    /// Certification-code filter (certified people).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
}

fn default_window() -> String {
    "trailing_12_months".into()
}

/// The document form of a tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierDoc {
    /// Name.
    pub name: String,
    /// Criteria, all of which must hold.
    #[serde(default)]
    pub criteria: Vec<CriterionDoc>,
    /// Benefits.
    #[serde(default)]
    pub benefits: Vec<Benefit>,
}

/// The document form of a band.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandDoc {
    /// Lower edge.
    pub from: Quantity,
    /// Rate.
    pub rate_bps: i64,
}

/// The document form of a rebate plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebatePlanDoc {
    /// Identifier referenced by tiers.
    pub id: String,
    /// Name on statements.
    pub name: String,
    /// `flat`, `retroactive`, `incremental` or `growth`.
    #[serde(rename = "type")]
    pub structure: String,
    /// Flat and growth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_bps: Option<i64>,
    /// Retroactive and incremental.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bands: Vec<BandDoc>,
    /// Product lines of the basis; empty = all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_lines: Vec<String>,
    /// Minimum basis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_basis: Option<Quantity>,
    /// Cap on the total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<Quantity>,
    /// Product line → multiplier in basis points.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accelerators: Vec<Accelerator>,
}

/// The document form of a whole program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramDoc {
    /// Name.
    pub name: String,
    /// ISO 4217 code.
    pub currency: String,
    /// 1 = January.
    #[serde(default = "one")]
    pub fiscal_year_start_month: u8,
    /// The IANA time zone whose calendar dates are the program's business dates
    /// (`Europe/Berlin`); UTC when absent (RULES.md §1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Review policy.
    #[serde(default)]
    pub review: ReviewPolicy,
    /// Tiers, lowest first.
    pub tiers: Vec<TierDoc>,
    /// Rebate plans.
    #[serde(default)]
    pub rebate_plans: Vec<RebatePlanDoc>,
}

fn one() -> u8 {
    1
}

/// Whether `name` has the form of an IANA time zone name (`UTC`, `Europe/Berlin`,
/// `America/Argentina/Buenos_Aires`, `Etc/GMT+5`): ASCII letters, digits, `_`, `-`, `+`, in
/// parts separated by `/`.
fn is_time_zone_name(name: &str) -> bool {
    name.len() <= 64
        && name.split('/').all(|part| {
            !part.is_empty()
                && part.starts_with(|c: char| c.is_ascii_alphabetic())
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        })
}

fn quantity(q: &Quantity, money: bool, digits: u32, field: &str) -> Result<i64, FieldError> {
    match (q, money) {
        (Quantity::Whole(n), true) => n
            .checked_mul(10i64.pow(digits))
            .ok_or_else(|| FieldError::new(field, "is too large")),
        (Quantity::Whole(n), false) => Ok(*n),
        (Quantity::Decimal(text), true) => parse_minor(text, digits, field),
        (Quantity::Decimal(text), false) => Err(FieldError::new(
            field,
            format!("must be a whole number (got \"{text}\")"),
        )),
    }
}

fn parse_window(text: &str, field: &str) -> Result<Window, FieldError> {
    match text {
        "quarter_to_date" => Ok(Window::QuarterToDate),
        "year_to_date" => Ok(Window::YearToDate),
        other => {
            if let Some(n) = other
                .strip_prefix("trailing_")
                .and_then(|r| r.strip_suffix("_months"))
            {
                return match n.parse::<u16>() {
                    Ok(n) if (1..=120).contains(&n) => Ok(Window::TrailingMonths(n)),
                    _ => Err(FieldError::new(
                        field,
                        "trailing months must be between 1 and 120",
                    )),
                };
            }
            FiscalPeriod::parse(other, field).map(Window::Period).map_err(|_| {
                FieldError::new(
                    field,
                    format!("unknown window `{other}`; use trailing_12_months, quarter_to_date, year_to_date or a period like 2026-Q2"),
                )
            })
        }
    }
}

fn window_text(window: Window) -> String {
    match window {
        Window::TrailingMonths(n) => format!("trailing_{n}_months"),
        Window::QuarterToDate => "quarter_to_date".into(),
        Window::YearToDate => "year_to_date".into(),
        Window::Period(p) => p.to_string(),
    }
}

fn metric_kind(text: &str, field: &str) -> Result<MetricKind, FieldError> {
    Ok(match text {
        "revenue" => MetricKind::Revenue,
        "sell_through" => MetricKind::SellThrough,
        "deals_won" => MetricKind::DealsWon,
        "certified_people" => MetricKind::CertifiedPeople,
        "growth_bps" => MetricKind::GrowthBps,
        other => {
            return Err(FieldError::new(
                field,
                format!("unknown metric `{other}`; expected revenue, sell_through, deals_won, certified_people or growth_bps"),
            ))
        }
    })
}

fn metric_text(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Revenue => "revenue",
        MetricKind::SellThrough => "sell_through",
        MetricKind::DealsWon => "deals_won",
        MetricKind::CertifiedPeople => "certified_people",
        MetricKind::GrowthBps => "growth_bps",
    }
}

fn rate(value: i64, field: &str) -> Result<i64, FieldError> {
    if (0..=10_000).contains(&value) {
        Ok(value)
    } else {
        Err(FieldError::new(field, "must be between 0 and 10000 basis points"))
    }
}

impl ProgramDoc {
    /// Reads TOML; syntax errors name the line.
    pub fn from_toml(text: &str) -> Result<Self, FieldError> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().to_owned();
            let field = e
                .span()
                .map(|span| format!("line {}", text[..span.start].lines().count().max(1)))
                .unwrap_or_default();
            FieldError::new(field, message)
        })
    }

    /// Reads JSON.
    pub fn from_json(text: &str) -> Result<Self, FieldError> {
        serde_json::from_str(text).map_err(|e| FieldError::new(format!("line {}", e.line()), e.to_string()))
    }

    /// Writes TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Validates the whole document; the first error names its field path.
    pub fn validate(&self) -> Result<Program, FieldError> {
        if self.name.trim().is_empty() {
            return Err(FieldError::new("name", "must not be empty"));
        }
        let currency = Currency::parse(&self.currency, "currency")?;
        let digits = currency.minor_digits();
        let calendar = FiscalCalendar::new(self.fiscal_year_start_month)
            .ok_or_else(|| FieldError::new("fiscal_year_start_month", "must be between 1 and 12"))?;
        let time_zone = match self.time_zone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) if is_time_zone_name(name) => Some(name.to_owned()),
            Some(name) => {
                return Err(FieldError::new(
                    "time_zone",
                    format!("`{name}` is not a time zone name such as Europe/Berlin or America/New_York"),
                ))
            }
        };
        if self.review.review_months.is_empty() {
            return Err(FieldError::new("review.review_months", "name at least one month"));
        }
        for (i, month) in self.review.review_months.iter().enumerate() {
            if !(1..=12).contains(month) {
                return Err(FieldError::new(
                    format!("review.review_months[{i}]"),
                    "must be between 1 and 12",
                ));
            }
        }
        if self.review.grace_days > 366 {
            return Err(FieldError::new("review.grace_days", "must be at most 366"));
        }

        let mut plans = Vec::with_capacity(self.rebate_plans.len());
        for (p, doc) in self.rebate_plans.iter().enumerate() {
            let at = |f: &str| format!("rebate_plans[{p}].{f}");
            if doc.id.trim().is_empty() {
                return Err(FieldError::new(at("id"), "must not be empty"));
            }
            if self.rebate_plans[..p].iter().any(|other| other.id == doc.id) {
                return Err(FieldError::new(
                    at("id"),
                    format!("`{}` is used by an earlier plan", doc.id),
                ));
            }
            let need_rate = || {
                doc.rate_bps
                    .ok_or_else(|| FieldError::new(at("rate_bps"), "is required for this type"))
            };
            let bands = || -> Result<Vec<Band>, FieldError> {
                if doc.bands.is_empty() {
                    return Err(FieldError::new(at("bands"), "is required for this type"));
                }
                let mut out: Vec<Band> = Vec::new();
                for (b, band) in doc.bands.iter().enumerate() {
                    let threshold = quantity(&band.from, true, digits, &at(&format!("bands[{b}].from")))?;
                    if b == 0 && threshold != 0 {
                        return Err(FieldError::new(
                            at("bands[0].from"),
                            "the first band must start at 0",
                        ));
                    }
                    if out.last().is_some_and(|prev| threshold <= prev.threshold) {
                        return Err(FieldError::new(
                            at(&format!("bands[{b}].from")),
                            "must be above the previous band",
                        ));
                    }
                    out.push(Band {
                        threshold,
                        rate_bps: rate(band.rate_bps, &at(&format!("bands[{b}].rate_bps")))?,
                    });
                }
                Ok(out)
            };
            let structure = match doc.structure.as_str() {
                "flat" => RebateStructure::Flat {
                    rate_bps: rate(need_rate()?, &at("rate_bps"))?,
                },
                "growth" => RebateStructure::Growth {
                    rate_bps: rate(need_rate()?, &at("rate_bps"))?,
                },
                "retroactive" => RebateStructure::Retroactive { bands: bands()? },
                "incremental" => RebateStructure::Incremental { bands: bands()? },
                other => {
                    return Err(FieldError::new(
                        at("type"),
                        format!(
                            "unknown plan type `{other}`; expected flat, retroactive, incremental or growth"
                        ),
                    ))
                }
            };
            if !doc.accelerators.is_empty()
                && !matches!(
                    structure,
                    RebateStructure::Flat { .. } | RebateStructure::Retroactive { .. }
                )
            {
                return Err(FieldError::new(
                    at("accelerators"),
                    "only flat and retroactive plans take accelerators",
                ));
            }
            for (a, acc) in doc.accelerators.iter().enumerate() {
                if acc.multiplier_bps <= 0 {
                    return Err(FieldError::new(
                        at(&format!("accelerators[{a}].multiplier_bps")),
                        "must be > 0",
                    ));
                }
                // A rate is at most 100 %; a multiplier above 10× is far more likely a slip of a
                // zero (150000 for 1.5×) than an uplift anyone pays.
                if acc.multiplier_bps > MAX_MULTIPLIER_BPS {
                    return Err(FieldError::new(
                        at(&format!("accelerators[{a}].multiplier_bps")),
                        format!(
                            "must be at most {MAX_MULTIPLIER_BPS} (10×); multipliers are basis points, so 1.5× is 15000"
                        ),
                    ));
                }
                // Two multipliers for one line would pay its uplift twice.
                if doc.accelerators[..a]
                    .iter()
                    .any(|earlier| crate::facts::same_code(&earlier.product_line, &acc.product_line))
                {
                    return Err(FieldError::new(
                        at(&format!("accelerators[{a}].product_line")),
                        format!(
                            "product line `{}` already has an accelerator in this plan",
                            acc.product_line
                        ),
                    ));
                }
            }
            let min_basis = doc
                .min_basis
                .as_ref()
                .map(|q| quantity(q, true, digits, &at("min_basis")))
                .transpose()?;
            if min_basis.is_some_and(|m| m < 0) {
                return Err(FieldError::new(at("min_basis"), "must be ≥ 0"));
            }
            let cap = doc
                .cap
                .as_ref()
                .map(|q| quantity(q, true, digits, &at("cap")))
                .transpose()?;
            if cap.is_some_and(|c| c <= 0) {
                return Err(FieldError::new(at("cap"), "must be > 0"));
            }
            plans.push(RebatePlan {
                id: doc.id.clone(),
                name: doc.name.clone(),
                product_lines: doc.product_lines.clone(),
                structure,
                min_basis,
                cap,
                accelerators: doc.accelerators.clone(),
                minor_digits: digits,
            });
        }

        if self.tiers.is_empty() {
            return Err(FieldError::new("tiers", "define at least one tier"));
        }
        if self.tiers.len() > usize::from(u8::MAX) {
            return Err(FieldError::new("tiers", "too many tiers"));
        }
        let mut tiers = Vec::with_capacity(self.tiers.len());
        let mut benefits = Vec::with_capacity(self.tiers.len());
        for (t, doc) in self.tiers.iter().enumerate() {
            let at = |f: &str| format!("tiers[{t}].{f}");
            if doc.name.trim().is_empty() {
                return Err(FieldError::new(at("name"), "must not be empty"));
            }
            if self.tiers[..t].iter().any(|other| other.name == doc.name) {
                return Err(FieldError::new(
                    at("name"),
                    format!("`{}` is used by a lower tier", doc.name),
                ));
            }
            let mut criteria = Vec::with_capacity(doc.criteria.len());
            for (c, criterion) in doc.criteria.iter().enumerate() {
                let at = |f: &str| format!("tiers[{t}].criteria[{c}].{f}");
                let kind = metric_kind(&criterion.metric, &at("metric"))?;
                let window = parse_window(&criterion.window, &at("window"))?;
                let threshold = quantity(&criterion.threshold, kind.is_money(), digits, &at("threshold"))?;
                if threshold <= 0 {
                    return Err(FieldError::new(at("threshold"), "must be > 0"));
                }
                criteria.push(Criterion {
                    metric: Metric {
                        kind,
                        window,
                        product_lines: criterion.product_lines.clone(),
                        codes: criterion.codes.clone(),
                    },
                    threshold,
                });
            }
            for (b, benefit) in doc.benefits.iter().enumerate() {
                let at = |f: &str| format!("tiers[{t}].benefits[{b}].{f}");
                match &benefit.kind {
                    BenefitKind::RebatePlan { plan } if !plans.iter().any(|p| p.id == *plan) => {
                        return Err(FieldError::new(
                            at("plan"),
                            format!("no rebate plan has the id `{plan}`"),
                        ))
                    }
                    BenefitKind::DiscountBps { bps } | BenefitKind::MdfBps { bps } => {
                        rate(*bps, &at("bps"))?;
                    }
                    BenefitKind::Rooms { rooms } => {
                        for (r, room) in rooms.iter().enumerate() {
                            Room::parse(room, &at(&format!("rooms[{r}]")))?;
                        }
                    }
                    _ => {}
                }
                if let Some(problem) = second_rebate_plan(&doc.benefits[..b], benefit) {
                    return Err(FieldError::new(at("partner_types"), problem));
                }
            }
            tiers.push(TierDefinition {
                rank: TierRank(t as u8),
                name: doc.name.trim().to_owned(),
                criteria,
            });
            benefits.push(doc.benefits.clone());
        }
        Ok(Program {
            name: self.name.trim().to_owned(),
            currency,
            ladder: TierLadder {
                tiers,
                calendar,
                review: self.review.clone(),
            },
            time_zone,
            benefits,
            rebate_plans: plans,
        })
    }
}

impl Program {
    /// Parses and validates a TOML program.
    pub fn from_toml(text: &str) -> Result<Self, FieldError> {
        ProgramDoc::from_toml(text)?.validate()
    }

    /// The document form of this program (for export and editing).
    pub fn to_doc(&self) -> ProgramDoc {
        let digits = self.currency.minor_digits();
        let money = |minor: i64| Quantity::Decimal(format_minor(minor, digits).replace(',', ""));
        ProgramDoc {
            name: self.name.clone(),
            currency: self.currency.code().to_owned(),
            fiscal_year_start_month: self.ladder.calendar.start_month(),
            time_zone: self.time_zone.clone(),
            review: self.ladder.review.clone(),
            tiers: self
                .ladder
                .tiers
                .iter()
                .zip(&self.benefits)
                .map(|(tier, benefits)| TierDoc {
                    name: tier.name.clone(),
                    criteria: tier
                        .criteria
                        .iter()
                        .map(|c| CriterionDoc {
                            metric: metric_text(c.metric.kind).into(),
                            window: window_text(c.metric.window),
                            threshold: if c.metric.kind.is_money() {
                                money(c.threshold)
                            } else {
                                Quantity::Whole(c.threshold)
                            },
                            product_lines: c.metric.product_lines.clone(),
                            codes: c.metric.codes.clone(),
                        })
                        .collect(),
                    benefits: benefits.clone(),
                })
                .collect(),
            rebate_plans: self
                .rebate_plans
                .iter()
                .map(|p| {
                    let (structure, rate_bps, bands) = match &p.structure {
                        RebateStructure::Flat { rate_bps } => ("flat", Some(*rate_bps), vec![]),
                        RebateStructure::Growth { rate_bps } => ("growth", Some(*rate_bps), vec![]),
                        RebateStructure::Retroactive { bands } => ("retroactive", None, bands.clone()),
                        RebateStructure::Incremental { bands } => ("incremental", None, bands.clone()),
                    };
                    RebatePlanDoc {
                        id: p.id.clone(),
                        name: p.name.clone(),
                        structure: structure.into(),
                        rate_bps,
                        bands: bands
                            .iter()
                            .map(|b| BandDoc {
                                from: money(b.threshold),
                                rate_bps: b.rate_bps,
                            })
                            .collect(),
                        product_lines: p.product_lines.clone(),
                        min_basis: p.min_basis.map(money),
                        cap: p.cap.map(money),
                        accelerators: p.accelerators.clone(),
                    }
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../demo/acme-partner-program.toml");

    #[test]
    fn the_demo_program_is_valid_and_round_trips() {
        let program = Program::from_toml(DEMO).unwrap();
        assert_eq!(program.name, "Acme Partner Program");
        let names: Vec<&str> = program.ladder.tiers.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Registered", "Silver", "Gold", "Platinum"]);
        assert_eq!(program.ladder.tiers[1].criteria[0].threshold, 5_000_000);
        assert_eq!(program.deal_protection_days(TierRank(2)), 120);
        assert!(program
            .rebate_plan_for(TierRank(2), PartnerType::Reseller)
            .is_some());
        let again = Program::from_toml(&program.to_doc().to_toml()).unwrap();
        assert_eq!(again, program);
        let json = serde_json::to_string(&program.to_doc()).unwrap();
        assert_eq!(ProgramDoc::from_json(&json).unwrap().validate().unwrap(), program);
    }

    #[test]
    fn the_named_product_lines_come_from_criteria_bases_and_accelerators() {
        let mut doc = ProgramDoc::from_toml(DEMO).unwrap();
        assert_eq!(doc.clone().validate().unwrap().named_product_lines(), ["cloud"]);
        doc.rebate_plans[0].product_lines = vec!["hardware".into(), "cloud".into()];
        doc.tiers[1].criteria[0].product_lines = vec!["services".into()];
        assert_eq!(
            doc.validate().unwrap().named_product_lines(),
            ["cloud", "hardware", "services"]
        );
        let mut doc = ProgramDoc::from_toml(DEMO).unwrap();
        assert!(doc
            .clone()
            .validate()
            .unwrap()
            .named_certification_codes()
            .is_empty());
        // Silver's and Gold's certified-people criteria.
        doc.tiers[1].criteria[1].codes = vec!["ACSE".into(), "ACNA".into()];
        doc.tiers[2].criteria[1].codes = vec!["ACNA".into()];
        assert_eq!(
            doc.validate().unwrap().named_certification_codes(),
            ["ACNA", "ACSE"]
        );
    }

    fn error_of(edit: impl FnOnce(&mut ProgramDoc)) -> FieldError {
        let mut doc = ProgramDoc::from_toml(DEMO).unwrap();
        edit(&mut doc);
        doc.validate().unwrap_err()
    }

    #[test]
    fn time_zones_are_names_and_round_trip() {
        for name in [
            "Not a zone",
            "Europe//Berlin",
            "/UTC",
            "Europe/Berlin;",
            "1Europe/Berlin",
        ] {
            let e = error_of(|d| d.time_zone = Some(name.into()));
            assert_eq!(e.field, "time_zone", "{name}");
        }
        let mut doc = ProgramDoc::from_toml(DEMO).unwrap();
        doc.time_zone = Some(" ".into());
        assert_eq!(doc.validate().unwrap().time_zone, None, "blank is UTC");
        for name in [
            "UTC",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+5",
            "America/Port-au-Prince",
        ] {
            doc.time_zone = Some(name.into());
            let program = doc.validate().unwrap();
            assert_eq!(program.time_zone.as_deref(), Some(name));
            let again = ProgramDoc::from_toml(&program.to_doc().to_toml()).unwrap();
            assert_eq!(
                again.time_zone.as_deref(),
                Some(name),
                "written to TOML and read back"
            );
        }
    }

    #[test]
    fn validation_errors_name_the_field_path() {
        let e = error_of(|d| d.tiers[2].criteria[0].threshold = Quantity::Whole(0));
        assert_eq!(e.to_string(), "tiers[2].criteria[0].threshold: must be > 0");
        let e = error_of(|d| d.tiers[1].criteria[0].metric = "profit".into());
        assert_eq!(e.field, "tiers[1].criteria[0].metric");
        let e = error_of(|d| d.tiers[1].criteria[0].window = "last_week".into());
        assert_eq!(e.field, "tiers[1].criteria[0].window");
        let e = error_of(|d| d.tiers[1].criteria[0].threshold = Quantity::Decimal("50k".into()));
        assert_eq!(e.field, "tiers[1].criteria[0].threshold");
        let e = error_of(|d| d.tiers[2].criteria[1].threshold = Quantity::Decimal("2.5".into()));
        assert_eq!(
            e.field, "tiers[2].criteria[1].threshold",
            "counts are whole numbers"
        );
        let e = error_of(|d| d.rebate_plans[1].bands[1].from = Quantity::Whole(0));
        assert_eq!(e.field, "rebate_plans[1].bands[1].from");
        let e = error_of(|d| d.tiers[1].name = "Registered".into());
        assert_eq!(e.field, "tiers[1].name");
        let e = error_of(|d| d.currency = "usd".into());
        assert_eq!(e.field, "currency");
        let e = error_of(|d| d.currency = "ABC".into());
        assert_eq!(
            (e.field.as_str(), e.message.contains("ISO 4217 lists")),
            ("currency", true)
        );
        let e = error_of(|d| d.review.review_months = vec![1, 13]);
        assert_eq!(e.field, "review.review_months[1]");
        let e = error_of(|d| {
            d.tiers[2].benefits.push(Benefit {
                kind: BenefitKind::RebatePlan { plan: "nope".into() },
                partner_types: vec![],
            })
        });
        assert!(e.field.starts_with("tiers[2].benefits["), "{e}");
        // A tier gives a partner one rebate plan: a second plan benefit must be for other types.
        let second_plan = |types: Vec<PartnerType>| {
            let mut doc = ProgramDoc::from_toml(DEMO).unwrap();
            let first = doc.tiers[2]
                .benefits
                .iter()
                .position(|b| matches!(b.kind, BenefitKind::RebatePlan { .. }))
                .expect("the demo's top tier has a rebate plan");
            doc.tiers[2].benefits[first].partner_types = vec![PartnerType::Reseller, PartnerType::Msp];
            let other = doc.rebate_plans[0].id.clone();
            doc.tiers[2].benefits.push(Benefit {
                kind: BenefitKind::RebatePlan { plan: other },
                partner_types: types,
            });
            (doc.tiers[2].benefits.len() - 1, doc.validate())
        };
        let (b, refused) = second_plan(vec![]);
        let e = refused.unwrap_err();
        assert_eq!(e.field, format!("tiers[2].benefits[{b}].partner_types"));
        assert!(e.message.contains("applies to `reseller` partners"), "{e}");
        let (_, refused) = second_plan(vec![PartnerType::Referral, PartnerType::Msp]);
        assert!(refused.unwrap_err().message.contains("`msp`"));
        let (_, apart) = second_plan(vec![PartnerType::Referral]);
        let program = apart.expect("plans for partner types apart are allowed");
        let top = program.ladder.tiers[2].rank;
        let referral = program.rebate_plan_for(top, PartnerType::Referral).unwrap();
        let reseller = program.rebate_plan_for(top, PartnerType::Reseller).unwrap();
        assert_ne!(referral.id, reseller.id, "each type gets its own plan");
        let e = error_of(|d| {
            let again = d.rebate_plans[1].accelerators[0].clone();
            d.rebate_plans[1].accelerators.push(again);
        });
        assert_eq!(e.field, "rebate_plans[1].accelerators[1].product_line");
        assert!(e.message.contains("`cloud`"), "{e}");
        // The same line in another case would pay its uplift twice as well.
        let e = error_of(|d| {
            let mut again = d.rebate_plans[1].accelerators[0].clone();
            again.product_line = again.product_line.to_uppercase();
            d.rebate_plans[1].accelerators.push(again);
        });
        assert_eq!(e.field, "rebate_plans[1].accelerators[1].product_line");
        assert!(e.message.contains("`CLOUD` already has an accelerator"), "{e}");
        let e = error_of(|d| d.rebate_plans[1].accelerators[0].multiplier_bps = 150_000);
        assert_eq!(e.field, "rebate_plans[1].accelerators[0].multiplier_bps");
        assert!(e.message.contains("1.5× is 15000"), "{e}");
        let mut doc = ProgramDoc::from_toml(DEMO).unwrap();
        doc.rebate_plans[1].accelerators[0].multiplier_bps = MAX_MULTIPLIER_BPS;
        assert!(doc.validate().is_ok(), "10× is allowed");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = ProgramDoc::from_toml("name = \"x\"\ncurrency = \"USD\"\ntiers = [\n").unwrap_err();
        assert!(e.field.starts_with("line "), "{e}");
        let e =
            ProgramDoc::from_toml("name = \"x\"\ncurrency = \"USD\"\ncolour = 1\ntiers = []").unwrap_err();
        assert!(e.message.contains("colour"), "{e}");
    }
}
