//! Pieces shared by the pages: the portal frame, cards, badges, errors and the CSRF field.

use crate::api::{current_user, get_unread, PortalError, SignOut};
use domain::calendar::Date;
use domain::content::{ContentSummary, Room};
use domain::identity::{Me, TierBadge};
use domain::scorecard::CriterionView;
use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

/// The signed-in user, for one `<Suspense>` or `<Transition>` to read. Each boundary that needs
/// it creates its own: while a page streams, a resource read by two boundaries (the top bar's
/// and the page's) could leave one of them waiting for ever under load, the page's response
/// stopping mid-body (leptos-rs/leptos#4851). The second read is one small query.
pub fn me_resource() -> Resource<Result<Option<Me>, PortalError>> {
    Resource::new(|| (), |_| current_user())
}

/// The current request's CSRF token: from the request on the server, from the cookie in the
/// browser. The server refuses state-changing requests whose token does not match the cookie.
pub fn csrf_token() -> String {
    #[cfg(feature = "ssr")]
    {
        use_context::<http::request::Parts>()
            .and_then(|parts| {
                parts
                    .extensions
                    .get::<service::web::CsrfToken>()
                    .map(|t| t.0.clone())
            })
            .unwrap_or_default()
    }
    #[cfg(not(feature = "ssr"))]
    {
        browser_cookie("atrium_csrf").unwrap_or_default()
    }
}

#[cfg(not(feature = "ssr"))]
fn browser_cookie(name: &str) -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let document = web_sys::window()?
            .document()?
            .dyn_into::<web_sys::HtmlDocument>()
            .ok()?;
        let cookies = document.cookie().ok()?;
        cookies.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = name;
        None
    }
}

/// The hidden field that carries the CSRF token in every form.
#[component]
pub fn CsrfField() -> impl IntoView {
    view! { <input type="hidden" name="csrf_token" value=csrf_token() /> }
}

/// A tier's name on its colour; the colour is decoration, the name is the information.
#[component]
pub fn TierBadgeView(tier: TierBadge) -> impl IntoView {
    let class = format!("tier tier-{}", tier.name.to_lowercase());
    view! { <span class=class>{tier.name}</span> }
}

/// One criterion of the next tier as a labelled progress bar, its value against the threshold
/// spelled out for screen readers and beside the bar. `status_class` styles that line.
#[component]
pub fn CriterionProgress(criterion: CriterionView, status_class: &'static str) -> impl IntoView {
    let status = if criterion.met {
        format!("{} / {} ✓", criterion.value_text, criterion.threshold_text)
    } else {
        format!(
            "{} / {} — {} to go",
            criterion.value_text, criterion.threshold_text, criterion.remaining_text
        )
    };
    view! {
        <li class="criterion" class:met=criterion.met>
            <p class="criterion-label">{criterion.label.clone()}</p>
            <div class="bar" role="progressbar" aria-label=criterion.label aria-valuemin="0"
                aria-valuemax="100" aria-valuenow=criterion.percent aria-valuetext=status.clone()>
                <span style=format!("width: {}%", criterion.percent)></span>
            </div>
            <p class=status_class>{status}</p>
        </li>
    }
}

/// The route's `:id` parameter as a number; an id that is not a number names nothing (-1),
/// which the server answers with "not found".
pub fn id_param() -> impl Fn() -> i64 + Copy + Send + Sync + 'static {
    let params = leptos_router::hooks::use_params_map();
    move || {
        params
            .read()
            .get("id")
            .and_then(|id| id.parse::<i64>().ok())
            .unwrap_or(-1)
    }
}

/// Formats a timestamp as a date people read (`26 Nov 2026`).
pub fn human_date(millis: i64) -> String {
    Date::from_unix_millis(millis).human()
}

/// Formats a timestamp as a date and UTC time people read (`26 Nov 2026, 14:05 UTC`).
pub fn human_date_time(millis: i64) -> String {
    let minutes = millis.rem_euclid(86_400_000) / 60_000;
    format!(
        "{}, {:02}:{:02} UTC",
        human_date(millis),
        minutes / 60,
        minutes % 60
    )
}

