//! `/dashboard`: the vendor's channel dashboard, with filters and a CSV export of every table.

use crate::api::get_dashboard;
use crate::components::ErrorPanel;
use domain::dashboard::{ChannelDashboard, RevenueRow};
use domain::identity::{PartnerType, Region};
use domain::money::format_minor;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The dashboard page; the filters are a plain GET form, so every view has its own address.
#[component]
pub fn DashboardPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).unwrap_or_default();
    let dashboard = Resource::new(
        move || (param("period"), param("region"), param("type"), param("tier")),
        |(period, region, partner_type, tier)| get_dashboard(period, region, partner_type, tier),
    );
    view! {
        <Title text="Channel dashboard" />
        <section class="studio-head"><h1>"Channel dashboard"</h1></section>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let filters = format!(
                    "period={}&region={}&type={}&tier={}",
                    param("period"), param("region"), param("type"), param("tier")
                );
                let current = [param("period"), param("region"), param("type"), param("tier")];
                match dashboard.await {
                    Ok(d) => view! { <DashboardView d filters current /> }.into_any(),
                    Err(error) => view! {
                        <ErrorPanel error under_heading=true />
                        <p><a class="button" href="/dashboard">"Show the current period, unfiltered"</a></p>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

fn export_link(table: &'static str, filters: &str) -> impl IntoView {
    view! {
        <a class="export" href=format!("/api/v1/dashboard/export/{table}?{filters}") download="">"Export CSV"</a>
    }
}

#[component]
fn RevenueTable(
    title: &'static str,
    table: &'static str,
    rows: Vec<RevenueRow>,
    digits: u32,
    filters: String,
) -> impl IntoView {
    let max = rows.iter().map(|r| r.revenue).max().unwrap_or(0).max(1);
    view! {
        <article class="panel">
            <div class="panel-head"><h2>{title}</h2>{export_link(table, &filters)}</div>
            <div class="table-scroll"><table class="history" data-testid=table>
                <thead><tr><th scope="col">"Group"</th><th scope="col" class="num">"Partners"</th><th scope="col" class="num">"Revenue"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| {
                        let width = format!("width: {}%", i128::from(r.revenue.max(0)) * 100 / i128::from(max));
                        view! {
                            <tr>
                                <td>{r.label}</td><td class="num">{r.partners}</td>
                                // The bar under the figure compares the groups at a glance; it
                                // takes no column of its own, so the table fits a third of a desktop.
                                <td class="num">
                                    {format_minor(r.revenue, digits)}
                                    <span class="bar share" aria-hidden="true"><span style=width></span></span>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table></div>
        </article>
    }
}

#[component]
fn DashboardView(d: ChannelDashboard, filters: String, current: [String; 4]) -> impl IntoView {
    let digits = d.minor_digits;
    let hours = |h: Option<f64>| h.map_or_else(|| "—".to_owned(), |h| format!("{h:.1} h"));
    view! {
        <form method="get" class="filter" role="search" aria-label="Filter the dashboard">
            <div class="field">
                <label for="period">"Period"</label>
                <input id="period" name="period" type="text" placeholder="2026-Q4" value=current[0].clone() size="8" />
            </div>
            <div class="field">
                <label for="region">"Region"</label>
                <select id="region" name="region">
                    <option value="">"All"</option>
                    {Region::ALL.iter().map(|r| view! {
                        <option value=r.as_str() selected=current[1] == r.as_str()>{r.label()}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="type">"Partner type"</label>
                <select id="type" name="type">
                    <option value="">"All"</option>
                    {PartnerType::ALL.iter().map(|t| view! {
                        <option value=t.as_str() selected=current[2] == t.as_str()>{t.label()}</option>
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="tier">"Tier"</label>
                <select id="tier" name="tier">
                    <option value="">"All"</option>
                    {d.tiers.iter().map(|t| {
                        let rank = t.rank.0.to_string();
                        view! { <option value=rank.clone() selected=current[3] == rank>{t.name.clone()}</option> }
                    }).collect_view()}
                </select>
            </div>
            <button type="submit" class="button">"Show"</button>
        </form>
        <p class="lead" data-testid="dashboard-summary">
            {d.period.clone()} ": " {d.partners} " partners, " {d.currency.clone()} " " {format_minor(d.revenue, digits)} " revenue ("
            {d.from.human()} " – " {d.to.human()} ")"
        </p>
        <section class="panel-grid">
            <RevenueTable title="Revenue by tier" table="revenue-by-tier" rows=d.by_tier.clone() digits filters=filters.clone() />
            <RevenueTable title="Revenue by partner type" table="revenue-by-type" rows=d.by_type.clone() digits filters=filters.clone() />
            <RevenueTable title="Revenue by region" table="revenue-by-region" rows=d.by_region.clone() digits filters=filters.clone() />
        </section>
        <section class="panel-grid panel-grid-2">
            <article class="panel">
                <div class="panel-head"><h2>"Within reach of the next tier"</h2>{export_link("within-reach", &filters)}</div>
                {if d.within_reach.is_empty() {
                    view! { <p class="hint">"No partner has every criterion of its next tier at 80 % or more."</p> }.into_any()
                } else {
                    view! {
                        <div class="table-scroll"><table class="history" data-testid="within-reach">
                            <thead><tr><th scope="col">"Partner"</th><th scope="col">"Next"</th><th scope="col">"Still needed"</th></tr></thead>
                            <tbody>
                                {d.within_reach.iter().map(|r| view! {
                                    <tr>
                                        <td><a href=format!("/partners/{}/scorecard", r.partner_id)>{r.name.clone()}</a></td>
                                        <td>{r.tier.name.clone()} " → " {r.next_tier.name.clone()}</td>
                                        <td>{r.weakest.clone()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any()
                }}
            </article>
            <article class="panel">
                <div class="panel-head"><h2>"At risk of downgrade"</h2>{export_link("at-risk", &filters)}</div>
                {if d.at_risk.is_empty() {
                    view! { <p class="hint">"Every partner holds its tier."</p> }.into_any()
                } else {
                    view! {
                        <div class="table-scroll"><table class="history" data-testid="at-risk">
                            <thead><tr><th scope="col">"Partner"</th><th scope="col">"Tier"</th><th scope="col">"Qualifies for"</th><th scope="col">"Keeps it until"</th></tr></thead>
                            <tbody>
                                {d.at_risk.iter().map(|r| view! {
                                    <tr>
                                        <td><a href=format!("/partners/{}/scorecard", r.partner_id)>{r.name.clone()}</a></td>
                                        <td>{r.tier.name.clone()}</td><td>{r.qualified.name.clone()}</td>
                                        <td>{r.at_risk_until.map_or_else(|| "next review".to_owned(), |d| d.human())}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any()
                }}
            </article>
            <article class="panel panel-wide">
                <div class="panel-head"><h2>"Approvals"</h2>{export_link("approvals", &filters)}</div>
                <div class="table-scroll"><table class="history" data-testid="approvals">
                    <thead><tr><th scope="col">"Approval"</th><th scope="col" class="num">"Decided"</th><th scope="col" class="num">"Waiting"</th><th scope="col" class="num">"Median"</th><th scope="col" class="num">"p90"</th><th scope="col" class="num">"Breaches"</th></tr></thead>
                    <tbody>
                        {d.approvals.iter().map(|t| view! {
                            <tr>
                                <td>{t.workflow.clone()}</td><td class="num">{t.decided}</td><td class="num">{t.open}</td>
                                <td class="num">{hours(t.median_hours)}</td><td class="num">{hours(t.p90_hours)}</td><td class="num">{t.breaches}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table></div>
            </article>
        </section>
    }
}
