//! The partner scorecard: where the partner stands and what the next step earns, updated live
//! (Server-Sent Events) when sales, deals, certifications, tiers or statements change.

use crate::api::get_scorecard;
use crate::components::{human_date, CriterionProgress, ErrorPanel, TierBadgeView};
use domain::money::format_minor;
use domain::scorecard::{AgainstTarget, DealFunnel, MonthRevenue, Scorecard};
use leptos::prelude::*;
use leptos_meta::Title;

/// Calls `refetch` whenever the partner's live stream says its figures changed (and on
/// every (re)connection, which catches up on anything missed while disconnected).
pub(crate) fn follow_live_updates(
    partner_id: Memo<Option<i64>>,
    refetch: impl Fn() + Copy + Send + Sync + 'static,
) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        // The open stream and its listeners; closed when the partner changes or the page goes.
        type Listener = Closure<dyn FnMut(web_sys::Event)>;
        type Live = (web_sys::EventSource, Listener, Listener, Listener);
        let current = StoredValue::new_local(None::<Live>);
        // Bumped to open the stream again after the browser gave up on it.
        let attempt = RwSignal::new(0u32);
        let set_live = |on: bool| {
            if let Some(body) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.body())
            {
                let _ = body.set_attribute("data-live", if on { "on" } else { "off" });
            }
        };
        let close = move || {
            if let Some((source, ..)) = current.try_update_value(Option::take).flatten() {
                source.close();
            }
        };
        Effect::new(move |_| {
            attempt.track();
            close();
            let Some(id) = partner_id.get() else { return };
            let Ok(source) = web_sys::EventSource::new(&format!("/api/v1/partners/{id}/scorecard/stream"))
            else {
                return;
            };
            let on_change = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| refetch());
            for name in ["scorecard", "resync"] {
                let _ = source.add_event_listener_with_callback(name, on_change.as_ref().unchecked_ref());
            }
            // `ready` arrives on every (re)connection: fetch then, so whatever changed before the
            // stream was open (or while it was down) shows. It also tells tests the page is live.
            let on_ready = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                refetch();
                set_live(true);
            });
            let _ = source.add_event_listener_with_callback("ready", on_ready.as_ref().unchecked_ref());
            // A dropped connection is retried by the browser itself; an error answer (an instance
            // restarting behind a load balancer, say) makes it give up for good. Then the page
            // says it is not live and, a little later, opens the stream again if the session is
            // still signed in (a signed-out or expired session is not retried).
            let watched = source.clone();
            let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                if watched.ready_state() == web_sys::EventSource::CLOSED {
                    set_live(false);
                    set_timeout(
                        move || {
                            leptos::task::spawn_local(async move {
                                if let Ok(Some(_)) = crate::api::current_user().await {
                                    attempt.update(|n| *n += 1);
                                }
                            });
                        },
                        std::time::Duration::from_secs(5),
                    );
                }
            });
            let _ = source.add_event_listener_with_callback("error", on_error.as_ref().unchecked_ref());
            current.set_value(Some((source, on_change, on_ready, on_error)));
        });
        on_cleanup(close);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (partner_id, refetch);
}

