//! Deal registration (RULES.md §6): customer keys, the lifecycle, conflicts and duplicates,
//! protection periods, the decision clock and turnaround figures.

use crate::calendar::Date;
use crate::identity::vocabulary;
use crate::FieldError;
use serde::{Deserialize, Serialize};

vocabulary! {
    /// Where a registration is in its life.
    DealStatus, "deal status" {
        Draft => "draft", "Draft";
        Submitted => "submitted", "Submitted";
        Approved => "approved", "Approved";
        Rejected => "rejected", "Rejected";
        Won => "won", "Won";
        Lost => "lost", "Lost";
        Expired => "expired", "Expired";
    }
}

vocabulary! {
    /// Something that moves a registration from one status to the next.
    DealAction, "deal action" {
        Submit => "submit", "Submit";
        Approve => "approve", "Approve";
        Reject => "reject", "Reject";
        Win => "won", "Mark won";
        Lose => "lost", "Mark lost";
        Expire => "expire", "Expire";
    }
}

impl DealStatus {
    /// The status after `action`, or an error naming what is allowed (RULES.md §6:
    /// `draft → submitted → approved | rejected`; `approved → won | lost | expired`).
    pub fn after(self, action: DealAction) -> Result<DealStatus, String> {
        use DealAction as A;
        use DealStatus as S;
        match (self, action) {
            (S::Draft, A::Submit) => Ok(S::Submitted),
            (S::Submitted, A::Approve) => Ok(S::Approved),
            (S::Submitted, A::Reject) => Ok(S::Rejected),
            (S::Approved, A::Win) => Ok(S::Won),
            (S::Approved, A::Lose) => Ok(S::Lost),
            (S::Approved, A::Expire) => Ok(S::Expired),
            (status, action) => Err(format!(
                "a {} registration cannot be {}",
                status.label().to_lowercase(),
                match action {
                    A::Submit => "submitted",
                    A::Approve => "approved",
                    A::Reject => "rejected",
                    A::Win => "marked won",
                    A::Lose => "marked lost",
                    A::Expire => "expired",
                }
            )),
        }
    }

    /// Whether the registration still claims its customer (for conflicts and duplicates).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            DealStatus::Draft | DealStatus::Submitted | DealStatus::Approved
        )
    }
}

/// Protection days when the program names none for the tier (RULES.md §6).
pub fn default_protection_days(tier_rank: u8) -> u16 {
    match tier_rank {
        0 => 60,
        1 => 90,
        2 => 120,
        _ => 180,
    }
}

/// Days an approved extension adds to the protection period.
pub const EXTENSION_DAYS: i64 = 30;

/// The first day a registration approved on `approved_on` is no longer protected.
pub fn protection_ends(approved_on: Date, protection_days: u16) -> Date {
    approved_on.add_days(i64::from(protection_days))
}

/// Legal-form words dropped from the end of a customer name, repeatedly.
#[cfg(feature = "customer-key")]
const LEGAL_SUFFIXES: &[&str] = &[
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "gmbh",
    "ag",
    "sa",
    "sas",
    "srl",
    "bv",
    "nv",
    "plc",
    "corp",
    "corporation",
    "co",
    "company",
    "pty",
    "oy",
    "ab",
    "as",
    "kk",
];

/// Letters that do not decompose into a base letter and an accent.
#[cfg(feature = "customer-key")]
fn fold_special(c: char, out: &mut String) -> bool {
    let folded = match c {
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'ø' => "o",
        'đ' | 'ð' => "d",
        'ł' => "l",
        'þ' => "th",
        'ı' => "i",
        _ => return false,
    };
    out.push_str(folded);
    true
}

