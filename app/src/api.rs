//! Server functions: the UI's calls into the service layer. Each one resolves the signed-in
//! actor from the request and delegates to [`service::Portal`]; no rule is decided here.

use domain::content::{ContentItem, ContentStatus, ContentSummary, RoomListing};
use domain::identity::{Me, TierBadge};
use domain::scorecard::{PartnerTierView, ProgramSnapshot, ProgramVersionView};
use leptos::prelude::*;
use leptos::server_fn::codec::{GetUrl, JsonEncoding};
use serde::{Deserialize, Serialize};

/// An error as the UI shows it: the same code, message and field as the REST API's errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct PortalError {
    /// Stable code, e.g. `not_found` or `invalid`.
    pub code: String,
    /// What happened, for people.
    pub message: String,
    /// The field at fault, for validation errors.
    pub field: Option<String>,
}

impl PortalError {
    /// Whether signing in again would help.
    pub fn needs_sign_in(&self) -> bool {
        self.code == "unauthenticated"
    }

    /// The message, after the field it is about when there is one (`period: …`), so the
    /// reader knows what to correct.
    pub fn located(&self) -> String {
        match &self.field {
            Some(field) if !field.is_empty() => format!("{field}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

impl FromServerFnError for PortalError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        // Said to a person: what happened and what to do, not the framework's words.
        let message = match &value {
            ServerFnErrorErr::Request(_) => {
                "the server could not be reached; check the connection and try again (an import or approval sent twice is never stored twice)".to_owned()
            }
            ServerFnErrorErr::Deserialization(_) | ServerFnErrorErr::Response(_) => {
                "the server's answer could not be read; reload the page and try again".to_owned()
            }
            _ => value.to_string(),
        };
        PortalError {
            code: "request_failed".into(),
            message,
            field: None,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<service::ServiceError> for PortalError {
    fn from(e: service::ServiceError) -> Self {
        if let service::ServiceError::Internal(inner) = &e {
            tracing::error!("internal error: {inner:#}");
        }
        PortalError {
            code: e.code().into(),
            message: e.user_message(),
            field: e.field().map(str::to_owned),
        }
    }
}

/// Server-side access to the request's context.
#[cfg(feature = "ssr")]
pub mod ssr {
    use super::PortalError;
    use leptos::prelude::*;
    use service::web::{ClientIp, CookieSecurity, SESSION_COOKIE};
    use service::{Actor, Portal, SessionToken};

    fn parts() -> Option<http::request::Parts> {
        use_context::<http::request::Parts>()
    }

    /// The service layer, provided by the server for every request.
    pub fn portal() -> Result<Portal, PortalError> {
        use_context::<Portal>().ok_or_else(|| PortalError {
            code: "internal".into(),
            message: "the service layer is not available".into(),
            field: None,
        })
    }

    /// The signed-in actor, resolved from the session cookie by the server's middleware.
    pub fn actor() -> Result<Actor, PortalError> {
        parts()
            .and_then(|p| p.extensions.get::<Actor>().cloned())
            .ok_or_else(|| service::ServiceError::Unauthenticated.into())
    }

    /// The session token the browser sent, if any.
    pub fn session_token() -> Option<SessionToken> {
        let parts = parts()?;
        let header = parts.headers.get(http::header::COOKIE)?.to_str().ok()?;
        service::web::cookie_value(header, SESSION_COOKIE).map(SessionToken::from_cookie)
    }

    /// The client's address.
    pub fn client_ip() -> String {
        parts()
            .and_then(|p| p.extensions.get::<ClientIp>().map(|c| c.0.clone()))
            .unwrap_or_else(|| "unknown".into())
    }

    /// Cookie settings for this request.
    pub fn cookie_security() -> CookieSecurity {
        parts()
            .and_then(|p| p.extensions.get::<CookieSecurity>().copied())
            .unwrap_or(CookieSecurity { secure: true })
    }

    /// After a plain form post (a page whose script has not loaded), sends the browser back to
    /// the page it came from with `done=<what>` in place of its question (`confirm`), so that the
    /// page can say what was done. A call from a loaded page (which asks for data, not HTML) is
    /// answered as usual.
    pub fn back_to_page_saying(done: &str) {
        let Some(parts) = parts() else { return };
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v: &http::HeaderValue| v.to_str().ok())
        };
        if !header(http::header::ACCEPT).is_some_and(|accept| accept.contains("text/html")) {
            return;
        }
        let Some(referer) = header(http::header::REFERER).and_then(|r| r.parse::<http::Uri>().ok()) else {
            return;
        };
        // Only a path on this site: never `//elsewhere`.
        let path = Some(referer.path())
            .filter(|p| p.starts_with('/') && !p.starts_with("//"))
            .unwrap_or("/");
        let done = format!("done={}", crate::components::query_value(done));
        let query: Vec<&str> = referer
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|pair| {
                !pair.is_empty() && !["confirm", "done"].contains(&pair.split('=').next().unwrap_or_default())
            })
            .chain([done.as_str()])
            .collect();
        leptos_axum::redirect(&format!("{path}?{}", query.join("&")));
    }

    /// Adds a `Set-Cookie` header to the response.
    pub fn set_cookie(value: String) {
        if let (Some(options), Ok(value)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            http::HeaderValue::from_str(&value),
        ) {
            options.append_header(http::header::SET_COOKIE, value);
        }
    }
}

// Reads are GET requests (safe, cacheable, never CSRF-checked). Every server function that changes state takes the CSRF token as its first argument, so
// that the hydrated forms send it along; the server's request pipeline checks it before the
// function runs (the argument itself is not used here).

/// The signed-in user, or `None` when nobody is signed in.
#[server(prefix = "/rpc", endpoint = "me", input = GetUrl)]
pub async fn current_user() -> Result<Option<Me>, PortalError> {
    use ssr::*;
    match actor() {
        Ok(actor) => Ok(Some(portal()?.me(&actor).await?)),
        Err(_) => Ok(None),
    }
}

/// Signs in and sends the user to their home page.
#[server(prefix = "/rpc", endpoint = "sign_in")]
pub async fn sign_in(
    #[server(rename = "csrf_token")] _csrf: String,
    email: String,
    password: String,
) -> Result<(), PortalError> {
    use ssr::*;
    let portal = portal()?;
    let (token, me) = portal
        .sign_in(&email, &password, &client_ip(), session_token().as_ref())
        .await?;
    set_cookie(cookie_security().session_cookie(token.as_str(), portal.session_ttl_secs()));
    leptos_axum::redirect(&me.home_path);
    Ok(())
}

/// Signs out and returns to the sign-in page.
#[server(prefix = "/rpc", endpoint = "sign_out")]
pub async fn sign_out(#[server(rename = "csrf_token")] _csrf: String) -> Result<(), PortalError> {
    use ssr::*;
    if let Some(token) = session_token() {
        portal()?.sign_out(&token).await?;
    }
    set_cookie(cookie_security().clear_session_cookie());
    leptos_axum::redirect("/login");
    Ok(())
}

/// A room's items for the signed-in user.
#[server(prefix = "/rpc", endpoint = "room", input = GetUrl)]
pub async fn get_room(slug: String) -> Result<RoomListing, PortalError> {
    use ssr::*;
    Ok(portal()?.room(&actor()?, &slug).await?)
}

/// One content item, if the signed-in user may see it.
#[server(prefix = "/rpc", endpoint = "content_item", input = GetUrl)]
pub async fn get_item(id: i64) -> Result<ContentItem, PortalError> {
    use ssr::*;
    Ok(portal()?.content_item(&actor()?, id).await?)
}

/// Every item, drafts included (publishers only).
#[server(prefix = "/rpc", endpoint = "studio_items", input = GetUrl)]
pub async fn get_studio_items() -> Result<Vec<ContentSummary>, PortalError> {
    use ssr::*;
    Ok(portal()?.studio_items(&actor()?).await?)
}

/// The signed-in partner's own tier, progress, history and what-if data.
#[server(prefix = "/rpc", endpoint = "my_tier", input = GetUrl)]
pub async fn get_my_tier() -> Result<PartnerTierView, PortalError> {
    use ssr::*;
    let actor = actor()?;
    Ok(portal()?.partner_tier(&actor, actor.organisation.id).await?)
}

/// The program in force, for the editor (vendor staff).
#[server(prefix = "/rpc", endpoint = "program", input = GetUrl)]
pub async fn get_program_snapshot() -> Result<ProgramSnapshot, PortalError> {
    use ssr::*;
    let actor = actor()?;
    if actor.role.is_partner() {
        return Err(service::ServiceError::Forbidden("the program editor is for vendor staff").into());
    }
    let portal = portal()?;
    let stored = portal
        .program_on(portal.today())
        .await?
        .ok_or(service::ServiceError::NotFound("program"))?;
    Ok(ProgramSnapshot {
        effective_from: stored.effective_from,
        document_toml: stored.document.to_toml(),
        versions: portal.program_versions().await?,
    })
}

/// Saves the edited program as a new version from `effective_from` (vendor admins).
#[server(prefix = "/rpc", endpoint = "save_program")]
pub async fn save_program(
    #[server(rename = "csrf_token")] _csrf: String,
    effective_from: String,
    document: String,
) -> Result<ProgramVersionView, PortalError> {
    use domain::calendar::Date;
    use domain::program::ProgramDoc;
    use ssr::*;
    let actor = actor()?;
    let effective_from =
        Date::parse(&effective_from, "effective_from").map_err(service::ServiceError::from)?;
    let document = ProgramDoc::from_toml(&document)
        .map_err(|e| domain::FieldError::new(format!("program {}", e.field), e.message))
        .map_err(service::ServiceError::from)?;
    Ok(portal()?.put_program(&actor, effective_from, document).await?)
}

/// Statements a page of the rebates list shows.
pub const STATEMENTS_PER_PAGE: usize = 50;

/// One page of the rebate statements the signed-in user may see, filtered like the API's list
/// (empty values mean any); `page` counts from 1.
#[server(prefix = "/rpc", endpoint = "statements", input = GetUrl)]
pub async fn get_statements(
    #[server(default)] period: String,
    #[server(default)] status: String,
    #[server(default)] partner: String,
    #[server(default)] page: String,
) -> Result<domain::rebates::StatementPage, PortalError> {
    use ssr::*;
    // A page number that is not one shows the first page, as a hand-edited address should.
    let page = page.trim().parse::<usize>().unwrap_or(1).clamp(1, 1_000_000);
    let offset = ((page - 1) * STATEMENTS_PER_PAGE).to_string();
    let filter = service::rebates::StatementFilter::parse(
        &period,
        &status,
        &partner,
        &offset,
        "",
        Some(STATEMENTS_PER_PAGE),
    )
    .map_err(service::ServiceError::from)?;
    Ok(portal()?.statements(&actor()?, &filter).await?)
}

/// The drafts of a period finance can approve together; `None` for a reader who cannot
/// approve, or no valid period.
#[server(prefix = "/rpc", endpoint = "period_drafts", input = GetUrl)]
pub async fn get_period_drafts(
    #[server(default)] period: String,
) -> Result<Option<domain::rebates::PeriodDrafts>, PortalError> {
    use ssr::*;
    let actor = actor()?;
    let Ok(period) = domain::period::FiscalPeriod::parse(period.trim(), "period") else {
        return Ok(None);
    };
    if !actor.role.can_run_rebates() {
        return Ok(None);
    }
    Ok(Some(portal()?.period_drafts(&actor, period).await?))
}

/// Approves every draft of a period: the count and total the approver was shown.
#[server(prefix = "/rpc", endpoint = "approve_period")]
pub async fn approve_period(
    #[server(rename = "csrf_token")] _csrf: String,
    period: String,
    count: usize,
    total: i64,
) -> Result<domain::rebates::PeriodApproval, PortalError> {
    use ssr::*;
    let period =
        domain::period::FiscalPeriod::parse(period.trim(), "period").map_err(service::ServiceError::from)?;
    let approval = portal()?.approve_period(&actor()?, period, count, total).await?;
    back_to_page_saying(&format!("period-{period}"));
    Ok(approval)
}

/// How many sales a statement's page lists; its CSV export holds them all.
pub const STATEMENT_SALES_SHOWN: usize = 500;

/// A statement and the first [`STATEMENT_SALES_SHOWN`] sales behind its basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementDetail {
    /// The statement with its explanation lines.
    pub statement: domain::rebates::StatementView,
    /// The first sales of the partner's period, by booking date.
    pub sales: Vec<domain::rebates::BasisSale>,
    /// How many sales the period holds in all.
    pub sales_count: usize,
    /// How many of them are in the basis.
    pub counted_count: usize,
    /// Whether any sale arrived or changed after the statement was computed.
    pub late: bool,
}

/// One statement with the sales behind its basis.
#[server(prefix = "/rpc", endpoint = "statement", input = GetUrl)]
pub async fn get_statement(id: i64) -> Result<StatementDetail, PortalError> {
    use ssr::*;
    let portal = portal()?;
    let actor = actor()?;
    let statement = portal.statement(&actor, id).await?;
    let mut sales = portal.statement_sales(&actor, id).await?;
    let (sales_count, counted_count) = (sales.len(), sales.iter().filter(|s| s.counted).count());
    let late = sales.iter().any(|s| s.arrived_later || s.changed_later);
    sales.truncate(STATEMENT_SALES_SHOWN);
    Ok(StatementDetail {
        statement,
        sales,
        sales_count,
        counted_count,
        late,
    })
}

/// The signed-in partner's rebate so far this period (none for vendor staff or planless tiers).
#[server(prefix = "/rpc", endpoint = "forecast", input = GetUrl)]
pub async fn get_forecast() -> Result<Option<domain::rebates::RebateForecast>, PortalError> {
    use ssr::*;
    let actor = actor()?;
    if !actor.role.is_partner() {
        return Ok(None);
    }
    Ok(portal()?.rebate_forecast(&actor, actor.organisation.id).await?)
}

/// Runs rebates for a period (finance).
#[server(prefix = "/rpc", endpoint = "run_rebates")]
pub async fn run_rebates(
    #[server(rename = "csrf_token")] _csrf: String,
    period: String,
) -> Result<domain::rebates::RunSummary, PortalError> {
    use ssr::*;
    let period =
        domain::period::FiscalPeriod::parse(period.trim(), "period").map_err(service::ServiceError::from)?;
    let summary = portal()?.run_rebates(Some(&actor()?), period).await?;
    back_to_page_saying(&format!("run-{}", summary.id));
    Ok(summary)
}

/// A rebate run as it ended (finance), for the page a plain form post returns to.
#[server(prefix = "/rpc", endpoint = "rebate_run", input = GetUrl)]
pub async fn get_rebate_run(id: i64) -> Result<domain::rebates::RunSummary, PortalError> {
    use ssr::*;
    Ok(portal()?.rebate_run(&actor()?, id).await?)
}

/// Approves a draft statement (at the `total` its approver was shown, when given), or marks an
/// approved one paid when a payout reference is given.
#[server(prefix = "/rpc", endpoint = "advance_statement")]
pub async fn advance_statement(
    #[server(rename = "csrf_token")] _csrf: String,
    id: i64,
    #[server(default)] payout_reference: Option<String>,
    #[server(default)] total: Option<i64>,
) -> Result<domain::rebates::StatementView, PortalError> {
    use ssr::*;
    let portal = portal()?;
    let actor = actor()?;
    let statement = match payout_reference {
        Some(reference) => portal.pay_statement(&actor, id, &reference).await?,
        None => portal.approve_statement(&actor, id, total).await?,
    };
    back_to_page_saying(&format!("{}-{id}", statement.status.as_str()));
    Ok(statement)
}

/// Imports pasted sales or certifications (CSV or JSON lines); `preview` stores nothing.
#[server(prefix = "/rpc", endpoint = "import_facts")]
pub async fn import_facts(
    #[server(rename = "csrf_token")] _csrf: String,
    kind: String,
    data: String,
    #[server(default)] preview: Option<String>,
) -> Result<domain::facts::ImportReport, PortalError> {
    use service::imports::{no_progress, ImportFormat};
    use ssr::*;
    let portal = portal()?;
    let actor = actor()?;
    if data.len() > domain::facts::MAX_PAGE_IMPORT_BYTES {
        return Err(service::ServiceError::from(domain::FieldError::new(
            "data",
            format!(
                "the file is {} MiB; this page imports files up to {} MiB: import larger ones with the API or `atrium import`",
                data.len().div_ceil(1024 * 1024),
                domain::facts::MAX_PAGE_IMPORT_BYTES / (1024 * 1024)
            ),
        ))
        .into());
    }
    let format = if data.trim_start_matches('\u{feff}').trim_start().starts_with('{') {
        ImportFormat::JsonLines
    } else {
        ImportFormat::Csv
    };
    let preview = preview.is_some();
    Ok(match kind.as_str() {
        "sales" => {
            portal
                .import_sales(Some(&actor), &data, format, preview, &no_progress)
                .await?
        }
        "certifications" => {
            portal
                .import_certifications(Some(&actor), &data, format, preview, &no_progress)
                .await?
        }
        other => {
            return Err(service::ServiceError::from(domain::FieldError::new(
                "kind",
                format!("`{other}` is not sales or certifications"),
            ))
            .into())
        }
    })
}

/// The program's tiers, for targeting.
#[server(prefix = "/rpc", endpoint = "tiers", input = GetUrl)]
pub async fn get_tiers() -> Result<Vec<TierBadge>, PortalError> {
    use ssr::*;
    actor()?;
    Ok(portal()?.tiers().await?)
}

/// Creates an item (no `id`) or saves changes to one. A new item opens in the editor.
#[server(prefix = "/rpc", endpoint = "save_content")]
pub async fn save_content(
    #[server(rename = "csrf_token")] _csrf: String,
    #[server(default)] id: Option<i64>,
    title: String,
    summary: String,
    room: String,
    kind: String,
    body: String,
    #[server(default)] personas: Vec<String>,
    #[server(default)] partner_types: Vec<String>,
    min_tier: i64,
    #[server(default)] regions: Vec<String>,
) -> Result<ContentItem, PortalError> {
    use domain::content::{AudienceInput, ContentInput};
    use ssr::*;
    let portal = portal()?;
    let actor = actor()?;
    let input = ContentInput {
        title: Some(title),
        summary: Some(summary),
        room: Some(room),
        kind: Some(kind),
        body: Some(body),
        audience: Some(AudienceInput {
            personas: Some(personas),
            partner_types: Some(partner_types),
            min_tier: Some(min_tier),
            regions: Some(regions),
        }),
    };
    match id {
        Some(id) => Ok(portal.update_content(&actor, id, input).await?),
        None => {
            let item = portal.create_content(&actor, input).await?;
            leptos_axum::redirect(&format!("/studio/{}?created=1", item.summary.id));
            Ok(item)
        }
    }
}

/// Publishes an item or takes it back to draft.
#[server(prefix = "/rpc", endpoint = "set_content_status")]
pub async fn set_content_status(
    #[server(rename = "csrf_token")] _csrf: String,
    id: i64,
    status: ContentStatus,
) -> Result<ContentItem, PortalError> {
    use ssr::*;
    Ok(portal()?.set_content_status(&actor()?, id, status).await?)
}

/// What the deal registration form offers: product lines, the partners the user may register
/// for (a distributor's resellers), today's date and the program currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealFormOptions {
    /// Known product-line codes.
    pub product_lines: Vec<String>,
    /// (id, name): the user's own organisation first, then its resellers.
    pub partners: Vec<(i64, String)>,
    /// Today (the earliest close date).
    pub today: domain::calendar::Date,
    /// The program currency code.
    pub currency: String,
    /// A sensible default country for the organisation's region.
    pub default_country: String,
}

