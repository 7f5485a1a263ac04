//! The signed-in user's profile.

use crate::components::{MeResource, TierBadgeView};
use leptos::prelude::*;
use leptos_meta::Title;

/// "Me": who you are signed in as, your organisation and its tier.
#[component]
pub fn MePage() -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    view! {
        <Title text="Me" />
        <Suspense fallback=|| view! { <p class="loading">"Loading your profile…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(me)) => {
                        let org = me.organisation.clone();
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
                                <p class="me-links">
                                    <a class="button" href=me.home_path.clone()>"Back to your room"</a>
                                    {me.role.is_partner().then(|| view! {
                                        <a class="button" href="/tier">"My tier"</a>
                                        <a class="button" href="/rebates">"Rebate statements"</a>
                                    })}
                                </p>
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
