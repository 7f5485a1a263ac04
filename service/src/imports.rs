//! Fact imports (RULES.md §2): sales and certifications from CSV or JSON lines. One code path
//! for the upload page, the REST API and the command line. A file imports whole or not at all;
//! every error names its row and field; re-importing the same row never duplicates it.

use crate::audit::{self, AuditEntry};
use crate::auth::Actor;
use crate::error::{permit, ServiceError, ServiceResult};
use crate::portal::Portal;
use crate::program::SalesFacts;
use crate::store::{ArrayLiteral, Backend, Placeholders};
use domain::calendar::Date;
use domain::facts::parse_sale_amount;
pub use domain::facts::{ImportReport, RowError};
use domain::money::Currency;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::RangeInclusive;

mod preview;

/// How an import file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl ImportFormat {
    /// From a file's name: `.jsonl`, `.ndjson` or `.json` → JSON lines, anything else CSV. Only
    /// the extension counts (a folder called `json-exports` says nothing about its files).
    pub fn from_file_name(name: &str) -> Self {
        let extension = std::path::Path::new(name)
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match extension.as_deref() {
            Some("jsonl" | "ndjson" | "json") => ImportFormat::JsonLines,
            _ => ImportFormat::Csv,
        }
    }

    /// From a request's content type: any JSON type (`application/x-ndjson`,
    /// `application/jsonl`, …) → JSON lines; a CSV or plain-text type (`text/csv`,
    /// `application/csv`, `text/plain`, `application/vnd.ms-excel` as some systems label `.csv`
    /// files, `application/octet-stream`) → CSV. Any other type is `None`: a form, an XML or a
    /// spreadsheet file is not a file of rows, and reading it as CSV would only list odd errors.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence.contains("json") {
            return Some(ImportFormat::JsonLines);
        }
        matches!(
            essence.as_str(),
            "text/csv"
                | "application/csv"
                | "text/comma-separated-values"
                | "text/plain"
                | "application/vnd.ms-excel"
                | "application/octet-stream"
        )
        .then_some(ImportFormat::Csv)
    }
}

/// Called as rows are written: `(rows done, rows in the file)`.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// A progress callback that does nothing.
pub fn no_progress(_done: usize, _total: usize) {}

/// Maps and sets over an import's rows: a million inserts for a large file, where the standard
/// library's default hash was a tenth of the validating thread's time. Seeded per process.
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// Raw fields of one JSON line, by column name.
pub(crate) type RawRow = HashMap<String, String>;

/// The rows of an import file, read once. CSV fields keep their header's order, all of them in
/// one buffer (a million-row file is two allocations, not two per row, to make and to free).
#[derive(Debug)]
pub(crate) enum Rows {
    /// Comma-separated values: lower-cased column names and every record's fields in that
    /// order. Every record has one field per column (the reader refuses any other).
    Csv {
        headers: Vec<String>,
        /// Every field's text, one after another.
        text: String,
        /// Where each field starts in `text`, record after record, and then where the last
        /// one ends: record `r`'s field `i` is `text[bounds[r * w + i]..bounds[r * w + i + 1]]`
        /// for `w` columns.
        bounds: Vec<usize>,
        /// The file's line where each record starts (the header is line 1).
        lines: Vec<u32>,
    },
    /// JSON lines: one map per line, and each one's line in the file.
    Json { rows: Vec<RawRow>, lines: Vec<u32> },
}

impl Rows {
    /// `errors` with the file's line of each one's row, for a person to find it by: a
    /// spreadsheet numbers lines, and blank lines or values over several lines set them apart
    /// from the rows.
    pub(crate) fn with_lines(&self, mut errors: Vec<RowError>) -> Vec<RowError> {
        let (Rows::Csv { lines, .. } | Rows::Json { lines, .. }) = self;
        for error in &mut errors {
            if error.line.is_none() && error.row > 0 {
                error.line = lines.get(error.row - 1).map(|&line| line as usize);
            }
        }
        errors
    }

    /// How many rows the file has (the header not counted).
    pub(crate) fn len(&self) -> usize {
        match self {
            Rows::Csv { headers, bounds, .. } => (bounds.len() - 1) / headers.len().max(1),
            Rows::Json { rows, .. } => rows.len(),
        }
    }

    /// The rows in file order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Fields<'_>> {
        let (csv, json) = match self {
            Rows::Csv {
                headers,
                text,
                bounds,
                ..
            } => {
                let width = headers.len().max(1);
                let records = (0..self.len()).map(move |r| Fields::Csv {
                    headers,
                    text,
                    bounds: &bounds[r * width..=(r + 1) * width],
                });
                (Some(records), None)
            }
            Rows::Json { rows, .. } => (None, Some(rows.iter().map(Fields::Json))),
        };
        csv.into_iter().flatten().chain(json.into_iter().flatten())
    }
}

/// One row's fields, looked up by lower-cased column name.
#[derive(Clone, Copy)]
pub(crate) enum Fields<'a> {
    /// A CSV record and its file's header.
    Csv {
        headers: &'a [String],
        /// The file's fields.
        text: &'a str,
        /// This record's field starts, and where its last field ends.
        bounds: &'a [usize],
    },
    /// A JSON object.
    Json(&'a RawRow),
}

impl<'a> Fields<'a> {
    /// A CSV record's field `index`, as written (empty for a JSON line).
    fn at(self, index: usize) -> &'a str {
        match self {
            Fields::Csv { text, bounds, .. } => &text[bounds[index]..bounds[index + 1]],
            Fields::Json(_) => "",
        }
    }

    /// The trimmed value of a column, if the row has it.
    pub(crate) fn get(self, name: &str) -> Option<&'a str> {
        match self {
            Fields::Csv {
                headers,
                text,
                bounds,
            } => headers
                .iter()
                .position(|h| h == name)
                .map(|i| &text[bounds[i]..bounds[i + 1]]),
            Fields::Json(map) => map.get(name).map(String::as_str),
        }
        .map(str::trim)
    }
}

/// Columns every sales file has.
pub(crate) const SALES_COLUMNS: &[&str] = &[
    "external_id",
    "partner_id",
    "booked_on",
    "product_line",
    "amount",
    "currency",
];

/// Columns a sales file may have besides [`SALES_COLUMNS`].
pub(crate) const SALES_OPTIONAL_COLUMNS: &[&str] = &["distributor_id", "customer_name"];

/// Columns every certifications file has.
const CERTIFICATION_COLUMNS: &[&str] = &["partner_id", "person", "code", "earned_on", "expires_on"];

/// A file-level error (row 0): the header or the file as a whole.
fn file_error(field: &str, message: impl Into<String>) -> RowError {
    RowError {
        row: 0,
        line: None,
        field: field.into(),
        message: message.into(),
    }
}

/// The columns a file of this kind can have, for error messages.
fn known_columns(required: &[&str], optional: &[&str]) -> String {
    let mut names = required.join(", ");
    if !optional.is_empty() {
        names.push_str(&format!(" and optionally {}", optional.join(", ")));
    }
    names
}

/// What most often makes a header lack the columns it seems to have, when the header shows
/// it: a file of the other kind.
fn why_columns_are_missing(headers: &[String], required: &[&str]) -> String {
    let has_all = |columns: &[&str]| columns.iter().all(|c| headers.iter().any(|h| h == c));
    for (columns, kind) in [
        (CERTIFICATION_COLUMNS, "certifications"),
        (SALES_COLUMNS, "sales"),
    ] {
        if columns != required && has_all(columns) {
            return format!(" (these are the columns of {kind}: import the file as {kind})");
        }
    }
    String::new()
}

/// Refuses a file with no rows, a CSV header without all of `required`, or a column that is
/// neither required nor `optional`: a misspelt `distributer_id` would otherwise be dropped
/// without a word. A CSV header is answered with one error instead of one per row; a JSON line
/// with an unknown key is named by its row.
pub(crate) fn check_columns(rows: &Rows, required: &[&str], optional: &[&str]) -> Result<(), Vec<RowError>> {
    let no_rows = || vec![file_error("file", "the file has no rows")];
    // A header with no rows under it is checked as well: a file wrong in both ways says so at
    // once, not one way after the other.
    let header_alone = match rows {
        Rows::Csv { headers, .. } => rows.len() == 0 && headers.iter().any(|h| !h.trim().is_empty()),
        Rows::Json { .. } => false,
    };
    if rows.len() == 0 && !header_alone {
        return Err(no_rows());
    }
    let header_error = |message: String| {
        let also = if header_alone {
            "; the file has no rows under its header either"
        } else {
            ""
        };
        vec![file_error("header", format!("{message}{also}"))]
    };
    let known = |name: &str| required.contains(&name) || optional.contains(&name);
    match rows {
        Rows::Csv { headers, .. } => {
            let missing: Vec<&str> = required
                .iter()
                .copied()
                .filter(|column| !headers.iter().any(|h| h == column))
                .collect();
            if !missing.is_empty() {
                return Err(header_error(format!(
                    "missing column{} {}; the header must name {}{}",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", "),
                    required.join(", "),
                    why_columns_are_missing(headers, required)
                )));
            }
            // A blank header cell (a trailing comma from a spreadsheet) names no column.
            let unknown: Vec<&str> = headers
                .iter()
                .map(String::as_str)
                .filter(|h| !h.is_empty() && !known(h))
                .collect();
            if !unknown.is_empty() {
                return Err(header_error(format!(
                    "unknown column{} {}; the columns are {}",
                    if unknown.len() == 1 { "" } else { "s" },
                    unknown.join(", "),
                    known_columns(required, optional)
                )));
            }
            if header_alone {
                return Err(no_rows());
            }
            // But a value under a blank header cell would be dropped without a word.
            let unnamed: Vec<usize> = (0..headers.len()).filter(|&i| headers[i].is_empty()).collect();
            if !unnamed.is_empty() {
                let errors: Vec<RowError> = rows
                    .iter()
                    .enumerate()
                    .flat_map(|(r, fields)| {
                        let unnamed = &unnamed;
                        unnamed
                            .iter()
                            .filter(move |&&i| !fields.at(i).trim().is_empty())
                            .map(move |&i| RowError {
                                row: r + 1,
                                line: None,
                                field: format!("column {}", i + 1),
                                message: "holds a value, but the header names no column there: name it or leave it empty"
                                    .into(),
                            })
                    })
                    .collect();
                if !errors.is_empty() {
                    return Err(errors);
                }
            }
        }
        Rows::Json { rows: objects, .. } => {
            let mut errors = Vec::new();
            for (i, line) in objects.iter().enumerate() {
                // An unknown key without a value (`"note": null`, as exporters write every field
                // they have) carries nothing to lose; one with a value is a misspelling or a
                // column Atrium does not keep, and is named.
                let mut unknown: Vec<&str> = line
                    .iter()
                    .filter(|(k, v)| !known(k) && !v.trim().is_empty())
                    .map(|(k, _)| k.as_str())
                    .collect();
                unknown.sort_unstable();
                errors.extend(unknown.into_iter().map(|key| RowError {
                    row: i + 1,
                    line: None,
                    field: key.into(),
                    message: format!(
                        "unknown field; the fields are {}",
                        known_columns(required, optional)
                    ),
                }));
            }
            if !errors.is_empty() {
                return Err(errors);
            }
        }
    }
    Ok(())
}

/// Reads an import file's rows and checks its columns against the `required` and `optional`
/// ones.
pub(crate) fn read_checked(
    text: &str,
    format: ImportFormat,
    required: &[&str],
    optional: &[&str],
) -> Result<Rows, Unreadable> {
    let rows = read_rows(text, format)?;
    check_columns(&rows, required, optional).map_err(|errors| Unreadable {
        rows: rows.len(),
        errors: rows.with_lines(errors),
    })?;
    Ok(rows)
}

/// A file refused before its values were checked: how many rows it holds, as far as they could
/// be told apart, and what made it unreadable.
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub(crate) rows: usize,
    pub(crate) errors: Vec<RowError>,
}

impl From<Unreadable> for Vec<RowError> {
    fn from(unreadable: Unreadable) -> Self {
        unreadable.errors
    }
}

/// A file's trouble as a whole (its header, say), before any row was read.
fn unreadable_file(field: &str, message: impl Into<String>) -> Unreadable {
    Unreadable {
        rows: 0,
        errors: vec![file_error(field, message)],
    }
}