/// Options for the deal registration form.
#[server(prefix = "/rpc", endpoint = "deal_form", input = GetUrl)]
pub async fn get_deal_form() -> Result<DealFormOptions, PortalError> {
    use domain::identity::Region;
    use ssr::*;
    let portal = portal()?;
    let actor = actor()?;
    let default_country = match actor.organisation.region {
        Some(Region::Emea) => "GB",
        Some(Region::LatinAmerica) => "BR",
        Some(Region::Apac) => "AU",
        _ => "US",
    };
    Ok(DealFormOptions {
        product_lines: portal.product_lines().await?,
        partners: portal.registrable_partners(&actor).await?,
        today: portal.today(),
        currency: portal
            .program_on(portal.today())
            .await?
            .map_or_else(|| "USD".to_owned(), |p| p.program.currency.code().to_owned()),
        default_country: default_country.to_owned(),
    })
}

/// The customer key a name and domain give, previewed while the partner types.
#[server(prefix = "/rpc", endpoint = "customer_key", input = GetUrl)]
pub async fn preview_customer_key(
    #[server(default)] name: String,
    #[server(default)] domain: String,
) -> Result<String, PortalError> {
    use ssr::*;
    actor()?;
    let domain = Some(domain.trim()).filter(|d| !d.is_empty());
    Ok(portal()?.customer_key_preview(&name, domain)?.as_str().to_owned())
}

