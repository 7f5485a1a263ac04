//! One module per page.

mod audit;
mod dashboard;
mod deals;
mod item;
mod login;
mod me;
mod notifications;
mod program;
mod rebates;
mod room;
pub(crate) mod scorecard;
mod studio;
mod tier;

pub use audit::AuditPage;
pub use dashboard::DashboardPage;
pub use deals::{DealNewPage, DealPage, DealsPage};
pub use item::ItemPage;
pub use login::LoginPage;
pub use me::MePage;
pub use notifications::NotificationsPage;
pub use program::ProgramPage;
pub use rebates::{RebatesPage, StatementPage};
pub use room::RoomPage;
pub use scorecard::{ScorecardPage, ScorecardPanel};
pub use studio::{StudioEditPage, StudioListPage, StudioNewPage};
pub use tier::TierPage;

use leptos::prelude::*;
use leptos_meta::Title;

/// The page for addresses that lead nowhere.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <main id="main" class="main">
            <section class="notice">
                <h1>"Page not found"</h1>
                <p>"The address may be mistyped, or the page has moved."</p>
                <a class="button" href="/">
                    "Go to your home page"
                </a>
            </section>
        </main>
    }
}