/// Reads an import file's rows; a file that cannot be read as rows at all (a broken CSV record,
/// lines that are not JSON objects) answers every such error it finds.
pub(crate) fn read_rows(text: &str, format: ImportFormat) -> Result<Rows, Unreadable> {
    // A byte-order mark, as spreadsheet programs write, is not part of the first column's name.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // A JSON export tool's array is no CSV header, and no JSON line either.
    if text.trim_start().starts_with('[') {
        return Err(unreadable_file(
            "file",
            "the file is a JSON array: give JSON lines, one object per line, or CSV",
        ));
    }
    match format {
        ImportFormat::Csv => {
            // Values are trimmed when they are read (`Fields::get`), headers here. Records of any
            // length are read, and a wrong length reported below, so a line that only looks
            // blank can be told from a short row.
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(text.as_bytes());
            let headers: Vec<String> = reader
                .headers()
                .map_err(|e| unreadable_file("header", e.to_string()))?
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect();
            // A European spreadsheet's "CSV" is separated by semicolons (its amounts have
            // decimal commas): its header is one column, and every row would be refused for
            // its length, with no word of why.
            if let [only] = headers.as_slice() {
                for (separator, name) in [(';', "semicolons"), ('\t', "tabs")] {
                    if only.contains(separator) {
                        return Err(unreadable_file(
                            "header",
                            format!("the file is separated by {name}: save it as CSV with commas, or as JSON lines"),
                        ));
                    }
                }
            }
            for (i, name) in headers.iter().enumerate() {
                if !name.is_empty() && headers[..i].contains(name) {
                    return Err(unreadable_file(
                        "header",
                        format!("column `{name}` appears twice"),
                    ));
                }
            }
            // The fields take about as many bytes as the file.
            let mut fields = String::with_capacity(text.len());
            let mut bounds = vec![0];
            let mut lines = Vec::new();
            let mut record = csv::StringRecord::new();
            // A record with the wrong number of fields is reported and reading goes on, so the
            // report names every such row.
            let mut errors = Vec::new();
            let mut row = 0;
            // The last row read, and the byte and line where it starts.
            let mut last_row = None;
            loop {
                let at = reader.position().byte();
                match reader.read_record(&mut record) {
                    Ok(false) => break,
                    Ok(true) => {
                        // A line a person sees as blank (spaces only, or a spreadsheet's
                        // trailing `,,,,,,`) is no row, as in JSON lines.
                        if record.iter().all(|field| field.trim().is_empty()) {
                            continue;
                        }
                        row += 1;
                        let start = record.position().cloned().unwrap_or_else(csv::Position::new);
                        let line = usize::try_from(start.line()).unwrap_or(usize::MAX);
                        last_row = Some((row, start.byte() as usize, line));
                        if record.len() != headers.len() {
                            errors.push(RowError {
                                row,
                                line: Some(line),
                                field: "row".into(),
                                message: format!(
                                    "has {} field{} where the header has {}{}",
                                    record.len(),
                                    if record.len() == 1 { "" } else { "s" },
                                    headers.len(),
                                    // One more, empty and last, is a row that ends with a
                                    // comma; otherwise most often a comma inside a value.
                                    if record.len() == headers.len() + 1
                                        && record.iter().next_back().is_some_and(str::is_empty)
                                    {
                                        "; it ends with a comma the header does not have"
                                    } else if record.len() > headers.len() {
                                        "; a value with a comma in it (a name, or an amount written 1,234.56) goes in double quotes"
                                    } else {
                                        ""
                                    },
                                ),
                            });
                            continue;
                        }
                        lines.push(u32::try_from(line).unwrap_or(u32::MAX));
                        for field in &record {
                            fields.push_str(field);
                            bounds.push(fields.len());
                        }
                    }
                    Err(e) => {
                        row += 1;
                        errors.push(RowError {
                            row,
                            line: e.position().and_then(|p| usize::try_from(p.line()).ok()),
                            field: "row".into(),
                            message: e.to_string(),
                        });
                        if reader.position().byte() == at {
                            break; // nothing more could be read
                        }
                    }
                }
            }
            // The csv reader takes a quoted value that never closes to the end of the file, so
            // the rows after it would vanish into one value without a word. Only the last row
            // can hold such a quote.
            if let Some((last, start, row_line)) = last_row {
                if let Some((column, open)) = unclosed_quote(&text[start..]) {
                    let line = 1 + text[..start + open].matches('\n').count();
                    errors.retain(|e| e.row != last);
                    errors.push(RowError {
                        row: last,
                        line: Some(row_line),
                        field: headers
                            .get(column)
                            .filter(|name| !name.is_empty())
                            .cloned()
                            .unwrap_or_else(|| "row".into()),
                        message: format!(
                            "a quote opens on line {line} and never closes, so the rest of the file would be read as this one value; close it, and write a quote inside a value as two (\"\")"
                        ),
                    });
                }
            }
            if !errors.is_empty() {
                return Err(Unreadable { rows: row, errors });
            }
            Ok(Rows::Csv {
                headers,
                text: fields,
                bounds,
                lines,
            })
        }
        ImportFormat::JsonLines => {
            // Each line stands alone, so every malformed one is reported, not only the first.
            let mut rows = Vec::new();
            let mut lines = Vec::new();
            let mut errors = Vec::new();
            let written = (1..)
                .zip(text.lines())
                .filter(|(_, line)| !line.trim().is_empty());
            let mut count = 0;
            for (i, (line_number, line)) in written.enumerate() {
                count = i + 1;
                match json_row(i + 1, line) {
                    Ok(row) => {
                        rows.push(row);
                        lines.push(line_number);
                    }
                    Err(e) => errors.push(RowError {
                        line: Some(line_number as usize),
                        ..e
                    }),
                }
            }
            if errors.is_empty() {
                Ok(Rows::Json { rows, lines })
            } else {
                Err(Unreadable { rows: count, errors })
            }
        }
    }
}

/// Where a CSV record holds a quoted value that is never closed: the value's column and the
/// quote's byte in `text`, which starts at the record. A quote opens a value only as its first
/// character and closes at the next quote that is not doubled, as the csv reader reads it.
fn unclosed_quote(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let (mut column, mut at_field_start, mut i) = (0, true, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'"' if at_field_start => {
                let open = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Some((column, open)),
                        Some(b'"') if bytes.get(i + 1) == Some(&b'"') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                at_field_start = false;
            }
            b',' => {
                column += 1;
                at_field_start = true;
            }
            b'\n' | b'\r' => {
                column = 0;
                at_field_start = true;
            }
            _ => at_field_start = false,
        }
        i += 1;
    }
    None
}

/// One JSON line as a row: keys lower-cased, `null` as an empty value, strings unquoted, numbers as
/// written. A key given twice (in any case) is an error on the row, as a repeated CSV column is
/// on the file: which of the two values was meant cannot be told. So is a value that is neither
/// text nor a number (`true`, a list, an object), which no column holds.
fn json_row(row: usize, line: &str) -> Result<RawRow, RowError> {
    let error = |field: &str, message: String| RowError {
        row,
        line: None,
        field: field.into(),
        message,
    };
    // Values are kept as written: a number read through a float would turn
    // `10.999999999999999999` into 11 and `1e3` into 1000.0 before the amount parser could
    // refuse them.
    let JsonEntries(entries) =
        serde_json::from_str(line).map_err(|e| error("row", format!("not a JSON object: {e}")))?;
    let mut fields = RawRow::with_capacity(entries.len());
    for (key, value) in entries {
        let key = key.to_ascii_lowercase();
        // Every key goes into the row, `null` included, so the row knows the keys seen so far.
        if fields.contains_key(&key) {
            return Err(error(&key, format!("`{key}` is given twice on the line")));
        }
        let raw = value.get();
        let text = match raw.as_bytes().first() {
            Some(b'n') => String::new(), // null: an empty value, as an empty CSV cell
            Some(b'"') => serde_json::from_str::<String>(raw).map_err(|e| error(&key, e.to_string()))?,
            Some(b'-' | b'0'..=b'9') => raw.to_owned(),
            _ => return Err(error(&key, format!("must be text or a number, not `{raw}`"))),
        };
        fields.insert(key, text);
    }
    Ok(fields)
}

/// A JSON object's entries in the order written, repeated keys included (a map would keep one
/// of them without a word).
struct JsonEntries(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> Deserialize<'de> for JsonEntries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = JsonEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonEntries, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(JsonEntries(entries))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The most characters an id, a code, a product line or a person's name may have.
pub(crate) const MAX_TEXT_CHARS: usize = 255;
/// The most characters a customer's name may have.
pub(crate) const MAX_NAME_CHARS: usize = 500;

pub(crate) struct RowReader<'a, 'e> {
    pub(crate) row: usize,
    pub(crate) raw: Fields<'a>,
    pub(crate) errors: &'e mut Vec<RowError>,
}

impl<'a> RowReader<'a, '_> {
    pub(crate) fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(RowError {
            row: self.row,
            line: None,
            field: field.into(),
            message: message.into(),
        });
    }

    /// A required value: an id, a code, a product line, a person, or text read as a number or
    /// a date. It holds no control character and at most [`MAX_TEXT_CHARS`] characters.
    pub(crate) fn text(&mut self, field: &str) -> Option<&'a str> {
        match self.optional(field) {
            Some(v) => self.storable(field, v, MAX_TEXT_CHARS, false).then_some(v),
            None => {
                self.fail(field, "is required");
                None
            }
        }
    }

    /// Free text that may be left out, such as a customer's name: it may hold tabs and line
    /// breaks, but no other control character, and at most [`MAX_NAME_CHARS`] characters.
    /// Empty when left out, or when refused (the row has failed then).
    pub(crate) fn free_text(&mut self, field: &str) -> &'a str {
        match self.optional(field) {
            Some(v) if self.storable(field, v, MAX_NAME_CHARS, true) => v,
            _ => "",
        }
    }

    /// Whether `value` can be stored as written, failing the row if not. A NUL character is one
    /// no Postgres text holds, and an overlong id one no index holds; other control characters
    /// are stray bytes of a file that is not what it seems.
    fn storable(&mut self, field: &str, value: &str, max_chars: usize, free_text: bool) -> bool {
        // Most values hold no byte that could start a control character: one pass over bytes.
        if value.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2) {
            let allowed = |c: char| free_text && matches!(c, '\t' | '\n' | '\r');
            if let Some(c) = value.chars().find(|c| c.is_control() && !allowed(*c)) {
                let what = if free_text {
                    "a control character other than a tab or a line break"
                } else {
                    "a control character"
                };
                self.fail(field, format!("holds {what} (U+{:04X}); remove it", u32::from(c)));
                return false;
            }
        }
        if value.len() > max_chars {
            let chars = value.chars().count();
            if chars > max_chars {
                self.fail(
                    field,
                    format!("is {chars} characters long, more than the {max_chars} it may have"),
                );
                return false;
            }
        }
        true
    }

    /// The row's sale `external_id` (required); `seen`, when given, remembers the rows of the
    /// ids read so far, and a repeat is an error naming the row it first appeared on.
    pub(crate) fn external_id(&mut self, seen: Option<&mut FastMap<&'a str, usize>>) -> Option<&'a str> {
        let id = self.text("external_id")?;
        if let Some(first) = seen.and_then(|seen| seen.insert(id, self.row)) {
            self.errors.push(repeated_external_id(self.row, id, first));
        }
        Some(id)
    }

    /// Whether `distributor` is the row's own selling partner, failing the row if so: a
    /// distributor's own sale leaves `distributor_id` empty, or its figures would count it twice.
    pub(crate) fn distributor_is_seller(&mut self, partner_id: Option<i64>, distributor: i64) -> bool {
        let is_seller = partner_id == Some(distributor);
        if is_seller {
            self.fail(
                "distributor_id",
                format!(
                    "is the selling partner itself (`{distributor}`); leave it empty for a distributor's own sale, or its figures would count the sale twice"
                ),
            );
        }
        is_seller
    }

    /// Whether the row has the column at all, even empty: a CSV file whose header names it, a
    /// JSON line with the key (`null` included).
    pub(crate) fn carries(&self, field: &str) -> bool {
        self.raw.get(field).is_some()
    }

    pub(crate) fn optional(&self, field: &str) -> Option<&'a str> {
        self.raw.get(field).filter(|v| !v.is_empty())
    }

    pub(crate) fn date(&mut self, field: &str) -> Option<Date> {
        self.date_as_written(field).map(|(date, _)| date)
    }

    /// A date and its text, which is exactly how a date is stored (a valid date is written
    /// `YYYY-MM-DD`, nothing else), so it is bound as it is rather than formatted again.
    pub(crate) fn date_as_written(&mut self, field: &str) -> Option<(Date, &'a str)> {
        let text = self.text(field)?;
        match Date::parse(text, field) {
            Ok(date) => Some((date, text)),
            Err(e) => {
                self.fail(field, e.message);
                None
            }
        }
    }

    /// The row's `booked_on` and its text, failing the row when the date is outside the
    /// plausible `dates` (see [`booking_dates`]).
    pub(crate) fn booked_on(&mut self, dates: &RangeInclusive<Date>) -> Option<(Date, &'a str)> {
        let (date, text) = self.date_as_written("booked_on")?;
        if !dates.contains(&date) {
            self.fail(
                "booked_on",
                format!(
                    "{date} is outside {} … {}: check the year",
                    dates.start(),
                    dates.end()
                ),
            );
            return None;
        }
        Some((date, text))
    }

    /// The row's sale `amount` in minor units, after checking that its `currency` is the
    /// program's. ISO 4217 codes are upper case, but spreadsheets often hold `usd`: the case
    /// does not make it another currency.
    pub(crate) fn amount(&mut self, currency: Currency) -> Option<i64> {
        if let Some(code) = self.text("currency") {
            if !code.eq_ignore_ascii_case(currency.code()) {
                self.fail(
                    "currency",
                    format!("`{code}` is not the program currency {currency}"),
                );
            }
        }
        let text = self.text("amount")?;
        match parse_sale_amount(text, currency, "amount") {
            Ok(minor) => Some(minor),
            Err(e) => {
                self.fail("amount", e.message);
                None
            }
        }
    }

    fn partner(&mut self, field: &str, partners: &FastSet<i64>) -> Option<i64> {
        let text = self.text(field)?;
        match text.parse::<i64>() {
            Ok(id) if partners.contains(&id) => Some(id),
            Ok(_) => {
                self.fail(field, format!("unknown partner `{text}`"));
                None
            }
            Err(_) => {
                // Spreadsheets write a whole number as `7.0` when the column holds numbers.
                let whole = text
                    .split_once('.')
                    .filter(|(id, zeros)| {
                        id.parse::<i64>().is_ok() && !zeros.is_empty() && zeros.bytes().all(|b| b == b'0')
                    })
                    .map(|(id, _)| id);
                let hint = match whole {
                    Some(id) => format!("; write it `{id}`, without the decimals a spreadsheet added"),
                    None => String::new(),
                };
                self.fail(
                    field,
                    format!("`{text}` is not a partner id (a whole number){hint}"),
                );
                None
            }
        }
    }
}

