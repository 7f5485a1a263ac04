//! "My tier": where the partner stands, what the next tier needs and unlocks, and a what-if
//! calculator answered in the browser by the same rules the server pays with.

use crate::api::get_my_tier;
use crate::components::{CriterionProgress, ErrorPanel, TierBadgeView};
use domain::money::{parse_minor, Currency};
use domain::program::Program;
use domain::scorecard::{PartnerTierView, WhatIf};
use leptos::prelude::*;
use leptos_meta::Title;

/// The partner's own tier page.
#[component]
pub fn TierPage() -> impl IntoView {
    let view = Resource::new(|| (), |_| get_my_tier());
    view! {
        <Title text="My tier" />
        <Suspense fallback=|| view! { <p class="loading">"Loading your tier…"</p> }>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(tier) => view! { <TierPanel tier /> }.into_any(),
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TierPanel(tier: PartnerTierView) -> impl IntoView {
    let next = tier.next.clone();
    let history = tier.history.clone();
    view! {
        <section class="tier-head">
            <div>
                <p class="eyebrow">{tier.partner_name.clone()}</p>
                <h1>"My tier"</h1>
            </div>
            <div class="tier-now">
                <TierBadgeView tier=tier.effective.clone() />
                {tier.override_.clone().map(|o| view! {
                    <p class="hint">
                        "Set by Acme until " {o.ends_on.human()} ": " {o.reason} ". The rules give "
                        {tier.computed.name.clone()} "."
                    </p>
                })}
                {tier.at_risk_until.map(|until| view! {
                    <p class="notice notice-error" role="status">
                        "At risk: below this tier at the last review. Requalify by " {until.human()} " to keep it."
                    </p>
                })}
            </div>
        </section>
        <section class="panel-grid">
            <article class="panel">
                <h2>"Your benefits"</h2>
                <ul class="benefits">
                    {tier.benefits.iter().map(|b| view! { <li>{b.clone()}</li> }).collect_view()}
                </ul>
            </article>
            {match next {
                Some(next) => view! {
                    <article class="panel" aria-labelledby="next-tier">
                        <h2 id="next-tier">"Next: " {next.tier.name.clone()}</h2>
                        <ul class="criteria">
                            {next.criteria.iter().map(|c| view! {
                                <CriterionProgress criterion=c.clone() status_class="criterion-status" />
                            }).collect_view()}
                        </ul>
                        <h3>{next.tier.name.clone()} " unlocks"</h3>
                        <ul class="benefits">
                            {next.unlocks.iter().map(|b| view! { <li>{b.clone()}</li> }).collect_view()}
                        </ul>
                    </article>
                }.into_any(),
                None => view! {
                    <article class="panel"><h2>"Top tier"</h2><p>"You are at the top of the program."</p></article>
                }.into_any(),
            }}
            <WhatIfPanel tier=tier.clone() />
        </section>
        <section class="panel">
            <h2>"Tier history"</h2>
            {if history.is_empty() {
                view! { <p class="hint">"No changes yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-scroll"><table class="history">
                        <thead><tr><th scope="col">"Date"</th><th scope="col">"Change"</th><th scope="col">"Why"</th></tr></thead>
                        <tbody>
                            {history.into_iter().map(|h| view! {
                                <tr>
                                    <td>{h.on.human()}</td>
                                    <td>{h.from.name} " → " {h.to.name}</td>
                                    <td>{cause_label(&h.cause)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                }.into_any()
            }}
        </section>
    }
}

fn cause_label(cause: &str) -> &'static str {
    match cause {
        "upgrade" => "Qualified for a higher tier",
        "review" => "Tier review",
        "override" => "Set by the vendor",
        "override_expired" => "Vendor setting ended",
        _ => "Change",
    }
}

/// Extra revenue, deals and certified people → the tier the partner would qualify for,
/// computed here by the domain crate with no request to the server.
#[component]
fn WhatIfPanel(tier: PartnerTierView) -> impl IntoView {
    let program: Option<Program> = tier.program.validate().ok();
    let currency = Currency::parse(&tier.currency, "currency").unwrap_or(Currency::USD);
    let digits = currency.minor_digits();
    let program = StoredValue::new(program);
    let metrics = StoredValue::new(tier.metrics.clone());
    let (revenue, set_revenue) = signal(String::new());
    let (deals, set_deals) = signal(String::new());
    let (certified, set_certified) = signal(String::new());
    let result = move || -> Result<String, String> {
        let count = |text: String, field: &str| -> Result<i64, String> {
            if text.trim().is_empty() {
                Ok(0)
            } else {
                text.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or(format!("{field}: enter a whole number"))
            }
        };
        let extra_revenue_minor = if revenue.get().trim().is_empty() {
            0
        } else {
            parse_minor(&revenue.get(), digits, "Extra revenue").map_err(|e| e.to_string())?
        };
        let what_if = WhatIf {
            extra_revenue_minor,
            extra_deals: count(deals.get(), "Extra won deals")?,
            extra_certified: count(certified.get(), "Extra certified people")?,
        };
        program.with_value(|program| {
            let program = program.as_ref().ok_or("the program could not be read")?;
            let qualified = metrics
                .with_value(|m| what_if.qualify(&program.ladder, m))
                .qualified;
            Ok(program.ladder.name(qualified).to_owned())
        })
    };
    view! {
        <article class="panel what-if" aria-labelledby="what-if">
            <h2 id="what-if">"What if…"</h2>
            <p class="hint">"Add to this year's numbers and see the tier you would reach. Nothing is sent anywhere."</p>
            <div class="field">
                <label for="wi-revenue">"Extra revenue (" {tier.currency.clone()} ")"</label>
                <input id="wi-revenue" type="text" inputmode="decimal" placeholder="40000.00"
                    on:input=move |ev| set_revenue.set(event_target_value(&ev)) />
            </div>
            <div class="field">
                <label for="wi-deals">"Extra won deals"</label>
                <input id="wi-deals" type="text" inputmode="numeric" placeholder="0"
                    on:input=move |ev| set_deals.set(event_target_value(&ev)) />
            </div>
            <div class="field">
                <label for="wi-certified">"Extra certified people"</label>
                <input id="wi-certified" type="text" inputmode="numeric" placeholder="0"
                    on:input=move |ev| set_certified.set(event_target_value(&ev)) />
            </div>
            <p class="what-if-result" aria-live="polite" data-testid="what-if-result">
                {move || match result() {
                    Ok(name) => format!("You would qualify for {name}."),
                    Err(message) => message,
                }}
            </p>
        </article>
    }
}
