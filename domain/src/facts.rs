//! The facts that metrics read (RULES.md §2): sales, won deals and certifications.

use crate::calendar::Date;
use crate::money::{format_minor, parse_minor, Currency};
use crate::FieldError;
use serde::{Deserialize, Serialize};

/// A partner organisation's identifier.
pub type PartnerId = i64;

/// One sale line. `amount_minor` is negative for returns and credit notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    /// Unique per source; re-importing it updates, never duplicates.
    pub external_id: String,
    /// The selling partner.
    pub partner_id: PartnerId,
    /// The distributor the product went through, if any.
    pub distributor_id: Option<PartnerId>,
    /// Booking date.
    pub booked_on: Date,
    /// Product line, e.g. `hardware` or `cloud`.
    pub product_line: String,
    /// Amount in minor units of the program currency.
    pub amount_minor: i64,
}

/// The largest amount one sale line may carry, in minor units either way (100,000,000,000.00
/// with two decimals). Far above any real order, and low enough that a 64-bit total of one
/// partner's period holds over 900,000 sales at this very limit before it could overflow.
pub const MAX_SALE_MINOR: i64 = 10_000_000_000_000;

/// A code of a fact (a sale's product line, a certification's code) in the program's spelling
/// when the program names it in another case (`Cloud` or `CLOUD` for the program's `cloud`),
/// else as written. These are codes, not words: a capital letter from a spreadsheet must not
/// cost a sale its accelerator or a person their certification.
pub fn in_program_spelling<'a>(code: &'a str, named: &'a [String]) -> &'a str {
    named
        .iter()
        .find(|n| same_code(n, code))
        .map_or(code, String::as_str)
}

/// Whether two product lines (or certification codes) are the same: codes match in any case,
/// so `Storage` stored before the program named `storage` still earns the line's accelerator.
pub fn same_code(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Reads a sale's amount in the program currency: exact, and within [`MAX_SALE_MINOR`].
pub fn parse_sale_amount(text: &str, currency: Currency, field: &str) -> Result<i64, FieldError> {
    let digits = currency.minor_digits();
    let minor = parse_minor(text, digits, field)?;
    if minor.unsigned_abs() > MAX_SALE_MINOR.unsigned_abs() {
        return Err(FieldError::new(
            field,
            format!(
                "`{text}` is beyond what one sale can be (at most {} {currency} either way)",
                format_minor(MAX_SALE_MINOR, digits)
            ),
        ));
    }
    Ok(minor)
}

/// A deal registration that was won.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WonDeal {
    /// The registering partner.
    pub partner_id: PartnerId,
    /// The date it was won.
    pub won_on: Date,
}

/// A certification held by a person of a partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certification {
    /// The partner the person works for.
    pub partner_id: PartnerId,
    /// Who holds it (user id or a name).
    pub person: String,
    /// Certification code, e.g. `ACNA`.
    pub code: String,
    /// First valid day.
    pub earned_on: Date,
    /// First day it is no longer valid (exclusive).
    pub expires_on: Date,
}

impl Certification {
    /// Valid on `date` when `earned_on ≤ date < expires_on`.
    pub fn valid_on(&self, date: Date) -> bool {
        self.earned_on <= date && date < self.expires_on
    }
}

/// Everything known about one partner, borrowed from wherever the caller keeps it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PartnerFacts<'a> {
    /// The partner.
    pub partner_id: PartnerId,
    /// Sales the partner booked.
    pub sales: &'a [Sale],
    /// Sales that went through this partner as distributor (for `sell_through`).
    pub sold_through: &'a [Sale],
    /// Won deals.
    pub won_deals: &'a [WonDeal],
    /// Certifications of the partner's people.
    pub certifications: &'a [Certification],
}

/// One problem in an import file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// Data row, counting from 1 (a CSV header is not counted).
    pub row: usize,
    /// The file's line where the row starts, counting a CSV header as line 1: the row number a
    /// spreadsheet shows. It differs from `row` by the header, blank lines and values that run
    /// over several lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The column.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl RowError {
    /// Where and what, as a person reads it: `row 3 (line 4), amount: …`, or `header: …` for an
    /// error about the file as a whole (row 0).
    pub fn located(&self) -> String {
        match (self.row, self.line) {
            (0, _) => format!("{}: {}", self.field, self.message),
            (row, Some(line)) => format!("row {row} (line {line}), {}: {}", self.field, self.message),
            (row, None) => format!("row {row}, {}: {}", self.field, self.message),
        }
    }
}