/// The error of row `row`, whose external id `id` the file gave first on row `first`.
fn repeated_external_id(row: usize, id: &str, first: usize) -> RowError {
    RowError {
        row,
        line: None,
        field: "external_id".into(),
        message: format!("`{id}` appears earlier in the same file (row {first})"),
    }
}

/// Every row of a sales file whose external id an earlier row gives, as an error naming that
/// row. A bulk load looks for them once its rows are written, while the database builds the
/// table's indexes again, rather than row by row beside the writes, where the file's side is
/// the slower one. It lets other work on its task go on every 65,536 rows: the statements that
/// build the indexes are sent one after the other from the same task.
async fn repeated_external_ids(raw: &Rows) -> Vec<RowError> {
    let mut seen = FastMap::with_capacity_and_hasher(raw.len(), Default::default());
    let mut repeated = Vec::new();
    for (i, fields) in raw.iter().enumerate() {
        if i % 65_536 == 65_535 {
            tokio::task::yield_now().await;
        }
        let Some(id) = fields.get("external_id").filter(|id| !id.is_empty()) else {
            continue;
        };
        if let Some(first) = seen.insert(id, i + 1) {
            repeated.push(repeated_external_id(i + 1, id, first));
        }
    }
    repeated
}

/// A validated sale row, borrowing its text from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SaleRow<'a> {
    /// The row's number in the file, for an error found once stored rows are compared.
    row: usize,
    external_id: &'a str,
    partner_id: i64,
    distributor_id: Option<i64>,
    booked_on: Date,
    /// `booked_on` as the file writes it, which is how it is stored.
    booked_on_text: &'a str,
    product_line: &'a str,
    amount_minor: i64,
    customer_name: &'a str,
    /// Optional columns the row does not carry: a re-import leaves their stored values alone
    /// (an empty value clears one; a column the file never had says nothing about it).
    kept: KeptColumns,
}

/// The optional sales columns a row leaves as they are stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct KeptColumns {
    distributor_id: bool,
    customer_name: bool,
}

impl SaleRow<'_> {
    /// The organisations whose figures the sale counts in: its partner and its distributor.
    fn partners(&self) -> impl Iterator<Item = i64> {
        std::iter::once(self.partner_id).chain(self.distributor_id)
    }

    /// The fields an import compares with the stored row, as the audit log records them.
    fn audit_value(&self) -> serde_json::Value {
        SaleFields {
            partner_id: self.partner_id,
            distributor_id: self.distributor_id,
            booked_on: self.booked_on.to_string().into(),
            product_line: self.product_line.into(),
            amount_minor: self.amount_minor,
            customer_name: self.customer_name.into(),
        }
        .audit_value()
    }
}

/// The fields of a sale an import compares between a file row and the stored row, as the audit
/// log records them: one type, so that both sides always name the same fields, and a statement's
/// drill-down reads a `sale.update` entry's `before` back with it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SaleFields<'a> {
    pub(crate) partner_id: i64,
    pub(crate) distributor_id: Option<i64>,
    pub(crate) booked_on: Cow<'a, str>,
    pub(crate) product_line: Cow<'a, str>,
    pub(crate) amount_minor: i64,
    pub(crate) customer_name: Cow<'a, str>,
}

impl SaleFields<'_> {
    fn audit_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A validated certification row, borrowing its text from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CertificationRow<'a> {
    partner_id: i64,
    person: &'a str,
    code: &'a str,
    earned_on: Date,
    expires_on: Date,
}

/// What identifies a certification: partner, person (as `certified_people` tells people
/// apart), code in any case (as the program's criteria read it) and the day it was earned, the
/// date as stored. The unique index `certifications_identity` holds the person and the code as
/// first written.
type CertificationKey = (i64, String, String, String);

fn certification_key(partner_id: i64, person: &str, code: &str, earned_on: String) -> CertificationKey {
    (
        partner_id,
        domain::metrics::person_key(person),
        code.to_ascii_lowercase(),
        earned_on,
    )
}

impl CertificationRow<'_> {
    fn key(&self) -> CertificationKey {
        certification_key(
            self.partner_id,
            self.person,
            self.code,
            self.earned_on.to_string(),
        )
    }
}

/// A stored certification an import compares with its file row.
#[derive(Debug, Clone)]
struct StoredCertification {
    id: i64,
    /// The holder's name as stored, which a re-import in another spelling keeps.
    person: String,
    expires_on: String,
}

/// The start every import shares: the actor may import, and the file reads as rows. A file that
/// does not read is answered with a refused report rather than an error.
fn start_import(
    actor: Option<&Actor>,
    text: &str,
    format: ImportFormat,
    required: &[&str],
    optional: &[&str],
) -> ServiceResult<Result<Rows, ImportReport>> {
    if let Some(actor) = actor {
        require_importer(actor)?;
    }
    Ok(
        read_checked(text, format, required, optional).map_err(|unreadable| {
            ImportReport {
                rows: unreadable.rows,
                ..ImportReport::default()
            }
            .refused(unreadable.errors)
        }),
    )
}

/// Only vendor admins and finance import facts.
pub fn require_importer(actor: &Actor) -> ServiceResult<()> {
    permit(
        actor.role.can_run_rebates(),
        "only vendor admins and finance can import facts",
    )
}

/// How an import inserts its sales: the same statement for every chunk of one size.
#[derive(Clone, Copy)]
struct SalesInsert {
    backend: Backend,
    currency: Currency,
    now: i64,
    /// Whether rows whose external ids are stored already are skipped; without it every row goes
    /// in (a bulk load without its external-id index, whose rows are known to be new).
    skip_stored: bool,
    /// The optional columns the file has. One it lacks is the same for every row (no
    /// distributor, no customer name), so it is written once into the statement rather than
    /// bound per row: a million rows are a million values fewer to bind for each.
    columns: OptionalSalesColumns,
}

/// Which of the optional sales columns a file has (a JSON lines file, whose rows each name
/// their own keys, counts as having them all).
#[derive(Clone, Copy)]
struct OptionalSalesColumns {
    distributor_id: bool,
    customer_name: bool,
}

impl OptionalSalesColumns {
    fn of(raw: &Rows) -> Self {
        let has = |name: &str| match raw {
            Rows::Csv { headers, .. } => headers.iter().any(|h| h == name),
            Rows::Json { .. } => true,
        };
        Self {
            distributor_id: has("distributor_id"),
            customer_name: has("customer_name"),
        }
    }
}

/// A sales insert with its values bound.
type BoundInsert<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

impl SalesInsert {
    /// How many rows one statement inserts. SQLite binds every value, under its limit of
    /// 32,766 per statement; Postgres binds one array per column (see [`ArrayLiteral`]), so its
    /// chunks are as large as keeps the next one's validation beside the write.
    fn rows_per_statement(backend: Backend) -> usize {
        match backend {
            Backend::Sqlite => 2_000,
            Backend::Postgres => 10_000,
        }
    }

    /// The statement inserting `rows` sales (on Postgres, any number of them).
    fn sql(self, rows: usize) -> String {
        // The currency and the time are the same for every row: written once into the statement
        // (a currency code is three capital letters, the time a number) instead of bound per row.
        let currency = format!("'{}'", self.currency.code());
        let now = self.now.to_string();
        let on_conflict = if self.skip_stored {
            " ON CONFLICT (external_id) DO NOTHING"
        } else {
            ""
        };
        let columns = "INSERT INTO sales (external_id, partner_id, distributor_id, booked_on, product_line, \
             amount_minor, currency, customer_name, created_at, updated_at)";
        let OptionalSalesColumns {
            distributor_id,
            customer_name,
        } = self.columns;
        match self.backend {
            Backend::Postgres => {
                // One array per column the file has, numbered in order.
                let mut arrays = vec!["text[]", "int8[]"];
                arrays.extend(distributor_id.then_some("int8[]"));
                arrays.extend(["text[]", "text[]", "int8[]"]);
                arrays.extend(customer_name.then_some("text[]"));
                let arrays: Vec<String> = (1..).zip(arrays).map(|(n, t)| format!("${n}::{t}")).collect();
                let mut names = vec!["e", "p"];
                names.extend(distributor_id.then_some("d"));
                names.extend(["b", "l", "a"]);
                names.extend(customer_name.then_some("c"));
                let d = if distributor_id { "d" } else { "NULL" };
                let c = if customer_name { "c" } else { "''" };
                format!(
                    "{columns} SELECT e, p, {d}, b, l, a, {currency}, {c}, {now}, {now} \
                     FROM unnest({}) AS r ({}){on_conflict}",
                    arrays.join(", "),
                    names.join(", ")
                )
            }
            Backend::Sqlite => {
                let d = if distributor_id { "?" } else { "NULL" };
                let c = if customer_name { "?" } else { "''" };
                let values = Placeholders::new(self.backend)
                    .rows_with(rows, &["?", "?", d, "?", "?", "?", &currency, c, &now, &now]);
                format!("{columns} VALUES {values}{on_conflict}")
            }
        }
    }

