//! Rebates: finance imports facts, runs a period, approves and pays statements; partners read
//! their statements line by line.

use crate::api::{
    get_forecast, get_period_drafts, get_statement, get_statements, AdvanceStatement, ApprovePeriod,
    ImportFacts, RunRebates, StatementDetail,
};
use crate::components::id_param;
use crate::components::{query_value, CsrfField, ErrorPanel, MeResource};
use domain::identity::{OrganisationKind, PartnerType, Role};
use domain::money::format_minor;
use domain::rebates::{grouped, PeriodDrafts, StatementPage, StatementStatus, StatementView};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

fn money(minor: i64, digits: u32) -> String {
    format_minor(minor, digits)
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

/// `/rebates`: the finance workspace for vendor staff, the statements for partners. The
/// filters are a plain GET form, so every view of the list has its own address.
#[component]
pub fn RebatesPage() -> impl IntoView {
    let MeResource(me) = expect_context::<MeResource>();
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).unwrap_or_default();
    let period = move || param("period");
    let run = ServerAction::<RunRebates>::new();
    let advance = ServerAction::<AdvanceStatement>::new();
    let approve_all = ServerAction::<ApprovePeriod>::new();
    // Anything that changes statements reloads the list and the period's drafts.
    let changes = move || {
        (
            run.version().get(),
            advance.version().get(),
            approve_all.version().get(),
        )
    };
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
        // The head and the tools depend on the reader only, so a run, an import or an approval
        // refreshes the list below without clearing the forms and their results.
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (vendor, finance, many_partners) = reader().await;
                let p = period();
                // Only a valid period makes an export link (its text is then safe in a URL).
                let export = domain::period::FiscalPeriod::parse(p.trim(), "period").ok().filter(|_| finance);
                let status = param("status");
                view! {
                    <section class="studio-head">
                        <h1>{if vendor { "Rebates" } else { "Your rebate statements" }}</h1>
                    </section>
                    {finance.then(|| view! { <FinanceTools run /> })}
                    {(!vendor).then(|| view! { <ForecastCard /> })}
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
                            <a class="button" href=format!("/api/v1/rebates/statements.csv?period={period}")
                                title="Approved and paid statements, for the payout system">{format!("Export {period} payouts (CSV)")}</a>
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
        <Transition fallback=|| view! { <p class="loading">"Loading statements…"</p> }>
            {move || Suspend::new(async move {
                let (_, finance, _) = reader().await;
                let p = period();
                let filtered = !param("status").is_empty() || !param("partner").is_empty();
                let period_drafts = match drafts.await {
                    Ok(Some(d)) if d.count > 0 => Some(view! { <PeriodApprovalPanel drafts=d approve_all /> }.into_any()),
                    Ok(_) => None,
                    Err(error) => Some(view! { <p class="notice notice-error" role="alert">{error.located()}</p> }.into_any()),
                };
                let list = match statements.await {
                    Ok(page) if page.statements.is_empty() => view! {
                        <p class="empty">
                            {match (p.is_empty(), filtered) {
                                (_, true) => "No statements match these filters.".to_owned(),
                                (true, false) => "No statements yet.".to_owned(),
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
                view! { {period_drafts} {list} }.into_any()
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
        let href = |number: usize| {
            let filters: String = ["period", "status", "partner"]
                .iter()
                .map(|name| format!("{name}={}&", query_value(&param(name))))
                .collect();
            format!("/rebates?{filters}page={number}")
        };
        Pager {
            previous: (current > 1).then(|| href(current - 1)),
            next: page.has_next().then(|| href(current + 1)),
            label: format!("Page {current} of {last}"),
        }
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
    let (confirming, set_confirming) = signal(false);
    let total = format!("{} {}", money(drafts.total, drafts.minor_digits), drafts.currency);
    let plural = if drafts.count == 1 { "" } else { "s" };
    let count = grouped(drafts.count);
    let summary = format!("{count} draft{plural} totalling {total}.");
    let question = format!(
        "Approve {count} statement{plural} of {} totalling {total}? Approved statements never change; later facts reach the partners' next statements as restatement lines.",
        drafts.period
    );
    let confirm_label = format!("Yes, approve {count} statement{plural}");
    let start_label = format!("Approve all {count} draft{plural}…");
    view! {
        <section class="panel period-approval" aria-labelledby="period-approval" data-testid="period-approval">
            <h2 id="period-approval">{format!("Drafts of {}", drafts.period)}</h2>
            <p>{summary}</p>
            {match drafts.approvable_from.clone() {
                Some(from) => view! {
                    <p class="hint">"The period is still running: its drafts can be approved from " {from} "."</p>
                }.into_any(),
                None => {
                    // The figures the approver confirms travel with the approval.
                    let (period, shown_count, shown_total) = (drafts.period.clone(), drafts.count, drafts.total);
                    (move || if confirming.get() {
                        let (period, question, confirm_label) = (period.clone(), question.clone(), confirm_label.clone());
                        view! {
                            <ActionForm action=approve_all attr:class="stack">
                                <CsrfField />
                                <input type="hidden" name="period" value=period />
                                <input type="hidden" name="count" value=shown_count />
                                <input type="hidden" name="total" value=shown_total />
                                <p class="notice notice-warning">{question}</p>
                                <ConfirmButtons label=confirm_label pending=approve_all.pending() cancel=set_confirming />
                            </ActionForm>
                        }.into_any()
                    } else {
                        view! {
                            <button type="button" class="button" on:click=move |_| set_confirming.set(true)>{start_label.clone()}</button>
                        }.into_any()
                    }).into_any()
                }
            }}
        </section>
    }
}

/// The two buttons of a confirmation: the form's submit, disabled while it works, and Cancel,
/// which backs out without sending anything.
#[component]
fn ConfirmButtons(
    label: String,
    /// A fuller name for the submit button, when its label alone does not say what it acts on.
    #[prop(optional, into)]
    aria_label: Option<String>,
    #[prop(into)] pending: Signal<bool>,
    cancel: WriteSignal<bool>,
) -> impl IntoView {
    view! {
        <div class="row">
            <button type="submit" class="button primary" aria-label=aria_label disabled=move || pending.get()>{label}</button>
            <button type="button" class="button" on:click=move |_| cancel.set(false)>"Cancel"</button>
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
                Ok(s) => view! {
                    <p class="notice notice-success">
                        {format!(
                            "{} {} {}.",
                            s.partner_name,
                            s.period,
                            if s.status == StatementStatus::Paid { "is marked paid" } else { "is approved" }
                        )}
                    </p>
                }.into_any(),
                Err(e) => view! { <p class="notice notice-error" role="alert">{e.located()}</p> }.into_any(),
            })}
            {move || approved_all().map(|result| match result {
                Ok(a) => view! {
                    <p class="notice notice-success">
                        {format!(
                            "Approved {} statement{} of {} totalling {} {}.",
                            grouped(a.approved),
                            if a.approved == 1 { "" } else { "s" },
                            a.period,
                            money(a.total, a.minor_digits),
                            a.currency
                        )}
                    </p>
                }.into_any(),
                Err(e) => view! { <p class="notice notice-error" role="alert">{e.located()}</p> }.into_any(),
            })}
        </div>
    }
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
                Err(_) => set_error.set(Some(format!("{} could not be read", file.name()))),
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
                <p role="status" data-testid="run-result">
                    {move || run.value().get().map(|r| match r {
                        Ok(s) => format!(
                            "{}: {} draft statement{} totalling {} {}; {} locked left as {} were.",
                            s.period,
                            s.drafts,
                            if s.drafts == 1 { "" } else { "s" },
                            money(s.draft_total, s.minor_digits),
                            s.currency,
                            s.locked,
                            if s.locked == 1 { "it" } else { "they" }
                        ),
                        Err(e) => e.located(),
                    })}
                </p>
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
                            on:change=move |ev| load_file(ev, set_data, set_exact, set_file_error) />
                        <p class="field-error" id="import-file-error" role="alert">{move || file_error.get()}</p>
                    </div>
                    <div class="field">
                        <label for="import-data">"CSV with a header row, or JSON lines"</label>
                        <textarea id="import-data" rows="6" class="code" required
                            name=move || exact.with(Option::is_none).then_some("data")
                            prop:value=move || data.get()
                            on:input=move |ev| {
                                set_exact.set(None);
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
                            <p>{format!("{}.", report.summary())}</p>
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
                        view! {
                            <div class="error-summary" role="alert" data-testid="import-result">
                                <h2>"Nothing was stored: fix these rows and import the file again"</h2>
                                {(total > SHOWN_IMPORT_ERRORS).then(|| view! {
                                    <p>{format!("Showing the first {SHOWN_IMPORT_ERRORS} of {total} errors.")}</p>
                                })}
                                <ul>
                                    {report.errors.into_iter().take(SHOWN_IMPORT_ERRORS).map(|e| view! { <li>{capitalised(&e.located())}</li> }).collect_view()}
                                </ul>
                            </div>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="notice notice-error" role="alert">{e.located()}</p> }.into_any(),
                })}
            </article>
        </section>
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
    let (reference_label, paid_label) = (
        format!("Payout reference for {whose}"),
        format!("Mark paid: {whose}"),
    );
    view! {
        <li class="card statement">
            <p class="card-top">
                <span class=status_class>{s.status.as_str()}</span>
                <span class="meta">{s.period.clone()} " · " {s.plan_name.clone()}</span>
            </p>
            <h2 class="card-title">{s.partner_name.clone()}</h2>
            <table class="lines">
                <caption class="visually-hidden">"How the rebate was computed"</caption>
                <tbody>
                    {s.lines.iter().map(|l| view! {
                        <tr><td>{l.description.clone()}</td><td class="num">{money(l.amount, digits)}</td></tr>
                    }).collect_view()}
                </tbody>
                <tfoot>
                    <tr><th scope="row">"Total " {s.currency.clone()}</th><td class="num" data-testid="statement-total">{money(s.total, digits)}</td></tr>
                </tfoot>
            </table>
            {s.payout_reference.clone().map(|r| view! { <p class="meta">"Paid: " {r}</p> })}
            {(!own_page).then(|| view! {
                <p><a href=format!("/rebates/{}", s.id)>"See the sales behind it"<span class="visually-hidden">{see_label}</span></a></p>
            })}
            {s.approvable_from.clone().map(|from| view! {
                <p class="meta">"The period is still running: this draft can be approved from " {from} "."</p>
            })}
            {(finance && s.status == StatementStatus::Draft && s.approvable_from.is_none()).then(|| {
                // Approving locks the statement for good: the figure is confirmed first.
                let (confirming, set_confirming) = signal(false);
                let question = format!(
                    "Approve {} {} for {whose}? An approved statement never changes.",
                    money(s.total, digits),
                    s.currency
                );
                let id = s.id;
                move || if confirming.get() {
                    let (question, confirm_label) = (question.clone(), confirm_label.clone());
                    view! {
                        <ActionForm action=advance attr:class="stack">
                            <CsrfField />
                            <input type="hidden" name="id" value=id />
                            <p class="meta">{question}</p>
                            <ConfirmButtons label="Yes, approve".to_owned() aria_label=confirm_label
                                pending=advance.pending() cancel=set_confirming />
                        </ActionForm>
                    }.into_any()
                } else {
                    view! {
                        <button type="button" class="button" aria-label=approve_label.clone()
                            on:click=move |_| set_confirming.set(true)>"Approve"</button>
                    }.into_any()
                }
            })}
            {(finance && s.status == StatementStatus::Approved).then(|| view! {
                <ActionForm action=advance attr:class="row">
                    <CsrfField />
                    <input type="hidden" name="id" value=s.id />
                    <label class="visually-hidden" for=format!("ref-{}", s.id)>{reference_label}</label>
                    // One line with a visible character: the server says what else it refuses.
                    <input id=format!("ref-{}", s.id) name="payout_reference" type="text" placeholder="Payout reference"
                        required maxlength="140" pattern=r".*\S.*" title="The payout system's reference, on one line" />
                    <button type="submit" class="button primary" aria-label=paid_label
                        disabled=move || advance.pending().get()>"Mark paid"</button>
                </ActionForm>
            })}
        </li>
    }
}

/// The period in progress: the rebate earned so far, from today's sales.
#[component]
fn ForecastCard() -> impl IntoView {
    let forecast = Resource::new(|| (), |_| get_forecast());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let f = match forecast.await {
                    Ok(Some(f)) => f,
                    Ok(None) => return view! {
                        <p class="hint" data-testid="forecast-none">"Your tier has no rebate plan this period, so there is no rebate to forecast."</p>
                    }.into_any(),
                    Err(error) => return view! { <p class="notice notice-error" role="alert">{error.located()}</p> }.into_any(),
                };
                view! {
                    <section class="panel forecast" aria-labelledby="forecast">
                        <h2 id="forecast">"This period so far: " {f.period.clone()}</h2>
                        <p class="what-if-result" data-testid="forecast-total">{money(f.total, f.minor_digits)} " " {f.currency.clone()}</p>
                        <p class="hint">{f.plan_name.clone()} " on " {money(f.basis, f.minor_digits)} " of sales up to " {f.as_of.clone()} ". It becomes a statement when finance runs the period."</p>
                        <p class="criterion-label">"Forecast for the period"</p>
                        <p class="what-if-result" data-testid="forecast-projection">{money(f.projected_total, f.minor_digits)} " " {f.currency.clone()}</p>
                        <p class="hint">
                            "If sales go on at this pace until " {crate::pages::scorecard::forecast_end(&f.period_ends)}
                            " (" {money(f.projected_basis, f.minor_digits)} " of sales)."
                        </p>
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
    let MeResource(me) = expect_context::<MeResource>();
    let id = id_param();
    let advance = ServerAction::<AdvanceStatement>::new();
    // Finance approves or pays from here too, after reading the sales; the page follows.
    let statement = Resource::new(
        move || (id(), advance.version().get()),
        |(id, _)| get_statement(id),
    );
    view! {
        <Title text="Statement" />
        <nav class="breadcrumb" aria-label="Breadcrumb"><a href="/rebates">"← Rebates"</a></nav>
        <AdvanceResult advance />
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match statement.await {
                    Ok(StatementDetail { statement, sales, sales_count, counted_count, late }) => {
                        let finance = matches!(me.await, Ok(Some(ref me)) if me.role.can_run_rebates());
                        let heading = format!("{} · {} rebate statement", statement.partner_name, statement.period);
                        let digits = digits_of(&statement.currency);
                        let export = format!("/api/v1/rebates/statements/{}/sales.csv", statement.id);
                        let shown = sales.len();
                        let summary = format!(
                            "{sales_count} sale{}, {counted_count} in the basis of {} {}. ",
                            if sales_count == 1 { "" } else { "s" },
                            money(statement.basis, digits),
                            statement.currency
                        );
                        // What happens to a sale the statement did not see: said once, below the
                        // table, so the column stays narrow on a phone.
                        let later = if statement.status == StatementStatus::Draft {
                            "the next run takes them in."
                        } else {
                            "this statement never changes; a restatement line on the partner's next statement carries the difference."
                        };
                        view! {
                        <section class="studio-head"><h1>{heading}</h1></section>
                        <ul class="statements single"><StatementCard statement finance advance own_page=true /></ul>
                        <section class="panel">
                            <h2>"Sales in the period"</h2>
                            <p class="hint" data-testid="basis-summary">
                                {summary}
                                {(shown < sales_count).then(|| format!("Showing the first {shown}. "))}
                                <a href=export>"Download all as CSV"</a>
                            </p>
                            // Explicit roles: on a phone the rows are laid out as cards, which
                            // must not cost the table its meaning to a screen reader.
                            <div class="table-scroll"><table class="history basis-sales" role="table">
                                <thead role="rowgroup"><tr role="row">
                                    <th scope="col" role="columnheader">"Sale"</th><th scope="col" role="columnheader">"Booked"</th>
                                    <th scope="col" role="columnheader">"Product line"</th>
                                    <th scope="col" class="num" role="columnheader">"Amount"</th><th scope="col" role="columnheader">"In the basis"</th>
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
