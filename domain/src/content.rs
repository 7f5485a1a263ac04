//! Rooms and content: what a partner sees, and the one rule that decides who sees an item.

use crate::identity::{vocabulary, PartnerType, Persona, Region, TierRank};
use crate::FieldError;
use serde::{Deserialize, Serialize};

vocabulary! {
    /// The rooms of the atrium. A partner lands in the room of their persona.
    Room, "room" {
        Sales => "sales", "Sales";
        Presales => "presales", "Presales";
        Marketing => "marketing", "Marketing";
        PostSales => "post-sales", "Post-sales";
    }
}

impl Room {
    /// The room a persona lands in after signing in.
    pub fn for_persona(persona: Persona) -> Room {
        match persona {
            Persona::Sales => Room::Sales,
            Persona::Presales => Room::Presales,
            Persona::Marketing => Room::Marketing,
            Persona::PostSales => Room::PostSales,
        }
    }

    /// One line under the room's heading.
    pub fn tagline(self) -> &'static str {
        match self {
            Room::Sales => "Playbooks, battlecards and price lists to win the deal.",
            Room::Presales => "Architectures, demos and technical insight for the evaluation.",
            Room::Marketing => "Campaigns, market insight and co-marketing you can run this quarter.",
            Room::PostSales => "Onboarding, renewals and support know-how for happy customers.",
        }
    }
}

vocabulary! {
    /// What kind of content an item is; shown as a chip on its card.
    ContentKind, "content kind" {
        Playbook => "playbook", "Playbook";
        Battlecard => "battlecard", "Battlecard";
        MarketInsight => "market_insight", "Market insight";
        CompetitiveInsight => "competitive_insight", "Competitive insight";
        PriceList => "price_list", "Price list";
        Announcement => "announcement", "Announcement";
        Training => "training", "Training";
    }
}

vocabulary! {
    /// Whether partners can see an item yet.
    ContentStatus, "status" {
        Draft => "draft", "Draft";
        Published => "published", "Published";
    }
}

/// Who an item is for. An empty list means "everyone" for that dimension.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Audience {
    /// Personas that see the item; empty = all personas.
    pub personas: Vec<Persona>,
    /// Partner types that see the item; empty = all types.
    pub partner_types: Vec<PartnerType>,
    /// Lowest tier rank that sees the item (0 = every tier).
    pub min_tier: TierRank,
    /// Regions that see the item; empty = all regions.
    pub regions: Vec<Region>,
}

/// The facts about a partner user that targeting looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerViewer {
    /// The user's persona.
    pub persona: Persona,
    /// The organisation's partner type.
    pub partner_type: PartnerType,
    /// The organisation's effective tier.
    pub tier: TierRank,
    /// The organisation's region.
    pub region: Region,
}

impl Audience {
    /// Whether a partner user is in this audience. This is the only place targeting is decided.
    pub fn admits(&self, viewer: &PartnerViewer) -> bool {
        fn open_or_contains<T: PartialEq>(list: &[T], value: &T) -> bool {
            list.is_empty() || list.contains(value)
        }
        open_or_contains(&self.personas, &viewer.persona)
            && open_or_contains(&self.partner_types, &viewer.partner_type)
            && viewer.tier >= self.min_tier
            && open_or_contains(&self.regions, &viewer.region)
    }

    /// A short description such as "Presales · Gold and above", for studio lists.
    pub fn describe(&self, tier_name: impl Fn(TierRank) -> String) -> String {
        fn join<T: Copy>(list: &[T], label: fn(T) -> &'static str) -> Option<String> {
            (!list.is_empty()).then(|| list.iter().map(|v| label(*v)).collect::<Vec<_>>().join(", "))
        }
        let mut parts: Vec<String> = [
            join(&self.personas, Persona::label),
            join(&self.partner_types, PartnerType::label),
            join(&self.regions, Region::label),
        ]
        .into_iter()
        .flatten()
        .collect();
        if self.min_tier > TierRank(0) {
            parts.push(format!("{} and above", tier_name(self.min_tier)));
        }
        if parts.is_empty() {
            "Everyone".to_owned()
        } else {
            parts.join(" · ")
        }
    }
}

