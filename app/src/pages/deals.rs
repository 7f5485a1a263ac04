//! Deal registration: the partner's "My deals" and registration form, the channel manager's
//! queue with conflicts side by side, one registration with its history, and the turnaround
//! report.

use crate::api::{
    get_deal, get_deal_form, get_deals_overview, preview_customer_key, DealAction, DealsOverview,
    RegisterDeal,
};
use crate::components::{human_date, id_param, me_resource, CsrfField, ErrorPanel};
use domain::deals::{DealConflict, DealStatus, DealView, Turnaround};
use domain::identity::{Me, Role};
use leptos::prelude::*;
use leptos_meta::Title;

fn decides(me: &Me) -> bool {
    matches!(me.role, Role::ChannelManager | Role::VendorAdmin)
}

fn status_chip(status: DealStatus) -> impl IntoView {
    view! { <span class=format!("status status-{}", status.as_str())>{status.label()}</span> }
}

fn lines(deal: &DealView) -> String {
    deal.product_lines.join(", ")
}

/// `/deals`: a partner's registrations, or the channel manager's queue and turnaround.
#[component]
pub fn DealsPage() -> impl IntoView {
    let decide = ServerAction::<DealAction>::new();
    let overview = Resource::new(move || decide.version().get(), |_| get_deals_overview());
    view! {
        <Title text="Deals" />
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(DealsOverview::Partner(list)) => view! { <MyDeals list /> }.into_any(),
                    Ok(DealsOverview::Decider(waiting, turnaround)) => {
                        view! { <DealQueue waiting turnaround decide /> }.into_any()
                    }
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn MyDeals(list: Vec<DealView>) -> impl IntoView {
    view! {
        <section class="studio-head">
            <h1>"My deals"</h1>
            <a class="button primary" href="/deals/new">"Register a deal"</a>
        </section>
        {if list.is_empty() {
            view! {
                <p class="empty">"No registrations yet. Register a deal to protect it for the days your tier grants."</p>
            }.into_any()
        } else {
            view! {
                <ul class="deal-list">
                    {list.into_iter().map(|deal| view! { <DealCard deal /> }).collect_view()}
                </ul>
            }.into_any()
        }}
    }
}

/// A registration in a list: customer, status, protection or clock.
#[component]
fn DealCard(deal: DealView) -> impl IntoView {
    let href = format!("/deals/{}", deal.id);
    let line = deal.status_line();
    let for_whom = deal
        .registered_on_behalf_by
        .clone()
        .map(|_| format!("for {}", deal.partner_name));
    view! {
        <li class="card deal" data-testid="deal-card">
            <p class="card-top">
                {status_chip(deal.status)}
                {deal.decision_clock.clone().map(|clock| view! { <span class="clock" data-testid="deal-clock">{clock}</span> })}
            </p>
            <h2 class="card-title"><a href=href>{deal.customer_name.clone()}</a></h2>
            <p class="meta">{lines(&deal)} " · " {deal.currency.clone()} " " {deal.amount.clone()} {for_whom.map(|f| format!(" · {f}"))}</p>
            <p class="deal-line" data-testid="deal-status-line">{line}</p>
        </li>
    }
}

#[component]
fn DealQueue(
    waiting: Vec<DealView>,
    turnaround: Vec<Turnaround>,
    decide: ServerAction<DealAction>,
) -> impl IntoView {
    view! {
        <section class="studio-head">
            <h1>"Deal registrations"</h1>
        </section>
        <p role="status" class="action-result">
            {move || decide.value().get().map(|r| match r {
                Ok(deal) => format!("Deal #{} {}: {}.", deal.id, deal.customer_name, deal.status_line()),
                Err(e) => e.message,
            })}
        </p>
        <section aria-labelledby="queue-heading">
            <h2 id="queue-heading">"Waiting for a decision " <span class="count">{waiting.len()}</span></h2>
            {waiting.is_empty().then(|| view! { <p class="empty">"Nothing waits for a decision."</p> })}
            <ul class="queue">
                {waiting.into_iter().map(|deal| view! { <QueueItem deal decide /> }).collect_view()}
            </ul>
        </section>
        <TurnaroundReport rows=turnaround />
    }
}

/// One waiting decision: the registration, any conflicting ones beside it, the suggestion and
/// the decision form.
#[component]
fn QueueItem(deal: DealView, decide: ServerAction<DealAction>) -> impl IntoView {
    let comment_id = format!("comment-{}", deal.id);
    let what = if deal.pending_decision.as_deref() == Some("extension") {
        "Extension"
    } else {
        "Registration"
    };
    let overdue = deal
        .decision_clock
        .as_deref()
        .is_some_and(|c| c.contains("overdue"));
    view! {
        <li class="card queue-item" data-testid="queue-item">
            <p class="card-top">
                <span class="chip">{what}</span>
                <span class=if overdue { "clock clock-overdue" } else { "clock" } data-testid="queue-clock">
                    {deal.decision_clock.clone().unwrap_or_default()}
                </span>
            </p>
            <div class="side-by-side">
                <section class="registration" aria-label="This registration">
                    <h2 class="queue-title"><a href=format!("/deals/{}", deal.id)>{deal.customer_name.clone()}</a></h2>
                    <dl class="facts">
                        <dt>"Partner"</dt><dd>{deal.partner_name.clone()}</dd>
                        <dt>"Customer key"</dt><dd><code>{deal.customer_key.to_string()}</code></dd>
                        <dt>"Product lines"</dt><dd>{lines(&deal)}</dd>
                        <dt>"Amount"</dt><dd>{deal.currency.clone()} " " {deal.amount.clone()}</dd>
                        <dt>"Submitted"</dt><dd>{deal.submitted_at.map(human_date).unwrap_or_default()}</dd>
                    </dl>
                </section>
                {deal.conflicts.iter().cloned().map(|c| view! { <ConflictPanel conflict=c /> }).collect_view()}
            </div>
            {deal.suggestion.clone().map(|s| view! { <p class="suggestion" data-testid="suggestion">{s}</p> })}
            <ActionForm action=decide attr:class="decision">
                <CsrfField />
                <input type="hidden" name="id" value=deal.id />
                <div class="field grow">
                    <label for=comment_id.clone()>"Comment (required to reject)"</label>
                    <input id=comment_id type="text" name="comment" />
                </div>
                <div class="row">
                    <button type="submit" name="action" value="approve" class="button primary">"Approve"</button>
                    <button type="submit" name="action" value="reject" class="button">"Reject"</button>
                </div>
            </ActionForm>
        </li>
    }
}

#[component]
fn ConflictPanel(conflict: DealConflict) -> impl IntoView {
    view! {
        <section class="registration conflict" aria-label=format!("Conflicting registration #{}", conflict.id)>
            <h3>"Conflicts with #" {conflict.id}</h3>
            <dl class="facts">
                <dt>"Partner"</dt><dd>{conflict.partner_name}</dd>
                <dt>"Customer"</dt><dd>{conflict.customer_name}</dd>
                <dt>"Product lines"</dt><dd>{conflict.product_lines.join(", ")}</dd>
                <dt>"Status"</dt><dd>{conflict.status.label()}</dd>
                <dt>"Submitted"</dt><dd>{conflict.submitted_at.map(human_date).unwrap_or_default()}</dd>
                <dt>"Amount"</dt><dd>{conflict.amount}</dd>
            </dl>
        </section>
    }
}

#[component]
fn TurnaroundReport(rows: Vec<Turnaround>) -> impl IntoView {
    let hours = |h: Option<f64>| h.map_or_else(|| "—".to_owned(), |h| format!("{h:.1} h"));
    view! {
        <section class="panel" aria-labelledby="turnaround">
            <h2 id="turnaround">"Turnaround"</h2>
            <div class="table-scroll"><table class="history" data-testid="turnaround">
                <thead><tr>
                    <th scope="col">"Approval"</th><th scope="col" class="num">"Decided"</th><th scope="col" class="num">"Waiting"</th>
                    <th scope="col" class="num">"Median"</th><th scope="col" class="num">"90th percentile"</th><th scope="col" class="num">"SLA breaches"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|t| view! {
                        <tr>
                            <td>{t.workflow}</td><td class="num">{t.decided}</td><td class="num">{t.open}</td>
                            <td class="num">{hours(t.median_hours)}</td><td class="num">{hours(t.p90_hours)}</td>
                            <td class="num">{t.breaches}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table></div>
        </section>
    }
}

/// `/deals/new`: few fields, sensible defaults, the customer key previewed as it is typed.
#[component]
pub fn DealNewPage() -> impl IntoView {
    let options = Resource::new(|| (), |_| get_deal_form());
    let register = ServerAction::<RegisterDeal>::new();
    let (name, set_name) = signal(String::new());
    let (domain, set_domain) = signal(String::new());
    // The preview follows typing, in the browser only (effects never run on the server); a
    // slower earlier answer never overwrites a later one.
    let (key, set_key) = signal(None::<Result<String, crate::api::PortalError>>);
    let asked = StoredValue::new(0u64);
    Effect::new(move |_| {
        let (name, domain) = (name.get(), domain.get());
        asked.update_value(|n| *n += 1);
        let ticket = asked.get_value();
        if name.trim().is_empty() && domain.trim().is_empty() {
            set_key.set(None);
            return;
        }
        leptos::task::spawn_local(async move {
            let answer = preview_customer_key(name, domain).await;
            if asked.get_value() == ticket {
                set_key.set(Some(answer));
            }
        });
    });
    let error_for = move |field: &'static str| {
        move || {
            register
                .value()
                .get()
                .and_then(|r| r.err())
                .filter(|e| e.field.as_deref() == Some(field))
                .map(|e| {
                    view! { <span class="field-error" role="alert">{e.message}</span> }
                })
        }
    };
    view! {
        <Title text="Register a deal" />
        <nav class="breadcrumb" aria-label="Breadcrumb"><a href="/deals">"← My deals"</a></nav>
        <h1>"Register a deal"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match options.await {
                    // Vendor staff decide registrations; they do not make them.
                    Ok(o) if o.partners.is_empty() => view! {
                        <section class="panel">
                            <p>"Deals are registered by partners. Registrations waiting for a decision are in the "
                                <a href="/deals">"deal queue"</a>"."</p>
                        </section>
                    }.into_any(),
                    Ok(o) => view! {
                        <ActionForm action=register attr:class="stack deal-form">
                            <CsrfField />
                            {(o.partners.len() > 1).then(|| view! {
                                <div class="field">
                                    <label for="partner">"Register for"</label>
                                    <select id="partner" name="partner_id">
                                        {o.partners.iter().map(|(id, name)| view! { <option value=*id>{name.clone()}</option> }).collect_view()}
                                    </select>
                                </div>
                            })}
                            <div class="field">
                                <label for="customer_name">"Customer"</label>
                                <input id="customer_name" name="customer_name" type="text" required autocomplete="organization"
                                    on:input=move |ev| set_name.set(event_target_value(&ev)) />
                                {error_for("customer_name")}
                            </div>
                            <div class="field">
                                <label for="customer_domain">"Customer website " <span class="hint">"(optional)"</span></label>
                                <input id="customer_domain" name="customer_domain" type="text" inputmode="url" placeholder="acme.com"
                                    autocapitalize="off" on:input=move |ev| set_domain.set(event_target_value(&ev)) />
                                {error_for("customer_domain")}
                            </div>
                            <p class="hint key-preview" aria-live="polite" data-testid="key-preview">
                                {move || match key.get() {
                                    Some(Ok(key)) => view! { "Customer key: " <code>{key}</code> }.into_any(),
                                    Some(Err(e)) => view! { <span>{e.message}</span> }.into_any(),
                                    None => view! { "The customer key appears here: it is how conflicts are found." }.into_any(),
                                }}
                            </p>
                            <fieldset class="field">
                                <legend>"Product lines"</legend>
                                <div class="checks">
                                    // Posted as `product_lines[0]`, `product_lines[1]`… (see the studio form).
                                    {o.product_lines.iter().enumerate().map(|(i, line)| {
                                        let id = format!("line-{line}");
                                        let label_for = id.clone();
                                        view! {
                                            <label for=label_for class="check">
                                                <input id=id type="checkbox" name=format!("product_lines[{i}]") value=line.clone() />
                                                {line.clone()}
                                            </label>
                                        }
                                    }).collect_view()}
                                </div>
                                {error_for("product_lines")}
                            </fieldset>
                            <div class="row wrap">
                                <div class="field grow">
                                    <label for="amount">"Estimated amount (" {o.currency.clone()} ")"</label>
                                    <input id="amount" name="amount" type="text" inputmode="decimal" placeholder="25000.00" required />
                                    {error_for("amount")}
                                </div>
                                <div class="field grow">
                                    <label for="expected_close_on">"Expected close"</label>
                                    <input id="expected_close_on" name="expected_close_on" type="date" required
                                        min=o.today.to_string() value=o.today.add_days(90).to_string() />
                                    {error_for("expected_close_on")}
                                </div>
                                <div class="field">
                                    <label for="country">"Country"</label>
                                    <input id="country" name="country" type="text" maxlength="2" size="3" required
                                        autocapitalize="characters" value=o.default_country.clone() />
                                    {error_for("country")}
                                </div>
                            </div>
                            <div class="field">
                                <label for="notes">"Notes " <span class="hint">"(optional)"</span></label>
                                <textarea id="notes" name="notes" rows="3"></textarea>
                            </div>
                            <button type="submit" class="button primary">"Register deal"</button>
                            <p role="status">
                                {move || register.value().get().and_then(|r| r.err()).filter(|e| e.field.is_none()).map(|e| view! {
                                    <span class="notice notice-error" data-testid="register-error">{e.message}</span>
                                })}
                            </p>
                        </ActionForm>
                    }.into_any(),
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// `/deals/:id`: one registration, its clock or protection, what can be done next, and the
/// history.
#[component]
pub fn DealPage() -> impl IntoView {
    let me = me_resource();
    let id = id_param();
    let act = ServerAction::<DealAction>::new();
    let deal = Resource::new(move || (id(), act.version().get()), |(id, _)| get_deal(id));
    view! {
        <Title text="Deal" />
        <nav class="breadcrumb" aria-label="Breadcrumb"><a href="/deals">"← Deals"</a></nav>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let me = me.await.ok().flatten();
                match deal.await {
                    Ok(deal) => {
                        let decider = me.as_ref().is_some_and(decides);
                        let partner = me.as_ref().is_some_and(|m| m.role.is_partner());
                        view! { <DealDetail deal decider partner act /> }.into_any()
                    }
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Suspense>
        <p role="status" class="action-result">
            {move || act.value().get().and_then(|r| r.err()).map(|e| view! { <span class="notice notice-error">{e.message}</span> })}
        </p>
    }
}

#[component]
fn DealDetail(deal: DealView, decider: bool, partner: bool, act: ServerAction<DealAction>) -> impl IntoView {
    let id = deal.id;
    let action_button = move |action: &'static str, label: &'static str, primary: bool| {
        view! {
            <ActionForm action=act attr:class="inline-form">
                <CsrfField />
                <input type="hidden" name="id" value=id />
                <input type="hidden" name="action" value=action />
                <button type="submit" class=if primary { "button primary" } else { "button" }>{label}</button>
            </ActionForm>
        }
    };
    let pending = deal.pending_decision.is_some();
    view! {
        <article class="deal-detail">
            <p class="card-top">{status_chip(deal.status)} <span class="meta">"Deal #" {deal.id}</span></p>
            <h1>{deal.customer_name.clone()}</h1>
            <p class="deal-line lead" data-testid="deal-status-line">{deal.status_line()}</p>
            {deal.decision_clock.clone().map(|clock| view! {
                <p class="clock" data-testid="deal-clock">
                    {if deal.pending_decision.as_deref() == Some("extension") { "Extension: " } else { "" }}
                    {clock}
                    {deal.assignee.clone().map(|a| format!(" · {a} decides"))}
                </p>
            })}
            <dl class="facts">
                <dt>"Partner"</dt><dd>{deal.partner_name.clone()}</dd>
                {deal.registered_on_behalf_by.clone().map(|d| view! { <dt>"Registered by"</dt><dd>{d}</dd> })}
                <dt>"Customer key"</dt><dd><code>{deal.customer_key.to_string()}</code></dd>
                <dt>"Country"</dt><dd>{deal.country.clone()}</dd>
                <dt>"Product lines"</dt><dd>{lines(&deal)}</dd>
                <dt>"Estimated amount"</dt><dd>{deal.currency.clone()} " " {deal.amount.clone()}</dd>
                <dt>"Expected close"</dt><dd>{deal.expected_close_on.human()}</dd>
                {deal.expires_on.map(|end| view! { <dt>"Protected until"</dt><dd>{end.human()} {deal.extended.then_some(" (extended)")}</dd> })}
                {deal.decision_comment.clone().map(|c| view! { <dt>"Decision comment"</dt><dd>{c}</dd> })}
                {(!deal.notes.is_empty()).then(|| view! { <dt>"Notes"</dt><dd>{deal.notes.clone()}</dd> })}
            </dl>
            {(decider && !deal.conflicts.is_empty()).then(|| view! {
                <div class="side-by-side">
                    {deal.conflicts.iter().cloned().map(|c| view! { <ConflictPanel conflict=c /> }).collect_view()}
                </div>
            })}
            {deal.suggestion.clone().filter(|_| decider).map(|s| view! { <p class="suggestion">{s}</p> })}
            <div class="row wrap actions">
                {(partner && deal.status == DealStatus::Draft).then(|| action_button("submit", "Submit for approval", true))}
                {(partner && deal.status == DealStatus::Approved).then(|| view! {
                    {action_button("won", "Mark won", true)}
                    {action_button("lost", "Mark lost", false)}
                })}
            </div>
            {(partner && deal.can_request_extension).then(|| view! {
                <ActionForm action=act attr:class="decision">
                    <CsrfField />
                    <input type="hidden" name="id" value=id />
                    <input type="hidden" name="action" value="extend" />
                    <div class="field grow">
                        <label for="reason">"Why 30 more days?"</label>
                        <input id="reason" type="text" name="comment" />
                    </div>
                    <button type="submit" class="button">"Request extension"</button>
                </ActionForm>
            })}
            {(decider && pending).then(|| view! {
                <ActionForm action=act attr:class="decision">
                    <CsrfField />
                    <input type="hidden" name="id" value=id />
                    <div class="field grow">
                        <label for="decision-comment">"Comment (required to reject)"</label>
                        <input id="decision-comment" type="text" name="comment" />
                    </div>
                    <div class="row">
                        <button type="submit" name="action" value="approve" class="button primary">"Approve"</button>
                        <button type="submit" name="action" value="reject" class="button">"Reject"</button>
                    </div>
                </ActionForm>
            })}
            <section class="panel">
                <h2>"History"</h2>
                <ol class="timeline">
                    {deal.history.into_iter().map(|e| view! {
                        <li>
                            <time>{human_date(e.at)}</time> " · " {e.actor} ": " {e.note}
                        </li>
                    }).collect_view()}
                </ol>
            </section>
        </article>
    }
}
