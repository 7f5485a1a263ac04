//! `atrium rebates simulate`: the statements a rebate run would produce, from files alone (no
//! database), so finance can try a plan change before it goes live. Formats are documented in
//! docs/rebates.md.

use crate::imports::{
    read_checked, ImportFormat, RowError, RowReader, SALES_COLUMNS, SALES_OPTIONAL_COLUMNS,
};
use domain::calendar::Date;
use domain::facts::Sale;
use domain::identity::{PartnerType, TierRank};
use domain::period::FiscalPeriod;
use domain::program::Program;
use domain::rebates::StatementLine;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One simulated statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimulatedStatement {
    /// The partner id as written in the files.
    pub partner_id: i64,
    /// The tier whose plan applies.
    pub tier: String,
    /// The plan.
    pub plan_id: String,
    /// The period.
    pub period: String,
    /// Basis, minor units.
    pub basis: i64,
    /// Total, minor units: the sum of the lines.
    pub total: i64,
    /// The program's currency, which every amount is in.
    pub currency: String,
    /// Digits after the decimal point in that currency: `basis` 13346 is 133.46 with 2, and
    /// 13,346 with 0 (JPY).
    pub minor_digits: u32,
    /// The explanation.
    pub lines: Vec<StatementLine>,
}

/// A partner's tier and type as given in the tiers file.
#[derive(Debug, Clone, Copy)]
pub struct GivenTier {
    /// Tier rank.
    pub rank: TierRank,
    /// Partner type (which rebate plan applies); when the file leaves it out, a distributor
    /// when a sale names the partner as one, and a reseller otherwise.
    pub partner_type: Option<PartnerType>,
}

/// Reads sales (`external_id, partner_id, booked_on, product_line, amount, currency`) without
/// checking partners against a database. `today` bounds `booked_on` as an import does.
pub fn read_sales(
    text: &str,
    format: ImportFormat,
    program: &Program,
    today: Date,
) -> Result<Vec<Sale>, Vec<RowError>> {
    let raw = read_checked(text, format, SALES_COLUMNS, SALES_OPTIONAL_COLUMNS)?;
    let mut errors = Vec::new();
    let mut sales = Vec::new();
    let mut seen = crate::imports::FastMap::default();
    let currency = program.currency;
    let product_lines = program.named_product_lines();
    let booking_dates = crate::imports::booking_dates(today);
    for (i, fields) in raw.iter().enumerate() {
        let mut r = RowReader {
            row: i + 1,
            raw: fields,
            errors: &mut errors,
        };
        let external_id = r.external_id(Some(&mut seen));
        let partner_id = r.text("partner_id").and_then(|t| match t.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                r.fail("partner_id", format!("`{t}` is not a partner id"));
                None
            }
        });
        let booked_on = r.booked_on(&booking_dates).map(|(date, _)| date);
        let product_line = r
            .text("product_line")
            .map(|line| domain::facts::in_program_spelling(line, &product_lines));
        let amount = r.amount(currency);
        let distributor_id = match r.optional("distributor_id") {
            Some(t) => match t.parse::<i64>() {
                Ok(id) if r.distributor_is_seller(partner_id, id) => None,
                Ok(id) => Some(Some(id)),
                Err(_) => {
                    r.fail("distributor_id", format!("`{t}` is not a partner id"));
                    None
                }
            },
            None => Some(None),
        };
        if let (
            Some(external_id),
            Some(partner_id),
            Some(distributor_id),
            Some(booked_on),
            Some(product_line),
            Some(amount_minor),
        ) = (
            external_id,
            partner_id,
            distributor_id,
            booked_on,
            product_line,
            amount,
        ) {
            sales.push(Sale {
                external_id: external_id.to_owned(),
                partner_id,
                distributor_id,
                booked_on,
                product_line: product_line.to_owned(),
                amount_minor,
            });
        }
    }
    if errors.is_empty() {
        Ok(sales)
    } else {
        Err(raw.with_lines(errors))
    }
}

