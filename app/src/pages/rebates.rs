//! Rebates: finance imports facts, runs a period, approves and pays statements; partners read
//! their statements line by line.

use crate::api::{
    get_forecast, get_period_drafts, get_rebate_run, get_statement, get_statements, AdvanceStatement,
    ApprovePeriod, ImportFacts, RunRebates, StatementDetail,
};
use crate::components::id_param;
use crate::components::{human_date_time, me_resource, query_value, CsrfField, ErrorPanel};
use domain::identity::{OrganisationKind, PartnerType, Role};
use domain::money::format_minor;
use domain::rebates::{grouped, PeriodDrafts, StatementPage, StatementStatus, StatementView};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_query_map};

fn money(minor: i64, digits: u32) -> String {
    format_minor(minor, digits)
}

/// An explanation line's amount: an adjustment says which way it moves the money, `+60.00`
/// owed to the partner or `-60.00` taken back (RULES.md §5).
fn line_amount(line: &domain::rebates::StatementLine, digits: u32) -> String {
    let text = money(line.amount, digits);
    if line.kind == domain::rebates::LineKind::Adjustment && line.amount > 0 {
        format!("+{text}")
    } else {
        text
    }
}

/// An ISO date as people read it (`30 Jun 2026`), or as given if it is not one.
fn readable_date(iso: &str) -> String {
    crate::pages::scorecard::forecast_end(iso)
}

/// Decimals of a statement's currency (two for a code this build does not know).
fn digits_of(currency: &str) -> u32 {
    domain::money::Currency::parse(currency, "currency").map_or(2, |c| c.minor_digits())
}

/// `row 3, amount: …` → `Row 3, amount: …`.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Where a confirmation stands: not asked, asked, or backed out of (the button that asks then
/// takes the keyboard focus back).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ask {
    Idle,
    Asking,
    Cancelled,
}

impl Ask {
    /// Asking already when the address says so (`?confirm=<what>`): that is how the question
    /// opens before the page's script has loaded.
    fn from_address(what: &str) -> RwSignal<Ask> {
        let asked = use_query_map().with_untracked(|q| q.get_str("confirm") == Some(what));
        RwSignal::new(if asked { Ask::Asking } else { Ask::Idle })
    }
}

/// The address's query without `confirm`, as name and value pairs, and the address itself
/// without it: where Cancel goes before the page's script has loaded.
fn address_without_confirm() -> (Vec<(String, String)>, String) {
    let kept: Vec<(String, String)> = use_query_map().with_untracked(|q| {
        q.into_iter()
            .filter(|(name, _)| name.as_ref() != "confirm")
            .map(|(name, value)| (name.to_string(), value.to_owned()))
            .collect()
    });
    let path = use_location().pathname.get_untracked();
    let query: Vec<String> = kept
        .iter()
        .map(|(name, value)| format!("{}={}", query_value(name), query_value(value)))
        .collect();
    let back = if query.is_empty() {
        path
    } else {
        format!("{path}?{}", query.join("&"))
    };
    (kept, back)
}

/// The statements of the page are reloading after a change: the buttons that act on them
/// wait, so a second press never meets the old figures (and a refusal the first one caused).
#[derive(Clone, Copy)]
struct Reloading(ReadSignal<bool>);

/// Whose statement the last Approve or Mark paid was for, so that a refusal names it.
#[derive(Clone, Copy)]
struct Acting(RwSignal<String>);

/// Counts the approvals and payments that went through: what reloads the statements. A refused
/// one leaves the page as it is, with the payout reference being typed kept for another try.
fn advanced(advance: ServerAction<AdvanceStatement>) -> ReadSignal<usize> {
    let (count, set_count) = signal(0usize);
    Effect::new(move |_| {
        if advance.value().with(|v| matches!(v, Some(Ok(_)))) {
            set_count.update(|n| *n += 1);
        }
    });
    count
}