/// A content item as listed in a room or the studio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContentSummary {
    /// Identifier.
    pub id: i64,
    /// The room the item lives in.
    pub room: Room,
    /// The kind of item.
    pub kind: ContentKind,
    /// Title.
    pub title: String,
    /// One or two sentences shown on the card.
    pub summary: String,
    /// Draft or published.
    pub status: ContentStatus,
    /// Who the item is for.
    pub audience: Audience,
    /// When it was first published (Unix milliseconds).
    pub published_at: Option<i64>,
    /// When it last changed (Unix milliseconds).
    pub updated_at: i64,
    /// Published within the last [`NEW_FOR_MILLIS`]: cards show a "new" marker.
    pub is_new: bool,
}

/// How long a published item counts as new: fourteen days.
pub const NEW_FOR_MILLIS: i64 = 14 * 86_400_000;

impl ContentSummary {
    /// The search-as-you-type rule: every word of `query` appears in the title, summary or kind
    /// (case-insensitive), and the kind matches when one is chosen.
    pub fn matches(&self, query: &str, kind: Option<ContentKind>) -> bool {
        if kind.is_some_and(|k| k != self.kind) {
            return false;
        }
        let haystack = format!("{} {} {}", self.title, self.summary, self.kind.label()).to_lowercase();
        query
            .split_whitespace()
            .all(|word| haystack.contains(&word.to_lowercase()))
    }
}

/// A content item with its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContentItem {
    /// The fields shown on cards.
    #[serde(flatten)]
    pub summary: ContentSummary,
    /// The body as written, in Markdown.
    pub body_markdown: String,
    /// The body rendered to sanitised HTML.
    pub body_html: String,
    /// When it was created (Unix milliseconds).
    pub created_at: i64,
}

impl ContentItem {
    /// The editable fields of this item.
    pub fn fields(&self) -> ContentFields {
        ContentFields {
            title: self.summary.title.clone(),
            summary: self.summary.summary.clone(),
            room: self.summary.room,
            kind: self.summary.kind,
            body_markdown: self.body_markdown.clone(),
            audience: self.summary.audience.clone(),
        }
    }
}

/// Validated content fields, ready to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentFields {
    /// Title, 1–160 characters.
    pub title: String,
    /// Summary, 1–400 characters.
    pub summary: String,
    /// The room the item lives in.
    pub room: Room,
    /// The kind of item.
    pub kind: ContentKind,
    /// Markdown body, 1–100,000 characters.
    pub body_markdown: String,
    /// Who the item is for.
    pub audience: Audience,
}

/// Targeting as it arrives from a form or the API, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AudienceInput {
    /// Persona codes (`sales`, `presales`, `marketing`, `post_sales`); empty = all.
    pub personas: Option<Vec<String>>,
    /// Partner-type codes; empty = all.
    pub partner_types: Option<Vec<String>>,
    /// Lowest tier rank that sees the item.
    pub min_tier: Option<i64>,
    /// Region codes (`na`, `latam`, `emea`, `apac`); empty = all.
    pub regions: Option<Vec<String>>,
}

/// Content as it arrives from a form or the API: every field optional so that the same shape
/// serves creation (missing fields are errors) and partial updates (missing fields are kept).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContentInput {
    /// Title, 1–160 characters.
    pub title: Option<String>,
    /// Summary, 1–400 characters.
    pub summary: Option<String>,
    /// Room slug: `sales`, `presales`, `marketing` or `post-sales`.
    pub room: Option<String>,
    /// Kind code, e.g. `playbook`.
    pub kind: Option<String>,
    /// Markdown body.
    pub body: Option<String>,
    /// Targeting.
    pub audience: Option<AudienceInput>,
}

fn text(value: Option<String>, current: Option<&str>, field: &str, max: usize) -> Result<String, FieldError> {
    let Some(raw) = value.or_else(|| current.map(str::to_owned)) else {
        return Err(FieldError::new(field, "is required"));
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    let chars = trimmed.chars().count();
    if chars > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters (it has {chars})"),
        ));
    }
    Ok(trimmed.to_owned())
}

