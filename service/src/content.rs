//! Rooms and content: reading what a viewer may see, and the studio's writes.
//!
//! Isolation rule: a partner user sees a published item only when its audience admits them
//! ([`domain::content::Audience::admits`]); anything else answers "not found", exactly as if
//! the item did not exist.

use crate::audit::{self, snapshot, AuditEntry};
use crate::auth::Actor;
use crate::error::{permit, ServiceError, ServiceResult};
use crate::markdown;
use crate::portal::{stored, Portal};
use domain::content::NEW_FOR_MILLIS;
use domain::content::{
    Audience, ContentFields, ContentInput, ContentItem, ContentKind, ContentStatus, ContentSummary, Room,
    RoomListing, RoomSummary,
};
use domain::identity::{PartnerType, Persona, Region, TierRank};
use domain::FieldError;
use sqlx::any::AnyRow;
use sqlx::Row;

const SUMMARY_COLUMNS: &str = "id, room, kind, title, summary, status, audience_personas, \
     audience_partner_types, audience_min_tier, audience_regions, published_at, updated_at";

fn join_codes<T: Copy>(values: &[T], code: fn(T) -> &'static str) -> String {
    values.iter().map(|v| code(*v)).collect::<Vec<_>>().join(",")
}

fn split_codes<T>(
    raw: &str,
    parse: fn(&str, &str) -> Result<T, FieldError>,
    column: &str,
) -> ServiceResult<Vec<T>> {
    raw.split(',')
        .filter(|c| !c.is_empty())
        .map(|c| stored(c, parse, column))
        .collect()
}

fn summary_from_row(row: &AnyRow, now: i64) -> ServiceResult<ContentSummary> {
    let published_at: Option<i64> = row.try_get("published_at")?;
    Ok(ContentSummary {
        id: row.try_get("id")?,
        room: stored(
            &row.try_get::<String, _>("room")?,
            Room::parse,
            "content_items.room",
        )?,
        kind: stored(
            &row.try_get::<String, _>("kind")?,
            ContentKind::parse,
            "content_items.kind",
        )?,
        title: row.try_get("title")?,
        summary: row.try_get("summary")?,
        status: stored(
            &row.try_get::<String, _>("status")?,
            ContentStatus::parse,
            "content_items.status",
        )?,
        audience: Audience {
            personas: split_codes(
                &row.try_get::<String, _>("audience_personas")?,
                Persona::parse,
                "audience_personas",
            )?,
            partner_types: split_codes(
                &row.try_get::<String, _>("audience_partner_types")?,
                PartnerType::parse,
                "audience_partner_types",
            )?,
            min_tier: TierRank(u8::try_from(row.try_get::<i64, _>("audience_min_tier")?).unwrap_or(u8::MAX)),
            regions: split_codes(
                &row.try_get::<String, _>("audience_regions")?,
                Region::parse,
                "audience_regions",
            )?,
        },
        published_at,
        updated_at: row.try_get("updated_at")?,
        is_new: published_at.is_some_and(|at| now - at < NEW_FOR_MILLIS),
    })
}