    /// `sql` (the statement for `chunk.len()` rows) with the chunk's values bound.
    fn bind<'q>(self, sql: &'q str, chunk: &[SaleRow<'q>]) -> BoundInsert<'q> {
        let insert = sqlx::query(sql);
        if self.backend == Backend::Postgres {
            let rows = chunk.len();
            let mut external_ids = ArrayLiteral::with_capacity(rows * 12);
            let mut partners = ArrayLiteral::with_capacity(rows * 6);
            let mut distributors = ArrayLiteral::with_capacity(rows * 5);
            let mut booked_on = ArrayLiteral::with_capacity(rows * 13);
            let mut lines = ArrayLiteral::with_capacity(rows * 10);
            let mut amounts = ArrayLiteral::with_capacity(rows * 8);
            let mut customers = ArrayLiteral::with_capacity(rows * 3);
            for row in chunk {
                external_ids.push_text(row.external_id);
                partners.push_int(Some(row.partner_id));
                if self.columns.distributor_id {
                    distributors.push_int(row.distributor_id);
                }
                booked_on.push_text(row.booked_on_text);
                lines.push_text(row.product_line);
                amounts.push_int(Some(row.amount_minor));
                if self.columns.customer_name {
                    customers.push_text(row.customer_name);
                }
            }
            return [
                Some(external_ids),
                Some(partners),
                self.columns.distributor_id.then_some(distributors),
                Some(booked_on),
                Some(lines),
                Some(amounts),
                self.columns.customer_name.then_some(customers),
            ]
            .into_iter()
            .flatten()
            .fold(insert, |insert, array| insert.bind(array.finish()));
        }
        let OptionalSalesColumns {
            distributor_id,
            customer_name,
        } = self.columns;
        chunk.iter().fold(insert, |mut insert, row| {
            insert = insert.bind(row.external_id).bind(row.partner_id);
            if distributor_id {
                insert = insert.bind(row.distributor_id);
            }
            insert = insert
                .bind(row.booked_on_text)
                .bind(row.product_line)
                .bind(row.amount_minor);
            if customer_name {
                insert = insert.bind(row.customer_name);
            }
            insert
        })
    }

    /// Inserts the chunk (its statement already bound, or bound now); returns how many rows
    /// went in.
    async fn run(
        self,
        tx: &mut sqlx::AnyConnection,
        chunk: &[SaleRow<'_>],
        bound: Option<BoundInsert<'_>>,
    ) -> ServiceResult<usize> {
        let done = match bound {
            Some(insert) => insert.execute(&mut *tx).await?,
            None => {
                let sql = self.sql(chunk.len());
                self.bind(&sql, chunk).execute(&mut *tx).await?
            }
        }
        .rows_affected();
        Ok(usize::try_from(done).unwrap_or(usize::MAX))
    }
}

/// A validated chunk of sales, ready to be written.
struct SalesChunk<'q> {
    /// The rows to insert (or, where they are stored already, to compare and update).
    rows: Vec<SaleRow<'q>>,
    /// In a bulk load, the chunk's rows whose external ids were stored before it.
    stored_before: Vec<SaleRow<'q>>,
    /// The insert of `rows`, bound while the previous chunk was being written (full chunks only;
    /// a shorter one is bound when it is written).
    bound: Option<BoundInsert<'q>>,
}

impl<'q> SalesChunk<'q> {
    /// Sets a bulk load's rows stored before it apart (`stored`, their external ids), and binds
    /// the insert of the others when `full_sql` (`insert`'s statement for a full chunk) fits
    /// them and `bind` says the chunk will be written.
    fn new(
        rows: Vec<SaleRow<'q>>,
        stored: Option<&FastSet<String>>,
        (insert, full_sql): (SalesInsert, &'q str),
        full: usize,
        bind: bool,
    ) -> Self {
        let (rows, stored_before) = match stored {
            Some(stored) => rows
                .into_iter()
                .partition(|row| !stored.contains(row.external_id)),
            None => (rows, Vec::new()),
        };
        let bound = (bind && rows.len() == full).then(|| insert.bind(full_sql, &rows));
        SalesChunk {
            rows,
            stored_before,
            bound,
        }
    }

    /// How many of the file's rows the chunk holds.
    fn len(&self) -> usize {
        self.rows.len() + self.stored_before.len()
    }
}

/// A bulk load's rows summed per organisation, product line and day as they are validated:
/// with the sums of the sales stored before the load, read beside it, the touched partners' tiers
/// are evaluated without reading a million rows back once it is committed.
#[derive(Default)]
struct NewSalesSums<'a> {
    /// By (organisation, whether the sales went through it as their distributor, line, day).
    sums: FastMap<(i64, bool, &'a str, Date), i64>,
    /// A sum that left the 64-bit range: the evaluation then reads the table, and refuses it
    /// there as it would any such sum.
    overflowed: bool,
}

impl<'a> NewSalesSums<'a> {
    fn add(&mut self, rows: &[SaleRow<'a>]) {
        for row in rows {
            let owners =
                std::iter::once((row.partner_id, false)).chain(row.distributor_id.map(|d| (d, true)));
            for (owner, through) in owners {
                let sum = self
                    .sums
                    .entry((owner, through, row.product_line, row.booked_on))
                    .or_default();
                match sum.checked_add(row.amount_minor) {
                    Some(total) => *sum = total,
                    None => self.overflowed = true,
                }
            }
        }
    }

    /// Every sale the touched partners have once the load is committed: `stored`, the sums read
    /// before it, with these beside them; `None` when a sum overflowed.
    fn with_stored(self, mut stored: SalesFacts) -> Option<SalesFacts> {
        if self.overflowed {
            return None;
        }
        for ((owner, through, line, day), total) in self.sums {
            stored.add(owner, through, line.to_owned(), day, total);
        }
        Some(stored)
    }
}

/// The chunk's sales stored before this import (ids up to `newest_before`), by external id, as
/// the audit log records them.
async fn stored_sales(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    chunk: &[SaleRow<'_>],
    newest_before: i64,
) -> ServiceResult<HashMap<String, serde_json::Value>> {
    let mut placeholders = Placeholders::new(backend);
    let newest = placeholders.next();
    let ids = (0..chunk.len())
        .map(|_| placeholders.next())
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT external_id, partner_id, distributor_id, booked_on, product_line, amount_minor, customer_name \
         FROM sales WHERE id <= {newest} AND external_id IN ({ids})"
    );
    let mut lookup = sqlx::query_as::<_, (String, i64, Option<i64>, String, String, i64, String)>(&sql)
        .bind(newest_before);
    for row in chunk {
        lookup = lookup.bind(row.external_id);
    }
    Ok(lookup
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(
            |(id, partner_id, distributor_id, booked_on, product_line, amount_minor, customer_name)| {
                let value = SaleFields {
                    partner_id,
                    distributor_id,
                    booked_on: booked_on.into(),
                    product_line: product_line.into(),
                    amount_minor,
                    customer_name: customer_name.into(),
                }
                .audit_value();
                (id, value)
            },
        )
        .collect())
}

/// Rows from which an import can count as a bulk load.
const BULK_LOAD_ROWS: usize = 50_000;

/// Whether an import of `rows` into a table whose newest id is `stored` is a bulk load: at
/// least [`BULK_LOAD_ROWS`] and more rows than the table holds (re-importing a file already
/// stored is not one). Such a load, typically a program's first years of sales:
/// - suspends the table's indexes, which are then built once, with one sort each, instead of
///   row by row into B-trees that outgrow the page cache (see [`suspend_indexes`]);
/// - gathers its rows' sums for tier evaluation, as reading back every stored sale after it
///   would cost more than reading those stored before it.
fn is_bulk_load(rows: usize, stored: i64) -> bool {
    rows >= BULK_LOAD_ROWS && i64::try_from(rows).is_ok_and(|rows| rows > stored)
}

/// Suspends `table`'s indexes inside the transaction, and returns the statements that build
/// them again before the commit; a rollback, or a crash, leaves them as they were. Partial
/// indexes stay: a row outside one costs a test of its condition, while building it again would
/// read the whole table (most sales are direct, outside `sales_distributor`).
///
/// - **SQLite**: the full indexes that can be dropped (not those behind a constraint; the
///   primary key is the table's own order). Readers keep seeing them until the commit. The
///   foreign keys are not checked during a bulk load (see `import_sales`).
/// - **Postgres**: the full indexes, the primary key and the unique constraints, added back
///   (and so checked against every row) before the commit. Even the primary key, where new ids
///   only append, costs more kept row by row than built once. This locks the table for the
///   load: a reader of sales waits for the commit, seconds per million rows. The foreign
///   keys stay: dropping one would lock the organisations it refers to as well, and with them
///   nearly every request, for the whole load. Where the role may, their check of each row is
///   suspended instead ([`suspend_row_checks`]).
async fn suspend_indexes(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    table: &str,
) -> ServiceResult<Vec<String>> {
    let sql = match backend {
        // An index SQLite made for a constraint has no `sql` and cannot be dropped.
        Backend::Sqlite => {
            "SELECT 'DROP INDEX \"' || m.name || '\"', m.sql FROM sqlite_master m \
             JOIN pragma_index_list($1) l ON l.name = m.name \
             WHERE m.type = 'index' AND m.sql IS NOT NULL AND l.partial = 0 ORDER BY m.name"
        }
        // Indexes first, then the primary key and unique constraints.
        Backend::Postgres => {
            "SELECT suspend, restore FROM ( \
               SELECT format('DROP INDEX %I', i.relname) AS suspend, pg_get_indexdef(i.oid) AS restore, \
                      0 AS step, i.relname AS name \
               FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
               WHERE x.indrelid = $1::regclass AND x.indpred IS NULL AND NOT EXISTS ( \
                 SELECT 1 FROM pg_constraint c WHERE c.conrelid = x.indrelid AND c.conindid = x.indexrelid) \
               UNION ALL \
               SELECT format('ALTER TABLE %I DROP CONSTRAINT %I', $1, c.conname), \
                      format('ALTER TABLE %I ADD CONSTRAINT %I %s', $1, c.conname, \
                             pg_get_constraintdef(c.oid)), \
                      1, c.conname \
               FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.contype IN ('p', 'u') \
             ) s ORDER BY step, name"
        }
    };
    let statements: Vec<(String, String)> = sqlx::query_as(sql).bind(table).fetch_all(&mut *tx).await?;
    for (suspend, _) in &statements {
        sqlx::query(suspend).execute(&mut *tx).await?;
    }
    Ok(statements.into_iter().map(|(_, restore)| restore).collect())
}

/// Suspends, for the rest of the transaction, the foreign keys' check of each row a Postgres
/// bulk load writes (a lookup and a lock in `organisations` per row: over a third of the load's time).
/// Only a role that may set `session_replication_role` can (a superuser, or one granted `SET`
/// on it, see docs/configuration.md); for any other the keys go on checking every row.
/// Returns whether they were suspended, in which case the load must end with
/// [`check_organisations_named`], which does the same check once for every organisation.
async fn suspend_row_checks(tx: &mut sqlx::AnyConnection) -> ServiceResult<bool> {
    // Tried under a savepoint: a refusal would otherwise end the whole transaction.
    let mut attempt = sqlx::Connection::begin(&mut *tx).await?;
    match sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *attempt)
        .await
    {
        Ok(_) => {
            attempt.commit().await?;
            Ok(true)
        }
        Err(e) => {
            attempt.rollback().await?;
            tracing::info!(
                error = %e,
                "this bulk load's foreign keys check every row: the database role may not set \
                 session_replication_role (docs/configuration.md)"
            );
            Ok(false)
        }
    }
}

/// Ends [`suspend_row_checks`] and does the suspended checks' work once: every organisation
/// the load's rows name is locked against deletion until the commit, as each row's check would
/// have locked it, and must still be there. The validation checked them all when the load
/// began; this finds one removed since, and refuses the whole load.
async fn check_organisations_named(tx: &mut sqlx::AnyConnection, named: &FastSet<i64>) -> ServiceResult<()> {
    sqlx::query("SET LOCAL session_replication_role = origin")
        .execute(&mut *tx)
        .await?;
    let mut ids = ArrayLiteral::with_capacity(named.len() * 8);
    for id in named {
        ids.push_int(Some(*id));
    }
    let found: FastSet<i64> =
        sqlx::query_scalar("SELECT id FROM organisations WHERE id = ANY($1::int8[]) FOR KEY SHARE")
            .bind(ids.finish())
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    match named.iter().filter(|id| !found.contains(id)).min() {
        None => Ok(()),
        Some(gone) => Err(ServiceError::Conflict(format!(
            "organisation {gone} was removed while the file was loading; nothing was stored"
        ))),
    }
}

/// Every stored sale's external id: what a bulk load, without the external-id index, checks its
/// rows against. The table is smaller than the file, so this is fewer ids than the file has.
async fn stored_external_ids(tx: &mut sqlx::AnyConnection) -> ServiceResult<FastSet<String>> {
    Ok(sqlx::query_scalar("SELECT external_id FROM sales")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect())
}

/// Reads sale rows, one chunk at a time, into [`SaleRow`]s, collecting every error. What spans
/// the file (the external ids seen so far) is kept between chunks.
struct SaleValidator<'a> {
    partners: FastSet<i64>,
    /// The partners that are distributors: only they sell through to others.
    distributors: FastSet<i64>,
    currency: Currency,
    /// The program's product lines, whose spelling a line written in another case takes.
    product_lines: &'a [String],
    /// The dates a sale can be booked on: a date outside them is a typing error (`0026-04-01`,
    /// `2206-04-01`) that would otherwise sit unseen outside every period.
    booking_dates: RangeInclusive<Date>,
    /// The rows of the external ids read so far; `None` for a bulk load, which looks for
    /// repeats after its writes ([`repeated_external_ids`]).
    seen: Option<FastMap<&'a str, usize>>,
    errors: Vec<RowError>,
}

impl<'a> SaleValidator<'a> {
    /// The valid rows among the next `count` of `records` (numbered from 0), or `None` at the
    /// end of the file.
    fn next_chunk(
        &mut self,
        records: &mut impl Iterator<Item = (usize, Fields<'a>)>,
        count: usize,
    ) -> Option<Vec<SaleRow<'a>>> {
        let mut chunk = Vec::with_capacity(count);
        let mut read = 0;
        for (i, fields) in records.take(count) {
            read += 1;
            chunk.extend(self.row(i + 1, fields));
        }
        (read > 0).then_some(chunk)
    }