/// `/rebates`: the finance workspace for vendor staff, the statements for partners. The
/// filters are a plain GET form, so every view of the list has its own address.
#[component]
pub fn RebatesPage() -> impl IntoView {
    let me = me_resource();
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).unwrap_or_default();
    let period = move || param("period");
    let run = ServerAction::<RunRebates>::new();
    let advance = ServerAction::<AdvanceStatement>::new();
    let approve_all = ServerAction::<ApprovePeriod>::new();
    let advanced = advanced(advance);
    // Anything that changes statements reloads the list and the period's drafts. A period
    // approval reloads them even when refused: its refusal says the drafts changed.
    let changes = move || (run.version().get(), advanced.get(), approve_all.version().get());
    let (reloading, set_reloading) = signal(false);
    provide_context(Reloading(reloading));
    provide_context(Acting(RwSignal::new(String::new())));
    let statements = Resource::new(
        move || {
            (
                period(),
                param("status"),
                param("partner"),
                param("page"),
                changes(),
            )
        },
        |(period, status, partner, page, _)| get_statements(period, status, partner, page),
    );
    let drafts = Resource::new(
        move || (period(), changes()),
        |(period, _)| get_period_drafts(period),
    );
    // Back from a plain form post (the page's script not loaded), the address says what was
    // done; the list says it once the statement or period as it now stands bears it out.
    let done = Resource::new(move || param("done"), done_message);
    let acted = move || {
        advance.value().with_untracked(Option::is_some)
            || approve_all.value().with_untracked(Option::is_some)
            || run.value().with_untracked(Option::is_some)
    };
    // Who is reading: vendor staff see every partner's statements, a distributor's admins also
    // their resellers' (so both can filter by partner); finance (and vendor admins) also run,
    // import, approve, pay and export.
    let reader = move || async move {
        match me.await {
            Ok(Some(me)) => {
                let vendor = me.organisation.kind == OrganisationKind::Vendor;
                let distributor_admin = me.role == Role::PartnerAdmin
                    && me.organisation.partner_type == Some(PartnerType::Distributor);
                (vendor, me.role.can_run_rebates(), vendor || distributor_admin)
            }
            _ => (false, false, false),
        }
    };
    view! {
        <Title text="Rebates" />
        // The head and the tools depend on the reader only, so a run, an import, an approval or
        // another page of the list (the address changes) leaves the forms and their results.
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (vendor, finance, _) = reader().await;
                view! {
                    <section class="studio-head">
                        <h1>{if vendor { "Rebates" } else { "Your rebate statements" }}</h1>
                    </section>
                    {finance.then(|| view! { <FinanceTools run /> })}
                    {(!vendor).then(|| view! { <ForecastCard /> })}
                }
                .into_any()
            })}
        </Suspense>
        // The filters follow the address.
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let (_, finance, many_partners) = reader().await;
                let p = period();
                // Only a valid period makes an export link (its text is then safe in a URL).
                let export = domain::period::FiscalPeriod::parse(p.trim(), "period").ok().filter(|_| finance);
                let status = param("status");
                view! {
                    <form method="get" class="filter" role="search" aria-label="Filter the statements">
                        <div class="field">
                            <label for="period">"Period"</label>
                            <input id="period" name="period" type="text" placeholder="2026-Q2" size="9" value=p />
                        </div>
                        <div class="field">
                            <label for="status">"Status"</label>
                            <select id="status" name="status">
                                <option value="">"Any"</option>
                                {["draft", "approved", "paid"].map(|code| view! {
                                    <option value=code selected=status == code>{capitalised(code)}</option>
                                })}
                            </select>
                        </div>
                        {many_partners.then(|| view! {
                            <div class="field">
                                <label for="partner">"Partner"</label>
                                <input id="partner" name="partner" type="search" placeholder="Name" size="16"
                                    value=param("partner") />
                            </div>
                        })}
                        <button type="submit" class="button">"Show"</button>
                        {export.map(|period| view! {
                            // Only what is still to pay: a file with paid statements in it, fed to a
                            // payout system as it is, would pay them twice.
                            <a class="button" href=format!("/api/v1/rebates/statements.csv?period={period}&status=approved")
                                title="Approved statements not yet paid, for the payout system">{format!("Export {period} to pay (CSV)")}</a>
                            <a class="button" href=format!("/api/v1/rebates/statements.csv?period={period}&status=all")
                                title="Every statement of the period, drafts included">{format!("Export all of {period} (CSV)")}</a>
                        })}
                    </form>
                    {(finance && export.is_none()).then(|| view! {
                        <p class="hint">"Show a period to export its statements, or to approve its drafts together."</p>
                    })}
                }
                .into_any()
            })}
        </Suspense>
        <AdvanceResult advance approve_all />
        <Transition fallback=|| view! { <p class="loading">"Loading statements…"</p> } set_pending=set_reloading>
            {move || Suspend::new(async move {
                let (_, finance, _) = reader().await;
                let p = period();
                let filtered = !param("status").is_empty() || !param("partner").is_empty();
                let done = done.await.filter(|_| !acted()).map(|message| view! {
                    <p class="notice notice-success" role="status" data-testid="done-result">{message}</p>
                });
                let period_drafts = match drafts.await {
                    Ok(Some(d)) if d.count > 0 => Some(view! { <PeriodApprovalPanel drafts=d approve_all /> }.into_any()),
                    Ok(_) => None,
                    Err(error) => Some(view! { <p class="notice notice-error" role="alert">{error.located()}</p> }.into_any()),
                };
                let list = match statements.await {
                    // An address past the last page (its statements approved away, say).
                    Ok(page) if page.statements.is_empty() && page.total > 0 => {
                        let last = page.total.div_ceil(page.limit.max(1));
                        view! {
                            <p class="empty">
                                {format!(
                                    "This page is past the last one: these filters match {} statement{}. ",
                                    grouped(page.total),
                                    if page.total == 1 { "" } else { "s" }
                                )}
                                <a href=Pager::href(&param, last)>{format!("Go to page {last}")}</a>
                            </p>
                        }.into_any()
                    }
                    Ok(page) if page.statements.is_empty() => view! {
                        <p class="empty">
                            {match (p.is_empty(), filtered) {
                                (_, true) => "No statements match these filters.".to_owned(),
                                (true, false) if finance => "No statements yet.".to_owned(),
                                (true, false) => "No statements yet. Statements appear here once finance runs a period; until then the forecast above shows what the current period is on course to earn.".to_owned(),
                                (false, false) => format!("No statements for {p}."),
                            }}
                            {(finance && !filtered).then_some(" Run a period above to compute its statements.")}
                        </p>
                    }.into_any(),
                    Ok(page) => {
                        let pages = Pager::new(&page, &param);
                        view! {
                            <p class="hint" data-testid="statements-count">{page.range_text()}</p>
                            <ul class="statements">
                                {page.statements.into_iter().map(|s| view! { <StatementCard statement=s finance advance /> }).collect_view()}
                            </ul>
                            {pages.view()}
                        }.into_any()
                    }
                    // The page has its heading already: the error is said without another.
                    Err(error) => view! { <p class="notice notice-error" role="alert">{error.located()}</p> }.into_any(),
                };
                view! { {done} {period_drafts} {list} }.into_any()
            })}
        </Transition>
    }
}

/// Links to the pages before and after the one shown, keeping the filters.
struct Pager {
    previous: Option<String>,
    next: Option<String>,
    label: String,
}

impl Pager {
    fn new(page: &StatementPage, param: &impl Fn(&str) -> String) -> Self {
        let per_page = page.limit.max(1);
        let current = page.offset / per_page + 1;
        let last = page.total.div_ceil(per_page).max(1);
        let href = |number: usize| Self::href(param, number);
        Pager {
            previous: (current > 1).then(|| href(current - 1)),
            next: page.has_next().then(|| href(current + 1)),
            label: format!("Page {current} of {last}"),
        }
    }