/// A customer name as RULES.md §6 compares it: lower-cased, accents folded, punctuation
/// removed, spaces collapsed, trailing legal suffixes dropped (while more than one word is left).
#[cfg(feature = "customer-key")]
pub fn normalise_customer_name(name: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    let mut folded = String::with_capacity(name.len());
    for c in name.to_lowercase().nfd() {
        if is_combining_mark(c) || fold_special(c, &mut folded) {
            continue;
        }
        if c.is_alphanumeric() {
            folded.push(c);
        } else if c.is_whitespace() {
            folded.push(' ');
        }
        // Anything else is punctuation or a symbol: removed.
    }
    let mut words: Vec<&str> = folded.split_whitespace().collect();
    while words.len() > 1 && words.last().is_some_and(|w| LEGAL_SUFFIXES.contains(w)) {
        words.pop();
    }
    words.join(" ")
}

/// What identifies a customer across registrations: `d:` and the registrable domain, or `n:`
/// and the normalised name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct CustomerKey(String);

impl CustomerKey {
    /// The key as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds a stored key.
    pub fn from_stored(key: String) -> Self {
        Self(key)
    }

    /// Derives the key of a customer (RULES.md §6). A domain, when given, wins over the name;
    /// it may be written as a URL or an e-mail address.
    #[cfg(feature = "customer-key")]
    pub fn derive(name: &str, domain: Option<&str>) -> Result<Self, FieldError> {
        if let Some(domain) = domain.map(str::trim).filter(|d| !d.is_empty()) {
            return registrable_domain(domain).map(|d| Self(format!("d:{d}")));
        }
        let name = normalise_customer_name(name);
        if name.is_empty() {
            return Err(FieldError::new("customer_name", "enter the customer's name"));
        }
        Ok(Self(format!("n:{name}")))
    }
}

impl std::fmt::Display for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The registrable domain (public suffix plus one label) of a host, URL or e-mail address.
#[cfg(feature = "customer-key")]
pub fn registrable_domain(input: &str) -> Result<String, FieldError> {
    let invalid = || {
        FieldError::new(
            "customer_domain",
            format!("`{input}` is not a domain a company can register (e.g. acme.co.uk)"),
        )
    };
    let mut host = input.trim().to_lowercase();
    if let Some((_, rest)) = host.split_once("://") {
        host = rest.to_owned();
    }
    if let Some((_, after_at)) = host.rsplit_once('@') {
        host = after_at.to_owned();
    }
    let host = host
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .split(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('.');
    if host.is_empty()
        || host.len() > 253
        || !host
            .split('.')
            .all(|label| !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-'))
    {
        return Err(invalid());
    }
    let domain = psl::domain_str(host).ok_or_else(invalid)?;
    // A name the list does not know ends in an implied one-label suffix; such "domains" (e.g.
    // `intranet.local`) are refused unless the suffix is a real top-level domain.
    match psl::suffix(host.as_bytes()) {
        Some(suffix) if suffix.is_known() => Ok(domain.to_owned()),
        _ => Err(invalid()),
    }
}

/// A registration as far as conflict detection needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationClaim {
    /// Its id.
    pub id: i64,
    /// The partner it protects.
    pub partner_id: i64,
    /// Its customer.
    pub customer_key: CustomerKey,
    /// Its product lines.
    pub product_lines: Vec<String>,
    /// Its status.
    pub status: DealStatus,
    /// First day it is no longer protected (approved registrations).
    pub expires_on: Option<Date>,
}

impl RegistrationClaim {
    /// Whether it still claims its customer on `today`.
    fn is_live(&self, today: Date, include_drafts: bool) -> bool {
        match self.status {
            DealStatus::Draft => include_drafts,
            DealStatus::Submitted => true,
            DealStatus::Approved => self.expires_on.is_none_or(|end| today < end),
            _ => false,
        }
    }

    fn overlaps(&self, key: &CustomerKey, lines: &[String]) -> bool {
        self.customer_key == *key && self.product_lines.iter().any(|l| lines.contains(l))
    }
}

/// How a new registration relates to the existing ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clash {
    /// The same partner already registered this customer and product line: refused.
    Duplicate {
        /// The registration it repeats.
        existing: i64,
    },
    /// Other partners hold live registrations for this customer and a common product line:
    /// saved, flagged and shown to the deciding channel manager, earliest first.
    Conflicts(Vec<i64>),
    /// Nothing in the way.
    Clear,
}

