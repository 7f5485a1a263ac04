//! Atrium's interface: one Leptos application rendered on the server and hydrated in the
//! browser. Pages are useful before the WASM arrives (server rendering and plain forms);
//! hydration adds instant filtering and in-place updates.

#![recursion_limit = "256"]

#[expect(
    clippy::too_many_arguments,
    reason = "save_content and register_deal take one argument per field of a plain HTML form"
)]
pub mod api;
pub mod components;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;

use components::PortalLayout;
use pages::{
    AuditPage, DashboardPage, DealNewPage, DealPage, DealsPage, ItemPage, LoginPage, MePage, NotFound,
    NotificationsPage, ProgramPage, RebatesPage, RoomPage, ScorecardPage, StatementPage, StudioEditPage,
    StudioListPage, StudioNewPage, TierPage,
};

/// The HTML document around the application.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <meta name="description" content="Atrium partner portal" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The application: routes and the state every page shares.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Marks the page as interactive once the WASM has taken over (tests wait for it).
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/atrium.css" />
        <Title formatter=|title: String| if title.is_empty() { "Atrium".to_owned() } else { format!("{title} · Atrium") } />
        <Router>
            <Routes fallback=|| view! { <NotFound /> }>
                <Route path=path!("/login") view=LoginPage />
                <ParentRoute path=path!("") view=PortalLayout>
                    <Route path=path!("/rooms/:slug") view=RoomPage />
                    <Route path=path!("/items/:id") view=ItemPage />
                    <Route path=path!("/me") view=MePage />
                    <Route path=path!("/tier") view=TierPage />
                    <Route path=path!("/dashboard") view=DashboardPage />
                    <Route path=path!("/audit") view=AuditPage />
                    <Route path=path!("/scorecard") view=ScorecardPage />
                    <Route path=path!("/partners/:id/scorecard") view=ScorecardPage />
                    <Route path=path!("/deals") view=DealsPage />
                    <Route path=path!("/deals/new") view=DealNewPage />
                    <Route path=path!("/deals/:id") view=DealPage />
                    <Route path=path!("/notifications") view=NotificationsPage />
                    <Route path=path!("/rebates") view=RebatesPage />
                    <Route path=path!("/rebates/:id") view=StatementPage />
                    <Route path=path!("/studio") view=StudioListPage />
                    <Route path=path!("/studio/new") view=StudioNewPage />
                    <Route path=path!("/studio/program") view=ProgramPage />
                    <Route path=path!("/studio/:id") view=StudioEditPage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The browser entry point: takes over the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