    /// The list's page `number`, with the filters shown.
    fn href(param: &impl Fn(&str) -> String, number: usize) -> String {
        let filters: String = ["period", "status", "partner"]
            .iter()
            .map(|name| format!("{name}={}&", query_value(&param(name))))
            .collect();
        format!("/rebates?{filters}page={number}")
    }

    fn view(self) -> impl IntoView {
        (self.previous.is_some() || self.next.is_some()).then(|| view! {
            <nav class="pager" aria-label="Statement pages">
                {self.previous.map(|href| view! { <a class="button" href=href rel="prev">"← Previous"</a> })}
                <span class="meta">{self.label}</span>
                {self.next.map(|href| view! { <a class="button" href=href rel="next">"Next →"</a> })}
            </nav>
        })
    }
}

/// Approving a period's drafts together, after a confirmation that names their count and
/// total: the approval carries those figures, so drafts that change in between are refused.
#[component]
fn PeriodApprovalPanel(drafts: PeriodDrafts, approve_all: ServerAction<ApprovePeriod>) -> impl IntoView {
    let ask = Ask::from_address("period");
    let total = format!("{} {}", money(drafts.total, drafts.minor_digits), drafts.currency);
    let plural = if drafts.count == 1 { "" } else { "s" };
    let count = grouped(drafts.count);
    let summary = format!("{count} draft{plural} totalling {total}.");
    let question = format!(
        "Approve {count} statement{plural} of {} totalling {total}? Approved statements never change; later facts reach the partners' next statements as restatement lines.",
        drafts.period
    );
    let confirm_label = format!("Yes, approve {count} statement{plural}");
    let start_label = if drafts.count == 1 {
        "Approve the draft…".to_owned()
    } else {
        format!("Approve all {count} drafts…")
    };
    view! {
        <section class="panel period-approval" aria-labelledby="period-approval" data-testid="period-approval">
            <h2 id="period-approval">{format!("Drafts of {}", drafts.period)}</h2>
            <p>{summary}</p>
            {match drafts.approvable_from.clone() {
                Some(from) => view! {
                    <p class="hint">"The period is still running: its drafts can be approved from " {readable_date(&from)} "."</p>
                }.into_any(),
                None => {
                    // The figures the approver confirms travel with the approval.
                    let (period, shown_count, shown_total) = (drafts.period.clone(), drafts.count, drafts.total);
                    (move || if ask.get() == Ask::Asking {
                        let (period, question, confirm_label) = (period.clone(), question.clone(), confirm_label.clone());
                        view! {
                            <ActionForm action=approve_all attr:class="stack">
                                <CsrfField />
                                <input type="hidden" name="period" value=period />
                                <input type="hidden" name="count" value=shown_count />
                                <input type="hidden" name="total" value=shown_total />
                                <p class="notice notice-warning" id="period-question">{question}</p>
                                <ConfirmButtons label=confirm_label described_by="period-question" pending=approve_all.pending() ask />
                            </ActionForm>
                        }.into_any()
                    } else {
                        view! { <AskButton what="period".to_owned() label=start_label.clone() ask /> }.into_any()
                    }).into_any()
                }
            }}
        </section>
    }
}

/// The button that asks for a confirmation. It is a GET form to the same address with
/// `confirm=<what>`, so it works before the page's script has loaded; once it has, the
/// question opens in place.
#[component]
fn AskButton(
    what: String,
    label: String,
    /// A fuller name for the button, when its label alone does not say what it acts on.
    #[prop(optional, into)]
    aria_label: Option<String>,
    ask: RwSignal<Ask>,
) -> impl IntoView {
    let (kept, _) = address_without_confirm();
    let button = NodeRef::<leptos::html::Button>::new();
    // Back from Cancel, the keyboard focus returns here rather than to the top of the page.
    button.on_load(move |button| {
        if ask.get_untracked() == Ask::Cancelled {
            let _ = button.focus();
        }
    });
    view! {
        <form method="get" class="ask" on:submit=move |ev| {
            ev.prevent_default();
            ask.set(Ask::Asking);
        }>
            {kept.into_iter().map(|(name, value)| view! { <input type="hidden" name=name value=value /> }).collect_view()}
            <input type="hidden" name="confirm" value=what />
            <button type="submit" class="button" aria-label=aria_label node_ref=button>{label}</button>
        </form>
    }
}

/// The two controls of a confirmation: the form's submit, disabled while it works or the
/// statements reload, and Cancel, which backs out without sending anything. The submit takes
/// the keyboard focus when the question opens.
#[component]
fn ConfirmButtons(
    label: String,
    /// A fuller name for the submit button, when its label alone does not say what it acts on.
    #[prop(optional, into)]
    aria_label: Option<String>,
    /// Whose statement it acts on, for a refusal to name.
    #[prop(optional, into)]
    whose: Option<String>,
    /// The id of the question it answers, read with the button: focus lands on the button, and
    /// the amount asked about must not be skipped.
    #[prop(optional, into)]
    described_by: Option<String>,
    #[prop(into)] pending: Signal<bool>,
    ask: RwSignal<Ask>,
) -> impl IntoView {
    let (_, back) = address_without_confirm();
    let reloading = use_context::<Reloading>();
    let acting = use_context::<Acting>();
    let button = NodeRef::<leptos::html::Button>::new();
    button.on_load(|button| {
        let _ = button.focus();
    });
    view! {
        <div class="row">
            <button type="submit" class="button primary" aria-label=aria_label aria-describedby=described_by node_ref=button
                // `try_get`: the list reloading after this very action may notify the button
                // after the question (and its `pending`) is gone.
                disabled=move || pending.try_get().unwrap_or(true) || reloading.is_some_and(|r| r.0.try_get().unwrap_or(true))
                on:click=move |_| {
                    if let (Some(acting), Some(whose)) = (acting, whose.clone()) {
                        acting.0.set(whose);
                    }
                }>{label}</button>
            <a class="button" href=back on:click=move |ev| {
                ev.prevent_default();
                ask.set(Ask::Cancelled);
            }>"Cancel"</a>
        </div>
    }
}