    /// The next `count` of `records` as a chunk to write (see [`SalesChunk::new`]; the
    /// statement of `full_insert` inserts `count` rows), or `None` at the end of the file. Its
    /// insert is bound only while the file is valid so far and the import is not a preview.
    fn next_sales(
        &mut self,
        records: &mut impl Iterator<Item = (usize, Fields<'a>)>,
        stored: Option<&FastSet<String>>,
        full_insert: (SalesInsert, &'a str),
        count: usize,
        preview: bool,
    ) -> Option<SalesChunk<'a>> {
        let rows = self.next_chunk(records, count)?;
        let bind = !preview && self.errors.is_empty();
        Some(SalesChunk::new(rows, stored, full_insert, count, bind))
    }

    /// Row `row` of the file, if it is valid.
    fn row(&mut self, row: usize, fields: Fields<'a>) -> Option<SaleRow<'a>> {
        let mut r = RowReader {
            row,
            raw: fields,
            errors: &mut self.errors,
        };
        let external_id = r.external_id(self.seen.as_mut());
        let partner_id = r.partner("partner_id", &self.partners);
        let distributor_id = match r.optional("distributor_id") {
            Some(_) => match r.partner("distributor_id", &self.partners) {
                Some(id) if !self.distributors.contains(&id) => {
                    r.fail(
                        "distributor_id",
                        format!("partner `{id}` is not a distributor; its sell-through would count a sale it never handled"),
                    );
                    None
                }
                Some(id) if r.distributor_is_seller(partner_id, id) => None,
                found => found.map(Some),
            },
            None => Some(None),
        };
        let booked_on = r.booked_on(&self.booking_dates);
        let product_line = r
            .text("product_line")
            .map(|line| domain::facts::in_program_spelling(line, self.product_lines));
        let amount = r.amount(self.currency);
        let customer_name = r.free_text("customer_name");
        let kept = KeptColumns {
            distributor_id: !r.carries("distributor_id"),
            customer_name: !r.carries("customer_name"),
        };
        Some(SaleRow {
            row,
            external_id: external_id?,
            partner_id: partner_id?,
            distributor_id: distributor_id?,
            booked_on: booked_on.map(|(date, _)| date)?,
            booked_on_text: booked_on.map(|(_, text)| text)?,
            product_line: product_line?,
            amount_minor: amount?,
            customer_name,
            kept,
        })
    }
}

/// The dates a sale can be booked on, as of `today`: from 1970 to a year ahead (a sale booked
/// for a date to come, such as a renewal, is real; one a century away is a typing error).
pub(crate) fn booking_dates(today: Date) -> RangeInclusive<Date> {
    let earliest = Date::parse("1970-01-01", "booked_on").unwrap_or(today);
    earliest..=today.add_months(12)
}

/// Writes validated sale rows and keeps the import's count of what happened to them.
struct SalesWriter<'a> {
    /// How rows go in: in a bulk load (indexes suspended) without skipping stored ones, as its
    /// chunks hold only new rows.
    insert: SalesInsert,
    preview: bool,
    actor_user_id: Option<i64>,
    /// Rows with ids up to this one were stored before the import.
    newest_before: i64,
    /// A bulk load's rows that were stored before it, to be compared once the indexes are back.
    stored_before_bulk: Vec<SaleRow<'a>>,
    report: ImportReport,
    /// Rows found wrong only against the stored sale (see `write`); the import is refused.
    errors: Vec<RowError>,
    /// Partners and distributors whose figures the import moved.
    touched: FastSet<i64>,
    /// In a preview, the first stored sales the file changes.
    changes: Vec<preview::SaleChange>,
}

impl<'a> SalesWriter<'a> {
    /// Writes one chunk: new rows go in, changed rows are updated (and the change recorded),
    /// identical rows are left alone.
    async fn write(&mut self, tx: &mut sqlx::AnyConnection, chunk: SalesChunk<'a>) -> ServiceResult<()> {
        let SalesChunk {
            rows,
            stored_before,
            bound,
        } = chunk;
        let insert = self.insert;
        if !insert.skip_stored {
            self.stored_before_bulk.extend(stored_before);
            if rows.is_empty() {
                return Ok(());
            }
            let inserted = insert.run(tx, &rows, bound).await?;
            if inserted != rows.len() {
                return Err(ServiceError::Internal(anyhow::anyhow!(
                    "a bulk load stored {inserted} of {} new sales",
                    rows.len()
                )));
            }
            self.report.inserted += rows.len();
            self.touched.extend(rows.iter().flat_map(SaleRow::partners));
            return Ok(());
        }
        let (backend, now) = (insert.backend, insert.now);
        let chunk = &rows[..];
        let newest_before = self.newest_before;
        let Some(stored) = write_chunk(
            tx,
            self.preview,
            "sales",
            chunk.len(),
            async |tx| insert.run(tx, chunk, bound).await,
            async |tx| stored_sales(tx, backend, chunk, newest_before).await,
        )
        .await?
        else {
            self.report.inserted += chunk.len();
            self.touched.extend(chunk.iter().flat_map(SaleRow::partners));
            return Ok(());
        };
        for row in chunk {
            let Some(before) = stored.get(row.external_id) else {
                self.report.inserted += 1;
                self.touched.extend(row.partners());
                continue;
            };
            let mut after = row.audit_value();
            if row.kept.distributor_id {
                after["distributor_id"] = before["distributor_id"].clone();
                if after["distributor_id"].as_i64() == Some(row.partner_id) {
                    // The row moves the sale to the distributor it went through: kept, that
                    // distributor would count it twice. The file is refused like any other.
                    self.errors.push(RowError {
                        row: row.row,
                        line: None,
                        field: "distributor_id".into(),
                        message: format!(
                            "sale `{}` went through partner {} as its distributor, which the row makes the selling partner; add a distributor_id column, empty for a distributor's own sale",
                            row.external_id, row.partner_id
                        ),
                    });
                    continue;
                }
            }
            if row.kept.customer_name {
                after["customer_name"] = before["customer_name"].clone();
            }
            if *before == after {
                self.report.unchanged += 1;
                continue;
            }
            self.report.updated += 1;
            // The sale's partner and distributor before and after: all of their figures moved.
            self.touched.extend(row.partners());
            self.touched.extend(
                ["partner_id", "distributor_id"]
                    .iter()
                    .filter_map(|k| before[*k].as_i64()),
            );
            if self.preview {
                if self.changes.len() < domain::facts::PREVIEW_ROWS {
                    self.changes
                        .push((row.row, row.external_id.to_owned(), before.clone(), after));
                }
                continue;
            }
            sqlx::query(
                "UPDATE sales SET partner_id = $1, distributor_id = $2, booked_on = $3, product_line = $4, \
                 amount_minor = $5, customer_name = $6, updated_at = $7 WHERE external_id = $8",
            )
            .bind(row.partner_id)
            .bind(after["distributor_id"].as_i64())
            .bind(row.booked_on_text)
            .bind(row.product_line)
            .bind(row.amount_minor)
            .bind(after["customer_name"].as_str().unwrap_or_default())
            .bind(now)
            .bind(row.external_id)
            .execute(&mut *tx)
            .await?;
            audit::record(
                &mut *tx,
                now,
                AuditEntry {
                    actor_user_id: self.actor_user_id,
                    action: "sale.update",
                    entity_type: "sale",
                    entity_id: row.external_id.to_owned(),
                    before: Some(before.clone()),
                    after: Some(after),
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// Inserts the chunk's certifications that are not stored yet; returns how many went in.
async fn insert_new_certifications(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    chunk: &[&CertificationRow<'_>],
    now: i64,
) -> ServiceResult<usize> {
    let values = Placeholders::new(backend).rows(chunk.len(), 6);
    let sql = format!(
        "INSERT INTO certifications (partner_id, person, code, earned_on, expires_on, created_at) VALUES {values} \
         ON CONFLICT (partner_id, person, code, earned_on) DO NOTHING"
    );
    let mut insert = sqlx::query(&sql);
    for row in chunk {
        insert = insert
            .bind(row.partner_id)
            .bind(row.person)
            .bind(row.code)
            .bind(row.earned_on.to_string())
            .bind(row.expires_on.to_string())
            .bind(now);
    }
    let done = insert.execute(&mut *tx).await?.rows_affected();
    Ok(usize::try_from(done).unwrap_or(usize::MAX))
}

/// The chunk's certifications stored before this import (ids up to `newest_before`), by key:
/// those of the same partner and day, whose holder's name is the row's person and whose code
/// the row's in any spelling (a file names `acna` the program spells `ACNA`, or the other way
/// round once a later version names it).
async fn stored_certifications(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    chunk: &[CertificationRow<'_>],
    newest_before: i64,
) -> ServiceResult<HashMap<CertificationKey, StoredCertification>> {
    let mut placeholders = Placeholders::new(backend);
    let newest = placeholders.next();
    let keys = placeholders.rows(chunk.len(), 2);
    // Oldest first, so that of two spellings stored by an earlier version the first is kept.
    // Codes are compared here rather than in SQL, whose case folding differs between the two
    // databases.
    let sql = format!(
        "SELECT id, partner_id, person, code, earned_on, expires_on FROM certifications \
         WHERE id <= {newest} AND (partner_id, earned_on) IN (VALUES {keys}) ORDER BY id"
    );
    let mut lookup =
        sqlx::query_as::<_, (i64, i64, String, String, String, String)>(&sql).bind(newest_before);
    for row in chunk {
        lookup = lookup.bind(row.partner_id).bind(row.earned_on.to_string());
    }
    let mut stored = HashMap::new();
    for (id, partner_id, person, code, earned_on, expires_on) in lookup.fetch_all(&mut *tx).await? {
        stored
            .entry(certification_key(partner_id, &person, &code, earned_on))
            .or_insert(StoredCertification {
                id,
                person,
                expires_on,
            });
    }
    Ok(stored)
}

/// The newest id in `table` (0 when empty): rows an import finds with ids up to it were stored
/// before the import; anything newer is its own insert.
async fn newest_id(tx: &mut sqlx::AnyConnection, table: &str) -> ServiceResult<i64> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM {table}"
    ))
    .fetch_one(&mut *tx)
    .await?)
}

/// Every partner's id: what an import checks each row's partner and distributor against.
async fn partner_ids(conn: &mut sqlx::AnyConnection) -> ServiceResult<FastSet<i64>> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM organisations WHERE kind = 'partner'")
        .fetch_all(conn)
        .await?;
    Ok(ids.into_iter().collect())
}

/// The SHA-256 of `bytes`, as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha256_hex_of(&[bytes])
}

/// The SHA-256 of `parts` read one after another, as lower-case hex.
fn sha256_hex_of(parts: &[&[u8]]) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// What an `Idempotency-Key` is bound to: the body, whether it is a preview and the format it
/// is read as. The same bytes sent as CSV and as JSON lines are different requests.
pub fn import_request_fingerprint(preview: bool, format: ImportFormat, body: &[u8]) -> String {
    sha256_hex_of(&[format!("{preview}\n{format:?}\n").as_bytes(), body])
}

async fn distributor_ids(conn: &mut sqlx::AnyConnection) -> ServiceResult<FastSet<i64>> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM organisations WHERE kind = 'partner' AND partner_type = 'distributor'",
    )
    .fetch_all(conn)
    .await?;
    Ok(ids.into_iter().collect())
}

/// Writes one chunk of an import: `insert` stores the rows not stored yet (skipped in a
/// preview). When every row went in (the usual case) there is nothing to compare and the
/// answer is `None`; otherwise `lookup` reads the chunk's rows stored before the import, to be
/// compared and updated. Rows that neither went in nor were stored before were stored by an
/// import running at the same time: a conflict, and the whole import rolls back.
async fn write_chunk<K, S>(
    tx: &mut sqlx::AnyConnection,
    preview: bool,
    what: &str,
    rows: usize,
    insert: impl AsyncFnOnce(&mut sqlx::AnyConnection) -> ServiceResult<usize>,
    lookup: impl AsyncFnOnce(&mut sqlx::AnyConnection) -> ServiceResult<HashMap<K, S>>,
) -> ServiceResult<Option<HashMap<K, S>>> {
    let mut inserted = 0;
    if !preview {
        inserted = insert(&mut *tx).await?;
        if inserted == rows {
            return Ok(None);
        }
    }
    let stored = lookup(&mut *tx).await?;
    if !preview && inserted + stored.len() != rows {
        return Err(stored_meanwhile(what));
    }
    Ok(Some(stored))
}

/// The sums of the sales stored before a bulk load: being read beside the load, or read.
enum StoredSums {
    Reading(tokio::task::JoinHandle<ServiceResult<SalesFacts>>),
    Read(ServiceResult<SalesFacts>),
}

impl StoredSums {
    async fn read(self) -> ServiceResult<SalesFacts> {
        match self {
            Self::Reading(reading) => reading.await.map_err(|e| {
                ServiceError::Internal(anyhow::anyhow!("the stored sales' reader ended: {e}"))
            })?,
            Self::Read(read) => read,
        }
    }
}

/// The answer when rows an import was about to insert were stored by another import meanwhile.
fn stored_meanwhile(what: &str) -> ServiceError {
    ServiceError::Conflict(format!(
        "another import stored some of these {what} at the same time; import the file again"
    ))
}

impl Portal {
    pub(crate) async fn program_currency(&self) -> ServiceResult<Currency> {
        Ok(self.import_terms().await?.0)
    }

    /// What an import checks its rows against: the currency and the product lines of the program
    /// in force, or, before the first version starts, of the version scheduled last (every
    /// version has the program's one currency). With no program at all there is no currency to
    /// read amounts in, so nothing is imported.
    async fn import_terms(&self) -> ServiceResult<(Currency, Vec<String>)> {
        let stored = match self.program_on(self.today()).await? {
            Some(stored) => stored,
            None => self.latest_program().await?.ok_or_else(|| {
                ServiceError::Conflict(
                    "there is no channel program yet: set one up first, since its currency says how amounts are read"
                        .to_owned(),
                )
            })?,
        };
        Ok((stored.program.currency, stored.program.named_product_lines()))
    }