/// Registers and submits a deal, then opens it.
#[server(prefix = "/rpc", endpoint = "register_deal")]
pub async fn register_deal(
    #[server(rename = "csrf_token")] _csrf: String,
    customer_name: String,
    #[server(default)] customer_domain: String,
    country: String,
    #[server(default)] product_lines: Vec<String>,
    amount: String,
    expected_close_on: String,
    #[server(default)] notes: String,
    #[server(default)] partner_id: Option<i64>,
) -> Result<domain::deals::DealView, PortalError> {
    use ssr::*;
    let input = domain::deals::DealInput {
        customer_name,
        customer_domain: Some(customer_domain).filter(|d| !d.trim().is_empty()),
        country,
        product_lines,
        amount,
        expected_close_on,
        notes,
        partner_id,
    };
    let deal = portal()?.register_deal(&actor()?, input, true).await?;
    leptos_axum::redirect(&format!("/deals/{}", deal.id));
    Ok(deal)
}

/// What `/deals` shows: a partner's registrations, or the decider's queue and turnaround.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DealsOverview {
    /// A partner's own registrations (and a distributor's resellers').
    Partner(Vec<domain::deals::DealView>),
    /// Channel managers and vendor admins: what waits, soonest due, and the turnaround report.
    Decider(Vec<domain::deals::DealView>, Vec<domain::deals::Turnaround>),
}

