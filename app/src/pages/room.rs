//! A room: the items for the viewer's role, with search-as-you-type.

use crate::api::{get_room, get_scorecard};
use crate::components::{me_resource, CardSkeleton, ContentCard, ErrorPanel, TierBadgeView};
use domain::content::{ContentKind, ContentSummary};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// A room page. The filter is a plain GET form before hydration (the server filters) and
/// filters instantly as you type afterwards, with the same rule either way.
#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let listing = Resource::new(slug, get_room);

    let query = use_query_map();
    let (text, set_text) = signal(query.read_untracked().get("q").unwrap_or_default());
    let (kind, set_kind) = signal(
        query
            .read_untracked()
            .get("kind")
            .and_then(|k| ContentKind::parse(&k, "kind").ok()),
    );
    let me = me_resource();
    // The compact scorecard (partners only; vendor staff get none) is read with the items and
    // follows live updates.
    let card = Resource::new(|| None::<i64>, get_scorecard);
    super::scorecard::follow_live_updates(super::scorecard::scorecard_partner(card), move || card.refetch());

    view! {
        <Transition fallback=move || view! { <CardSkeleton /> }>
            {move || Suspend::new(async move {
                let me = me.await.ok().flatten();
                let card = card.await.ok().flatten();
                match listing.await {
                    Ok(listing) => {
                        let total = listing.items.len();
                        let items = StoredValue::new(listing.items);
                        let visible = move || -> Vec<ContentSummary> {
                            items.with_value(|items| {
                                items.iter().filter(|i| i.matches(&text.get(), kind.get())).cloned().collect()
                            })
                        };
                        let greeting = me.as_ref().map(|me| {
                            let first = me.display_name.split_whitespace().next().unwrap_or_default().to_owned();
                            format!("Welcome back, {first}.")
                        });
                        let org = me.as_ref().filter(|me| me.role.is_partner()).map(|me| me.organisation.clone());
                        view! {
                            <Title text=listing.title.clone() />
                            <section class="room-head">
                                <div>
                                    <p class="eyebrow">{greeting}</p>
                                    <h1>{listing.title.clone()} " room"</h1>
                                    <p class="tagline">{listing.tagline.clone()}</p>
                                </div>
                                {org
                                    .map(|org| {
                                        view! {
                                            <a class="scorecard-mini" href="/tier" aria-label="Your tier: see your progress">
                                                <span class="scorecard-label">{org.name.clone()}</span>
                                                {org.tier.clone().map(|tier| view! { <TierBadgeView tier /> })}
                                                <span class="scorecard-link">"My tier →"</span>
                                            </a>
                                        }
                                    })}
                            </section>
                            {card.map(|card| view! { <super::ScorecardPanel card /> })}
                            <form class="filter" method="get" role="search" on:submit=|ev| ev.prevent_default()>
                                <div class="field grow">
                                    <label for="q">"Filter this room"</label>
                                    <input
                                        id="q"
                                        name="q"
                                        type="search"
                                        placeholder="Try “battlecard” or “Globex”"
                                        autocomplete="off"
                                        prop:value=move || text.get()
                                        on:input=move |ev| set_text.set(event_target_value(&ev))
                                    />
                                </div>
                                <div class="field">
                                    <label for="kind">"Kind"</label>
                                    <select
                                        id="kind"
                                        name="kind"
                                        on:change=move |ev| {
                                            set_kind.set(ContentKind::parse(&event_target_value(&ev), "kind").ok())
                                        }
                                    >
                                        <option value="" selected=move || kind.get().is_none()>
                                            "All kinds"
                                        </option>
                                        {ContentKind::ALL
                                            .iter()
                                            .map(|k| {
                                                let k = *k;
                                                view! {
                                                    <option value=k.as_str() selected=move || kind.get() == Some(k)>
                                                        {k.label()}
                                                    </option>
                                                }
                                            })
                                            .collect_view()}
                                    </select>
                                </div>
                                <noscript>
                                    <button type="submit" class="button">
                                        "Filter"
                                    </button>
                                </noscript>
                            </form>
                            <p class="count" aria-live="polite" data-testid="item-count">
                                {move || {
                                    let shown = visible().len();
                                    if shown == total {
                                        format!("{total} items")
                                    } else {
                                        format!("Showing {shown} of {total} items")
                                    }
                                }}
                            </p>
                            {move || {
                                let shown = visible();
                                if total == 0 {
                                    view! { <p class="empty">"No items for your role yet. New content appears here as soon as it is published."</p> }
                                        .into_any()
                                } else if shown.is_empty() {
                                    view! { <p class="empty">"Nothing matches your filter."</p> }.into_any()
                                } else {
                                    view! {
                                        <ul class="cards">
                                            {shown.into_iter().map(|item| view! { <ContentCard item /> }).collect_view()}
                                        </ul>
                                    }
                                        .into_any()
                                }
                            }}
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
    }
}
