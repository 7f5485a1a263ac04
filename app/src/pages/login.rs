//! Sign-in.

use crate::api::SignIn;
use crate::components::CsrfField;
use leptos::prelude::*;
use leptos_meta::Title;

/// The sign-in page. Works as a plain form before the WASM loads; errors come back inline.
#[component]
pub fn LoginPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let error = move || sign_in.value().get().and_then(Result::err);

    view! {
        <Title text="Sign in" />
        <main id="main" class="login">
            <div class="login-card">
                <p class="brand login-brand">
                    <span class="brand-mark" aria-hidden="true">"◆"</span>
                    " Atrium"
                </p>
                <h1>"Sign in to your partner portal"</h1>
                {move || {
                    error()
                        .map(|e| {
                            let target = format!("#{}", e.field.clone().unwrap_or_else(|| "email".into()));
                            view! {
                                <div class="error-summary" role="alert" tabindex="-1">
                                    <h2>"There is a problem"</h2>
                                    <p>
                                        <a href=target>{e.message}</a>
                                    </p>
                                </div>
                            }
                        })
                }}
                <ActionForm action=sign_in attr:class="stack" attr:novalidate="">
                    <CsrfField />
                    <div class="field">
                        <label for="email">"E-mail address"</label>
                        <input id="email" name="email" type="email" autocomplete="username" required inputmode="email" />
                    </div>
                    <div class="field">
                        <label for="password">"Password"</label>
                        <input id="password" name="password" type="password" autocomplete="current-password" required />
                    </div>
                    <button type="submit" class="button primary" disabled=move || sign_in.pending().get()>
                        {move || if sign_in.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </ActionForm>
                <p class="hint">"Demo: sales@northwind.test with password atrium-demo-2026"</p>
            </div>
        </main>
    }
}