/// An import file's bytes as text. A file that is not UTF-8 (a spreadsheet saved as Windows-1252,
/// say) is refused with the line and byte of its first stray byte, rather than read with
/// replacement characters that would land in partner names and product lines.
pub fn decode_import(bytes: &[u8]) -> Result<&str, RowError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = 1 + bytes[..at].iter().filter(|b| **b == b'\n').count();
        RowError {
            row: 0,
            line: None,
            field: "file".into(),
            message: format!(
                "line {line} is not UTF-8 text (byte {} of the file); save the file as UTF-8 (CSV UTF-8 in a spreadsheet) and import it again",
                at + 1
            ),
        }
    })
}

/// The most errors an import report lists: enough to see what is wrong with a file, and far
/// fewer than a file wrong on every row has.
pub const MAX_LISTED_ERRORS: usize = 1000;

/// The largest file the upload page imports (the API and the command line take larger ones).
pub const MAX_PAGE_IMPORT_BYTES: usize = 64 * 1024 * 1024;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How many rows, and stored rows changed, a preview shows.
pub const PREVIEW_ROWS: usize = 10;

/// What a preview shows of a valid file before anything is stored: its first rows as they would
/// be stored, the stored rows it would change (field by field), and its totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportPreview {
    /// The headings of each sample row's cells.
    pub columns: Vec<String>,
    /// The file's first [`PREVIEW_ROWS`] rows as they would be stored, each cell as shown
    /// (a partner by name and id, an amount in its currency's decimals).
    pub sample: Vec<PreviewRow>,
    /// The first [`PREVIEW_ROWS`] stored rows the file would change; the report's `updated`
    /// counts them all.
    pub changes: Vec<PreviewChange>,
    /// The file's totals as a person reads them, e.g. `("Amount", "12,345.67 USD")`.
    pub totals: Vec<(String, String)>,
}

/// The heading of a sales preview's amount column, which a table aligns to the right.
pub const AMOUNT_COLUMN: &str = "Amount";

/// One row of a file as it would be stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewRow {
    /// Its row in the file (the first row under the header is 1).
    pub row: usize,
    /// One cell per [`ImportPreview::columns`] heading.
    pub cells: Vec<String>,
}

/// A stored row that a file would change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewChange {
    /// The changing row in the file.
    pub row: usize,
    /// What identifies the stored row: a sale's external id, a certification's holder and code.
    pub key: String,
    /// Each field that changes, with its value before and after, as shown.
    pub fields: Vec<FieldChange>,
}

impl PreviewChange {
    /// Its fields as a person reads them: `amount 40,000.00 USD → 45,000.00 USD; customer_name
    /// Globex → —` (an empty value as a dash).
    pub fn describe(&self) -> String {
        let shown = |value: &str| {
            if value.is_empty() {
                "—".to_owned()
            } else {
                value.to_owned()
            }
        };
        self.fields
            .iter()
            .map(|f| format!("{} {} → {}", f.field, shown(&f.before), shown(&f.after)))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One field of a [`PreviewChange`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field's name, as the file's column.
    pub field: String,
    /// The stored value.
    pub before: String,
    /// The file's value.
    pub after: String,
}

/// What an import did, or would have done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Data rows read.
    pub rows: usize,
    /// New rows stored.
    pub inserted: usize,
    /// Existing rows changed (each change is in the audit log).
    pub updated: usize,
    /// Rows identical to what was stored.
    pub unchanged: usize,
    /// Errors, in row order; when there are any, nothing was stored. At most
    /// [`MAX_LISTED_ERRORS`] are listed; `error_count` says how many there are.
    pub errors: Vec<RowError>,
    /// How many errors the file has, listed or not.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub error_count: usize,
    /// How many rows have at least one error (an error about the file as a whole is on none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rows_with_errors: usize,
    /// Whether the rows were stored (false for a preview or a refused file).
    pub stored: bool,
    /// What did not finish after the rows were stored (they stay stored), e.g. tiers whose
    /// re-evaluation is being retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// A preview of a valid file: what it would store and change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<ImportPreview>,
}

impl ImportReport {
    /// What the import did, as a person reads it: `1 row: 1 new, 0 updated, 0 unchanged`, and
    /// ` (preview: nothing stored)` when nothing was; any warnings follow, after `; `.
    pub fn summary(&self) -> String {
        let mut summary = self.counts();
        for warning in &self.warnings {
            summary.push_str("; ");
            summary.push_str(warning);
        }
        summary
    }

    /// The counts alone, as [`ImportReport::summary`] starts: for a page that lists the
    /// warnings apart.
    pub fn counts(&self) -> String {
        format!(
            "{} row{}: {} new, {} updated, {} unchanged{}",
            self.rows,
            if self.rows == 1 { "" } else { "s" },
            self.inserted,
            self.updated,
            self.unchanged,
            if self.stored {
                ""
            } else {
                " (preview: nothing stored)"
            }
        )
    }

