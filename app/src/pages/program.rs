//! The program editor: the whole program as a TOML document, checked as you type by the same
//! domain code the server validates with, saved as a new version from a date.

use crate::api::{get_program_snapshot, SaveProgram};
use crate::components::{human_date, CsrfField, ErrorPanel};
use domain::program::ProgramDoc;
use domain::scorecard::{describe_program, ProgramSnapshot};
use leptos::prelude::*;
use leptos_meta::Title;

/// Validates a document: a summary when valid, the error with its field path when not.
fn check(document: &str) -> Result<String, String> {
    let program = ProgramDoc::from_toml(document)
        .and_then(|doc| doc.validate())
        .map_err(|e| e.to_string())?;
    Ok(describe_program(&program))
}

/// Vendor staff: the program in force, its versions, and an editor for the next version.
#[component]
pub fn ProgramPage() -> impl IntoView {
    let save = ServerAction::<SaveProgram>::new();
    let snapshot = Resource::new(move || save.version().get(), |_| get_program_snapshot());
    view! {
        <Title text="Program" />
        <section class="studio-head">
            <h1>"Channel program"</h1>
        </section>
        <Suspense fallback=|| view! { <p class="loading">"Loading the program…"</p> }>
            {move || Suspend::new(async move {
                match snapshot.await {
                    Ok(snapshot) => view! { <ProgramEditor snapshot save /> }.into_any(),
                    Err(error) => view! { <ErrorPanel error under_heading=true /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ProgramEditor(snapshot: ProgramSnapshot, save: ServerAction<SaveProgram>) -> impl IntoView {
    let (document, set_document) = signal(snapshot.document_toml.clone());
    let status = move || check(&document.get());
    let saved = move || save.value().get().and_then(Result::ok);
    let failed = move || save.value().get().and_then(Result::err);
    view! {
        <p class="hint">
            "In force since " {snapshot.effective_from.human()}
            ". A new version applies from its date; earlier tier decisions keep the version they were made with. "
            "The format is described in docs/program-format.md."
        </p>
        {move || saved().map(|v| view! {
            <p class="notice notice-success" role="status">
                "Saved: version " {v.id} " applies from " {v.effective_from.human()} "."
            </p>
        })}
        {move || failed().map(|e| view! {
            <div class="error-summary" role="alert">
                <h2>"There is a problem"</h2>
                <p>{e.field.clone().map(|f| format!("{f}: ")).unwrap_or_default()} {e.message.clone()}</p>
            </div>
        })}
        <ActionForm action=save attr:class="stack editor">
            <CsrfField />
            <div class="field">
                <label for="effective_from">"Applies from"</label>
                <span class="hint">"Today or later."</span>
                <input id="effective_from" name="effective_from" type="date" required />
            </div>
            <div class="field">
                <label for="document">"Program (TOML)"</label>
                <p class="program-status" aria-live="polite" data-testid="program-status"
                    class:invalid=move || status().is_err()>
                    {move || match status() {
                        Ok(summary) => format!("✓ Valid. {summary}"),
                        Err(error) => format!("✗ {error}"),
                    }}
                </p>
                <textarea id="document" name="document" rows="28" spellcheck="false" class="code"
                    on:input=move |ev| set_document.set(event_target_value(&ev))>
                    {snapshot.document_toml.clone()}
                </textarea>
            </div>
            <button type="submit" class="button primary" disabled=move || save.pending().get()>
                "Save as a new version"
            </button>
        </ActionForm>
        <section class="panel">
            <h2>"Versions"</h2>
            <div class="table-scroll"><table class="history">
                <thead><tr><th scope="col">"Applies from"</th><th scope="col">"Saved"</th><th scope="col">"Status"</th></tr></thead>
                <tbody>
                    {snapshot.versions.iter().map(|v| view! {
                        <tr>
                            <td>{v.effective_from.human()}</td>
                            <td>{human_date(v.created_at)}</td>
                            <td>{if v.in_force { "In force" } else if v.effective_from > snapshot.effective_from { "Scheduled" } else { "Past" }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table></div>
        </section>
    }
}
