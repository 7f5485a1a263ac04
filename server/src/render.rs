//! Pages render on single-threaded workers.
//!
//! A page streams in parts: each `<Suspense>` waits, through a reactive effect, for the set of
//! resources read inside it to empty. On the multi-threaded runtime the resource tasks and that
//! effect run on different threads, and under load a wake-up between them can be lost (the
//! framework has fixed several such races; tests here still met one): that part then never
//! resolves and the response stops mid-body (status 200, then nothing). Rendering each page on
//! one thread of a small pool of single-threaded runtimes removes the race: every task a page
//! spawns (resources, effects) runs on the page's thread, while different pages still render in
//! parallel across the pool.
//!
//! Server functions and everything outside the page router stay on the main runtime.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http::{Method, StatusCode};
use std::num::NonZeroUsize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::LocalPoolHandle;

/// How many body chunks may wait between the render thread and the connection.
const RELAYED_CHUNKS: usize = 8;

/// The pool of page-rendering threads, one per core.
#[derive(Clone)]
pub struct RenderWorkers {
    pool: LocalPoolHandle,
}

impl RenderWorkers {
    /// Starts one single-threaded runtime per available core.
    pub fn new() -> Self {
        let threads = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        Self {
            pool: LocalPoolHandle::new(threads),
        }
    }
}

impl Default for RenderWorkers {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a request renders a page (rather than calling a server function).
fn renders_page(request: &Request) -> bool {
    matches!(*request.method(), Method::GET | Method::HEAD) && !request.uri().path().starts_with("/rpc/")
}

/// The middleware: renders page requests on a render worker and relays the streamed body back
/// to the connection as it is produced.
pub async fn on_render_worker(
    State(workers): State<RenderWorkers>,
    request: Request,
    next: Next,
) -> Response {
    if !renders_page(&request) {
        return next.run(request).await;
    }
    let (head_tx, head_rx) = oneshot::channel();
    let (chunk_tx, chunk_rx) = mpsc::channel::<Result<Bytes, axum::Error>>(RELAYED_CHUNKS);
    // Detached: the task ends when the body is complete or the client has gone.
    drop(workers.pool.spawn_pinned(move || async move {
        let (parts, body) = next.run(request).await.into_parts();
        if head_tx.send(parts).is_err() {
            return;
        }
        let mut chunks = body.into_data_stream();
        while let Some(chunk) = chunks.next().await {
            if chunk_tx.send(chunk).await.is_err() {
                return;
            }
        }
    }));
    match head_rx.await {
        Ok(parts) => {
            // Fused: compression polls once more after the end.
            let relayed = futures_util::stream::unfold(chunk_rx, |mut rx| async move {
                rx.recv().await.map(|chunk| (chunk, rx))
            })
            .fuse();
            Response::from_parts(parts, Body::from_stream(relayed))
        }
        // The render task ended without an answer (it panicked); the panic is already logged.
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The page could not be rendered.",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    /// A router serving `page` at `/page` behind the render-worker layer.
    fn on_render_workers(page: axum::routing::MethodRouter) -> Router {
        Router::new()
            .route("/page", page)
            .layer(axum::middleware::from_fn_with_state(
                RenderWorkers::new(),
                on_render_worker,
            ))
    }

    fn request(method: Method, path: &str) -> Request {
        Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap()
    }

    #[test]
    fn only_page_requests_move_to_a_render_worker() {
        assert!(renders_page(&request(Method::GET, "/deals/new")));
        assert!(renders_page(&request(Method::HEAD, "/rooms/sales")));
        assert!(!renders_page(&request(Method::GET, "/rpc/me")));
        assert!(!renders_page(&request(Method::POST, "/rpc/register_deal")));
    }

    /// Everything a page spawns runs on the thread that renders it, and the streamed body
    /// arrives whole and in order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_page_renders_on_one_thread_and_streams_whole() {
        async fn page() -> Response {
            let renderer = std::thread::current().id();
            let mut parts = Vec::new();
            for part in 0..50 {
                // Spawned work lands on the render thread, as a page's resources do.
                let spawned = tokio::spawn(async move { (part, std::thread::current().id()) });
                let (part, thread) = spawned.await.unwrap();
                assert_eq!(thread, renderer, "part {part} ran on another thread");
                parts.push(Ok::<_, std::io::Error>(format!("<p>{part}</p>")));
            }
            Body::from_stream(futures_util::stream::iter(parts)).into_response()
        }
        let app = on_render_workers(get(page));
        let response = app.oneshot(request(Method::GET, "/page")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let expected: String = (0..50).map(|p| format!("<p>{p}</p>")).collect();
        assert_eq!(String::from_utf8(body.to_vec()).unwrap(), expected);
    }

    /// Compression reads the body once more after its end; the relayed body must answer "end"
    /// again rather than fail (a browser asks for compressed pages).
    #[tokio::test]
    async fn a_relayed_page_can_be_compressed() {
        async fn page() -> &'static str {
            "<p>a page worth compressing, a page worth compressing</p>"
        }
        let app = on_render_workers(get(page)).layer(tower_http::compression::CompressionLayer::new());
        let mut compressed = request(Method::GET, "/page");
        compressed
            .headers_mut()
            .insert(http::header::ACCEPT_ENCODING, "gzip".parse().unwrap());
        let response = app.oneshot(compressed).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[http::header::CONTENT_ENCODING], "gzip");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(body.starts_with(&[0x1f, 0x8b]), "a gzip stream");
    }

    #[tokio::test]
    async fn a_render_that_panics_answers_500() {
        async fn broken() -> Response {
            panic!("render failed")
        }
        let app = on_render_workers(get(broken));
        let response = app.oneshot(request(Method::GET, "/page")).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