/// `/scorecard` (the partner's own) and `/partners/:id/scorecard` (vendor staff, a
/// distributor's admins for their resellers).
#[component]
pub fn ScorecardPage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let requested = move || params.read().get("id").map(|id| id.parse::<i64>().unwrap_or(-1));
    let scorecard = Resource::new(requested, get_scorecard);
    follow_live_updates(scorecard_partner(scorecard), move || scorecard.refetch());
    view! {
        <Title text="Scorecard" />
        <Transition fallback=|| view! { <p class="loading">"Loading the scorecard…"</p> }>
            {move || Suspend::new(async move {
                match scorecard.await {
                    Ok(Some(card)) => view! { <ScorecardView card /> }.into_any(),
                    Ok(None) => view! {
                        <ErrorPanel error=crate::api::PortalError {
                            code: "not_found".into(),
                            message: "vendor staff open a partner's scorecard from the channel dashboard".into(),
                            field: None,
                        } />
                    }.into_any(),
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn money(minor: i64, digits: u32) -> String {
    format_minor(minor, digits)
}

#[component]
fn TargetBar(target: AgainstTarget, digits: u32, testid: &'static str) -> impl IntoView {
    let percent = target.percent();
    let Some(goal) = target.target else {
        // Without a revenue criterion in the program there is nothing to measure against.
        return view! {
            <div class="target">
                <p class="criterion-label">{target.label.clone()}</p>
                <p class="figure" data-testid=testid>{money(target.value, digits)}</p>
                <p class="hint">"The program sets no revenue target for this tier."</p>
            </div>
        }
        .into_any();
    };
    let text = format!(
        "{} of {} ({percent} %)",
        money(target.value, digits),
        money(goal, digits)
    );
    view! {
        <div class="target">
            <p class="criterion-label">{target.label.clone()}</p>
            <p class="figure" data-testid=testid>{money(target.value, digits)}</p>
            <div class="bar" role="progressbar" aria-label=target.label aria-valuemin="0" aria-valuemax="100"
                aria-valuenow=percent aria-valuetext=text.clone()>
                <span style=format!("width: {percent}%")></span>
            </div>
            <p class="hint">{text}</p>
        </div>
    }
    .into_any()
}

/// Twelve months of revenue as bars, with the same figures in a table for screen readers.
#[component]
fn RevenueChart(months: Vec<MonthRevenue>, digits: u32, currency: String) -> impl IntoView {
    const WIDTH: i64 = 360;
    const HEIGHT: i64 = 150;
    const BASE: i64 = 128;
    let max = months.iter().map(|m| m.revenue).max().unwrap_or(0).max(1);
    let slot = WIDTH / months.len().max(1) as i64;
    let summary = format!(
        "Revenue per month over the last 12 months; highest {} {}.",
        money(max, digits),
        currency
    );
    let bars = months
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let h = (i128::from(m.revenue.max(0)) * i128::from(BASE - 8) / i128::from(max)) as i64;
            let x = i as i64 * slot + 4;
            let label = m.month.human();
            let initial = label.split(' ').nth(1).unwrap_or_default().chars().next().unwrap_or(' ').to_string();
            view! {
                <g>
                    <rect x=x y=BASE - h width=slot - 8 height=h.max(1) rx="2" class="chart-bar">
                        <title>{format!("{}: {}", &label[label.find(' ').map_or(0, |p| p + 1)..], money(m.revenue, digits))}</title>
                    </rect>
                    <text x=x + (slot - 8) / 2 y=HEIGHT - 6 text-anchor="middle" class="chart-label">{initial}</text>
                </g>
            }
        })
        .collect_view();
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label=summary.clone() preserveAspectRatio="xMidYMid meet">
                <line x1="0" y1=BASE x2=WIDTH y2=BASE class="chart-axis" />
                {bars}
            </svg>
            <figcaption>
                <details>
                    <summary>"Revenue per month (table)"</summary>
                    <div class="table-scroll"><table class="history">
                        <thead><tr><th scope="col">"Month"</th><th scope="col" class="num">{format!("Revenue ({currency})")}</th></tr></thead>
                        <tbody>
                            {months.into_iter().map(|m| {
                                let label = m.month.human();
                                view! {
                                    <tr><td>{label[label.find(' ').map_or(0, |p| p + 1)..].to_owned()}</td><td class="num">{money(m.revenue, digits)}</td></tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table></div>
                </details>
            </figcaption>
        </figure>
    }
}

/// The deal funnel as horizontal bars, each labelled with its count.
#[component]
fn FunnelChart(funnel: DealFunnel) -> impl IntoView {
    let rows = [
        ("Waiting for a decision", funnel.submitted),
        ("Approved and protected", funnel.approved),
        ("Won", funnel.won),
        ("Lost", funnel.lost),
        ("Protection ends this week", funnel.expiring_this_week),
    ];
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    view! {
        <ul class="funnel" data-testid="deal-funnel">
            {rows.into_iter().map(|(label, n)| {
                let width = format!("width: {}%", (n * 100 / max).max(if n > 0 { 4 } else { 0 }));
                view! {
                    <li>
                        <span class="funnel-label">{label}</span>
                        <span class="funnel-track" aria-hidden="true"><span class="funnel-bar" style=width></span></span>
                        <span class="funnel-count">{n}</span>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

#[component]
fn ScorecardView(card: Scorecard) -> impl IntoView {
    let digits = card.minor_digits;
    let tier = card.tier.clone();
    let currency = tier.currency.clone();
    view! {
        <section class="tier-head">
            <div>
                <p class="eyebrow">{tier.partner_name.clone()}</p>
                <h1>"Scorecard"</h1>
                <p class="hint" data-testid="computed-at">"Updated " {human_date(card.computed_at)} " · live"</p>
            </div>
            <div class="tier-now">
                <TierBadgeView tier=tier.effective.clone() />
                {tier.at_risk_until.map(|until| view! {
                    <p class="notice notice-error" role="status">"At risk: requalify by " {until.human()} "."</p>
                })}
            </div>
        </section>
        <section class="panel-grid scorecard-grid">
            <article class="panel">
                <h2>"Revenue"</h2>
                <TargetBar target=card.revenue_quarter.clone() digits testid="revenue-quarter" />
                <TargetBar target=card.revenue_trailing_12.clone() digits testid="revenue-trailing-12" />
                <RevenueChart months=card.monthly_revenue.clone() digits currency=currency.clone() />
            </article>
            {next_panel(&tier)}
            {rebate_panel(&card)}
            {deals_and_certifications(&card)}
            {history_panel(&tier)}
        </section>
        {resellers_panel(&card)}
    }
}

fn next_panel(tier: &domain::scorecard::PartnerTierView) -> AnyView {
    let tier = tier.clone();
    view! {
            <article class="panel" aria-labelledby="next-tier">
                {match tier.next.clone() {
                    Some(next) => view! {
                        <h2 id="next-tier">"Next: " {next.tier.name.clone()}</h2>
                        <ul class="criteria" data-testid="progress">
                            {next.criteria.into_iter().map(|c| view! {
                                <CriterionProgress criterion=c status_class="hint" />
                            }).collect_view()}
                        </ul>
                        {(!next.unlocks.is_empty()).then(|| view! {
                            <p class="hint">"Unlocks: " {next.unlocks.join("; ")}</p>
                        })}
                    }.into_any(),
                    None => view! { <h2 id="next-tier">"Top tier"</h2><p>"You are at the top of the program."</p> }.into_any(),
                }}
                <h3>"Your benefits"</h3>
                <ul class="benefits">{tier.benefits.iter().map(|b| view! { <li>{b.clone()}</li> }).collect_view()}</ul>
            </article>
    }
    .into_any()
}

/// The period's last day as people read it (`30 Jun 2026`).
pub(crate) fn forecast_end(iso: &str) -> String {
    domain::calendar::Date::parse(iso, "period_ends").map_or_else(|_| iso.to_owned(), |d| d.human())
}

fn rebate_panel(card: &Scorecard) -> AnyView {
    let digits = card.minor_digits;
    view! {
            <article class="panel">
                <h2>"Rebates"</h2>
                <p class="criterion-label">"Earned this year"</p>
                <p class="figure" data-testid="rebate-earned">{money(card.rebate_earned, digits)}</p>
                <p class="hint">"Approved and paid statements of this fiscal year."</p>
                {match card.rebate_forecast.clone() {
                    Some(f) if f.restatements_only => view! {
                        <p class="criterion-label">"This period so far (" {f.period.clone()} ")"</p>
                        <p class="figure" data-testid="rebate-forecast">{money(f.total, digits)}</p>
                        <p class="hint">"No rebate plan this period: restatements of earlier approved periods only."</p>
                    }.into_any(),
                    Some(f) => view! {
                        <p class="criterion-label">"This period so far (" {f.period.clone()} ")"</p>
                        <p class="figure" data-testid="rebate-forecast">{money(f.total, digits)}</p>
                        <p class="hint">{f.plan_name.clone()} " on " {money(f.basis, digits)} " of sales."</p>
                        <p class="criterion-label">"Forecast for the period"</p>
                        <p class="figure" data-testid="rebate-projection">{money(f.projected_total, digits)}</p>
                        <p class="hint">
                            "If sales go on at this pace until " {forecast_end(&f.period_ends)} " ("
                            {money(f.projected_basis, digits)} " of sales)."
                        </p>
                    }.into_any(),
                    None => view! { <p class="hint" data-testid="rebate-forecast">"No rebate plan applies to this partner this period."</p> }.into_any(),
                }}
            </article>
    }
    .into_any()
}

fn deals_and_certifications(card: &Scorecard) -> AnyView {
    view! {
            <article class="panel">
                <h2>"Deals"</h2>
                <FunnelChart funnel=card.deals />
                <p><a href="/deals">"My deals →"</a></p>
            </article>
            <article class="panel">
                <h2>"Certifications"</h2>
                <p><span class="figure" data-testid="certified-people">{card.certified_people}</span> " certified people · "
                    {card.valid_certifications} " valid certifications"</p>
                {if card.expiring_certifications.is_empty() {
                    view! { <p class="hint">"None expires in the next 60 days."</p> }.into_any()
                } else {
                    view! {
                        <ul class="benefits">
                            {card.expiring_certifications.iter().map(|c| view! {
                                <li>{c.person.clone()} ", " {c.code.clone()} ": expires " {c.expires_on.human()}</li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </article>
    }
    .into_any()
}

fn history_panel(tier: &domain::scorecard::PartnerTierView) -> AnyView {
    view! {
            <article class="panel">
                <h2>"Tier history"</h2>
                {if tier.history.is_empty() {
                    view! { <p class="hint">"No changes yet."</p> }.into_any()
                } else {
                    view! {
                        <ol class="timeline">
                            {tier.history.iter().map(|h| view! {
                                <li>{h.on.human()} ": " {h.from.name.clone()} " → " {h.to.name.clone()} " (" {h.cause.clone()} ")"</li>
                            }).collect_view()}
                        </ol>
                    }.into_any()
                }}
            </article>
    }
    .into_any()
}

fn resellers_panel(card: &Scorecard) -> AnyView {
    let digits = card.minor_digits;
    (!card.resellers.is_empty()).then(|| view! {
            <section class="panel" aria-labelledby="resellers">
                <h2 id="resellers">"Your resellers"</h2>
                <div class="table-scroll"><table class="history" data-testid="resellers">
                    <thead><tr>
                        <th scope="col">"Reseller"</th><th scope="col">"Tier"</th>
                        <th scope="col" class="num">"Quarter"</th><th scope="col" class="num">"12 months"</th>
                        <th scope="col" class="num">"Open deals"</th>
                    </tr></thead>
                    <tbody>
                        {card.resellers.iter().map(|r| view! {
                            <tr>
                                <td><a href=format!("/partners/{}/scorecard", r.partner_id)>{r.name.clone()}</a></td>
                                <td>{r.tier.name.clone()}</td>
                                <td class="num">{money(r.revenue_quarter, digits)}</td>
                                <td class="num">{money(r.revenue_trailing_12, digits)}</td>
                                <td class="num">{r.open_deals}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table></div>
            </section>
        })
        .into_any()
}

/// The partner of a loaded scorecard, kept while a refetch is in flight so the stream stays open.
pub(crate) fn scorecard_partner(
    scorecard: Resource<Result<Option<Scorecard>, crate::api::PortalError>>,
) -> Memo<Option<i64>> {
    Memo::new(move |previous: Option<&Option<i64>>| {
        scorecard
            .get()
            .and_then(|r| r.ok().flatten())
            .map(|s| s.tier.partner_id)
            .or(previous.copied().flatten())
    })
}

/// The compact scorecard in every room: 12-month revenue against target, the rebate so far
/// and open deals. The room loads it with its items and keeps it live.
#[component]
pub fn ScorecardPanel(card: Scorecard) -> impl IntoView {
    let digits = card.minor_digits;
    let t12 = card.revenue_trailing_12.clone();
    let percent = t12.percent();
    let open = card.deals.submitted + card.deals.approved;
    view! {
        <a class="scorecard-panel" href="/scorecard">
            <span class="panel-stat">
                <span class="criterion-label">"12-month revenue"</span>
                <span class="figure" data-testid="panel-revenue">{money(t12.value, digits)}</span>
                {t12.target.is_some().then(|| view! {
                    <span class="bar" aria-hidden="true"><span style=format!("width: {percent}%")></span></span>
                })}
            </span>
            <span class="panel-stat">
                <span class="criterion-label">"Rebate this period"</span>
                <span class="figure">{card.rebate_forecast.as_ref().map_or_else(|| "—".to_owned(), |f| money(f.total, digits))}</span>
            </span>
            <span class="panel-stat">
                <span class="criterion-label">"Open deals"</span>
                <span class="figure">{open}</span>
            </span>
            <span class="scorecard-link">"Scorecard →"</span>
        </a>
    }
}
