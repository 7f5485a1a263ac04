//! `/audit`: the audit log for vendor admins and finance — who imported what, who approved and
//! paid what, and every other change, with the values before and after.

use crate::api::get_audit;
use crate::components::{human_date_time, query_value, ErrorPanel};
use domain::audit::{AuditPage as Page, AuditRecord, ACTION_FAMILIES};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The log, newest first; the filters are a plain GET form, so every view has its own address.
#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).unwrap_or_default();
    let page = Resource::new(
        move || {
            (
                param("action"),
                param("entity_type"),
                param("entity_id"),
                param("before"),
            )
        },
        |(action, entity_type, entity_id, before)| get_audit(action, entity_type, entity_id, before),
    );
    view! {
        <Title text="Audit log" />
        <section class="studio-head"><h1>"Audit log"</h1></section>
        <p class="lead">"Every change, who made it and when, with the values before and after."</p>
        <form method="get" class="filter" role="search" aria-label="Filter the audit log">
            <div class="field">
                <label for="action">"What"</label>
                <select id="action" name="action">
                    <option value="">"Everything"</option>
                    {move || {
                        let current = param("action");
                        ACTION_FAMILIES.iter().map(|(prefix, label)| view! {
                            <option value=*prefix selected=current == *prefix>{*label}</option>
                        }).collect_view()
                    }}
                </select>
            </div>
            <div class="field">
                <label for="entity_type">"Kind of record"</label>
                <input id="entity_type" name="entity_type" type="text" placeholder="rebate_statement"
                    size="16" value=param("entity_type") />
            </div>
            <div class="field">
                <label for="entity_id">"Record id"</label>
                <input id="entity_id" name="entity_id" type="text" size="10" value=param("entity_id") />
            </div>
            <button type="submit" class="button">"Show"</button>
        </form>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let filters = format!(
                    "action={}&entity_type={}&entity_id={}",
                    query_value(&param("action")), query_value(&param("entity_type")), query_value(&param("entity_id"))
                );
                match page.await {
                    Ok(page) => {
                        let paged = !param("before").is_empty();
                        view! { <AuditTable page filters paged /> }.into_any()
                    }
                    Err(error) => view! { <ErrorPanel error under_heading=true /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AuditTable(
    page: Page,
    filters: String,
    /// Whether this is an older page (`before` was given).
    paged: bool,
) -> impl IntoView {
    if page.entries.is_empty() {
        return view! { <p class="empty" data-testid="audit-empty">"Nothing recorded matches."</p> }
            .into_any();
    }
    let older = page
        .older
        .map(|before| format!("/audit?{filters}&before={before}"));
    // Past the first page, a way back to the newest entries under the same filters.
    let newest = paged.then(|| format!("/audit?{filters}"));
    view! {
        // Explicit roles: on narrow screens the rows are laid out as cards.
        <div class="table-scroll"><table class="history audit" role="table" data-testid="audit-log">
            <caption class="visually-hidden">"Audit log entries, newest first"</caption>
            <thead role="rowgroup"><tr role="row">
                <th scope="col" role="columnheader">"When"</th><th scope="col" role="columnheader">"Who"</th>
                <th scope="col" role="columnheader">"What"</th><th scope="col" role="columnheader">"Record"</th>
                <th scope="col" role="columnheader">"Before"</th><th scope="col" role="columnheader">"After"</th>
            </tr></thead>
            <tbody role="rowgroup">
                {page.entries.into_iter().map(|entry| view! { <AuditRow entry /> }).collect_view()}
            </tbody>
        </table></div>
        {(older.is_some() || newest.is_some()).then(|| view! {
            <p class="pager">
                {newest.map(|href| view! { <a class="button" href=href>"Newest entries"</a> })}
                {older.map(|href| view! { <a class="button" href=href>"Older entries"</a> })}
            </p>
        })}
    }
    .into_any()
}

#[component]
fn AuditRow(entry: AuditRecord) -> impl IntoView {
    let (before, after) = (entry.before_text(), entry.after_text());
    view! {
        <tr role="row">
            <td role="cell" class="when" data-label="When">{human_date_time(entry.occurred_at)}</td>
            <td role="cell" class="who" data-label="Who">{entry.actor_label().to_owned()}</td>
            <td role="cell" class="what" data-label="What"><code>{entry.action.clone()}</code></td>
            <td role="cell" data-label="Record">{format!("{} {}", entry.entity_type, entry.entity_id)}</td>
            <td role="cell" class="json" data-label="Before"><code>{before}</code></td>
            <td role="cell" class="json" data-label="After"><code>{after}</code></td>
        </tr>
    }
}