/// Reads tiers (`partner_id, tier` with a tier name or rank, optional `partner_type`).
pub fn read_tiers(
    text: &str,
    format: ImportFormat,
    program: &Program,
) -> Result<HashMap<i64, GivenTier>, Vec<RowError>> {
    let raw = read_checked(text, format, &["partner_id", "tier"], &["partner_type"])?;
    let mut errors = Vec::new();
    let mut tiers = HashMap::new();
    // The row each partner was given a tier on: a second row for one partner is a mistake in
    // the file, not an override.
    let mut given_on: HashMap<i64, usize> = HashMap::new();
    for (i, fields) in raw.iter().enumerate() {
        let mut r = RowReader {
            row: i + 1,
            raw: fields,
            errors: &mut errors,
        };
        let partner_id = r.text("partner_id").and_then(|t| t.parse::<i64>().ok());
        let tier = r.text("tier").and_then(|t| {
            let by_name = program
                .ladder
                .tiers
                .iter()
                .find(|d| d.name.eq_ignore_ascii_case(t))
                .map(|d| d.rank);
            let by_rank = t
                .parse::<u8>()
                .ok()
                .map(TierRank)
                .filter(|rank| *rank <= program.ladder.top());
            let found = by_name.or(by_rank);
            if found.is_none() {
                r.fail("tier", format!("`{t}` is not a tier of {}", program.name));
            }
            found
        });
        let partner_type = match r.optional("partner_type") {
            Some(code) => match PartnerType::parse(code, "partner_type") {
                Ok(t) => Some(Some(t)),
                Err(e) => {
                    r.fail("partner_type", e.message);
                    None
                }
            },
            // Left out: found from the sales, as for a partner the file does not list.
            None => Some(None),
        };
        match (partner_id, tier, partner_type) {
            (Some(id), Some(rank), Some(partner_type)) => {
                let first = *given_on.entry(id).or_insert(i + 1);
                if first != i + 1 {
                    r.fail(
                        "partner_id",
                        format!("partner {id} already has a tier on row {first}"),
                    );
                }
                tiers.insert(id, GivenTier { rank, partner_type });
            }
            // A blank cell is already "is required"; only a value that is there is quoted.
            (None, _, _) => {
                if let Some(text) = r.optional("partner_id") {
                    r.fail("partner_id", format!("`{text}` is not a partner id"));
                }
            }
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(tiers)
    } else {
        Err(raw.with_lines(errors))
    }
}

/// The statements a run for `period` would produce. A partner the tiers file does not give (or
/// every partner, without one) has the tier its sales alone qualify for on the period's last
/// day, its own and those sold through it; it is a distributor when a sale names it as one, and
/// a reseller otherwise.
pub fn simulate(
    program: &Program,
    sales: &[Sale],
    tiers: Option<&HashMap<i64, GivenTier>>,
    period: FiscalPeriod,
) -> Vec<SimulatedStatement> {
    let calendar = program.ladder.calendar;
    let (from, to) = calendar.range(period);
    let (last_from, last_to) = calendar.range(period.year_before());
    let mut by_partner: BTreeMap<i64, Vec<&Sale>> = BTreeMap::new();
    let mut through: BTreeMap<i64, Vec<Sale>> = BTreeMap::new();
    for sale in sales {
        by_partner.entry(sale.partner_id).or_default().push(sale);
        if let Some(distributor) = sale.distributor_id {
            through.entry(distributor).or_default().push(sale.clone());
        }
    }
    // A run gives every partner whose tier has a plan a statement, sales or none: those of the
    // tiers file, and distributors the sales name.
    for partner_id in tiers.into_iter().flat_map(HashMap::keys).chain(through.keys()) {
        by_partner.entry(*partner_id).or_default();
    }
    let mut statements = Vec::new();
    for (partner_id, partner_sales) in &by_partner {
        let sold_through = through.get(partner_id);
        let given = tiers.and_then(|t| t.get(partner_id)).copied();
        let rank = given.map_or_else(
            || {
                let owned: Vec<Sale> = partner_sales.iter().map(|s| (*s).clone()).collect();
                let facts = domain::facts::PartnerFacts {
                    partner_id: *partner_id,
                    sales: &owned,
                    sold_through: sold_through.map_or(&[][..], Vec::as_slice),
                    ..Default::default()
                };
                program.ladder.qualify(&facts, to).qualified
            },
            |given| given.rank,
        );
        let partner_type = given
            .and_then(|g| g.partner_type)
            .unwrap_or(if sold_through.is_some() {
                PartnerType::Distributor
            } else {
                PartnerType::Reseller
            });
        let Some(plan) = program.rebate_plan_for(rank, partner_type) else {
            continue;
        };
        let in_period: Vec<Sale> = partner_sales
            .iter()
            .filter(|s| s.booked_on >= from && s.booked_on <= to)
            .map(|s| (*s).clone())
            .collect();
        let last_year: Vec<Sale> = partner_sales
            .iter()
            .filter(|s| s.booked_on >= last_from && s.booked_on <= last_to)
            .map(|s| (*s).clone())
            .collect();
        let calc = plan.calculate(period, &in_period, Some(plan.basis(&last_year)), Vec::new());
        statements.push(SimulatedStatement {
            partner_id: *partner_id,
            tier: program.ladder.name(rank).to_owned(),
            plan_id: plan.id.clone(),
            period: period.to_string(),
            basis: calc.basis,
            total: calc.total,
            currency: program.currency.code().to_owned(),
            minor_digits: program.currency.minor_digits(),
            lines: calc.lines,
        });
    }
    statements
}

/// CSV: one row per explanation line, with the statement's total and currency on each.
pub fn to_csv(statements: &[SimulatedStatement]) -> String {
    let amount = domain::money::format_minor_plain;
    let safe = |text: &str| domain::dashboard::spreadsheet_safe(text).into_owned();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record([
        "partner_id",
        "tier",
        "plan_id",
        "period",
        "basis",
        "line_kind",
        "line_description",
        "line_amount",
        "total",
        "currency",
    ]);
    for s in statements {
        let digits = s.minor_digits;
        for line in &s.lines {
            let kind = serde_json::to_value(&line.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let _ = writer.write_record([
                s.partner_id.to_string(),
                safe(&s.tier),
                safe(&s.plan_id),
                s.period.clone(),
                amount(s.basis, digits),
                kind,
                safe(&line.description),
                amount(line.amount, digits),
                amount(s.total, digits),
                s.currency.clone(),
            ]);
        }
    }
    writer
        .into_inner()
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGRAM: &str = include_str!("../../demo/acme-partner-program.toml");

    fn today() -> Date {
        Date::parse("2026-11-26", "today").unwrap()
    }

    #[test]
    fn rules_5_example_2_simulated_from_files() {
        let program = Program::from_toml(PROGRAM).unwrap();
        let sales = "external_id,partner_id,booked_on,product_line,amount,currency\n\
                     S1,7,2026-04-10,hardware,120000.00,USD\nS2,7,2026-05-10,cloud,40000.00,USD\nS3,7,2026-06-10,hardware,-5000.00,USD\n";
        let sales = read_sales(sales, ImportFormat::Csv, &program, today()).unwrap();
        let tiers = read_tiers("partner_id,tier\n7,Gold\n", ImportFormat::Csv, &program).unwrap();
        let period = FiscalPeriod::parse("2026-Q2", "period").unwrap();
        let statements = simulate(&program, &sales, Some(&tiers), period);
        assert_eq!(statements.len(), 1);
        assert_eq!(statements[0].total, 700_000);
        let csv = to_csv(&statements);
        assert!(
            csv.contains("7,Gold,gold-retroactive,2026-Q2,155000.00,basis"),
            "{csv}"
        );
        assert!(csv.contains(",7000.00,USD\n"), "{csv}");
    }

    #[test]
    fn without_a_tiers_file_sales_through_a_distributor_count_for_it() {
        // Silver for sell-through alone: a distributor qualifies on what its resellers sold.
        let program = PROGRAM.replace(
            "  { metric = \"revenue\", window = \"trailing_12_months\", threshold = \"50000.00\" },\n  { metric = \"certified_people\", threshold = 1 },",
            "  { metric = \"sell_through\", window = \"trailing_12_months\", threshold = \"50000.00\" },",
        );
        assert_ne!(program, PROGRAM);
        let program = Program::from_toml(&program).unwrap();
        let sales = "external_id,partner_id,distributor_id,booked_on,product_line,amount,currency\n\
                     S1,8,9,2026-05-01,hardware,60000.00,USD\n\
                     S2,9,,2026-05-02,hardware,20000.00,USD\n";
        let sales = read_sales(sales, ImportFormat::Csv, &program, today()).unwrap();
        let period = FiscalPeriod::parse("2026-Q2", "period").unwrap();
        let statements = simulate(&program, &sales, None, period);
        let found: Vec<_> = statements
            .iter()
            .map(|s| (s.partner_id, s.tier.as_str(), s.total))
            .collect();
        // 8 sold nothing through itself and stays Registered (no plan); 9 is Silver on 60,000.00
        // sold through it and earns 2 % of its own 20,000.00.
        assert_eq!(found, [(9, "Silver", 40_000)]);
        // A distributor the sales name only as such gets its statement too, as in a run.
        let sales = "external_id,partner_id,distributor_id,booked_on,product_line,amount,currency\n\
                     S1,8,9,2026-05-01,hardware,60000.00,USD\n";
        let sales = read_sales(sales, ImportFormat::Csv, &program, today()).unwrap();
        let statements = simulate(&program, &sales, None, period);
        assert_eq!(statements.len(), 1);
        assert_eq!((statements[0].partner_id, statements[0].total), (9, 0));
    }

    #[test]
    fn a_listed_partner_without_a_type_is_a_distributor_when_the_sales_say_so() {
        // Silver's plan for distributors only: a reseller at Silver has none.
        let program = PROGRAM.replace(
            "{ kind = \"rebate_plan\", plan = \"silver-flat\" }",
            "{ kind = \"rebate_plan\", plan = \"silver-flat\", partner_types = [\"distributor\"] }",
        );
        assert_ne!(program, PROGRAM);
        let program = Program::from_toml(&program).unwrap();
        let sales = "external_id,partner_id,distributor_id,booked_on,product_line,amount,currency\n\
                     S1,8,9,2026-05-01,hardware,60000.00,USD\n\
                     S2,9,,2026-05-02,hardware,20000.00,USD\n";
        let sales = read_sales(sales, ImportFormat::Csv, &program, today()).unwrap();
        let period = FiscalPeriod::parse("2026-Q2", "period").unwrap();
        let found = |tiers: &str| {
            let tiers = read_tiers(tiers, ImportFormat::Csv, &program).unwrap();
            simulate(&program, &sales, Some(&tiers), period)
                .iter()
                .map(|s| (s.partner_id, s.total))
                .collect::<Vec<_>>()
        };
        // 9 is named as a distributor by S1: with its type left out it is one, as when the
        // file does not list it at all; 8 is a reseller and Silver gives it nothing.
        assert_eq!(found("partner_id,tier\n8,Silver\n9,Silver\n"), [(9, 40_000)]);
        assert_eq!(found("partner_id,tier\n8,Silver\n"), []);
        // A type the file gives is kept.
        assert_eq!(found("partner_id,tier,partner_type\n9,Silver,reseller\n"), []);
        assert_eq!(
            found("partner_id,tier,partner_type\n8,Silver,distributor\n9,Silver,\n"),
            [(8, 120_000), (9, 40_000)]
        );
    }

    #[test]
    fn bad_rows_are_named() {
        let program = Program::from_toml(PROGRAM).unwrap();
        let errors = read_sales(
            "external_id,partner_id,booked_on,product_line,amount,currency\nS1,x,2026-02-30,hw,1.999,EUR\n",
            ImportFormat::Csv,
            &program,
            today(),
        )
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["partner_id", "booked_on", "currency", "amount"]);
        // Booking dates are bounded as an import bounds them: 1970 to a year after today.
        let errors = read_sales(
            "external_id,partner_id,booked_on,product_line,amount,currency
             S1,7,0026-04-10,hardware,1.00,USD
S2,7,2027-11-26,hardware,1.00,USD
S3,7,2027-11-27,hardware,1.00,USD
",
            ImportFormat::Csv,
            &program,
            today(),
        )
        .unwrap_err();
        let located: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.field.as_str())).collect();
        assert_eq!(located, [(1, "booked_on"), (3, "booked_on")]);
        assert!(
            errors[1].message.contains("1970-01-01 … 2027-11-26"),
            "{}",
            errors[1].message
        );
        let errors = read_tiers("partner_id,tier\n7,Diamond\n", ImportFormat::Csv, &program).unwrap_err();
        assert_eq!(errors[0].field, "tier");
    }

    #[test]
    fn a_tiers_file_names_each_partner_once_with_known_columns() {
        let program = Program::from_toml(PROGRAM).unwrap();
        let errors = read_tiers(
            "partner_id,tier\n7,Gold\n8,Silver\n7,Platinum\n",
            ImportFormat::Csv,
            &program,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].row, errors[0].field.as_str()), (3, "partner_id"));
        assert!(errors[0].message.contains("row 1"), "{errors:?}");
        let errors = read_tiers("partner,tier\n7,Gold\n", ImportFormat::Csv, &program).unwrap_err();
        assert_eq!(errors[0].field, "header");
        assert!(errors[0].message.contains("partner_id"), "{errors:?}");
        let errors = read_tiers(
            "partner_id,tier,type\n7,Gold,reseller\n",
            ImportFormat::Csv,
            &program,
        )
        .unwrap_err();
        assert!(errors[0].message.contains("unknown column type"), "{errors:?}");
        // One error per problem: a blank id is missing, a wrong one is quoted.
        let errors =
            read_tiers("partner_id,tier\n,Gold\nx7,Gold\n", ImportFormat::Csv, &program).unwrap_err();
        let named: Vec<_> = errors
            .iter()
            .map(|e| (e.row, e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            named,
            [
                (1, "partner_id", "is required"),
                (2, "partner_id", "`x7` is not a partner id")
            ]
        );
    }
}
