//! The audit log as people read it: who changed what, when, and the values before and after.

use serde::{Deserialize, Serialize};

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Its place in the log (newer entries have larger ids).
    pub id: i64,
    /// When it happened, Unix milliseconds.
    pub occurred_at: i64,
    /// Who did it (their e-mail address); `None` for the system and the command line.
    pub actor: Option<String>,
    /// What happened, e.g. `sales.import` or `statement.pay`.
    pub action: String,
    /// The kind of thing changed, e.g. `rebate_statement`.
    pub entity_type: String,
    /// Its identifier.
    pub entity_id: String,
    /// The value before, when there was one.
    pub before: Option<serde_json::Value>,
    /// The value after, when there is one.
    pub after: Option<serde_json::Value>,
}

impl AuditRecord {
    /// Who, for people: the e-mail address, or "command line or system".
    pub fn actor_label(&self) -> &str {
        self.actor.as_deref().unwrap_or("command line or system")
    }

    /// The value before as compact JSON, or "—".
    pub fn before_text(&self) -> String {
        json_text(self.before.as_ref())
    }

    /// The value after as compact JSON, or "—".
    pub fn after_text(&self) -> String {
        json_text(self.after.as_ref())
    }
}

fn json_text(value: Option<&serde_json::Value>) -> String {
    value.map_or_else(|| "—".to_owned(), ToString::to_string)
}

/// A page of the log, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The entries.
    pub entries: Vec<AuditRecord>,
    /// Pass as `before` for the next, older page; `None` on the last page.
    pub older: Option<i64>,
}

/// The actions the log records, for filters: prefixes such as `sales.` select a family.
pub const ACTION_FAMILIES: &[(&str, &str)] = &[
    ("sales.", "Sales imports"),
    ("sale.", "Sale updates"),
    ("certification", "Certifications"),
    ("rebates.", "Rebate runs and period approvals"),
    ("statement.", "Statements approved, paid or discarded"),
    ("deal.", "Deals"),
    ("tier.", "Tier changes"),
    ("workflow.", "Approval reminders and escalations"),
    ("user.", "Users"),
    ("program.", "Program versions"),
    ("content.", "Content"),
    ("session.", "Sign-ins and sign-outs"),
];
