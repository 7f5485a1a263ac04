//! A content item.

use crate::api::get_item;
use crate::components::{human_date, id_param, iso_date, ErrorPanel};
use leptos::prelude::*;
use leptos_meta::Title;

/// An item page: title, kind, dates and the rendered (sanitised) body.
#[component]
pub fn ItemPage() -> impl IntoView {
    let id = id_param();
    let item = Resource::new(id, get_item);

    view! {
        <Suspense fallback=|| view! { <article class="item skeleton-item" aria-busy="true"></article> }>
            {move || Suspend::new(async move {
                match item.await {
                    Ok(item) => {
                        let s = item.summary.clone();
                        let back = format!("/rooms/{}", s.room);
                        let chip_class = format!("chip chip-{}", s.kind.as_str());
                        let published = s.published_at;
                        view! {
                            <Title text=s.title.clone() />
                            <nav class="breadcrumb" aria-label="Breadcrumb">
                                <a href=back>"← " {s.room.label()} " room"</a>
                            </nav>
                            <article class="item">
                                <p>
                                    <span class=chip_class>{s.kind.label()}</span>
                                </p>
                                <h1>{s.title.clone()}</h1>
                                <p class="lede">{s.summary.clone()}</p>
                                <p class="meta">
                                    {published
                                        .map(|at| {
                                            view! { "Published " <time datetime=iso_date(at)>{human_date(at)}</time> " · " }
                                        })}
                                    "Updated " <time datetime=iso_date(s.updated_at)>{human_date(s.updated_at)}</time>
                                </p>
                                <div class="prose" inner_html=item.body_html.clone()></div>
                            </article>
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