/// The `/deals` page's data for the signed-in user.
#[server(prefix = "/rpc", endpoint = "deals_overview", input = GetUrl)]
pub async fn get_deals_overview() -> Result<DealsOverview, PortalError> {
    use domain::identity::Role;
    use ssr::*;
    let portal = portal()?;
    let actor = actor()?;
    Ok(match actor.role {
        Role::ChannelManager | Role::VendorAdmin => {
            DealsOverview::Decider(portal.deal_queue(&actor).await?, portal.turnaround(&actor).await?)
        }
        role if role.is_partner() => DealsOverview::Partner(portal.deals(&actor).await?),
        _ => {
            return Err(service::ServiceError::Forbidden(
                "deal registrations are for partners and channel managers",
            )
            .into())
        }
    })
}

/// One registration with its history.
#[server(prefix = "/rpc", endpoint = "deal", input = GetUrl)]
pub async fn get_deal(id: i64) -> Result<domain::deals::DealView, PortalError> {
    use ssr::*;
    Ok(portal()?.deal(&actor()?, id).await?)
}

/// One step on a registration: `submit`, `approve`, `reject`, `won`, `lost` or `extend`.
#[server(prefix = "/rpc", endpoint = "deal_action")]
pub async fn deal_action(
    #[server(rename = "csrf_token")] _csrf: String,
    id: i64,
    action: String,
    #[server(default)] comment: String,
) -> Result<domain::deals::DealView, PortalError> {
    use ssr::*;
    let portal = portal()?;
    let actor = actor()?;
    Ok(match action.as_str() {
        "submit" => portal.submit_deal(&actor, id).await?,
        "approve" => portal.decide_deal(&actor, id, true, &comment).await?,
        "reject" => portal.decide_deal(&actor, id, false, &comment).await?,
        "won" => portal.close_deal(&actor, id, true, None).await?,
        "lost" => portal.close_deal(&actor, id, false, None).await?,
        "extend" => portal.request_extension(&actor, id, &comment).await?,
        other => {
            return Err(service::ServiceError::from(domain::FieldError::new(
                "action",
                format!("`{other}` is not something a registration can do"),
            ))
            .into())
        }
    })
}