    /// Imports sales. With `preview` nothing is stored; the report says what would happen.
    /// `actor` is `None` for the command line.
    pub async fn import_sales(
        &self,
        actor: Option<&Actor>,
        text: &str,
        format: ImportFormat,
        preview: bool,
        progress: Progress<'_>,
    ) -> ServiceResult<ImportReport> {
        let started = std::time::Instant::now();
        let raw = match start_import(actor, text, format, SALES_COLUMNS, SALES_OPTIONAL_COLUMNS)? {
            Ok(raw) => raw,
            Err(refused) => return Ok(refused),
        };
        tracing::debug!(rows = raw.len(), elapsed = ?started.elapsed(), "sales read");
        let backend = self.store().backend();
        // Whatever the import reads through the pool is read before it holds a connection: code
        // that holds one while it waits for another could wait for ever once every connection
        // is held by such code.
        let (currency, product_lines) = self.import_terms().await?;
        let newest = newest_id(&mut *self.pool().acquire().await?, "sales").await?;
        let bulk = !preview && is_bulk_load(raw.len(), newest);
        // A bulk load sums the sales stored before it on a second connection, beside the load
        // (on a pool of one connection, first, on its own). It takes both before it starts,
        // and only one bulk load of this process at a time may hold one of them while it
        // waits for the other.
        let sums_beside = bulk && self.store().has_spare_connection();
        let (bulk_turn, stored_sums_reader) = if sums_beside {
            let turn = self.bulk_load_turn().lock().await;
            (Some(turn), Some(self.pool().acquire().await?))
        } else {
            (None, None)
        };
        let mut conn = self.pool().acquire().await?;
        drop(bulk_turn);
        let sqlite_bulk = bulk && backend == Backend::Sqlite;
        if sqlite_bulk {
            // A bulk load checks every partner and distributor against the partners read inside
            // its own transaction, which holds the write lock from its start, so SQLite's own
            // foreign-key lookup per row (a quarter of the insert's time) is switched off; its
            // index builds sort in a larger page cache; and the log is copied into the database
            // file after the commit, beside the tier re-evaluation, rather than inside it. The
            // connection is closed afterwards, never returned to the pool with those settings.
            conn.close_on_drop();
            sqlx::Executor::execute(
                &mut *conn,
                "PRAGMA foreign_keys = OFF; PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -262144",
            )
            .await?;
        }
        let mut tx = if sqlite_bulk {
            sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?
        } else {
            sqlx::Connection::begin(&mut *conn).await?
        };
        if bulk && backend == Backend::Postgres {
            // The index builds sort in memory rather than in files (for this transaction only).
            sqlx::query("SET LOCAL maintenance_work_mem = '256MB'")
                .execute(&mut *tx)
                .await?;
        }
        // A preview writes nothing for good and need not wait for a rebate run.
        let now = if preview {
            self.now()
        } else {
            self.fact_time(&mut tx).await?
        };
        // A bulk load's rows are summed for tier evaluation as they are validated, and the sums
        // of the sales stored before it are read now, on another connection, beside the load.
        // Only imports write sales, and they take turns on the fact clock, whose lock this
        // transaction now holds: that reader sees exactly the table the load starts from (fewer
        // rows than the file, by the rule for a bulk load).
        let mut stored_sums = match stored_sums_reader {
            Some(mut reader) => {
                let portal = self.clone();
                Some(StoredSums::Reading(tokio::spawn(async move {
                    portal.stored_sales_facts(&mut reader).await
                })))
            }
            None if bulk => Some(StoredSums::Read(self.stored_sales_facts(&mut tx).await)),
            None => None,
        };
        let mut new_sums = bulk.then(NewSalesSums::default);
        let mut shown = preview.then(preview::SalesPreview::default);
        let mut validator = SaleValidator {
            partners: partner_ids(&mut tx).await?,
            distributors: distributor_ids(&mut tx).await?,
            currency,
            product_lines: &product_lines,
            booking_dates: booking_dates(self.today()),
            seen: (!bulk).then(|| FastMap::with_capacity_and_hasher(raw.len(), Default::default())),
            errors: Vec::new(),
        };
        let newest_before = newest_id(&mut tx, "sales").await?;
        // Rows go in a chunk at a time, each chunk one statement.
        let chunk_rows = SalesInsert::rows_per_statement(backend);
        let insert = SalesInsert {
            backend,
            currency: validator.currency,
            now,
            skip_stored: !bulk,
            columns: OptionalSalesColumns::of(&raw),
        };
        let full_sql = insert.sql(chunk_rows);
        let mut writer = SalesWriter {
            insert,
            preview,
            actor_user_id: actor.map(|a| a.user_id),
            newest_before,
            stored_before_bulk: Vec::new(),
            report: ImportReport {
                rows: raw.len(),
                ..ImportReport::default()
            },
            errors: Vec::new(),
            touched: FastSet::default(),
            changes: Vec::new(),
        };
        // A load larger than the table goes in faster without its indexes, which are then built
        // once, sorted, inside the same transaction. Without the external-id index the rows
        // already stored are told apart by the ids read here (fewer than the file's rows).
        let (stored, suspended) = if bulk {
            let stored = stored_external_ids(&mut tx).await?;
            if backend == Backend::Postgres {
                // Suspending the indexes locks the table against every reader, the one of the
                // stored sums too, which must then finish first.
                if let Some(sums) = stored_sums.take() {
                    stored_sums = Some(StoredSums::Read(sums.read().await));
                }
            }
            (Some(stored), suspend_indexes(&mut tx, backend, "sales").await?)
        } else {
            (None, Vec::new())
        };
        let row_checks_suspended =
            bulk && backend == Backend::Postgres && suspend_row_checks(&mut tx).await?;

        // While the database writes one chunk, the next is validated and its insert's values
        // bound: the database's work (its own thread on SQLite, its own process on Postgres)
        // runs beside the file's. After the first error nothing more is written, the rest of
        // the file is still checked so that the report names every error, and the transaction
        // is rolled back.
        let mut records = raw.iter().enumerate();
        let (stored, full_insert) = (stored.as_ref(), (insert, full_sql.as_str()));
        let mut next = validator.next_sales(&mut records, stored, full_insert, chunk_rows, preview);
        if let Some(chunk) = next.as_ref() {
            new_sums.iter_mut().for_each(|sums| sums.add(&chunk.rows));
            shown.iter_mut().for_each(|shown| shown.add(&chunk.rows));
        }
        let mut done = 0;
        while let Some(chunk) = next {
            progress(done, raw.len());
            done += chunk.len();
            let valid_so_far = validator.errors.is_empty() && writer.errors.is_empty();
            let (written, following) = tokio::join!(
                async {
                    if valid_so_far {
                        writer.write(&mut tx, chunk).await
                    } else {
                        Ok(())
                    }
                },
                async {
                    let following =
                        validator.next_sales(&mut records, stored, full_insert, chunk_rows, preview);
                    if let Some(chunk) = following.as_ref() {
                        new_sums.iter_mut().for_each(|sums| sums.add(&chunk.rows));
                        shown.iter_mut().for_each(|shown| shown.add(&chunk.rows));
                    }
                    following
                },
            );
            written?;
            next = following;
        }
        if !validator.errors.is_empty() || !writer.errors.is_empty() {
            tx.rollback().await?;
            // A repeated external id is its row's first error, as its column is the first read.
            let mut errors = if bulk {
                repeated_external_ids(&raw).await
            } else {
                Vec::new()
            };
            errors.append(&mut validator.errors);
            errors.append(&mut writer.errors);
            // Stable: a row's own errors keep the order of its columns.
            errors.sort_by_key(|e| e.row);
            return Ok(writer.report.refused(raw.with_lines(errors)));
        }
        tracing::debug!(elapsed = ?started.elapsed(), "sales validated and inserted");
        // A bulk load's repeated external ids are looked for while the indexes are built again
        // (the unique one then fails, and the load is refused with the rows named).
        let (restored, repeated) = tokio::join!(
            async {
                for definition in &suspended {
                    sqlx::query(definition).execute(&mut *tx).await?;
                }
                Ok::<_, sqlx::Error>(())
            },
            async {
                if bulk {
                    repeated_external_ids(&raw).await
                } else {
                    Vec::new()
                }
            },
        );
        if !repeated.is_empty() {
            tx.rollback().await?;
            return Ok(writer.report.refused(raw.with_lines(repeated)));
        }
        restored?;
        // A bulk load's rows that were stored before it are compared (and updated) now that the
        // indexes are back, exactly as in any other import.
        writer.insert.skip_stored = true;
        for chunk in std::mem::take(&mut writer.stored_before_bulk).chunks(chunk_rows) {
            let chunk = SalesChunk {
                rows: chunk.to_vec(),
                stored_before: Vec::new(),
                bound: None,
            };
            writer.write(&mut tx, chunk).await?;
        }
        if !writer.errors.is_empty() {
            tx.rollback().await?;
            return Ok(writer.report.refused(raw.with_lines(writer.errors)));
        }
        if row_checks_suspended {
            // Every organisation a written row names is in `touched`.
            check_organisations_named(&mut tx, &writer.touched).await?;
        }
        progress(raw.len(), raw.len());
        tracing::debug!(elapsed = ?started.elapsed(), rebuilt_indexes = suspended.len(), "sales written");
        let SalesWriter {
            insert: SalesInsert { now, .. },
            report,
            touched,
            changes,
            ..
        } = writer;
        let touched: BTreeSet<i64> = touched.into_iter().collect();
        // The stored sums are taken before the commit: a query of theirs that ran after it would
        // count this load's rows as well. By now the reader has had the whole load to finish.
        let stored_sums = match stored_sums {
            Some(sums) => Some(sums.read().await),
            None => None,
        };
        let report = self
            .commit_import(tx, actor, ("sales", text, format), now, report, preview)
            .await?;
        tracing::debug!(elapsed = ?started.elapsed(), "sales import committed");
        if !report.stored {
            let mut report = report;
            // Only a preview of a valid file gets this far unstored.
            if let Some(shown) = shown {
                report.preview = Some(shown.finish(&changes, &mut conn, currency).await?);
            }
            return Ok(report);
        }
        let mut report = report;
        // The sums gathered during the load hold for the touched partners when no stored sale
        // changed (which would move a sum read before the load): a bulk load sets the rows
        // stored before it apart before summing. Otherwise the table is read.
        let sales = match (stored_sums, new_sums) {
            (Some(stored), Some(new)) if report.updated == 0 => match stored {
                Ok(stored) => new.with_stored(stored),
                Err(e) => {
                    tracing::warn!(error = %e, "reading the stored sales beside a bulk load failed");
                    None
                }
            },
            _ => None,
        };
        if sqlite_bulk {
            let (checkpoint, ()) = tokio::join!(
                async move {
                    let result = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                        .execute(&mut *conn)
                        .await;
                    tracing::debug!(elapsed = ?started.elapsed(), "log copied into the database");
                    // Closed now, not when the evaluation beside it has finished.
                    drop(conn);
                    result
                },
                self.evaluate_after_import(touched, sales, &mut report),
            );
            if let Err(e) = checkpoint {
                tracing::warn!(error = %e, "copying the log into the database after a bulk load failed");
            }
        } else {
            // The evaluation reads through the pool: this connection goes back first.
            drop(conn);
            self.evaluate_after_import(touched, sales, &mut report).await;
        }
        Ok(report)
    }

    /// Imports certifications (identified by partner, person, code and earned date). A stored
    /// certification whose expiry date the file changes is updated, and the change recorded.
    pub async fn import_certifications(
        &self,
        actor: Option<&Actor>,
        text: &str,
        format: ImportFormat,
        preview: bool,
        progress: Progress<'_>,
    ) -> ServiceResult<ImportReport> {
        let raw = match start_import(actor, text, format, CERTIFICATION_COLUMNS, &[])? {
            Ok(raw) => raw,
            Err(refused) => return Ok(refused),
        };
        let report = ImportReport::default();
        let partners = partner_ids(&mut *self.pool().acquire().await?).await?;
        let today = self.today();
        let in_force = match self.program_on(today).await? {
            Some(stored) => Some(stored),
            None => self.latest_program().await?,
        };
        let codes = in_force
            .map(|p| p.program.named_certification_codes())
            .unwrap_or_default();
        let mut errors = Vec::new();
        let mut rows = Vec::with_capacity(raw.len());
        // Keyed by the person as `certified_people` counts them: `ADA` is `Ada`.
        let mut seen: HashMap<CertificationKey, usize> = HashMap::with_capacity(raw.len());
        for (i, fields) in raw.iter().enumerate() {
            let mut r = RowReader {
                row: i + 1,
                raw: fields,
                errors: &mut errors,
            };
            let partner_id = r.partner("partner_id", &partners);
            let person = r.text("person");
            let code = r
                .text("code")
                .map(|code| domain::facts::in_program_spelling(code, &codes));
            let earned_on = r.date("earned_on");
            if earned_on.is_some_and(|earned| earned.year() < 1970) {
                r.fail("earned_on", "is before 1970: check the year");
            }
            if earned_on.is_some_and(|earned| earned > today) {
                // Valid only from that day on, so it would change nothing yet: a date in the
                // future is a mistake in the file (a swapped month and day, a wrong year).
                r.fail(
                    "earned_on",
                    format!("is in the future (today is {today}): import a certification once it is earned"),
                );
            }
            let expires_on = r.date("expires_on");
            if let (Some(earned), Some(expires)) = (earned_on, expires_on) {
                if expires <= earned {
                    r.fail("expires_on", "must be after earned_on");
                }
            }
            if let (Some(partner_id), Some(person), Some(code), Some(earned_on)) =
                (partner_id, person, code, earned_on)
            {
                let key = certification_key(partner_id, person, code, earned_on.to_string());
                if let Some(first) = seen.insert(key, r.row) {
                    r.fail(
                        "code",
                        format!(
                            "{person}'s `{code}` earned on {earned_on} for partner {partner_id} appears earlier in the same file (row {first})"
                        ),
                    );
                }
            }
            if let (Some(partner_id), Some(person), Some(code), Some(earned_on), Some(expires_on)) =
                (partner_id, person, code, earned_on, expires_on)
            {
                rows.push(CertificationRow {
                    partner_id,
                    person,
                    code,
                    earned_on,
                    expires_on,
                });
            }
        }
        let mut report = ImportReport {
            rows: raw.len(),
            ..report
        };
        if !errors.is_empty() {
            return Ok(report.refused(raw.with_lines(errors)));
        }
        let now = self.now();
        let backend = self.store().backend();
        // The stored certifications are read before any is written.
        let mut tx = if preview {
            self.pool().begin().await?
        } else {
            self.store().begin_write().await?
        };
        let mut touched = BTreeSet::new();
        // A chunk at a time: the stored rows are looked up first, by the person as
        // `certified_people` tells people apart, so that a certification re-imported under
        // another spelling of its holder's name is the stored one, not a second row. New rows
        // go in in one statement; changed ones are updated.
        let newest_before = newest_id(&mut tx, "certifications").await?;
        // In a preview, the first stored certifications the file changes.
        let mut changed: Vec<(usize, StoredCertification)> = Vec::new();
        const CHUNK: usize = 1000;
        for (chunk_index, chunk) in rows.chunks(CHUNK).enumerate() {
            progress(chunk_index * CHUNK, rows.len());
            let stored = stored_certifications(&mut tx, backend, chunk, newest_before).await?;
            let new: Vec<&CertificationRow> = chunk
                .iter()
                .filter(|row| !stored.contains_key(&row.key()))
                .collect();
            if !preview
                && !new.is_empty()
                && insert_new_certifications(&mut tx, backend, &new, now).await? != new.len()
            {
                return Err(stored_meanwhile("certifications"));
            }
            report.inserted += new.len();
            touched.extend(new.iter().map(|row| row.partner_id));
            for (offset, row) in chunk.iter().enumerate() {
                let Some(before) = stored.get(&row.key()) else {
                    continue;
                };
                let expires_on = row.expires_on.to_string();
                if before.expires_on == expires_on {
                    report.unchanged += 1;
                    continue;
                }
                report.updated += 1;
                touched.insert(row.partner_id);
                if preview {
                    if changed.len() < domain::facts::PREVIEW_ROWS {
                        changed.push((chunk_index * CHUNK + offset, before.clone()));
                    }
                    continue;
                }
                sqlx::query("UPDATE certifications SET expires_on = $1 WHERE id = $2")
                    .bind(&expires_on)
                    .bind(before.id)
                    .execute(&mut *tx)
                    .await?;
                let value = |expires_on: &str| {
                    serde_json::json!({
                        "partner_id": row.partner_id, "person": before.person, "code": row.code,
                        "earned_on": row.earned_on, "expires_on": expires_on,
                    })
                };
                audit::record(
                    &mut tx,
                    now,
                    AuditEntry {
                        actor_user_id: actor.map(|a| a.user_id),
                        action: "certification.update",
                        entity_type: "certification",
                        entity_id: before.id.to_string(),
                        before: Some(value(&before.expires_on)),
                        after: Some(value(&expires_on)),
                    },
                )
                .await?;
            }
        }
        progress(rows.len(), rows.len());
        let mut report = self
            .commit_import(tx, actor, ("certifications", text, format), now, report, preview)
            .await?;
        if report.stored {
            self.evaluate_after_import(touched, None, &mut report).await;
        } else if preview {
            report.preview = Some(preview::certifications_preview(self.pool(), &rows, &changed).await?);
        }
        Ok(report)
    }