/// What the last Approve, Approve all or Mark paid did: said above the statements, which
/// reload after it, so a refusal (a payout reference that is not one line, a statement a
/// colleague already paid, drafts changed by a run) is never lost in the reload.
#[component]
fn AdvanceResult(
    advance: ServerAction<AdvanceStatement>,
    /// The period approval, on the list only.
    #[prop(optional)]
    approve_all: Option<ServerAction<ApprovePeriod>>,
) -> impl IntoView {
    // The latest of the two actions speaks: each clears the other's result when it starts.
    let approved_all = move || approve_all.and_then(|a| a.value().get());
    let acting = use_context::<Acting>();
    // A refusal names the statement it is about, which may be far down the list.
    let refusal = move |error: String| match acting.map(|a| a.0.get()) {
        Some(whose) if !whose.is_empty() => format!("{whose}: {error}"),
        _ => error,
    };
    if let Some(all) = approve_all {
        Effect::new(move |_| {
            if all.input().with(Option::is_some) {
                advance.value().set(None);
            }
        });
        Effect::new(move |_| {
            if advance.input().with(Option::is_some) {
                all.value().set(None);
            }
        });
    }
    view! {
        <div aria-live="polite" data-testid="advance-result">
            {move || advance.value().get().map(|result| match result {
                Ok(s) => view! { <Done text=advanced_to(&s) /> }.into_any(),
                Err(e) => view! { <p class="notice notice-error" role="alert">{refusal(e.located())}</p> }.into_any(),
            })}
            {move || approved_all().map(|result| match result {
                Ok(a) => view! {
                    <Done text=format!(
                        "Approved {} statement{} of {} totalling {} {}.",
                        grouped(a.approved),
                        if a.approved == 1 { "" } else { "s" },
                        a.period,
                        money(a.total, a.minor_digits),
                        a.currency
                    ) />
                }.into_any(),
                Err(e) => view! { <p class="notice notice-error" role="alert">{e.located()}</p> }.into_any(),
            })}
        </div>
    }
}

/// What an approval or a payment did, said once the button that asked for it has gone with the
/// list's reload: focus moves here, so a keyboard user goes on from the result rather than from
/// the top of the page.
#[component]
fn Done(text: String) -> impl IntoView {
    let note = NodeRef::<leptos::html::P>::new();
    note.on_load(|note| {
        let _ = note.focus();
    });
    view! { <p class="notice notice-success" tabindex="-1" node_ref=note>{text}</p> }
}

/// What `done=<what>` in the address says, when the statement or period now stands so:
/// `approved-<id>` or `paid-<id>` a statement, `period-<period>` a period approved together,
/// `run-<id>` a rebate run.
async fn done_message(done: String) -> Option<String> {
    if let Some(id) = done.strip_prefix("run-") {
        return get_rebate_run(id.parse().ok()?)
            .await
            .ok()
            .map(|run| run_result(&run));
    }
    if let Some(period) = done.strip_prefix("period-") {
        let left = get_period_drafts(period.to_owned()).await.ok()?;
        return left
            .is_none_or(|d| d.count == 0)
            .then(|| format!("The drafts of {period} are approved."));
    }
    let (status, id) = done.split_once('-')?;
    let id = id.parse().ok()?;
    let statement = get_statement(id).await.ok()?.statement;
    (statement.status.as_str() == status && statement.status != StatementStatus::Draft)
        .then(|| advanced_to(&statement))
}

/// What a rebate run did, in a sentence.
fn run_result(s: &domain::rebates::RunSummary) -> String {
    format!(
        "{}: {} draft statement{} totalling {} {}; {} approved or paid statement{} left unchanged.",
        s.period,
        grouped(s.drafts),
        if s.drafts == 1 { "" } else { "s" },
        money(s.draft_total, s.minor_digits),
        s.currency,
        grouped(s.locked),
        if s.locked == 1 { "" } else { "s" }
    )
}

/// What an approval or a payment made of a statement, in a sentence.
fn advanced_to(statement: &StatementView) -> String {
    format!(
        "{} {} {}.",
        statement.partner_name,
        statement.period,
        if statement.status == StatementStatus::Paid {
            "is marked paid"
        } else {
            "is approved"
        }
    )
}

/// Reads the chosen file into the form, in the browser (the file never travels on its own). A
/// file that is not UTF-8 is refused here, naming its line, rather than read with replacement
/// characters. `set_exact` keeps the file's text as it is, line ends included.
fn load_file(
    ev: leptos::ev::Event,
    set_data: WriteSignal<String>,
    set_exact: WriteSignal<Option<String>>,
    set_error: WriteSignal<Option<String>>,
) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(file) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
            .and_then(|input| input.files())
            .and_then(|files| files.get(0))
        else {
            return;
        };
        // Refused before reading: a file too large for the page would only freeze the tab.
        let limit = domain::facts::MAX_PAGE_IMPORT_BYTES;
        set_exact.set(None);
        if file.size() > limit as f64 {
            set_data.set(String::new());
            set_error.set(Some(format!(
                "{} is {:.0} MiB; this page imports files up to {} MiB: import larger ones with the API or `atrium import`",
                file.name(),
                (file.size() / (1024.0 * 1024.0)).ceil(),
                limit / (1024 * 1024)
            )));
            return;
        }
        leptos::task::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                Ok(buffer) => {
                    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                    match domain::facts::decode_import(&bytes) {
                        Ok(text) => {
                            set_error.set(None);
                            set_data.set(text.to_owned());
                            set_exact.set(Some(text.to_owned()));
                        }
                        Err(e) => {
                            set_data.set(String::new());
                            set_error.set(Some(format!("{}: {}", file.name(), e.message)));
                        }
                    }
                }
                Err(_) => {
                    // Nothing of an earlier file is left to be imported in its name.
                    set_data.set(String::new());
                    set_error.set(Some(format!("{} could not be read", file.name())));
                }
            }
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ev, set_data, set_exact, set_error);
}