/// The signed-in user's notifications.
#[server(prefix = "/rpc", endpoint = "inbox", input = GetUrl)]
pub async fn get_inbox() -> Result<service_types::Inbox, PortalError> {
    use ssr::*;
    let inbox = portal()?.inbox(&actor()?).await?;
    Ok(service_types::Inbox {
        unread: inbox.unread,
        items: inbox
            .items
            .into_iter()
            .map(|n| service_types::Notification {
                id: n.id,
                created_at: n.created_at,
                title: n.title,
                body: n.body,
                link: n.link,
                read: n.read,
            })
            .collect(),
    })
}

/// The unread count for the bell (0 when signed out).
#[server(prefix = "/rpc", endpoint = "unread", input = GetUrl)]
pub async fn get_unread() -> Result<i64, PortalError> {
    use ssr::*;
    match actor() {
        Ok(actor) => Ok(portal()?.unread_notifications(&actor).await?),
        Err(_) => Ok(0),
    }
}

/// Marks one notification, or all of them, read.
#[server(prefix = "/rpc", endpoint = "mark_read")]
pub async fn mark_read(
    #[server(rename = "csrf_token")] _csrf: String,
    #[server(default)] id: Option<i64>,
) -> Result<u64, PortalError> {
    use ssr::*;
    Ok(portal()?.mark_notifications_read(&actor()?, id).await?)
}