    /// Ends every import the same way: a preview rolls back; a real import records itself in
    /// the audit log and commits (the report then says it was stored). The log names the file
    /// by its SHA-256, size and format, so the file a question is about can be matched to its
    /// import. The partners whose facts changed are re-evaluated by the caller, once the
    /// transaction is over.
    async fn commit_import(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        actor: Option<&Actor>,
        (kind, text, format): (&str, &str, ImportFormat),
        now: i64,
        mut report: ImportReport,
        preview: bool,
    ) -> ServiceResult<ImportReport> {
        if preview {
            tx.rollback().await?;
            return Ok(report);
        }
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_user_id: actor.map(|a| a.user_id),
                action: &format!("{kind}.import"),
                entity_type: "import",
                entity_id: format!("{kind}-{now}"),
                before: None,
                after: Some(serde_json::json!({
                    "rows": report.rows, "inserted": report.inserted, "updated": report.updated, "unchanged": report.unchanged,
                    "format": format, "bytes": text.len(), "sha256": sha256_hex(text.as_bytes()),
                })),
            },
        )
        .await?;
        tx.commit().await?;
        report.stored = true;
        Ok(report)
    }

    /// Re-evaluates the partners a stored import touched. The rows are committed by then, so
    /// a failure here (the database busy or gone for a moment) must not report the import as
    /// failed, which would invite a retry of a file already stored: the report says the tiers
    /// are behind, and the evaluation is tried again in the background.
    ///
    /// `sales`, when the import gathered them, are every stored sale of the touched partners,
    /// summed; the first evaluation uses them instead of reading the table.
    async fn evaluate_after_import(
        &self,
        touched: BTreeSet<i64>,
        sales: Option<SalesFacts>,
        report: &mut ImportReport,
    ) {
        let partners = touched.len();
        let (first_try, evaluated) = tokio::sync::oneshot::channel();
        let portal = self.clone();
        // The rows are committed: their partners' tiers are re-evaluated whatever becomes of the
        // request that imported them. A client that hangs up drops its request, not this task.
        tokio::spawn(async move {
            let evaluation = std::time::Instant::now();
            let Err(e) = portal.facts_changed_with(touched.clone(), sales).await else {
                tracing::debug!(partners, elapsed = ?evaluation.elapsed(), "touched partners re-evaluated");
                let _ = first_try.send(true);
                return;
            };
            tracing::error!(error = %e, partners, "re-evaluating tiers after an import failed; retrying");
            let _ = first_try.send(false);
            for seconds in [5, 30, 120, 600] {
                tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
                match portal.facts_changed(touched.clone()).await {
                    Ok(()) => {
                        tracing::info!(partners, "tiers re-evaluated after an import, on a retry");
                        return;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, partners, "re-evaluating tiers after an import failed again")
                    }
                }
            }
        });
        if evaluated.await != Ok(true) {
            report.warnings.push(format!(
                "the tiers of {partners} partner{} could not be re-evaluated yet; they are retried in the background and at the latest in the next daily evaluation",
                if partners == 1 { "" } else { "s" }
            ));
        }
    }

    /// Re-evaluates the tiers of partners whose facts changed (RULES.md §4: "evaluation runs
    /// whenever facts change").
    pub async fn facts_changed(&self, partners: BTreeSet<i64>) -> ServiceResult<()> {
        self.facts_changed_with(partners, None).await
    }

    /// [`Portal::facts_changed`], with the partners' sales given (see
    /// [`Portal::evaluate_partners_with`]) or read from the table.
    async fn facts_changed_with(
        &self,
        partners: BTreeSet<i64>,
        sales: Option<SalesFacts>,
    ) -> ServiceResult<()> {
        let ids: Vec<i64> = partners.iter().copied().collect();
        self.evaluate_partners_with(&ids, self.today(), sales).await?;
        self.publish_partner_events(partners, "facts").await;
        Ok(())
    }
}

/// Idempotency keys belong to the user who sent them: two users who happen to pick the same key
/// never see each other's answers.
fn idempotency_scope(actor: &Actor, endpoint: &str) -> String {
    format!("{endpoint} user {}", actor.user_id)
}

/// A stored answer to an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentAnswer {
    /// SHA-256 of the request the key was first used with.
    pub request_hash: String,
    /// HTTP status of the answer.
    pub status: u16,
    /// The answer's body.
    pub response: String,
}

/// What an `Idempotency-Key` holds when a request claims it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key is new, or its first request was abandoned: this request runs and answers it.
    Claimed,
    /// A request with this key is still running; `request_hash` is that request's.
    InProgress {
        /// SHA-256 of the running request.
        request_hash: String,
    },
    /// The answer the key's request got.
    Answered(IdempotentAnswer),
}

/// A claim whose request never answered (its process died) is taken over after this long.
const ABANDONED_CLAIM_MILLIS: i64 = 15 * 60 * 1000;

/// The status a claimed key holds until its request answers.
const CLAIMED: i64 = 0;