/// How many of a refused import's errors the page lists.
const SHOWN_IMPORT_ERRORS: usize = 200;

#[component]
fn FinanceTools(run: ServerAction<RunRebates>) -> impl IntoView {
    let import = ServerAction::<ImportFacts>::new();
    let (data, set_data) = signal(String::new());
    // A chosen file's text exactly as it is, while the box shows it unedited. It is sent in
    // place of the box's text, which the browser holds with its line ends turned into LF: so
    // a file saved with CRLF (as spreadsheets on Windows save) is imported byte for byte, and
    // the audit log's sha256 is the file's own.
    let (exact, set_exact) = signal(None::<String>);
    let (file_error, set_file_error) = signal(None::<String>);
    view! {
        <section class="panel-grid panel-grid-2">
            <article class="panel">
                <h2>"Run a period"</h2>
                <ActionForm action=run attr:class="stack">
                    <CsrfField />
                    <div class="field">
                        <label for="run-period">"Fiscal period"</label>
                        <input id="run-period" name="period" type="text" placeholder="2026-Q2" required />
                    </div>
                    <button type="submit" class="button primary" disabled=move || run.pending().get()>
                        {move || if run.pending().get() { "Running…" } else { "Run rebates" }}
                    </button>
                </ActionForm>
                {move || run.value().get().map(|r| match r {
                    Ok(s) => view! {
                        <p class="notice notice-success" role="status" data-testid="run-result">{run_result(&s)}</p>
                    }.into_any(),
                    // A refusal (a period not begun, a run already going) is said as an error,
                    // not in the words of a result.
                    Err(e) => view! {
                        <p class="notice notice-error" role="alert" data-testid="run-result">{capitalised(&e.located())}</p>
                    }.into_any(),
                })}
            </article>
            <article class="panel import-panel">
                <h2>"Import facts"</h2>
                <ActionForm action=import attr:class="stack">
                    <CsrfField />
                    <div class="field">
                        <label for="import-kind">"What"</label>
                        <select id="import-kind" name="kind">
                            <option value="sales">"Sales"</option>
                            <option value="certifications">"Certifications"</option>
                        </select>
                    </div>
                    <div class="field">
                        <label for="import-file">"File"</label>
                        <span class="hint">"Choose a .csv or .jsonl file, or paste its contents below."</span>
                        <input id="import-file" type="file" accept=".csv,.jsonl,.ndjson,text/csv,application/x-ndjson"
                            aria-describedby="import-file-error"
                            aria-invalid=move || file_error.get().is_some().then_some("true")
                            on:change=move |ev| {
                                // The last result was about other data.
                                import.value().set(None);
                                load_file(ev, set_data, set_exact, set_file_error);
                            } />
                        <p class="field-error" id="import-file-error" role="alert">{move || file_error.get()}</p>
                    </div>
                    <div class="field">
                        <label for="import-data">"CSV with a header row, or JSON lines"</label>
                        <textarea id="import-data" rows="6" class="code" required
                            name=move || exact.with(Option::is_none).then_some("data")
                            prop:value=move || data.get()
                            on:input=move |ev| {
                                set_exact.set(None);
                                set_file_error.set(None);
                                import.value().set(None);
                                set_data.set(event_target_value(&ev));
                            }></textarea>
                        {move || exact.get().map(|text| view! { <input type="hidden" name="data" value=text /> })}
                    </div>
                    <div class="row">
                        <button type="submit" name="preview" value="1" class="button" disabled=move || import.pending().get()>"Preview"</button>
                        <button type="submit" class="button primary" disabled=move || import.pending().get()>
                            {move || if import.pending().get() { "Working…" } else { "Import" }}
                        </button>
                    </div>
                </ActionForm>
                {move || import.value().get().map(|r| match r {
                    // Stored, but the tiers could not be re-evaluated yet: said as a warning.
                    Ok(report) if report.errors.is_empty() && !report.warnings.is_empty() => view! {
                        <div class="notice notice-warning" role="status" data-testid="import-result">
                            <p>{format!("{}.", report.counts())}</p>
                            <ul>{report.warnings.iter().map(|w| view! { <li>{capitalised(w)}</li> }).collect_view()}</ul>
                        </div>
                    }.into_any(),
                    Ok(report) if report.errors.is_empty() => view! {
                        <p class="notice notice-success" role="status" data-testid="import-result">
                            {format!("{}.", report.summary())}
                        </p>
                    }.into_any(),
                    Ok(report) => {
                        // A file wrong on every row has as many errors as rows: the page lists the
                        // first ones and says how many there are.
                        let total = report.error_count.max(report.errors.len());
                        // Focus moves to the summary, which its heading names: a screen reader
                        // says that, not every error at once, and the list is read from there.
                        let summary = NodeRef::<leptos::html::Div>::new();
                        summary.on_load(|summary| {
                            let _ = summary.focus();
                        });
                        let heading = if report.errors.iter().all(|e| e.row == 0) {
                            "Nothing was stored: fix the file and import it again"
                        } else {
                            "Nothing was stored: fix these rows and import the file again"
                        };
                        view! {
                            <div class="error-summary" role="group" tabindex="-1" aria-labelledby="import-errors" node_ref=summary data-testid="import-result">
                                <h3 id="import-errors">{heading}</h3>
                                {(total > SHOWN_IMPORT_ERRORS).then(|| view! {
                                    <p>{format!("Showing the first {SHOWN_IMPORT_ERRORS} of {total} errors.")}</p>
                                })}
                                <ul>
                                    {report.errors.into_iter().take(SHOWN_IMPORT_ERRORS).map(|e| view! { <li>{capitalised(&e.located())}</li> }).collect_view()}
                                </ul>
                            </div>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="notice notice-error" role="alert">{capitalised(&e.located())}</p> }.into_any(),
                })}
            </article>
        </section>
        // A preview's rows need the page's whole width.
        {move || import.value().get().and_then(Result::ok).and_then(|report| {
            let changed = report.updated;
            report.preview.map(|preview| view! {
                <section class="panel import-preview-panel" aria-labelledby="import-preview-title">
                    <h2 id="import-preview-title">"Preview: nothing stored yet"</h2>
                    <ImportPreviewView preview changed />
                </section>
            })
        })}
    }
}

/// Amounts line up on the right, as in every other table of money.
fn amount_class(column: &str) -> &'static str {
    if column == domain::facts::AMOUNT_COLUMN {
        "num"
    } else {
        ""
    }
}