/// Notification shapes shared with the browser (the service crate is server-only).
pub mod service_types {
    use serde::{Deserialize, Serialize};

    /// One notification.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Notification {
        /// Id.
        pub id: i64,
        /// When (Unix ms).
        pub created_at: i64,
        /// One line.
        pub title: String,
        /// Detail.
        pub body: String,
        /// Where to go.
        pub link: String,
        /// Read already.
        pub read: bool,
    }

    /// The bell's contents.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Inbox {
        /// Unread count.
        pub unread: i64,
        /// Newest first.
        pub items: Vec<Notification>,
    }
}

/// A partner's scorecard: the signed-in partner's own without `id`, else the one named (vendor
/// staff; a distributor's admins for their resellers).
#[server(prefix = "/rpc", endpoint = "scorecard", input = GetUrl)]
pub async fn get_scorecard(
    #[server(default)] id: Option<i64>,
) -> Result<Option<domain::scorecard::Scorecard>, PortalError> {
    use ssr::*;
    let actor = actor()?;
    let partner = match id {
        Some(id) => id,
        None if actor.role.is_partner() => actor.organisation.id,
        // Vendor staff have no scorecard of their own.
        None => return Ok(None),
    };
    Ok(Some(portal()?.scorecard(&actor, partner).await?))
}