/// Formats a timestamp as an ISO date for `<time datetime>`.
pub fn iso_date(millis: i64) -> String {
    Date::from_unix_millis(millis).to_string()
}

/// What went wrong and what to do about it.
#[component]
pub fn ErrorPanel(
    error: PortalError,
    /// Set where the page already has its `h1` above the panel: the panel's heading is then an `h2`.
    #[prop(optional)]
    under_heading: bool,
) -> impl IntoView {
    let (heading, advice) = match error.code.as_str() {
        "unauthenticated" => ("Your session has ended", "Sign in again to continue."),
        "not_found" => (
            "Not found",
            "It may have been moved, or it is not meant for your role.",
        ),
        "forbidden" => (
            "Not available to your role",
            "Ask your administrator if you need access.",
        ),
        "invalid" => ("That value is not valid", "Correct it and try again."),
        _ => ("Something went wrong", "Try again in a moment."),
    };
    let sign_in = error.needs_sign_in();
    let message = error.located();
    view! {
        <section class="notice notice-error" role="alert">
            {if under_heading {
                view! { <h2>{heading}</h2> }.into_any()
            } else {
                view! { <h1>{heading}</h1> }.into_any()
            }}
            <p>{message}</p>
            <p>{advice}</p>
            {sign_in.then(|| view! { <a class="button" href="/login">"Sign in"</a> })}
        </section>
    }
}

/// A content card in a room.
#[component]
pub fn ContentCard(item: ContentSummary) -> impl IntoView {
    let href = format!("/items/{}", item.id);
    let chip_class = format!("chip chip-{}", item.kind.as_str());
    let date = item.published_at.unwrap_or(item.updated_at);
    view! {
        <li class="card">
            <article>
                <p class="card-top">
                    <span class=chip_class>{item.kind.label()}</span>
                    {item.is_new.then(|| view! { <span class="new-marker">"New"</span> })}
                </p>
                <h2 class="card-title">
                    <a href=href>{item.title}</a>
                </h2>
                <p class="card-summary">{item.summary}</p>
                <p class="meta">
                    <time datetime=iso_date(date)>{human_date(date)}</time>
                </p>
            </article>
        </li>
    }
}