/// What a preview shows of a valid file: its totals, its first rows as they would be stored,
/// and the stored rows it would change, field by field.
#[component]
fn ImportPreviewView(
    preview: domain::facts::ImportPreview,
    /// How many stored rows the file changes in all (the preview lists the first ones).
    changed: usize,
) -> impl IntoView {
    let domain::facts::ImportPreview {
        columns,
        sample,
        changes,
        totals,
    } = preview;
    let caption = match sample.len() {
        1 => "The row as it would be stored".to_owned(),
        n => format!("The first {n} rows as they would be stored"),
    };
    let unlisted = changed.saturating_sub(changes.len());
    view! {
        <div class="import-preview" data-testid="import-preview">
            <dl class="facts">
                {totals.into_iter().map(|(name, value)| view! { <dt>{name}</dt><dd>{value}</dd> }).collect_view()}
            </dl>
            // Explicit roles: on a phone the rows are laid out as cards.
            <div class="table-scroll"><table class="history import-sample" role="table">
                <caption>{caption}</caption>
                <thead role="rowgroup"><tr role="row">
                    <th scope="col" role="columnheader">"Row"</th>
                    {columns.iter().map(|c| view! { <th scope="col" class=amount_class(c) role="columnheader">{c.clone()}</th> }).collect_view()}
                </tr></thead>
                <tbody role="rowgroup">
                    {sample.into_iter().map(|row| view! {
                        <tr role="row">
                            <td role="cell" data-label="Row">{row.row}</td>
                            {row.cells.into_iter().zip(columns.clone()).map(|(cell, column)| view! {
                                <td role="cell" class=amount_class(&column) data-label=column>{if cell.is_empty() { "—".to_owned() } else { cell }}</td>
                            }).collect_view()}
                        </tr>
                    }).collect_view()}
                </tbody>
            </table></div>
            {(!changes.is_empty()).then(|| view! {
                <h3>"Stored rows the file changes"</h3>
                <ul class="import-changes" data-testid="import-changes">
                    {changes.into_iter().map(|change| view! {
                        <li>
                            <strong>{change.key.clone()}</strong>{format!(" (row {}): {}", change.row, change.describe())}
                        </li>
                    }).collect_view()}
                </ul>
                {(unlisted > 0).then(|| view! { <p class="hint">{format!("And {unlisted} more.")}</p> })}
            })}
        </div>
    }
}