/// The vendor's channel dashboard for a period and filters (empty = all).
#[server(prefix = "/rpc", endpoint = "dashboard", input = GetUrl)]
pub async fn get_dashboard(
    #[server(default)] period: String,
    #[server(default)] region: String,
    #[server(default)] partner_type: String,
    #[server(default)] tier: String,
) -> Result<domain::dashboard::ChannelDashboard, PortalError> {
    use ssr::*;
    let filter = service::dashboard::DashboardFilter::parse(&period, &region, &partner_type, &tier)
        .map_err(service::ServiceError::from)?;
    Ok(portal()?.channel_dashboard(&actor()?, &filter).await?)
}

/// The audit log, newest first (vendor admins and finance); empty filters mean any.
#[server(prefix = "/rpc", endpoint = "audit", input = GetUrl)]
pub async fn get_audit(
    #[server(default)] action: String,
    #[server(default)] entity_type: String,
    #[server(default)] entity_id: String,
    #[server(default)] before: String,
) -> Result<domain::audit::AuditPage, PortalError> {
    use ssr::*;
    let query = service::audit::AuditQuery::parse(&action, &entity_type, &entity_id, &before, "")
        .map_err(service::ServiceError::from)?;
    Ok(portal()?.audit_log(&actor()?, &query).await?)
}