/// Classifies registration `candidate` of `partner_id` against `others` on `today` (RULES.md §6).
/// `others` may include the candidate itself; it is ignored.
pub fn classify(
    candidate: Option<i64>,
    partner_id: i64,
    key: &CustomerKey,
    product_lines: &[String],
    others: &[RegistrationClaim],
    today: Date,
) -> Clash {
    let relevant = others
        .iter()
        .filter(|o| Some(o.id) != candidate && o.overlaps(key, product_lines));
    let mut conflicts = Vec::new();
    for other in relevant {
        if other.partner_id == partner_id {
            if other.is_live(today, true) {
                return Clash::Duplicate { existing: other.id };
            }
        } else if other.is_live(today, false) {
            conflicts.push(other.id);
        }
    }
    if conflicts.is_empty() {
        Clash::Clear
    } else {
        conflicts.sort_unstable();
        Clash::Conflicts(conflicts)
    }
}

/// The decision clock as the partner reads it: "decision due in 5 h", "overdue by 2 h".
pub fn describe_due(due_at_millis: i64, now_millis: i64) -> String {
    let span = |millis: i64| {
        let minutes = millis / 60_000;
        if minutes < 60 {
            format!("{} min", minutes.max(1))
        } else if minutes < 48 * 60 {
            format!("{} h", minutes / 60)
        } else {
            format!("{} d", minutes / (24 * 60))
        }
    };
    if due_at_millis >= now_millis {
        format!("decision due in {}", span(due_at_millis - now_millis))
    } else {
        format!("decision overdue by {}", span(now_millis - due_at_millis))
    }
}

/// Turnaround figures of decided approvals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Turnaround {
    /// What was decided (e.g. "Deal registration").
    pub workflow: String,
    /// Decisions taken.
    pub decided: usize,
    /// Still waiting.
    pub open: usize,
    /// Median hours from submission to decision (one decimal), when anything was decided.
    pub median_hours: Option<f64>,
    /// 90th percentile hours (nearest rank).
    pub p90_hours: Option<f64>,
    /// Decided after the due time, or still open past it.
    pub breaches: usize,
}

/// The nearest-rank percentile `p` (0–100) of sorted `values`.
pub fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p as usize).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// Milliseconds as hours with one decimal.
pub fn hours(millis: i64) -> f64 {
    (millis as f64 / 360_000.0).round() / 10.0
}

/// What a partner types to register a deal.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DealInput {
    /// The customer's company name.
    pub customer_name: String,
    /// The customer's web domain (optional; it decides the customer key when given).
    #[serde(default)]
    pub customer_domain: Option<String>,
    /// ISO 3166 two-letter country code.
    pub country: String,
    /// Product lines the deal covers.
    pub product_lines: Vec<String>,
    /// Estimated amount in the program currency, e.g. "48000.00".
    pub amount: String,
    /// Expected close date, `YYYY-MM-DD`.
    pub expected_close_on: String,
    /// Anything the channel manager should know.
    #[serde(default)]
    pub notes: String,
    /// Distributors only: the reseller the deal is registered for.
    #[serde(default)]
    pub partner_id: Option<i64>,
}

/// Validates a country code: two ASCII letters, upper-cased.
pub fn parse_country(text: &str) -> Result<String, FieldError> {
    let code = text.trim().to_ascii_uppercase();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(FieldError::new(
            "country",
            "enter a two-letter country code such as US or DE",
        ))
    }
}

/// Validates product-line codes: at least one, lower-case letters, digits, `-` and `_`;
/// returned sorted without repeats.
pub fn parse_product_lines(lines: &[String]) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for line in lines {
        let code = line.trim().to_lowercase();
        if code.is_empty() {
            continue;
        }
        if code.len() > 40
            || !code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(FieldError::new(
                "product_lines",
                format!("`{line}` is not a product line code (letters, digits, - and _)"),
            ));
        }
        out.push(code);
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err(FieldError::new(
            "product_lines",
            "choose at least one product line",
        ));
    }
    Ok(out)
}