#[component]
fn StatementCard(
    statement: StatementView,
    /// Whether the reader may approve and pay.
    finance: bool,
    advance: ServerAction<AdvanceStatement>,
    /// On the statement's own page, which needs no link to itself.
    #[prop(optional)]
    own_page: bool,
) -> impl IntoView {
    let s = statement;
    let digits = digits_of(&s.currency);
    let status_class = format!("status status-{}", s.status.as_str());
    // Every card has the same buttons: their names say whose statement they act on.
    let whose = format!("{} {}", s.partner_name, s.period);
    // Each name starts with the visible label, so speaking the label still finds the control.
    let (see_label, approve_label) = (format!(" ({whose})"), format!("Approve {whose}"));
    let confirm_label = format!("Yes, approve {whose}");
    // The payout reference's label is visible; its hidden end names the statement.
    let (reference_whose, paid_label) = (format!(" for {whose}"), format!("Mark paid: {whose}"));
    let reloading = use_context::<Reloading>();
    let acting = use_context::<Acting>();
    let refused_here = {
        let whose = whose.clone();
        move || {
            let acted_here = acting.is_some_and(|a| a.0.with(|acted| *acted == whose));
            (acted_here && !advance.pending().get())
                .then(|| {
                    advance.value().with(|v| match v {
                        Some(Err(e)) => Some(view! { <p class="field-error">{e.located()}</p> }),
                        _ => None,
                    })
                })
                .flatten()
        }
    };
    view! {
        <li class="card statement">
            <p class="card-top">
                <span class=status_class>{s.status.as_str()}</span>
                <span class="meta">{s.plan_name.clone()}</span>
            </p>
            // The period is in the heading: a partner's own list would otherwise repeat one name.
            <h2 class="card-title">{s.partner_name.clone()} " · " {s.period.clone()}</h2>
            <table class="lines">
                <caption class="visually-hidden">"How the rebate was computed"</caption>
                <tbody>
                    {s.lines.iter().map(|l| view! {
                        <tr><th scope="row">{l.description.clone()}</th><td class="num">{line_amount(l, digits)}</td></tr>
                    }).collect_view()}
                </tbody>
                <tfoot>
                    <tr><th scope="row">"Total " {s.currency.clone()}</th><td class="num" data-testid="statement-total">{money(s.total, digits)}</td></tr>
                </tfoot>
            </table>
            {(s.total < 0).then(|| view! {
                <p class="meta">"A negative total: the partner owes this amount back; marking it paid records that it was settled."</p>
            })}
            {s.approved_at.map(|at| view! {
                <p class="meta" data-testid="statement-approved">
                    "Approved " {human_date_time(at)}
                    {s.approved_by.clone().map(|by| format!(" by {by}"))}
                </p>
            })}
            {s.payout_reference.clone().map(|r| view! {
                <p class="meta" data-testid="statement-paid">
                    "Paid: " {r}
                    {s.paid_at.map(|at| format!(", recorded {}", human_date_time(at)))}
                    {s.paid_by.clone().map(|by| format!(" by {by}"))}
                </p>
            })}
            {(!own_page).then(|| view! {
                <p><a href=format!("/rebates/{}", s.id)>"See the sales behind it"<span class="visually-hidden">{see_label}</span></a></p>
            })}
            {s.approvable_from.clone().map(|from| view! {
                <p class="meta">"The period is still running: this draft can be approved from " {readable_date(&from)} "."</p>
            })}
            {s.computed_while_running.then(|| view! {
                <p class="meta">
                    "Computed while " {s.period.clone()} " was running: its last sales may be missing. "
                    {finance.then_some("Run the period again to approve it.")}
                </p>
            })}
            {(finance && s.status == StatementStatus::Draft && s.approvable_from.is_none() && !s.computed_while_running).then(|| {
                // Approving locks the statement for good: the figure is confirmed first.
                let (id, total) = (s.id, s.total);
                let ask = Ask::from_address(&id.to_string());
                let question_id = format!("approve-question-{id}");
                let question = format!(
                    "Approve {} {} for {whose}? An approved statement never changes.",
                    money(s.total, digits),
                    s.currency
                );
                let whose = whose.clone();
                move || if ask.get() == Ask::Asking {
                    let (question, confirm_label, whose, question_id) =
                        (question.clone(), confirm_label.clone(), whose.clone(), question_id.clone());
                    view! {
                        <ActionForm action=advance attr:class="stack">
                            <CsrfField />
                            <input type="hidden" name="id" value=id />
                            // The total asked about: a draft recomputed since is refused.
                            <input type="hidden" name="total" value=total />
                            <p class="meta" id=question_id.clone()>{question}</p>
                            <ConfirmButtons label="Yes, approve".to_owned() aria_label=confirm_label whose described_by=question_id
                                pending=advance.pending() ask />
                        </ActionForm>
                    }.into_any()
                } else {
                    view! {
                        <AskButton what=id.to_string() label="Approve".to_owned() aria_label=approve_label.clone() ask />
                    }.into_any()
                }
            })}
            {(finance && s.status == StatementStatus::Approved).then(|| {
                let whose = whose.clone();
                view! {
                    <ActionForm action=advance attr:class="stack">
                        <CsrfField />
                        <input type="hidden" name="id" value=s.id />
                        <div class="field">
                            <label for=format!("ref-{}", s.id)>"Payout reference"<span class="visually-hidden">{reference_whose}</span></label>
                            // One line with a visible character: the server says what else it refuses.
                            <input id=format!("ref-{}", s.id) name="payout_reference" type="text" placeholder="PO-2026-0042"
                                required maxlength="140" pattern=r".*\S.*" title="The payout system's reference, on one line" />
                        </div>
                        <button type="submit" class="button primary" aria-label=paid_label
                            disabled=move || advance.pending().get() || reloading.is_some_and(|r| r.0.try_get().unwrap_or(true))
                            on:click=move |_| {
                                if let Some(acting) = acting {
                                    acting.0.set(whose.clone());
                                }
                            }>"Mark paid"</button>
                    </ActionForm>
                }
            })}
            // A refusal of this card's own action, said here too, beside what it is about.
            {move || refused_here()}
        </li>
    }
}