impl Portal {
    /// Claims `actor`'s `Idempotency-Key` on an endpoint for a request, or says why not: the
    /// claim is one insert, so two requests sent at once with one key cannot both run. Refused
    /// (403) to anyone who may not import; the keys of one user are not another's.
    pub async fn claim_idempotency_key(
        &self,
        actor: &Actor,
        key: &str,
        endpoint: &str,
        request_hash: &str,
    ) -> ServiceResult<KeyClaim> {
        require_importer(actor)?;
        let endpoint = &idempotency_scope(actor, endpoint);
        let now = self.now();
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (idempotency_key, endpoint, request_hash, status, response, created_at) \
             VALUES ($1, $2, $3, $4, '', $5) ON CONFLICT (idempotency_key, endpoint) DO NOTHING",
        )
        .bind(key)
        .bind(endpoint)
        .bind(request_hash)
        .bind(CLAIMED)
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected()
            == 1;
        let taken_over = !claimed
            && sqlx::query(
                "UPDATE idempotency_keys SET request_hash = $1, created_at = $2 \
                 WHERE idempotency_key = $3 AND endpoint = $4 AND status = $5 AND created_at < $6",
            )
            .bind(request_hash)
            .bind(now)
            .bind(key)
            .bind(endpoint)
            .bind(CLAIMED)
            .bind(now - ABANDONED_CLAIM_MILLIS)
            .execute(self.pool())
            .await?
            .rows_affected()
                == 1;
        if claimed || taken_over {
            return Ok(KeyClaim::Claimed);
        }
        let row = sqlx::query(
            "SELECT request_hash, status, response FROM idempotency_keys WHERE idempotency_key = $1 AND endpoint = $2",
        )
        .bind(key)
        .bind(endpoint)
        .fetch_optional(self.pool())
        .await?;
        // Gone between the insert and now: its request failed and let the key go; so does this
        // one, rather than loop.
        let Some(row) = row else {
            return Ok(KeyClaim::InProgress {
                request_hash: request_hash.to_owned(),
            });
        };
        let request_hash: String = row.try_get("request_hash")?;
        let status: i64 = row.try_get("status")?;
        Ok(if status == CLAIMED {
            KeyClaim::InProgress { request_hash }
        } else {
            KeyClaim::Answered(IdempotentAnswer {
                request_hash,
                status: u16::try_from(status).unwrap_or(500),
                response: row.try_get("response")?,
            })
        })
    }

    /// Records the answer to a claimed key's request; later requests with the key get it.
    pub async fn remember_answer(
        &self,
        actor: &Actor,
        key: &str,
        endpoint: &str,
        answer: &IdempotentAnswer,
    ) -> ServiceResult<()> {
        let endpoint = &idempotency_scope(actor, endpoint);
        sqlx::query(
            "UPDATE idempotency_keys SET request_hash = $1, status = $2, response = $3 \
             WHERE idempotency_key = $4 AND endpoint = $5 AND status = $6",
        )
        .bind(&answer.request_hash)
        .bind(i64::from(answer.status))
        .bind(&answer.response)
        .bind(key)
        .bind(endpoint)
        .bind(CLAIMED)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Lets a claimed key go when its request failed without an answer worth keeping (a
    /// database error, say), so that a retry with the key runs.
    pub async fn release_idempotency_key(
        &self,
        actor: &Actor,
        key: &str,
        endpoint: &str,
    ) -> ServiceResult<()> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE idempotency_key = $1 AND endpoint = $2 AND status = $3",
        )
        .bind(key)
        .bind(idempotency_scope(actor, endpoint))
        .bind(CLAIMED)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_json_lines_read_alike() {
        let csv = read_rows(" External_ID , amount\n A-1 , 12.50\n", ImportFormat::Csv).unwrap();
        let json = read_rows(
            "{\"external_id\": \"A-1\", \"amount\": 12.50}\n\n",
            ImportFormat::JsonLines,
        )
        .unwrap();
        let (csv, json) = (csv.iter().next().unwrap(), json.iter().next().unwrap());
        assert_eq!(csv.get("external_id"), Some("A-1"));
        assert_eq!(csv.get("amount"), Some("12.50"));
        assert_eq!(csv.get("currency"), None);
        assert_eq!(json.get("external_id"), Some("A-1"));
        assert_eq!(json.get("amount"), Some("12.50"), "numbers are kept as written");
        let bad = read_rows(
            "{\"a\": 1}\nnot json\n\n[1]\n{\"b\": 2}\n",
            ImportFormat::JsonLines,
        )
        .unwrap_err();
        assert_eq!(bad.rows, 4, "every line that is not blank is a row");
        let rows: Vec<(usize, &str)> = bad.errors.iter().map(|e| (e.row, e.field.as_str())).collect();
        assert_eq!(
            rows,
            [(2, "row"), (3, "row")],
            "every malformed line; a blank line is no row"
        );
        // A key twice (in any case, or once as null), or a value no column holds, is an error
        // on its row naming the key: which value was meant cannot be told.
        let bad = read_rows(
            "{\"amount\": \"1.00\", \"AMOUNT\": \"1000.00\"}\n\
             {\"amount\": 1, \"amount\": 2}\n\
             {\"amount\": null, \"Amount\": 2}\n\
             {\"external_id\": {\"a\": 1}}\n\
             {\"product_line\": true}\n\
             {\"customer_name\": [1]}\n\
             {\"amount\": -1.5, \"customer_name\": \"Globex\"}\n",
            ImportFormat::JsonLines,
        )
        .unwrap_err();
        let rows: Vec<(usize, &str)> = bad.errors.iter().map(|e| (e.row, e.field.as_str())).collect();
        assert_eq!(
            rows,
            [
                (1, "amount"),
                (2, "amount"),
                (3, "amount"),
                (4, "external_id"),
                (5, "product_line"),
                (6, "customer_name")
            ]
        );
        assert_eq!(bad.rows, 7);
        let bad = read_rows("a,b\n1,2\n1\n3,4\n5,6,7\n", ImportFormat::Csv).unwrap_err();
        assert_eq!(bad.rows, 4);
        let rows: Vec<usize> = bad.errors.iter().map(|e| e.row).collect();
        assert_eq!(rows, [2, 4], "every record with the wrong number of fields");
        assert_eq!(
            bad.errors[0].located(),
            "row 2 (line 3), row: has 1 field where the header has 2",
            "the line a spreadsheet shows"
        );
    }

    #[test]
    fn errors_name_the_line_a_spreadsheet_shows() {
        // Row 3 starts on line 7: after the header, a value over two lines, a blank line and a
        // line of empty cells.
        let csv = "external_id,partner_id,booked_on,product_line,amount,currency,customer_name\n\
                   A,2,2026-05-01,cloud,1.00,USD,\"Two\nlines\"\n\
                   \n\
                   B,2,2026-05-01,cloud,1.00,USD,\n\
                   ,,,,,,\n\
                   C,2,2026-05-01,cloud,ten,USD,\n";
        let rows = read_checked(csv, ImportFormat::Csv, SALES_COLUMNS, SALES_OPTIONAL_COLUMNS).unwrap();
        let errors = rows.with_lines(vec![RowError {
            row: 3,
            line: None,
            field: "amount".into(),
            message: "bad".into(),
        }]);
        assert_eq!(errors[0].located(), "row 3 (line 7), amount: bad");
        // JSON lines count the blank ones too.
        let json = "{\"a\": 1}\n\n   \n{\"a\": 2}\n{\"a\": true}\n";
        let bad = read_rows(json, ImportFormat::JsonLines).unwrap_err();
        assert_eq!((bad.errors[0].row, bad.errors[0].line), (3, Some(5)));
        let rows = read_rows("{\"a\": 1}\n\n{\"a\": 2}\n", ImportFormat::JsonLines).unwrap();
        let errors = rows.with_lines(vec![RowError {
            row: 2,
            line: None,
            field: "a".into(),
            message: "bad".into(),
        }]);
        assert_eq!(errors[0].line, Some(3));
        // A file-wide error has no line.
        assert_eq!(rows.with_lines(vec![file_error("header", "bad")])[0].line, None);
    }

    #[test]
    fn a_csv_line_that_only_looks_blank_is_no_row() {
        let text = "a,b\r\n1,2\r\n   \r\n,\r\n , \r\n3,4\r\n,,\r\n";
        let rows = read_rows(text, ImportFormat::Csv).unwrap();
        assert_eq!(rows.len(), 2, "spaces and a row of empty cells are skipped");
        let values: Vec<_> = rows.iter().map(|r| r.get("b")).collect();
        assert_eq!(values, [Some("2"), Some("4")]);
        // A row with one value and empty cells is a row, and its missing values are errors later.
        assert_eq!(read_rows("a,b\n1,2\n,5\n", ImportFormat::Csv).unwrap().len(), 2);
    }

    #[test]
    fn a_quote_that_never_closes_refuses_the_file() {
        // In the last column the csv reader would take the rest of the file as one value: rows
        // S2 and S3 would be lost and the file would still read as one good row.
        let text = "external_id,amount,customer_name\n\
                    S1,100.00,\"Acme\n\
                    S2,200.00,Globex\n\
                    S3,300.00,Initech\n";
        let bad = read_rows(text, ImportFormat::Csv).unwrap_err();
        assert_eq!(bad.errors.len(), 1);
        let error = &bad.errors[0];
        assert_eq!((error.row, error.field.as_str()), (1, "customer_name"));
        assert!(
            error
                .message
                .starts_with("a quote opens on line 2 and never closes"),
            "{error:?}"
        );
        // In an earlier column the row comes up short, and the quote is still what is named.
        let text = "external_id,amount,customer_name\nS0,1.00,Zeta\nS1,\"100.00,Acme\nS2,200.00,Globex\n";
        let bad = read_rows(text, ImportFormat::Csv).unwrap_err();
        let found: Vec<_> = bad.errors.iter().map(|e| (e.row, e.field.as_str())).collect();
        assert_eq!(found, [(2, "amount")]);
        // Quotes that close, doubled quotes, a line break inside quotes and a quote inside an
        // unquoted value are all fine.
        let text = "external_id,amount,customer_name\n\
                    S1,1.00,\"Acme \"\"East\"\"\nBranch\"\n\
                    S2,2.00,Globex 5\" screens\n\
                    S3,3.00,\"\"\n";
        let rows = read_rows(text, ImportFormat::Csv).unwrap();
        let names: Vec<_> = rows.iter().map(|r| r.get("customer_name")).collect();
        assert_eq!(
            names,
            [
                Some("Acme \"East\"\nBranch"),
                Some("Globex 5\" screens"),
                Some("")
            ]
        );
        assert_eq!(
            unclosed_quote("a,\"b\"\"\n"),
            Some((1, 2)),
            "a doubled quote does not close"
        );
        assert_eq!(unclosed_quote("a,\"b\"\"\"\n"), None);
        let rows = read_rows(
            "{\"amount\": 10.999999999999999999, \"partner_id\": 7, \"note\": \"a \\\"b\\\"\", \"x\": null}\n",
            ImportFormat::JsonLines,
        )
        .unwrap();
        let row = rows.iter().next().unwrap();
        assert_eq!(row.get("amount"), Some("10.999999999999999999"));
        assert_eq!(row.get("partner_id"), Some("7"));
        assert_eq!(row.get("note"), Some("a \"b\""));
        assert_eq!(
            row.get("x"),
            Some(""),
            "null is an empty value, as an empty CSV cell"
        );
        assert_eq!(row.get("y"), None, "a key left out is no value at all");
    }

    #[test]
    fn unknown_columns_are_refused_by_name() {
        let check = |text: &str, format| {
            let rows = read_rows(text, format).unwrap();
            check_columns(&rows, SALES_COLUMNS, SALES_OPTIONAL_COLUMNS)
        };
        let header = "external_id,partner_id,booked_on,product_line,amount,currency";
        let row = "S1,7,2026-04-01,cloud,1.00,USD";
        assert_eq!(
            check(
                &format!("{header},customer_name,\n{row},Ann,\n"),
                ImportFormat::Csv
            ),
            Ok(())
        );
        // A value under the blank header cell is refused on its row, naming the column.
        let errors = check(
            &format!("{header},customer_name,\n{row},Ann,\n{row},Bo, Acme Ltd \n"),
            ImportFormat::Csv,
        )
        .unwrap_err();
        assert_eq!(
            errors
                .iter()
                .map(|e| (e.row, e.field.as_str()))
                .collect::<Vec<_>>(),
            [(2, "column 8")]
        );
        assert!(
            errors[0].message.contains("the header names no column there"),
            "{errors:?}"
        );
        let errors = check(&format!("{header},distributer_id\n{row},3\n"), ImportFormat::Csv).unwrap_err();
        assert_eq!((errors[0].row, errors[0].field.as_str()), (0, "header"));
        assert!(
            errors[0].message.starts_with("unknown column distributer_id;"),
            "{errors:?}"
        );
        let line = r#"{"external_id":"S1","partner_id":7,"booked_on":"2026-04-01","product_line":"cloud","amount":"1.00","currency":"USD""#;
        let errors = check(
            &format!("{line}}}\n{line},\"Amount_USD\":1}}\n"),
            ImportFormat::JsonLines,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].row, errors[0].field.as_str()), (2, "amount_usd"));
        // An unknown key without a value carries nothing to lose and is passed over.
        assert_eq!(
            check(
                &format!("{line},\"note\":null,\"region\":\"\"}}\n"),
                ImportFormat::JsonLines
            ),
            Ok(())
        );
    }

    #[test]
    fn a_header_that_lacks_columns_says_why_when_it_shows() {
        let header_error = |text: &str, required| match read_rows(text, ImportFormat::Csv) {
            Ok(rows) => check_columns(&rows, required, &[]).unwrap_err()[0]
                .message
                .clone(),
            Err(Unreadable { errors, .. }) => format!("unreadable: {}", errors[0].message),
        };
        // Refused whole, not row by row for its rows' lengths.
        let semicolons =
            "external_id;partner_id;booked_on;product_line;amount;currency\nS1;7;2026-04-01;cloud;1,00;USD\n";
        assert_eq!(
            header_error(semicolons, SALES_COLUMNS),
            "unreadable: the file is separated by semicolons: save it as CSV with commas, or as JSON lines"
        );
        let tabs = "external_id\tpartner_id\tbooked_on\nS1\t7\t2026-04-01\n";
        assert!(header_error(tabs, SALES_COLUMNS).contains("separated by tabs"));
        let certifications =
            "partner_id,person,code,earned_on,expires_on\n7,Ann,AZ-104,2026-01-01,2028-01-01\n";
        assert!(header_error(certifications, SALES_COLUMNS)
            .ends_with("(these are the columns of certifications: import the file as certifications)"));
        let sales =
            "external_id,partner_id,booked_on,product_line,amount,currency\nS1,7,2026-04-01,cloud,1.00,USD\n";
        assert!(header_error(sales, CERTIFICATION_COLUMNS).ends_with("import the file as sales)"));
        let array = "[{\"external_id\":\"S1\"}]\n";
        assert!(header_error(array, SALES_COLUMNS).contains("JSON array"));
        assert!(read_rows(array, ImportFormat::JsonLines).is_err());
        // A header that shows nothing more says nothing more.
        assert!(header_error("external_id,amount\nS1,1.00\n", SALES_COLUMNS).ends_with("amount, currency"));
        // A row with a field too many hints at the comma inside a value.
        let rows = read_rows("external_id,amount\nS1,1,234.56\n", ImportFormat::Csv);
        let Err(Unreadable { errors, .. }) = rows else {
            panic!("a row with a field too many is refused");
        };
        assert!(errors[0].message.contains("goes in double quotes"), "{errors:?}");
        // A row that ends with a comma the header lacks is told so.
        let rows = read_rows("external_id,amount\nS1,1.00,\n", ImportFormat::Csv);
        let Err(Unreadable { errors, .. }) = rows else {
            panic!("a row with a trailing comma is refused");
        };
        assert!(
            errors[0]
                .message
                .ends_with("it ends with a comma the header does not have"),
            "{errors:?}"
        );
    }

    #[test]
    fn values_hold_no_control_character_and_have_a_bounded_length() {
        let mut errors = Vec::new();
        let long_id = "S".repeat(MAX_TEXT_CHARS + 1);
        let long_name = "ü".repeat(MAX_NAME_CHARS + 1);
        let cases = [
            ("external_id", "S\u{0}1", true),
            ("external_id", "S\t1", true),
            ("external_id", "S\u{85}1", true),
            ("external_id", long_id.as_str(), true),
            ("external_id", &long_id[1..], false),
            ("external_id", "Zürich-1 \"quoted\"", false),
            ("customer_name", "Line one\r\nline two\tand a tab", false),
            ("customer_name", "Nul\u{0}here", true),
            ("customer_name", long_name.as_str(), true),
            ("customer_name", &long_name[2..], false),
        ];
        for (i, (field, value, refused)) in cases.iter().enumerate() {
            let headers = [field.to_string()];
            let bounds = [0, value.len()];
            let raw = Fields::Csv {
                headers: &headers,
                text: value,
                bounds: &bounds,
            };
            let mut r = RowReader {
                row: i + 1,
                raw,
                errors: &mut errors,
            };
            let read = if *field == "customer_name" {
                r.free_text(field)
            } else {
                r.text(field).unwrap_or_default()
            };
            let failed = errors.iter().any(|e| e.row == i + 1 && e.field == *field);
            assert_eq!(failed, *refused, "{field} {value:?}: {errors:?}");
            assert_eq!(read.is_empty(), *refused, "{field} {value:?}");
        }
        assert!(errors[0].message.contains("U+0000"), "{errors:?}");
        assert!(errors[3].message.contains("256 characters long"), "{errors:?}");
    }

    #[test]
    fn a_chunk_is_bound_ahead_only_when_full_and_sets_stored_rows_apart() {
        let sale = |external_id| SaleRow {
            row: 1,
            external_id,
            partner_id: 7,
            distributor_id: None,
            booked_on: Date::parse("2026-04-01", "booked_on").unwrap(),
            booked_on_text: "2026-04-01",
            product_line: "cloud",
            amount_minor: 100,
            customer_name: "",
            kept: KeptColumns::default(),
        };
        let bulk = SalesInsert {
            backend: Backend::Sqlite,
            currency: Currency::USD,
            now: 0,
            skip_stored: false,
            columns: OptionalSalesColumns {
                distributor_id: true,
                customer_name: true,
            },
        };
        let full_sql = bulk.sql(2);
        assert_eq!(full_sql.matches('?').count(), 14);
        // A column the file lacks is written into the statement, not bound per row.
        let without = |distributor_id, customer_name, backend| {
            SalesInsert {
                backend,
                columns: OptionalSalesColumns {
                    distributor_id,
                    customer_name,
                },
                ..bulk
            }
            .sql(2)
        };
        assert_eq!(without(false, true, Backend::Sqlite).matches('?').count(), 12);
        assert_eq!(without(false, false, Backend::Sqlite).matches('?').count(), 10);
        let postgres = without(false, false, Backend::Postgres);
        assert!(
            postgres.contains("SELECT e, p, NULL, b, l, a, 'USD', '', 0, 0")
                && postgres.contains(
                    "unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[]) AS r (e, p, b, l, a)"
                ),
            "{postgres}"
        );
        let postgres = without(true, false, Backend::Postgres);
        assert!(
            postgres.contains("$3::int8[]") && postgres.contains("AS r (e, p, d, b, l, a)"),
            "{postgres}"
        );
        assert!(!full_sql.contains("ON CONFLICT"));
        assert!(SalesInsert {
            skip_stored: true,
            ..bulk
        }
        .sql(2)
        .ends_with("ON CONFLICT (external_id) DO NOTHING"));

        // A bulk load sets the stored row apart; the one left does not fit a two-row statement.
        let stored: FastSet<String> = ["B".to_owned()].into_iter().collect();
        let chunk = SalesChunk::new(
            vec![sale("A"), sale("B")],
            Some(&stored),
            (bulk, &full_sql),
            2,
            true,
        );
        let ids = |rows: &[SaleRow<'_>]| rows.iter().map(|r| r.external_id.to_owned()).collect::<Vec<_>>();
        assert_eq!(ids(&chunk.rows), ["A"]);
        assert_eq!(ids(&chunk.stored_before), ["B"]);
        assert_eq!(chunk.len(), 2);
        assert!(chunk.bound.is_none());
        // A full chunk is bound ahead, unless it is not to be written.
        let full = SalesChunk::new(
            vec![sale("A"), sale("C")],
            Some(&stored),
            (bulk, &full_sql),
            2,
            true,
        );
        assert!(full.bound.is_some() && full.stored_before.is_empty());
        assert!(
            SalesChunk::new(vec![sale("A"), sale("C")], None, (bulk, &full_sql), 2, false)
                .bound
                .is_none()
        );
    }

    #[test]
    fn only_files_larger_than_the_table_are_bulk_loads() {
        assert!(is_bulk_load(1_000_000, 0));
        assert!(is_bulk_load(50_000, 49_999));
        assert!(!is_bulk_load(50_000, 50_000));
        assert!(!is_bulk_load(49_999, 0));
    }

    #[test]
    fn formats_are_guessed_from_names_and_types() {
        assert_eq!(
            ImportFormat::from_file_name("sales.jsonl"),
            ImportFormat::JsonLines
        );
        assert_eq!(
            ImportFormat::from_file_name("Sales.NDJSON"),
            ImportFormat::JsonLines
        );
        assert_eq!(ImportFormat::from_file_name("sales.CSV"), ImportFormat::Csv);
        assert_eq!(
            ImportFormat::from_file_name("/srv/json-exports/sales.csv"),
            ImportFormat::Csv
        );
        for (content_type, format) in [
            ("application/x-ndjson", Some(ImportFormat::JsonLines)),
            ("Application/JSONL", Some(ImportFormat::JsonLines)),
            ("text/csv; charset=utf-8", Some(ImportFormat::Csv)),
            (" TEXT/CSV ", Some(ImportFormat::Csv)),
            ("application/vnd.ms-excel", Some(ImportFormat::Csv)),
            ("text/plain", Some(ImportFormat::Csv)),
            ("application/x-www-form-urlencoded", None),
            ("application/xml", None),
            (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                None,
            ),
            ("", None),
        ] {
            assert_eq!(
                ImportFormat::from_content_type(content_type),
                format,
                "{content_type}"
            );
        }
    }
}