/// Every section the user may open, in the order of the top bar: the rooms, then what their
/// role adds (scorecard and tier, deals, rebates, studio, dashboard and program, audit).
pub fn room_links(me: &Me) -> Vec<(String, &'static str)> {
    let mut links: Vec<(String, &'static str)> = Room::ALL
        .iter()
        .map(|room| (format!("/rooms/{room}"), room.label()))
        .collect();
    if me.role.is_partner() {
        links.push(("/scorecard".to_owned(), "Scorecard"));
        links.push(("/tier".to_owned(), "My tier"));
    }
    if me.role.is_partner()
        || matches!(
            me.role,
            domain::identity::Role::ChannelManager | domain::identity::Role::VendorAdmin
        )
    {
        links.push(("/deals".to_owned(), "Deals"));
    }
    if me.role.is_partner()
        || matches!(
            me.role,
            domain::identity::Role::Finance | domain::identity::Role::VendorAdmin
        )
    {
        links.push(("/rebates".to_owned(), "Rebates"));
    }
    if me.role.can_publish_content() {
        links.push(("/studio".to_owned(), "Studio"));
    }
    if me.organisation.kind == domain::identity::OrganisationKind::Vendor {
        links.push(("/dashboard".to_owned(), "Dashboard"));
        links.push(("/studio/program".to_owned(), "Program"));
    }
    if matches!(
        me.role,
        domain::identity::Role::Finance | domain::identity::Role::VendorAdmin
    ) {
        links.push(("/audit".to_owned(), "Audit"));
    }
    links
}

/// Whether a section has its own tab on phones. The rest are listed on the "Me" page, which
/// always has a tab.
pub fn in_tab_bar(href: &str) -> bool {
    href.starts_with("/rooms/") || href == "/deals"
}

/// The frame around every signed-in page: top bar, room navigation and, on phones, a bottom
/// tab bar.
#[component]
pub fn PortalLayout() -> impl IntoView {
    let me = me_resource();
    let unread = Resource::new(|| (), |_| get_unread());
    let sign_out = ServerAction::<SignOut>::new();

    view! {
        <a class="skip-link" href="#main">
            "Skip to content"
        </a>
        <Suspense fallback=|| view! { <header class="topbar topbar-loading" aria-busy="true"></header> }>
            {move || Suspend::new(async move {
                // Both read here, in one place: a second Suspense nested in the top bar would
                // resolve in a different order on the server and in the browser.
                let unread = unread.await.unwrap_or(0);
                match me.await {
                    Ok(Some(me)) => {
                        let links = room_links(&me);
                        let tab_links = links.clone();
                        let org = me.organisation.clone();
                        view! {
                            <header class="topbar">
                                <div class="topbar-inner">
                                    <a class="brand" href=me.home_path.clone()>
                                        <span class="brand-mark" aria-hidden="true">"◆"</span>
                                        <span>{me.vendor_name.clone()}</span>
                                        <span class="brand-sub">"Partner portal"</span>
                                    </a>
                                    <nav class="room-nav" aria-label="Rooms">
                                        {links
                                            .into_iter()
                                            .map(|(href, label)| view! { <A href=href>{label}</A> })
                                            .collect_view()}
                                    </nav>
                                    <div class="account">
                                        <Bell count=unread />
                                        <span class="org">
                                            <span class="org-name">{org.name.clone()}</span>
                                            {org.tier.clone().map(|tier| view! { <TierBadgeView tier /> })}
                                        </span>
                                        <A href="/me" attr:class="account-link">
                                            {me.display_name.clone()}
                                        </A>
                                        <ActionForm action=sign_out attr:class="inline-form">
                                            <CsrfField />
                                            <button type="submit" class="link-button">
                                                "Sign out"
                                            </button>
                                        </ActionForm>
                                    </div>
                                </div>
                            </header>
                            <nav class="tabbar" aria-label="Rooms">
                                {tab_links
                                    .into_iter()
                                    .filter(|(href, _)| in_tab_bar(href))
                                    .map(|(href, label)| view! { <A href=href>{label}</A> })
                                    .collect_view()}
                                <A href="/me">"Me"</A>
                            </nav>
                        }
                            .into_any()
                    }
                    _ => view! { <header class="topbar"></header> }.into_any(),
                }
            })}
        </Suspense>
        <main id="main" class="main" tabindex="-1">
            <Outlet />
        </main>
    }
}

/// The notification bell: a link to the list, with the unread count in its name.
#[component]
fn Bell(count: i64) -> impl IntoView {
    let label = match count {
        0 => "Notifications, none unread".to_owned(),
        1 => "Notifications, 1 unread".to_owned(),
        n => format!("Notifications, {n} unread"),
    };
    view! {
        <a class="bell" href="/notifications" aria-label=label data-testid="bell">
            {bell_icon()}
            {(count > 0).then(|| view! { <span class="bell-count" aria-hidden="true">{count.min(99)}</span> })}
        </a>
    }
}

fn bell_icon() -> impl IntoView {
    view! {
        <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">
            <path fill="currentColor" d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1z" />
        </svg>
    }
}

/// A placeholder list that keeps the layout still while items load.
#[component]
pub fn CardSkeleton() -> impl IntoView {
    view! {
        <ul class="cards" aria-hidden="true">
            {(0..4).map(|_| view! { <li class="card skeleton"></li> }).collect_view()}
        </ul>
    }
}

/// A query-string value, percent-encoded (letters, digits and `-._~` stay as they are).
pub fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