/// One step in a registration's history (append-only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DealEvent {
    /// When, Unix milliseconds.
    pub at: i64,
    /// Who (display name), or "Atrium" for the scheduler.
    pub actor: String,
    /// Status before, when it changed.
    pub from_status: Option<DealStatus>,
    /// Status after.
    pub to_status: DealStatus,
    /// What happened, in words.
    pub note: String,
}

/// Another partner's registration for the same customer, shown beside the one being decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DealConflict {
    /// Its id.
    pub id: i64,
    /// Its partner.
    pub partner_name: String,
    /// Its customer as typed.
    pub customer_name: String,
    /// Its product lines.
    pub product_lines: Vec<String>,
    /// Its status.
    pub status: DealStatus,
    /// When it was submitted (Unix ms).
    pub submitted_at: Option<i64>,
    /// Its estimated amount, formatted.
    pub amount: String,
}

/// A registration as its readers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DealView {
    /// Id.
    pub id: i64,
    /// The partner it protects.
    pub partner_id: i64,
    /// Its name.
    pub partner_name: String,
    /// The distributor that registered it on the partner's behalf, if one did.
    pub registered_on_behalf_by: Option<String>,
    /// Who registered it.
    pub registered_by: String,
    /// Customer name as typed.
    pub customer_name: String,
    /// Customer domain as typed.
    pub customer_domain: Option<String>,
    /// The derived customer key.
    pub customer_key: CustomerKey,
    /// Country code.
    pub country: String,
    /// Product lines.
    pub product_lines: Vec<String>,
    /// Estimated amount in minor units.
    pub amount_minor: i64,
    /// Currency code.
    pub currency: String,
    /// Estimated amount, formatted ("48,000.00").
    pub amount: String,
    /// Expected close date.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub expected_close_on: Date,
    /// Notes.
    pub notes: String,
    /// Status.
    pub status: DealStatus,
    /// When it was submitted (Unix ms).
    pub submitted_at: Option<i64>,
    /// When the open decision (registration or extension) is due (Unix ms).
    pub decision_due_at: Option<i64>,
    /// The clock in words ("decision due in 5 h"), while a decision is open.
    pub decision_clock: Option<String>,
    /// What the open decision is about: "registration" or "extension".
    pub pending_decision: Option<String>,
    /// The channel manager who decides.
    pub assignee: Option<String>,
    /// The day it was approved.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub approved_on: Option<Date>,
    /// First day it is no longer protected.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Date))]
    pub expires_on: Option<Date>,
    /// Whether the one extension has been granted.
    pub extended: bool,
    /// Whether an extension may be requested now.
    pub can_request_extension: bool,
    /// The last decision's comment.
    pub decision_comment: Option<String>,
    /// Other partners' live registrations for the same customer and product line.
    pub conflicts: Vec<DealConflict>,
    /// First come, first served: what the channel manager is advised to do.
    pub suggestion: Option<String>,
    /// The append-only history, oldest first.
    pub history: Vec<DealEvent>,
}

impl DealView {
    /// The one-line status a partner reads ("approved, protected until 25 March 2027").
    pub fn status_line(&self) -> String {
        match (self.status, self.expires_on) {
            (DealStatus::Approved, Some(end)) => format!("approved, protected until {}", end.human()),
            (DealStatus::Expired, Some(end)) => format!("expired on {}", end.human()),
            (status, _) => status.label().to_lowercase(),
        }
    }
}

#[cfg(all(test, feature = "customer-key"))]
mod tests {
    use super::*;

    fn key(name: &str, domain: Option<&str>) -> String {
        CustomerKey::derive(name, domain).unwrap().0
    }

