//! The content studio: list, create, edit, publish.

use crate::api::{get_item, get_studio_items, get_tiers, PortalError, SaveContent, SetContentStatus};
use crate::components::{human_date, id_param, CsrfField, ErrorPanel};
use domain::content::{Audience, ContentItem, ContentKind, ContentStatus, Room};
use domain::identity::{PartnerType, Persona, Region, TierBadge};
use leptos::prelude::*;
use leptos_meta::Title;

/// Every item, drafts included, newest change first.
#[component]
pub fn StudioListPage() -> impl IntoView {
    let items = Resource::new(|| (), |_| get_studio_items());
    let tiers = Resource::new(|| (), |_| get_tiers());
    view! {
        <Title text="Studio" />
        <section class="studio-head">
            <h1>"Content studio"</h1>
            <a class="button primary" href="/studio/new">
                "New item"
            </a>
        </section>
        <Suspense fallback=|| view! { <p class="loading">"Loading items…"</p> }>
            {move || Suspend::new(async move {
                let tier_list = tiers.await.unwrap_or_default();
                match items.await {
                    Ok(items) => {
                        view! {
                            <table class="studio-table">
                                <caption class="visually-hidden">"All content items"</caption>
                                <thead>
                                    <tr>
                                        <th scope="col">"Title"</th>
                                        <th scope="col">"Room"</th>
                                        <th scope="col">"Kind"</th>
                                        <th scope="col">"Audience"</th>
                                        <th scope="col">"Status"</th>
                                        <th scope="col">"Updated"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {items
                                        .into_iter()
                                        .map(|item| {
                                            let audience = describe(&item.audience, &tier_list);
                                            let status_class = format!("status status-{}", item.status.as_str());
                                            view! {
                                                <tr>
                                                    <th scope="row" data-label="Title">
                                                        <a href=format!("/studio/{}", item.id)>{item.title}</a>
                                                    </th>
                                                    <td data-label="Room">{item.room.label()}</td>
                                                    <td data-label="Kind">{item.kind.label()}</td>
                                                    <td data-label="Audience">{audience}</td>
                                                    <td data-label="Status">
                                                        <span class=status_class>{item.status.label()}</span>
                                                    </td>
                                                    <td data-label="Updated">{human_date(item.updated_at)}</td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorPanel error under_heading=true /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn describe(audience: &Audience, tiers: &[TierBadge]) -> String {
    audience.describe(|rank| {
        tiers
            .iter()
            .find(|t| t.rank == rank)
            .map_or_else(|| format!("Tier {}", rank.0), |t| t.name.clone())
    })
}

/// A new item.
#[component]
pub fn StudioNewPage() -> impl IntoView {
    let tiers = Resource::new(|| (), |_| get_tiers());
    view! {
        <Title text="New item" />
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <a href="/studio">"← Studio"</a>
        </nav>
        <h1>"New item"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match tiers.await {
                    Ok(tiers) => view! { <ContentEditor item=None tiers /> }.into_any(),
                    Err(error) => view! { <ErrorPanel error under_heading=true /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Edit an existing item, publish it or take it back to draft.
#[component]
pub fn StudioEditPage() -> impl IntoView {
    let id = id_param();
    let save = ServerAction::<SaveContent>::new();
    let set_status = ServerAction::<SetContentStatus>::new();
    provide_context(save);
    let item = Resource::new(
        move || (id(), save.version().get(), set_status.version().get()),
        |(id, _, _)| get_item(id),
    );
    let tiers = Resource::new(|| (), |_| get_tiers());

    view! {
        <nav class="breadcrumb" aria-label="Breadcrumb">
            <a href="/studio">"← Studio"</a>
        </nav>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (item.await, tiers.await) {
                    (Ok(item), Ok(tiers)) => {
                        let s = item.summary.clone();
                        let (next, label) = match s.status {
                            ContentStatus::Draft => (ContentStatus::Published, "Publish"),
                            ContentStatus::Published => (ContentStatus::Draft, "Move back to draft"),
                        };
                        let status_class = format!("status status-{}", s.status.as_str());
                        view! {
                            <Title text=format!("Edit: {}", s.title) />
                            <section class="studio-head">
                                <h1>{s.title.clone()}</h1>
                                <p>
                                    <span class=status_class data-testid="status">{s.status.label()}</span>
                                </p>
                                <ActionForm action=set_status attr:class="inline-form">
                                    <CsrfField />
                                    <input type="hidden" name="id" value=s.id />
                                    <input type="hidden" name="status" value=next.as_str() />
                                    <button type="submit" class="button primary">{label}</button>
                                </ActionForm>
                                {(s.status == ContentStatus::Published)
                                    .then(|| {
                                        view! { <a class="button" href=format!("/items/{}", s.id)>"View as partners see it"</a> }
                                    })}
                            </section>
                            <ContentEditor item=Some(item) tiers />
                        }
                            .into_any()
                    }
                    (Err(error), _) | (_, Err(error)) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn field_error(error: Option<PortalError>, field: &'static str) -> Option<String> {
    error
        .filter(|e| {
            e.field
                .as_deref()
                .is_some_and(|f| f == field || f.starts_with(&format!("{field}[")))
        })
        .map(|e| e.message)
}

/// The item form. Checkbox groups post as `personas[0]`, `personas[1]`… so that the server
/// function receives lists.
#[component]
fn ContentEditor(item: Option<ContentItem>, tiers: Vec<TierBadge>) -> impl IntoView {
    let save = use_context::<ServerAction<SaveContent>>().unwrap_or_default();
    let error = move || save.value().get().and_then(Result::err);
    let saved = move || matches!(save.value().get(), Some(Ok(_)));
    let (id, fields) = match &item {
        Some(item) => (Some(item.summary.id), Some(item.fields())),
        None => (None, None),
    };
    let audience = fields.as_ref().map(|f| f.audience.clone()).unwrap_or_default();
    let room = fields.as_ref().map(|f| f.room);
    let kind = fields.as_ref().map(|f| f.kind);

    let error_for = move |field: &'static str| move || field_error(error(), field);

    view! {
        {move || {
            error()
                .map(|e| {
                    let target = format!("#{}", e.field.clone().unwrap_or_default().split(['.', '[']).next().unwrap_or_default().to_owned());
                    view! {
                        <div class="error-summary" role="alert">
                            <h2>"There is a problem"</h2>
                            <p>
                                <a href=target>{e.field.clone().map(|f| format!("{f}: ")).unwrap_or_default()} {e.message.clone()}</a>
                            </p>
                        </div>
                    }
                })
        }}
        {move || saved().then(|| view! { <p class="notice notice-success" role="status">"Saved."</p> })}
        <ActionForm action=save attr:class="stack editor">
            <CsrfField />
            {id.map(|id| view! { <input type="hidden" name="id" value=id /> })}
            <div class="field">
                <label for="title">"Title"</label>
                <p class="field-error">{error_for("title")}</p>
                <input id="title" name="title" type="text" maxlength="160" required value=fields.as_ref().map(|f| f.title.clone()) />
            </div>
            <div class="field">
                <label for="summary">"Summary"</label>
                <span class="hint">"One or two sentences shown on the card."</span>
                <p class="field-error">{error_for("summary")}</p>
                <textarea id="summary" name="summary" rows="2" maxlength="400" required>
                    {fields.as_ref().map(|f| f.summary.clone())}
                </textarea>
            </div>
            <div class="row">
                <div class="field">
                    <label for="room">"Room"</label>
                    <select id="room" name="room">
                        {Room::ALL
                            .iter()
                            .map(|r| view! { <option value=r.as_str() selected=room == Some(*r)>{r.label()}</option> })
                            .collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="kind">"Kind"</label>
                    <select id="kind" name="kind">
                        {ContentKind::ALL
                            .iter()
                            .map(|k| view! { <option value=k.as_str() selected=kind == Some(*k)>{k.label()}</option> })
                            .collect_view()}
                    </select>
                </div>
            </div>
            <div class="field">
                <label for="body">"Body"</label>
                <span class="hint">"Markdown: headings, lists, tables, links."</span>
                <p class="field-error">{error_for("body")}</p>
                <textarea id="body" name="body" rows="12" required>
                    {fields.as_ref().map(|f| f.body_markdown.clone())}
                </textarea>
            </div>
            <fieldset class="targeting">
                <legend>"Who sees it"</legend>
                <p class="hint">"Leave a group empty to show the item to everyone in it."</p>
                <CheckboxGroup legend="Personas" name="personas" options=Persona::ALL.iter().map(|p| (p.as_str(), p.label(), audience.personas.contains(p))).collect() />
                <CheckboxGroup legend="Partner types" name="partner_types" options=PartnerType::ALL.iter().map(|p| (p.as_str(), p.label(), audience.partner_types.contains(p))).collect() />
                <CheckboxGroup legend="Regions" name="regions" options=Region::ALL.iter().map(|r| (r.as_str(), r.label(), audience.regions.contains(r))).collect() />
                <div class="field">
                    <label for="min_tier">"Lowest tier"</label>
                    <select id="min_tier" name="min_tier">
                        {tiers
                            .into_iter()
                            .map(|t| {
                                let selected = t.rank == audience.min_tier;
                                view! { <option value=t.rank.0.to_string() selected=selected>{t.name} " and above"</option> }
                            })
                            .collect_view()}
                    </select>
                </div>
            </fieldset>
            <button type="submit" class="button primary" disabled=move || save.pending().get()>
                {if id.is_some() { "Save changes" } else { "Save draft" }}
            </button>
        </ActionForm>
    }
}

#[component]
fn CheckboxGroup(
    legend: &'static str,
    name: &'static str,
    options: Vec<(&'static str, &'static str, bool)>,
) -> impl IntoView {
    view! {
        <fieldset class="checks">
            <legend>{legend}</legend>
            {options
                .into_iter()
                .enumerate()
                .map(|(i, (code, label, checked))| {
                    let id = format!("{name}-{code}");
                    let label_for = id.clone();
                    view! {
                        <label class="check" for=label_for>
                            <input type="checkbox" id=id name=format!("{name}[{i}]") value=code checked=checked />
                            {label}
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
    }
}