/// The period in progress: the rebate earned so far, from today's sales.
#[component]
fn ForecastCard() -> impl IntoView {
    let forecast = Resource::new(|| (), |_| get_forecast());
    view! {
        // A placeholder of the panel's size, so the statements below do not move when it comes.
        <Suspense fallback=|| view! { <section class="panel forecast skeleton" aria-busy="true" aria-label="Loading this period's forecast"></section> }>
            {move || Suspend::new(async move {
                let f = match forecast.await {
                    Ok(Some(f)) => f,
                    Ok(None) => return view! {
                        <p class="hint" data-testid="forecast-none">"No rebate plan applies to your organisation this period, so there is no rebate to forecast."</p>
                    }.into_any(),
                    Err(error) => return view! { <p class="notice notice-error" role="alert">{error.located()}</p> }.into_any(),
                };
                view! {
                    <section class="panel forecast" aria-labelledby="forecast">
                        <h2 id="forecast">"This period so far: " {f.period.clone()}</h2>
                        <p class="what-if-result" data-testid="forecast-total">{money(f.total, f.minor_digits)} " " {f.currency.clone()}</p>
                        <p class="hint">{if f.restatements_only {
                            format!(
                                "Your tier has no rebate plan this period: the statement will carry what earlier approved periods now owe, or take back, as of {}. It becomes a statement when finance runs the period.",
                                readable_date(&f.as_of)
                            )
                        } else {
                            format!(
                                "{} on {} {} of sales up to {}. It becomes a statement when finance runs the period.",
                                f.plan_name,
                                money(f.basis, f.minor_digits),
                                f.currency,
                                readable_date(&f.as_of)
                            )
                        }}</p>
                        <table class="lines" data-testid="forecast-lines">
                            <caption class="visually-hidden">"How the rebate so far was computed"</caption>
                            <tbody>
                                {f.lines.iter().map(|l| view! {
                                    <tr><th scope="row">{l.description.clone()}</th><td class="num">{line_amount(l, f.minor_digits)}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        {(!f.restatements_only).then(|| view! {
                            <p class="criterion-label">"Forecast for the period"</p>
                            <p class="what-if-result" data-testid="forecast-projection">{money(f.projected_total, f.minor_digits)} " " {f.currency.clone()}</p>
                            <p class="hint">
                                "If sales go on at this pace until " {crate::pages::scorecard::forecast_end(&f.period_ends)}
                                " (" {money(f.projected_basis, f.minor_digits)} " " {f.currency.clone()} " of sales)."
                            </p>
                        })}
                    </section>
                }
                .into_any()
            })}
        </Suspense>
    }
}

/// `/rebates/:id`: one statement and the sales behind its basis.
#[component]
pub fn StatementPage() -> impl IntoView {
    let me = me_resource();
    let query = use_query_map();
    let id = id_param();
    let advance = ServerAction::<AdvanceStatement>::new();
    let advanced = advanced(advance);
    // Finance approves or pays from here too, after reading the sales; the page follows.
    let statement = Resource::new(move || (id(), advanced.get()), |(id, _)| get_statement(id));
    let (reloading, set_reloading) = signal(false);
    provide_context(Reloading(reloading));
    provide_context(Acting(RwSignal::new(String::new())));
    view! {
        <Title text="Statement" />
        <nav class="breadcrumb" aria-label="Breadcrumb"><a href="/rebates">"← Rebates"</a></nav>
        <AdvanceResult advance />
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> } set_pending=set_reloading>
            {move || Suspend::new(async move {
                match statement.await {
                    Ok(StatementDetail { statement, sales, sales_count, counted_count, late }) => {
                        let finance = matches!(me.await, Ok(Some(ref me)) if me.role.can_run_rebates());
                        // Back from a plain form post, the address says what was done: said when
                        // the statement bears it out.
                        let done = (statement.status != StatementStatus::Draft
                            && advance.value().with_untracked(Option::is_none)
                            && query.with_untracked(|q| q.get_str("done") == Some(&format!("{}-{}", statement.status.as_str(), statement.id))))
                        .then(|| view! {
                            <p class="notice notice-success" role="status" data-testid="done-result">{advanced_to(&statement)}</p>
                        });
                        let heading = format!("{} · {} rebate statement", statement.partner_name, statement.period);
                        let digits = digits_of(&statement.currency);
                        let export = format!("/api/v1/rebates/statements/{}/sales.csv", statement.id);
                        let shown = sales.len();
                        let summary = format!(
                            "{} sale{}, {} in the basis of {} {}. ",
                            grouped(sales_count),
                            if sales_count == 1 { "" } else { "s" },
                            grouped(counted_count),
                            money(statement.basis, digits),
                            statement.currency
                        );
                        let amount_heading = format!("Amount ({})", statement.currency);
                        // What happens to a sale the statement did not see: said once, below the
                        // table, so the column stays narrow on a phone.
                        let later = if statement.status == StatementStatus::Draft {
                            "the next run takes them in."
                        } else {
                            "this statement never changes; a restatement line on the partner's next statement carries the difference."
                        };
                        view! {
                        <section class="studio-head"><h1>{heading}</h1></section>
                        {done}
                        <ul class="statements single"><StatementCard statement finance advance own_page=true /></ul>
                        <section class="panel">
                            <h2 id="basis-sales">"Sales in the period"</h2>
                            {if sales_count == 0 {
                                // A statement of restatement lines alone, or a period without sales.
                                view! {
                                    <p class="hint" data-testid="basis-summary">
                                        "No sales in this period: the total comes from the lines above."
                                    </p>
                                }.into_any()
                            } else {
                                view! {
                            <p class="hint" data-testid="basis-summary">
                                {summary}
                                {(shown < sales_count).then(|| format!("Showing the first {}. ", grouped(shown)))}
                                <a href=export>"Download all as CSV"</a>
                            </p>
                            // Explicit roles: on a phone the rows are laid out as cards, which
                            // must not cost the table its meaning to a screen reader.
                            <div class="table-scroll"><table class="history basis-sales" role="table" aria-labelledby="basis-sales">
                                <thead role="rowgroup"><tr role="row">
                                    <th scope="col" role="columnheader">"Sale"</th><th scope="col" role="columnheader">"Booked"</th>
                                    <th scope="col" role="columnheader">"Product line"</th>
                                    <th scope="col" class="num" role="columnheader">{amount_heading}</th><th scope="col" role="columnheader">"In the basis"</th>
                                </tr></thead>
                                <tbody role="rowgroup">
                                    {sales.into_iter().map(|sale| { let in_basis = sale.in_basis(); view! {
                                        <tr role="row">
                                            <td role="cell" class="sale" data-label="Sale">{sale.external_id}</td>
                                            <td role="cell" data-label="Booked">{sale.booked_on}</td>
                                            <td role="cell" data-label="Product line">{sale.product_line}</td>
                                            <td role="cell" class="num" data-label="Amount">{money(sale.amount, digits)}</td>
                                            <td role="cell" data-label="In the basis">{in_basis}</td>
                                        </tr>
                                    }}).collect_view()}
                                </tbody>
                            </table></div>
                                }.into_any()
                            }}
                            {late.then(|| view! {
                                <p class="hint" data-testid="late-sales">
                                    "Sales that arrived or changed after this statement was computed are not in its basis as they are now: "
                                    {later}
                                </p>
                            })}
                        </section>
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
    }
}