    #[test]
    fn customer_keys_follow_the_rules() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("Acme", Some("www.EU.Acme.co.uk"), "d:acme.co.uk"),
            ("Acme", Some("https://shop.acme.com/about?x=1"), "d:acme.com"),
            ("Acme", Some("buyer@Sales.Acme.COM"), "d:acme.com"),
            ("Acme", Some("acme.com."), "d:acme.com"),
            ("Acme", Some("deep.sub.acme.com.au"), "d:acme.com.au"),
            ("Acme, Inc.", None, "n:acme"),
            ("ACME Incorporated", None, "n:acme"),
            ("Acme Holdings Co. Ltd.", None, "n:acme holdings"),
            ("Acme Pty Ltd", None, "n:acme"),
            ("Acme GmbH", None, "n:acme"),
            ("  Société   Générale  S.A. ", None, "n:societe generale"),
            ("Müller Straße AG", None, "n:muller strasse"),
            ("Ørsted A/S", None, "n:orsted"),
            ("Nestlé S.A.", None, "n:nestle"),
            ("Company", None, "n:company"),
            ("Smith & Sons, LLC", None, "n:smith sons"),
            ("Acme Inc", Some("  "), "n:acme"),
        ];
        for (name, domain, expected) in cases {
            assert_eq!(key(name, *domain), *expected, "{name} / {domain:?}");
        }
    }

    #[test]
    fn keys_refuse_what_names_no_customer() {
        assert_eq!(
            CustomerKey::derive("  ", None).unwrap_err().field,
            "customer_name"
        );
        assert_eq!(
            CustomerKey::derive(",.;", None).unwrap_err().field,
            "customer_name"
        );
        for bad in [
            "co.uk",
            "localhost",
            "not a domain",
            "intranet.invalidtld",
            "a..b.com",
        ] {
            let err = CustomerKey::derive("Acme", Some(bad)).unwrap_err();
            assert_eq!(err.field, "customer_domain", "{bad}");
        }
    }

    fn claim(
        id: i64,
        partner: i64,
        key: &str,
        lines: &[&str],
        status: DealStatus,
        expires: Option<&str>,
    ) -> RegistrationClaim {
        RegistrationClaim {
            id,
            partner_id: partner,
            customer_key: CustomerKey(key.into()),
            product_lines: lines.iter().map(|l| l.to_string()).collect(),
            status,
            expires_on: expires.map(|d| Date::parse(d, "d").unwrap()),
        }
    }

    #[test]
    fn conflict_duplicate_or_clear() {
        let today = Date::parse("2026-06-15", "today").unwrap();
        let k = CustomerKey("d:acme.com".into());
        let lines = vec!["cloud".to_string()];
        use DealStatus::*;
        let cases: Vec<(&str, Vec<RegistrationClaim>, Clash)> = vec![
            ("nothing registered", vec![], Clash::Clear),
            (
                "another partner, submitted, same line",
                vec![claim(1, 2, "d:acme.com", &["cloud"], Submitted, None)],
                Clash::Conflicts(vec![1]),
            ),
            (
                "another partner, approved and protected",
                vec![claim(
                    1,
                    2,
                    "d:acme.com",
                    &["cloud", "hardware"],
                    Approved,
                    Some("2026-09-01"),
                )],
                Clash::Conflicts(vec![1]),
            ),
            (
                "different product line",
                vec![claim(1, 2, "d:acme.com", &["hardware"], Submitted, None)],
                Clash::Clear,
            ),
            (
                "different customer",
                vec![claim(1, 2, "d:acme.org", &["cloud"], Submitted, None)],
                Clash::Clear,
            ),
            (
                "expired by date",
                vec![claim(
                    1,
                    2,
                    "d:acme.com",
                    &["cloud"],
                    Approved,
                    Some("2026-06-15"),
                )],
                Clash::Clear,
            ),
            (
                "expired status",
                vec![claim(1, 2, "d:acme.com", &["cloud"], Expired, Some("2026-05-01"))],
                Clash::Clear,
            ),
            (
                "rejected",
                vec![claim(1, 2, "d:acme.com", &["cloud"], Rejected, None)],
                Clash::Clear,
            ),
            (
                "another partner's draft",
                vec![claim(1, 2, "d:acme.com", &["cloud"], Draft, None)],
                Clash::Clear,
            ),
            (
                "same partner, submitted",
                vec![claim(7, 1, "d:acme.com", &["cloud"], Submitted, None)],
                Clash::Duplicate { existing: 7 },
            ),
            (
                "same partner, draft",
                vec![claim(7, 1, "d:acme.com", &["cloud"], Draft, None)],
                Clash::Duplicate { existing: 7 },
            ),
            (
                "same partner, lost before",
                vec![claim(7, 1, "d:acme.com", &["cloud"], Lost, None)],
                Clash::Clear,
            ),
            (
                "same partner, other line",
                vec![claim(7, 1, "d:acme.com", &["services"], Submitted, None)],
                Clash::Clear,
            ),
            (
                "two conflicts, earliest first",
                vec![
                    claim(9, 3, "d:acme.com", &["cloud"], Submitted, None),
                    claim(4, 2, "d:acme.com", &["cloud"], Approved, None),
                ],
                Clash::Conflicts(vec![4, 9]),
            ),
        ];
        for (what, others, expected) in cases {
            assert_eq!(classify(None, 1, &k, &lines, &others, today), expected, "{what}");
        }
        // A registration never clashes with itself.
        let me = vec![claim(5, 1, "d:acme.com", &["cloud"], Submitted, None)];
        assert_eq!(classify(Some(5), 1, &k, &lines, &me, today), Clash::Clear);
    }

    #[test]
    fn lifecycle_allows_only_rule_transitions() {
        use DealAction as A;
        use DealStatus as S;
        assert_eq!(S::Draft.after(A::Submit), Ok(S::Submitted));
        assert_eq!(S::Submitted.after(A::Approve), Ok(S::Approved));
        assert_eq!(S::Submitted.after(A::Reject), Ok(S::Rejected));
        assert_eq!(S::Approved.after(A::Win), Ok(S::Won));
        assert_eq!(S::Approved.after(A::Lose), Ok(S::Lost));
        assert_eq!(S::Approved.after(A::Expire), Ok(S::Expired));
        assert!(S::Draft.after(A::Approve).is_err());
        assert!(S::Rejected.after(A::Win).is_err());
        assert!(S::Won.after(A::Lose).is_err());
        assert_eq!(
            S::Submitted.after(A::Win).unwrap_err(),
            "a submitted registration cannot be marked won"
        );
    }

    #[test]
    fn clock_and_percentiles() {
        let h = 3_600_000;
        assert_eq!(describe_due(5 * h + 10, 0), "decision due in 5 h");
        assert_eq!(describe_due(30 * 60_000, 0), "decision due in 30 min");
        assert_eq!(describe_due(72 * h, 0), "decision due in 3 d");
        assert_eq!(describe_due(0, 2 * h), "decision overdue by 2 h");
        let sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(nearest_rank(&sorted, 50), Some(5));
        assert_eq!(nearest_rank(&sorted, 90), Some(9));
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(hours(90 * 60_000), 1.5);
        let approved = Date::parse("2026-03-01", "d").unwrap();
        assert_eq!(protection_ends(approved, 120).to_string(), "2026-06-29");
    }

    #[test]
    fn inputs_are_checked() {
        assert_eq!(parse_country(" de ").unwrap(), "DE");
        assert_eq!(parse_country("DEU").unwrap_err().field, "country");
        assert_eq!(
            parse_product_lines(&["Cloud".into(), "hardware".into(), "cloud".into()]).unwrap(),
            vec!["cloud", "hardware"]
        );
        assert_eq!(parse_product_lines(&[]).unwrap_err().field, "product_lines");
        assert_eq!(
            parse_product_lines(&["a b".into()]).unwrap_err().field,
            "product_lines"
        );
    }
}