fn item_from_row(row: &AnyRow, now: i64) -> ServiceResult<ContentItem> {
    Ok(ContentItem {
        summary: summary_from_row(row, now)?,
        body_markdown: row.try_get("body_markdown")?,
        body_html: row.try_get("body_html")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Whether `actor` may see an item with this status and audience.
fn visible_to(actor: &Actor, item: &ContentSummary) -> bool {
    match actor.partner_viewer() {
        // Vendor staff see every item; drafts are only listed in the studio.
        None => true,
        Some(viewer) => item.status == ContentStatus::Published && item.audience.admits(&viewer),
    }
}

/// Binds `$1`…`$10`: the stored columns of validated content, in the order the INSERT and the
/// UPDATE both list them.
fn bind_fields<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    fields: &'q ContentFields,
    body_html: &'q str,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(fields.room.as_str())
        .bind(fields.kind.as_str())
        .bind(fields.title.as_str())
        .bind(fields.summary.as_str())
        .bind(fields.body_markdown.as_str())
        .bind(body_html)
        .bind(join_codes(&fields.audience.personas, Persona::as_str))
        .bind(join_codes(&fields.audience.partner_types, PartnerType::as_str))
        .bind(i64::from(fields.audience.min_tier.0))
        .bind(join_codes(&fields.audience.regions, Region::as_str))
}

fn require_publisher(actor: &Actor) -> ServiceResult<()> {
    permit(
        actor.role.can_publish_content(),
        "only content publishers and vendor admins can change content",
    )
}

/// What a content write records in the audit log.
struct ContentChange {
    action: &'static str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
}

impl Portal {
    /// Ends every content write the same way: reads the item back, records the change in the
    /// audit log inside the same transaction, and commits.
    async fn finish_change(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        actor: &Actor,
        id: i64,
        now: i64,
        change: ContentChange,
    ) -> ServiceResult<ContentItem> {
        let item = self
            .load_item(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound("content item"))?;
        audit::record(
            &mut tx,
            now,
            AuditEntry {
                actor_user_id: Some(actor.user_id),
                action: change.action,
                entity_type: "content_item",
                entity_id: id.to_string(),
                before: change.before,
                after: change.after,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(item)
    }

    async fn published_in(&self, room: Option<Room>) -> ServiceResult<Vec<ContentSummary>> {
        let rows = match room {
            Some(room) => {
                sqlx::query(&format!(
                    "SELECT {SUMMARY_COLUMNS} FROM content_items WHERE room = $1 AND status = 'published' \
                     ORDER BY published_at DESC, id DESC"
                ))
                .bind(room.as_str())
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {SUMMARY_COLUMNS} FROM content_items WHERE status = 'published' \
                     ORDER BY published_at DESC, id DESC"
                ))
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(|row| summary_from_row(row, self.now())).collect()
    }

    /// The four rooms with the number of items the actor can see in each.
    pub async fn rooms(&self, actor: &Actor) -> ServiceResult<Vec<RoomSummary>> {
        let visible: Vec<ContentSummary> = self
            .published_in(None)
            .await?
            .into_iter()
            .filter(|item| visible_to(actor, item))
            .collect();
        Ok(Room::ALL
            .iter()
            .map(|room| RoomSummary {
                room: *room,
                title: room.label().to_owned(),
                item_count: visible.iter().filter(|i| i.room == *room).count() as i64,
            })
            .collect())
    }

    /// A room's published items that the actor can see, newest first. An unknown slug is 404.
    pub async fn room(&self, actor: &Actor, slug: &str) -> ServiceResult<RoomListing> {
        let room = Room::parse(slug, "room").map_err(|_| ServiceError::NotFound("room"))?;
        let items = self
            .published_in(Some(room))
            .await?
            .into_iter()
            .filter(|item| visible_to(actor, item))
            .collect();
        Ok(RoomListing {
            room,
            title: room.label().to_owned(),
            tagline: room.tagline().to_owned(),
            items,
        })
    }

    async fn load_item(&self, conn: &mut sqlx::AnyConnection, id: i64) -> ServiceResult<Option<ContentItem>> {
        let row = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS}, body_markdown, body_html, created_at FROM content_items WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(conn)
        .await?;
        row.as_ref().map(|row| item_from_row(row, self.now())).transpose()
    }

    /// One item with its rendered body. Items the actor may not see answer 404.
    pub async fn content_item(&self, actor: &Actor, id: i64) -> ServiceResult<ContentItem> {
        let mut conn = self.pool().acquire().await?;
        match self.load_item(&mut conn, id).await? {
            Some(item) if visible_to(actor, &item.summary) => Ok(item),
            _ => Err(ServiceError::NotFound("content item")),
        }
    }

    /// Every item, drafts included, most recently changed first: the studio's list.
    pub async fn studio_items(&self, actor: &Actor) -> ServiceResult<Vec<ContentSummary>> {
        require_publisher(actor)?;
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM content_items ORDER BY updated_at DESC, id DESC"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| summary_from_row(row, self.now())).collect()
    }

    async fn top_tier(&self) -> ServiceResult<TierRank> {
        let top: Option<i64> = sqlx::query_scalar("SELECT MAX(rank) FROM tiers")
            .fetch_one(self.pool())
            .await?;
        Ok(TierRank(top.and_then(|r| u8::try_from(r).ok()).unwrap_or(0)))
    }

    /// Creates a draft item.
    pub async fn create_content(&self, actor: &Actor, input: ContentInput) -> ServiceResult<ContentItem> {
        require_publisher(actor)?;
        let fields = input.apply(None, self.top_tier().await?)?;
        let body_html = markdown::render(&fields.body_markdown);
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let insert = sqlx::query(
            "INSERT INTO content_items (room, kind, title, summary, body_markdown, body_html, status, \
             audience_personas, audience_partner_types, audience_min_tier, audience_regions, author_id, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $8, $9, $10, $11, $12, $12) RETURNING id",
        );
        let id: i64 = bind_fields(insert, &fields, &body_html)
            .bind(actor.user_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
        let change = ContentChange {
            action: "content.create",
            before: None,
            after: snapshot(&fields),
        };
        self.finish_change(tx, actor, id, now, change).await
    }

    /// Changes the fields named in `input`; the rest stay as they are.
    pub async fn update_content(
        &self,
        actor: &Actor,
        id: i64,
        input: ContentInput,
    ) -> ServiceResult<ContentItem> {
        require_publisher(actor)?;
        let top_tier = self.top_tier().await?;
        let now = self.now();
        let mut tx = self.store().begin_write().await?;
        let before = self
            .load_item(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound("content item"))?;
        let before_fields = before.fields();
        let fields = input.apply(Some(&before_fields), top_tier)?;
        let body_html = markdown::render(&fields.body_markdown);
        let update = sqlx::query(
            "UPDATE content_items SET room = $1, kind = $2, title = $3, summary = $4, body_markdown = $5, \
             body_html = $6, audience_personas = $7, audience_partner_types = $8, audience_min_tier = $9, \
             audience_regions = $10, updated_at = $11 WHERE id = $12",
        );
        bind_fields(update, &fields, &body_html)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let change = ContentChange {
            action: "content.update",
            before: snapshot(&before_fields),
            after: snapshot(&fields),
        };
        self.finish_change(tx, actor, id, now, change).await
    }

    /// Publishes an item (partners see it on their next page load) or takes it back to draft.
    /// Publishing an item that is already published changes nothing and keeps its date.
    pub async fn set_content_status(
        &self,
        actor: &Actor,
        id: i64,
        status: ContentStatus,
    ) -> ServiceResult<ContentItem> {
        require_publisher(actor)?;
        let now = self.now();
        let mut tx = self.store().begin_write().await?;
        let before = self
            .load_item(&mut tx, id)
            .await?
            .ok_or(ServiceError::NotFound("content item"))?;
        if before.summary.status == status {
            return Ok(before);
        }
        sqlx::query(
            "UPDATE content_items SET status = $1, updated_at = $2, \
             published_at = CASE WHEN $1 = 'published' THEN COALESCE(published_at, $2) ELSE published_at END \
             WHERE id = $3",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let change = ContentChange {
            action: match status {
                ContentStatus::Published => "content.publish",
                ContentStatus::Draft => "content.unpublish",
            },
            before: Some(serde_json::json!({ "status": before.summary.status })),
            after: Some(serde_json::json!({ "status": status })),
        };
        self.finish_change(tx, actor, id, now, change).await
    }
}
