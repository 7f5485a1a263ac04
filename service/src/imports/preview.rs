//! What a preview shows of a valid file before anything is stored: its first rows as they would
//! be stored, the stored rows it would change, field by field, and its totals
//! ([`ImportPreview`]). Gathered only for previews, never during a real import.

use super::{CertificationRow, SaleRow, StoredCertification};
use crate::error::ServiceResult;
use domain::calendar::Date;
use domain::facts::{FieldChange, ImportPreview, PreviewChange, PreviewRow, PREVIEW_ROWS};
use domain::money::{format_minor, Currency};
use std::collections::{HashMap, HashSet};

/// The sales fields a preview compares, in the file's column names and the audit log's keys.
const SALE_FIELDS: [(&str, &str); 6] = [
    ("partner_id", "partner_id"),
    ("distributor_id", "distributor_id"),
    ("booked_on", "booked_on"),
    ("product_line", "product_line"),
    ("amount", "amount_minor"),
    ("customer_name", "customer_name"),
];

/// Gathers a sales preview as the file's rows are validated and compared.
#[derive(Default)]
pub(super) struct SalesPreview<'a> {
    sample: Vec<SaleRow<'a>>,
    rows: usize,
    amount: i128,
    partners: HashSet<i64>,
    booked: Option<(Date, Date)>,
}

/// A stored sale a file changes, as the writer finds it: its row, external id, and the audit
/// log's values before and after.
pub(super) type SaleChange = (usize, String, serde_json::Value, serde_json::Value);

