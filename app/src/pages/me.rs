//! The signed-in user's profile.

use crate::components::{in_tab_bar, me_resource, room_links, TierBadgeView};
use leptos::prelude::*;
use leptos_meta::Title;

/// "Me": who you are signed in as, your organisation and its tier, and on phones the way to
/// every section the bottom tab bar has no room for.
#[component]
pub fn MePage() -> impl IntoView {
    let me = me_resource();
    view! {
        <Title text="Me" />
        <Suspense fallback=|| view! { <p class="loading">"Loading your profile…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) => {
                        let org = me.organisation.clone();
                        let more: Vec<_> = room_links(&me).into_iter().filter(|(href, _)| !in_tab_bar(href)).collect();
                        view! {
                            <section class="panel">
                                <h1>{me.display_name.clone()}</h1>
                                <dl class="facts">
                                    <dt>"E-mail"</dt>
                                    <dd>{me.email.clone()}</dd>
                                    <dt>"Role"</dt>
                                    <dd>{me.role.label()}</dd>
                                    {me.persona.map(|p| view! { <dt>"Persona"</dt><dd>{p.label()}</dd> })}
                                    <dt>"Organisation"</dt>
                                    <dd>{org.name.clone()}</dd>
                                    {org.partner_type.map(|t| view! { <dt>"Partner type"</dt><dd>{t.label()}</dd> })}
                                    {org.region.map(|r| view! { <dt>"Region"</dt><dd>{r.label()}</dd> })}
                                    {org.tier.clone().map(|tier| view! { <dt>"Tier"</dt><dd><TierBadgeView tier /></dd> })}
                                </dl>
                                <nav aria-label="Your sections">
                                    <ul class="me-links">
                                        {more
                                            .into_iter()
                                            .map(|(href, label)| view! { <li><a class="button" href=href>{label}</a></li> })
                                            .collect_view()}
                                    </ul>
                                </nav>
                            </section>
                        }
                            .into_any()
                    }
                    _ => view! { <p>"You are not signed in. " <a href="/login">"Sign in"</a></p> }.into_any(),
                }
            })}
        </Suspense>
    }
}