    /// The report of a file refused for `errors`: nothing stored, so nothing inserted, updated
    /// or unchanged either, whatever the rows before the first error would have done. A file
    /// wrong on every row of a million would make a report of a hundred megabytes: the first
    /// [`MAX_LISTED_ERRORS`] are listed, and the counts say how many there are.
    pub fn refused(self, mut errors: Vec<RowError>) -> Self {
        let error_count = errors.len();
        let rows_with_errors = errors
            .iter()
            .filter(|e| e.row > 0)
            .map(|e| e.row)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        errors.truncate(MAX_LISTED_ERRORS);
        ImportReport {
            rows: self.rows,
            errors,
            error_count,
            rows_with_errors,
            ..ImportReport::default()
        }
    }

    /// Errors found but not listed in `errors`.
    pub fn errors_not_listed(&self) -> usize {
        self.error_count.saturating_sub(self.errors.len())
    }
}

#[cfg(test)]
mod amount_tests {
    use super::*;

    #[test]
    fn a_code_takes_the_programs_spelling_in_any_case() {
        let named = vec!["cloud".to_owned(), "Hardware".to_owned()];
        assert_eq!(in_program_spelling("CLOUD", &named), "cloud");
        assert_eq!(in_program_spelling("Cloud", &named), "cloud");
        assert_eq!(in_program_spelling("hardware", &named), "Hardware");
        assert_eq!(
            in_program_spelling("Services", &named),
            "Services",
            "not named: as written"
        );
        assert_eq!(in_program_spelling("clouds", &named), "clouds");
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_with_its_line() {
        assert_eq!(decode_import("a,b\n1,é\n".as_bytes()), Ok("a,b\n1,é\n"));
        let e = decode_import(b"a,b\n1,2\n3,caf\xe9\n").unwrap_err();
        assert_eq!((e.row, e.field.as_str()), (0, "file"));
        assert!(
            e.message.starts_with("line 3 is not UTF-8 text (byte 14 "),
            "{e:?}"
        );
    }

    #[test]
    fn sale_amounts_are_exact_and_bounded() {
        assert_eq!(
            parse_sale_amount("-1,234.50", Currency::USD, "amount"),
            Ok(-123_450)
        );
        assert_eq!(
            parse_sale_amount("100,000,000,000.00", Currency::USD, "amount"),
            Ok(MAX_SALE_MINOR)
        );
        let e = parse_sale_amount("100000000000.01", Currency::USD, "amount").unwrap_err();
        assert_eq!(e.field, "amount");
        assert!(
            e.message.contains("at most 100,000,000,000.00 USD"),
            "{}",
            e.message
        );
        assert!(parse_sale_amount("-92233720368547758.07", Currency::USD, "amount").is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_what_was_stored_and_what_is_behind() {
        let mut report = ImportReport {
            rows: 3,
            inserted: 2,
            unchanged: 1,
            ..ImportReport::default()
        };
        assert_eq!(
            report.summary(),
            "3 rows: 2 new, 0 updated, 1 unchanged (preview: nothing stored)"
        );
        report.stored = true;
        report
            .warnings
            .push("the tiers of 2 partners could not be re-evaluated yet".into());
        assert_eq!(
            report.summary(),
            "3 rows: 2 new, 0 updated, 1 unchanged; the tiers of 2 partners could not be re-evaluated yet"
        );
        let one = ImportReport {
            rows: 1,
            inserted: 1,
            stored: true,
            ..ImportReport::default()
        };
        assert_eq!(one.summary(), "1 row: 1 new, 0 updated, 0 unchanged");
    }

    #[test]
    fn a_refused_report_lists_the_first_errors_and_counts_them_all() {
        let errors: Vec<RowError> = (1..=MAX_LISTED_ERRORS + 500)
            .flat_map(|row| {
                ["amount", "currency"].map(|field| RowError {
                    row,
                    line: None,
                    field: field.into(),
                    message: "bad".into(),
                })
            })
            .chain(std::iter::once(RowError {
                row: 0,
                line: None,
                field: "file".into(),
                message: "bad".into(),
            }))
            .collect();
        let report = ImportReport {
            rows: MAX_LISTED_ERRORS + 500,
            inserted: 7,
            ..ImportReport::default()
        }
        .refused(errors);
        assert_eq!(report.errors.len(), MAX_LISTED_ERRORS);
        assert_eq!(report.error_count, 2 * (MAX_LISTED_ERRORS + 500) + 1);
        assert_eq!(report.rows_with_errors, MAX_LISTED_ERRORS + 500);
        assert_eq!(report.errors_not_listed(), MAX_LISTED_ERRORS + 1001);
        assert_eq!((report.rows, report.inserted), (MAX_LISTED_ERRORS + 500, 0));
    }
}