impl<'a> SalesPreview<'a> {
    /// Counts valid rows into the totals and keeps the first ones.
    pub(super) fn add(&mut self, rows: &[SaleRow<'a>]) {
        let room = PREVIEW_ROWS.saturating_sub(self.sample.len());
        self.sample.extend(rows.iter().take(room).cloned());
        for row in rows {
            self.rows += 1;
            self.amount += i128::from(row.amount_minor);
            self.partners.insert(row.partner_id);
            self.booked = Some(match self.booked {
                Some((first, last)) => (first.min(row.booked_on), last.max(row.booked_on)),
                None => (row.booked_on, row.booked_on),
            });
        }
    }

    /// The preview, with the first `changes` (see [`PREVIEW_ROWS`]) and partners named as
    /// `conn` has them.
    pub(super) async fn finish(
        self,
        changes: &[SaleChange],
        conn: &mut sqlx::AnyConnection,
        currency: Currency,
    ) -> ServiceResult<ImportPreview> {
        let changes = &changes[..changes.len().min(PREVIEW_ROWS)];
        let mut ids: HashSet<i64> = self
            .sample
            .iter()
            .flat_map(|row| [Some(row.partner_id), row.distributor_id])
            .flatten()
            .collect();
        for (_, _, before, after) in changes {
            for value in [before, after] {
                ids.extend(
                    ["partner_id", "distributor_id"]
                        .iter()
                        .filter_map(|k| value[*k].as_i64()),
                );
            }
        }
        let names = partner_names(conn, &ids).await?;
        let partner = |id: Option<i64>| id.map_or_else(String::new, |id| named(&names, id));
        let amount = |minor: i64| {
            format!(
                "{} {}",
                format_minor(minor, currency.minor_digits()),
                currency.code()
            )
        };
        let sample = self
            .sample
            .iter()
            .map(|row| PreviewRow {
                row: row.row,
                cells: vec![
                    row.external_id.to_owned(),
                    partner(Some(row.partner_id)),
                    partner(row.distributor_id),
                    row.booked_on.to_string(),
                    row.product_line.to_owned(),
                    amount(row.amount_minor),
                    row.customer_name.to_owned(),
                ],
            })
            .collect();
        let shown = |key: &str, value: &serde_json::Value| match (key, value) {
            (_, serde_json::Value::Null) => String::new(),
            ("partner_id" | "distributor_id", value) => partner(value.as_i64()),
            ("amount_minor", value) => value.as_i64().map(amount).unwrap_or_default(),
            (_, serde_json::Value::String(text)) => text.clone(),
            (_, value) => value.to_string(),
        };
        let changes = changes
            .iter()
            .map(|(row, external_id, before, after)| PreviewChange {
                row: *row,
                key: external_id.clone(),
                fields: SALE_FIELDS
                    .iter()
                    .filter(|(_, key)| before[*key] != after[*key])
                    .map(|(field, key)| FieldChange {
                        field: (*field).to_owned(),
                        before: shown(key, &before[*key]),
                        after: shown(key, &after[*key]),
                    })
                    .collect(),
            })
            .collect();
        let total = i64::try_from(self.amount)
            .map_or_else(|_| format!("{} {}", self.amount, currency.code()), amount);
        let mut totals = vec![
            ("Rows".to_owned(), self.rows.to_string()),
            ("Amount".to_owned(), total),
            ("Partners".to_owned(), self.partners.len().to_string()),
        ];
        if let Some((first, last)) = self.booked {
            totals.push(("Booked".to_owned(), format!("{first} to {last}")));
        }
        Ok(ImportPreview {
            columns: [
                "External id",
                "Partner",
                "Distributor",
                "Booked on",
                "Product line",
                domain::facts::AMOUNT_COLUMN,
                "Customer",
            ]
            .map(str::to_owned)
            .to_vec(),
            sample,
            changes,
            totals,
        })
    }
}

/// The preview of a valid certifications file: `rows` as validated, `changed` the stored
/// certifications whose expiry it moves (row index into `rows`, the stored one).
pub(super) async fn certifications_preview(
    pool: &sqlx::AnyPool,
    rows: &[CertificationRow<'_>],
    changed: &[(usize, StoredCertification)],
) -> ServiceResult<ImportPreview> {
    let ids: HashSet<i64> = rows
        .iter()
        .take(PREVIEW_ROWS)
        .chain(changed.iter().map(|(i, _)| &rows[*i]))
        .map(|row| row.partner_id)
        .collect();
    let names = partner_names(&mut *pool.acquire().await?, &ids).await?;
    let sample = rows
        .iter()
        .enumerate()
        .take(PREVIEW_ROWS)
        .map(|(i, row)| PreviewRow {
            row: i + 1,
            cells: vec![
                named(&names, row.partner_id),
                row.person.to_owned(),
                row.code.to_owned(),
                row.earned_on.to_string(),
                row.expires_on.to_string(),
            ],
        })
        .collect();
    let changes = changed
        .iter()
        .map(|(i, stored)| {
            let row = &rows[*i];
            PreviewChange {
                row: i + 1,
                key: format!(
                    "{}'s {} earned {} at {}",
                    stored.person,
                    row.code,
                    row.earned_on,
                    named(&names, row.partner_id)
                ),
                fields: vec![FieldChange {
                    field: "expires_on".into(),
                    before: stored.expires_on.clone(),
                    after: row.expires_on.to_string(),
                }],
            }
        })
        .collect();
    let partners: HashSet<i64> = rows.iter().map(|row| row.partner_id).collect();
    // People as `certified_people` tells them apart.
    let people: HashSet<(i64, String)> = rows
        .iter()
        .map(|row| (row.partner_id, domain::metrics::person_key(row.person)))
        .collect();
    Ok(ImportPreview {
        columns: ["Partner", "Person", "Code", "Earned on", "Expires on"]
            .map(str::to_owned)
            .to_vec(),
        sample,
        changes,
        totals: vec![
            ("Rows".to_owned(), rows.len().to_string()),
            ("Partners".to_owned(), partners.len().to_string()),
            ("People".to_owned(), people.len().to_string()),
        ],
    })
}

/// A partner as a preview shows it: `Northwind Systems (7)`.
fn named(names: &HashMap<i64, String>, id: i64) -> String {
    match names.get(&id) {
        Some(name) => format!("{name} ({id})"),
        None => id.to_string(),
    }
}

/// The names of the organisations `ids`.
async fn partner_names(
    conn: &mut sqlx::AnyConnection,
    ids: &HashSet<i64>,
) -> ServiceResult<HashMap<i64, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    // Ids are numbers, written into the statement as such.
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    let rows: Vec<(i64, String)> = sqlx::query_as(&format!(
        "SELECT id, name FROM organisations WHERE id IN ({})",
        list.join(", ")
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}