fn codes<T: Ord + Copy>(
    raw: Option<Vec<String>>,
    current: &[T],
    field: &str,
    parse: fn(&str, &str) -> Result<T, FieldError>,
) -> Result<Vec<T>, FieldError> {
    let Some(raw) = raw else {
        return Ok(current.to_vec());
    };
    let mut values = raw
        .iter()
        .enumerate()
        .map(|(i, code)| parse(code.trim(), &format!("{field}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    values.sort();
    values.dedup();
    Ok(values)
}

impl ContentInput {
    /// Validates this input on top of `current` (the stored item for an update, `None` for a new
    /// one). `top_tier` is the highest tier rank of the program in force.
    pub fn apply(
        self,
        current: Option<&ContentFields>,
        top_tier: TierRank,
    ) -> Result<ContentFields, FieldError> {
        let title = text(self.title, current.map(|c| c.title.as_str()), "title", 160)?;
        let summary = text(self.summary, current.map(|c| c.summary.as_str()), "summary", 400)?;
        let room = match (self.room, current) {
            (Some(code), _) => Room::parse(code.trim(), "room")?,
            (None, Some(c)) => c.room,
            (None, None) => return Err(FieldError::new("room", "is required")),
        };
        let kind = match (self.kind, current) {
            (Some(code), _) => ContentKind::parse(code.trim(), "kind")?,
            (None, Some(c)) => c.kind,
            (None, None) => return Err(FieldError::new("kind", "is required")),
        };
        let body_markdown = text(
            self.body,
            current.map(|c| c.body_markdown.as_str()),
            "body",
            100_000,
        )?;
        let base = current.map(|c| c.audience.clone()).unwrap_or_default();
        let input = self.audience.unwrap_or_default();
        let min_tier = match input.min_tier {
            None => base.min_tier,
            Some(rank) if (0..=i64::from(top_tier.0)).contains(&rank) => TierRank(rank as u8),
            Some(rank) => {
                return Err(FieldError::new(
                    "audience.min_tier",
                    format!(
                        "tier rank {rank} does not exist; ranks run from 0 to {}",
                        top_tier.0
                    ),
                ))
            }
        };
        let audience = Audience {
            personas: codes(
                input.personas,
                &base.personas,
                "audience.personas",
                Persona::parse,
            )?,
            partner_types: codes(
                input.partner_types,
                &base.partner_types,
                "audience.partner_types",
                PartnerType::parse,
            )?,
            min_tier,
            regions: codes(input.regions, &base.regions, "audience.regions", Region::parse)?,
        };
        Ok(ContentFields {
            title,
            summary,
            room,
            kind,
            body_markdown,
            audience,
        })
    }
}

/// A room as listed in navigation: its slug and how many items the viewer can see there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomSummary {
    /// The room.
    pub room: Room,
    /// Its name.
    pub title: String,
    /// Published items visible to the viewer.
    pub item_count: i64,
}

/// A room with the published items the viewer can see, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomListing {
    /// The room.
    pub room: Room,
    /// Its name.
    pub title: String,
    /// One line about the room.
    pub tagline: String,
    /// The items.
    pub items: Vec<ContentSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(persona: Persona) -> PartnerViewer {
        PartnerViewer {
            persona,
            partner_type: PartnerType::Reseller,
            tier: TierRank(2),
            region: Region::NorthAmerica,
        }
    }

    #[test]
    fn an_open_audience_admits_everyone() {
        assert!(Audience::default().admits(&viewer(Persona::PostSales)));
    }

    #[test]
    fn every_dimension_must_match() {
        let presales_only = Audience {
            personas: vec![Persona::Presales],
            ..Audience::default()
        };
        assert!(presales_only.admits(&viewer(Persona::Presales)));
        assert!(!presales_only.admits(&viewer(Persona::Sales)));

        let platinum = Audience {
            min_tier: TierRank(3),
            ..Audience::default()
        };
        assert!(!platinum.admits(&viewer(Persona::Sales)));
        let gold = Audience {
            min_tier: TierRank(2),
            ..Audience::default()
        };
        assert!(gold.admits(&viewer(Persona::Sales)));

        let distributors = Audience {
            partner_types: vec![PartnerType::Distributor],
            ..Audience::default()
        };
        assert!(!distributors.admits(&viewer(Persona::Sales)));

        let emea = Audience {
            regions: vec![Region::Emea],
            ..Audience::default()
        };
        assert!(!emea.admits(&viewer(Persona::Sales)));
    }

    fn full_input() -> ContentInput {
        ContentInput {
            title: Some("  Q3 battlecard ".into()),
            summary: Some("Beat the incumbent.".into()),
            room: Some("sales".into()),
            kind: Some("battlecard".into()),
            body: Some("# Why we win".into()),
            audience: Some(AudienceInput {
                personas: Some(vec!["sales".into(), "presales".into(), "sales".into()]),
                ..AudienceInput::default()
            }),
        }
    }

    #[test]
    fn creation_needs_every_field_and_trims() {
        let fields = full_input().apply(None, TierRank(3)).unwrap();
        assert_eq!(fields.title, "Q3 battlecard");
        assert_eq!(fields.audience.personas, vec![Persona::Sales, Persona::Presales]);
        let err = ContentInput {
            title: None,
            ..full_input()
        }
        .apply(None, TierRank(3))
        .unwrap_err();
        assert_eq!(err.field, "title");
    }

    #[test]
    fn updates_keep_what_they_do_not_name() {
        let current = full_input().apply(None, TierRank(3)).unwrap();
        let patch = ContentInput {
            title: Some("New title".into()),
            ..ContentInput::default()
        };
        let updated = patch.apply(Some(&current), TierRank(3)).unwrap();
        assert_eq!(updated.title, "New title");
        assert_eq!(updated.audience, current.audience);
        assert_eq!(updated.body_markdown, current.body_markdown);
    }

    #[test]
    fn errors_name_the_field_path() {
        let bad_persona = ContentInput {
            audience: Some(AudienceInput {
                personas: Some(vec!["sales".into(), "cfo".into()]),
                ..AudienceInput::default()
            }),
            ..full_input()
        };
        assert_eq!(
            bad_persona.apply(None, TierRank(3)).unwrap_err().field,
            "audience.personas[1]"
        );
        let bad_tier = ContentInput {
            audience: Some(AudienceInput {
                min_tier: Some(9),
                ..AudienceInput::default()
            }),
            ..full_input()
        };
        assert_eq!(
            bad_tier.apply(None, TierRank(3)).unwrap_err().field,
            "audience.min_tier"
        );
        let long = ContentInput {
            title: Some("x".repeat(161)),
            ..full_input()
        };
        assert!(long
            .apply(None, TierRank(3))
            .unwrap_err()
            .message
            .contains("at most 160"));
        let blank = ContentInput {
            summary: Some("   ".into()),
            ..full_input()
        };
        assert_eq!(blank.apply(None, TierRank(3)).unwrap_err().field, "summary");
        let room = ContentInput {
            room: Some("lobby".into()),
            ..full_input()
        };
        assert_eq!(room.apply(None, TierRank(3)).unwrap_err().field, "room");
    }

    #[test]
    fn search_matches_every_word_anywhere() {
        let item = ContentSummary {
            id: 1,
            room: Room::Sales,
            kind: ContentKind::Battlecard,
            title: "Beat Globex on price".into(),
            summary: "Three questions that expose total cost.".into(),
            status: ContentStatus::Published,
            audience: Audience::default(),
            published_at: None,
            updated_at: 0,
            is_new: false,
        };
        assert!(item.matches("globex COST", None));
        assert!(item.matches("", Some(ContentKind::Battlecard)));
        assert!(item.matches("battlecard", None));
        assert!(!item.matches("globex initech", None));
        assert!(!item.matches("globex", Some(ContentKind::Playbook)));
    }

    #[test]
    fn audiences_describe_themselves() {
        let a = Audience {
            personas: vec![Persona::Presales],
            min_tier: TierRank(2),
            ..Audience::default()
        };
        assert_eq!(a.describe(|r| format!("T{}", r.0)), "Presales · T2 and above");
        assert_eq!(Audience::default().describe(|_| String::new()), "Everyone");
    }
}
