//! Building and running the web application: `build()` binds (port 0 in tests) and returns the
//! address; `run_until()` serves until the shutdown signal, finishing requests in flight.

use crate::config::SecureCookies;
use crate::render::{on_render_worker, RenderWorkers};
use crate::{api, health, web};
use app::{shell, App};
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use service::{Portal, PortalSettings, Store, SystemClock};
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Leptos site settings.
    pub leptos_options: LeptosOptions,
    /// The service layer.
    pub portal: Portal,
    /// Cookie `Secure` policy.
    pub secure_cookies: SecureCookies,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// Whether cookies on a response to this request are `Secure`.
    pub fn secure_cookies_for(&self, loopback_host: bool) -> bool {
        match self.secure_cookies {
            SecureCookies::Always => true,
            SecureCookies::Never => false,
            SecureCookies::Auto => !loopback_host,
        }
    }
}

/// Connects to the database with a pool of at most `connections` (the store's default when
/// `None`), migrates it and builds the service layer.
pub async fn open_portal(
    database_url: &str,
    connections: Option<NonZeroU32>,
    settings: PortalSettings,
) -> anyhow::Result<Portal> {
    let store = Store::connect_with(database_url, connections).await?;
    store.migrate().await?;
    let portal = Portal::new(store, Arc::new(SystemClock), settings);
    portal.load_business_calendar().await?;
    Ok(portal)
}

/// The whole HTTP surface: health, REST API, server functions, pages and static files. Pages
/// render on `render_workers`.
pub fn router(state: AppState, render_workers: RenderWorkers) -> Router {
    let routes = generate_route_list(App);
    let portal = state.portal.clone();
    let options = state.leptos_options.clone();
    // Pages and server functions. The upload page's import form carries a whole file: server
    // functions may read up to that much (ordinary forms stay capped by `web::request_context`).
    let pages = Router::new()
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(portal.clone()),
            move || shell(options.clone()),
        )
        // Each page renders on one thread (see `render`), which keeps its stream from stalling.
        .layer(axum::middleware::from_fn_with_state(
            render_workers,
            on_render_worker,
        ))
        .layer(DefaultBodyLimit::max(web::MAX_IMPORT_FORM_BYTES));
    Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .nest("/api/v1", api::router())
        .merge(pages)
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        // Compression wraps everything above; the live-update streams join after it (see
        // `api::stream_router`) and still pass through the session context and tracing below.
        .layer(CompressionLayer::new())
        .merge(api::stream_router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web::request_context,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    portal: Portal,
    /// Kept until the database pool is closed: connections opened while rendering a page belong
    /// to a render worker's runtime.
    render_workers: RenderWorkers,
}

impl Application {
    /// Binds `bind` (use port 0 for any free port) and assembles the router.
    pub async fn build(state: AppState, bind: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
        let portal = state.portal.clone();
        // Live updates from every instance sharing the database (Postgres).
        portal.start_event_listener();
        let render_workers = RenderWorkers::new();
        Ok(Self {
            listener,
            router: router(state, render_workers.clone()),
            portal,
            render_workers,
        })
    }

    /// The service layer this server runs on (for background jobs).
    pub fn portal(&self) -> &Portal {
        &self.portal
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish and closes the
    /// database pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        // Pages stream in several chunks: without TCP_NODELAY, Nagle's algorithm holds the
        // later chunks back until the client acknowledges the first (tens of milliseconds).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::warn!(error = %e, "cannot set TCP_NODELAY");
            }
        });
        axum::serve(
            listener,
            self.router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        self.portal.store().close().await;
        drop(self.render_workers);
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
