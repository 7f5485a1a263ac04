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
//!
//! Even so, under load a page's stream has, rarely, stopped for good mid-body: one part of it
//! still waiting, though everything it reads has arrived (the framework's issue
//! leptos-rs/leptos#4851 describes the same). So a page is not sent while it renders: its parts
//! are gathered until it is whole, which takes milliseconds. A page that goes
//! [`RENDER_AGAIN_AFTER`] without producing anything is abandoned and rendered afresh, once,
//! and that second rendering streams as it goes. Page requests carry no body (`GET`, `HEAD`),
//! so the same request can be rendered twice.
//!
//! A page that sends nothing for [`STALL_WARNING`] while it streams is logged with its path
//! and how far it got, so that a part which never finishes shows in the log rather than only
//! as a page that stops loading.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http::{Method, StatusCode};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::LocalPoolHandle;

/// How many body chunks may wait between the render thread and the connection.
const RELAYED_CHUNKS: usize = 8;

/// How long a page may go without producing its next part before the pause is logged. Pages
/// render in well under a second; their slowest query gives up after ten.
pub const STALL_WARNING: Duration = Duration::from_secs(20);

/// How long a page being gathered may go without producing its next part before it is
/// rendered afresh.
pub const RENDER_AGAIN_AFTER: Duration = Duration::from_secs(5);

/// The pool of page-rendering threads, one per core.
#[derive(Clone)]
pub struct RenderWorkers {
    pool: LocalPoolHandle,
    stall_warning: Duration,
    render_again_after: Duration,
    stalled: Arc<AtomicU64>,
    rendered_again: Arc<AtomicU64>,
}

impl RenderWorkers {
    /// Starts one single-threaded runtime per available core.
    pub fn new() -> Self {
        Self::with_timings(STALL_WARNING, RENDER_AGAIN_AFTER)
    }

    /// As [`RenderWorkers::new`], logging streaming pages that pause for longer than
    /// `stall_warning` and rendering afresh pages that produce nothing for `render_again_after`
    /// before they are whole.
    pub fn with_timings(stall_warning: Duration, render_again_after: Duration) -> Self {
        let threads = std::thread::available_parallelism().map_or(2, NonZeroUsize::get);
        Self {
            pool: LocalPoolHandle::new(threads),
            stall_warning,
            render_again_after,
            stalled: Arc::default(),
            rendered_again: Arc::default(),
        }
    }

    /// How many streaming pages have paused for longer than the warning since these workers
    /// started.
    pub fn stalled_pages(&self) -> u64 {
        self.stalled.load(Ordering::Relaxed)
    }

    /// How many pages have been rendered afresh since these workers started.
    pub fn pages_rendered_again(&self) -> u64 {
        self.rendered_again.load(Ordering::Relaxed)
    }

    /// Renders the page on a worker; its head arrives through the answer, its body through the
    /// receiver. The rendering ends when the body is complete or the receiver is dropped.
    fn start(
        &self,
        parts: http::request::Parts,
        next: Next,
    ) -> (oneshot::Receiver<http::response::Parts>, mpsc::Receiver<Chunk>) {
        let (head_tx, head_rx) = oneshot::channel();
        let (chunk_tx, chunk_rx) = mpsc::channel::<Chunk>(RELAYED_CHUNKS);
        let stall_warning = self.stall_warning;
        let stalled = self.stalled.clone();
        let path = parts.uri.path().to_owned();
        // Detached: the task ends when the body is complete or nobody waits for it any more.
        drop(self.pool.spawn_pinned(move || async move {
            let mut head_tx = head_tx;
            let request = Request::from_parts(parts, Body::empty());
            let response = tokio::select! {
                () = head_tx.closed() => return,
                response = next.run(request) => response,
            };
            let (head, body) = response.into_parts();
            if head_tx.send(head).is_err() {
                return;
            }
            let mut chunks = body.into_data_stream();
            let mut sent = 0;
            let mut paused = false;
            loop {
                let next = tokio::select! {
                    // The client has gone, or this rendering was given up for a fresh one.
                    () = chunk_tx.closed() => return,
                    next = tokio::time::timeout(stall_warning, chunks.next()) => next,
                };
                let chunk = match next {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => break,
                    Err(_) => {
                        if !paused {
                            paused = true;
                            stalled.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(
                                path,
                                sent_bytes = sent,
                                "a page has produced nothing for {stall_warning:?}: a part of it is still waiting"
                            );
                        }
                        continue;
                    }
                };
                sent += chunk.as_ref().map_or(0, Bytes::len);
                if chunk_tx.send(chunk).await.is_err() {
                    return;
                }
            }
            if paused {
                tracing::info!(path, sent_bytes = sent, "the paused page finished");
            }
        }));
        (head_rx, chunk_rx)
    }
}

impl Default for RenderWorkers {
    fn default() -> Self {
        Self::new()
    }
}

type Chunk = Result<Bytes, axum::Error>;

/// Whether a request renders a page (rather than calling a server function).
fn renders_page(request: &Request) -> bool {
    matches!(*request.method(), Method::GET | Method::HEAD) && !request.uri().path().starts_with("/rpc/")
}

/// What became of a page gathered before sending.
enum Gathered {
    /// It is whole: send it.
    Whole(http::response::Parts, Vec<Bytes>),
    /// It produced nothing for a while: render it afresh.
    Paused,
    /// Its body failed; send what there is and the failure.
    Failed(http::response::Parts, Vec<Bytes>, axum::Error),
    /// The rendering ended without an answer (it panicked; the panic is already logged).
    Lost,
}

/// Collects a page's body until it is whole or pauses for `patience`.
async fn gather(
    head: oneshot::Receiver<http::response::Parts>,
    chunks: &mut mpsc::Receiver<Chunk>,
    patience: Duration,
) -> Gathered {
    let head = match tokio::time::timeout(patience, head).await {
        Ok(Ok(head)) => head,
        Ok(Err(_)) => return Gathered::Lost,
        Err(_) => return Gathered::Paused,
    };
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(patience, chunks.recv()).await {
            Ok(Some(Ok(bytes))) => body.push(bytes),
            Ok(Some(Err(e))) => return Gathered::Failed(head, body, e),
            Ok(None) => return Gathered::Whole(head, body),
            Err(_) => return Gathered::Paused,
        }
    }
}

/// The answer when a page could not be rendered at all.
fn not_rendered() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "The page could not be rendered.",
    )
        .into_response()
}

/// The middleware: renders page requests on a render worker; sends a page once it is whole,
/// renders afresh one that pauses before it is, and streams that second rendering.
pub async fn on_render_worker(
    State(workers): State<RenderWorkers>,
    request: Request,
    next: Next,
) -> Response {
    if !renders_page(&request) {
        return next.run(request).await;
    }
    let (parts, _) = request.into_parts();
    let (head, mut chunks) = workers.start(parts.clone(), next.clone());
    match gather(head, &mut chunks, workers.render_again_after).await {
        Gathered::Whole(head, body) => return Response::from_parts(head, Body::from(body.concat())),
        Gathered::Failed(head, body, e) => {
            let parts = futures_util::stream::iter(body.into_iter().map(Ok).chain([Err(e)]));
            return Response::from_parts(head, Body::from_stream(parts));
        }
        Gathered::Lost => return not_rendered(),
        Gathered::Paused => {
            workers.rendered_again.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                path = parts.uri.path(),
                "a page produced nothing for {:?} before it was whole; rendering it afresh",
                workers.render_again_after
            );
        }
    }
    // Dropping the first rendering's receiver ends it.
    drop(chunks);
    let (head, chunks) = workers.start(parts, next);
    match head.await {
        Ok(head) => {
            // Fused: compression polls once more after the end.
            let relayed = futures_util::stream::unfold(chunks, |mut rx| async move {
                rx.recv().await.map(|chunk| (chunk, rx))
            })
            .fuse();
            Response::from_parts(head, Body::from_stream(relayed))
        }
        Err(_) => not_rendered(),
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
        on_these_workers(RenderWorkers::new(), page)
    }

    fn on_these_workers(workers: RenderWorkers, page: axum::routing::MethodRouter) -> Router {
        Router::new()
            .route("/page", page)
            .layer(axum::middleware::from_fn_with_state(workers, on_render_worker))
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

    /// A page that stops producing before it is whole is rendered afresh, and the fresh
    /// rendering is what the client gets, whole; the first is abandoned.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_page_that_stops_before_it_is_whole_is_rendered_afresh() {
        static RENDERINGS: AtomicU64 = AtomicU64::new(0);
        async fn page() -> Response {
            if RENDERINGS.fetch_add(1, Ordering::SeqCst) == 0 {
                // The first rendering sends its shell, then waits for ever.
                let shell = futures_util::stream::iter([Ok::<_, std::io::Error>("<p>shell</p>")]);
                return Body::from_stream(shell.chain(futures_util::stream::pending())).into_response();
            }
            "<p>shell</p><p>whole</p>".into_response()
        }
        let workers = RenderWorkers::with_timings(STALL_WARNING, Duration::from_millis(200));
        let response = on_these_workers(workers.clone(), get(page))
            .oneshot(request(Method::GET, "/page"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], b"<p>shell</p><p>whole</p>");
        assert_eq!(RENDERINGS.load(Ordering::SeqCst), 2);
        assert_eq!(workers.pages_rendered_again(), 1);
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

    /// A page that pauses between parts for longer than the warning is counted once, and its
    /// body still arrives whole; a page that keeps going is not counted.
    #[tokio::test]
    async fn a_page_that_pauses_is_noticed_and_still_finishes() {
        async fn slow() -> Response {
            let parts = futures_util::stream::iter(0..3).then(|part| async move {
                tokio::time::sleep(Duration::from_millis(150)).await;
                Ok::<_, std::io::Error>(format!("<p>{part}</p>"))
            });
            Body::from_stream(parts).into_response()
        }
        async fn quick() -> &'static str {
            "<p>quick</p>"
        }
        let workers = RenderWorkers::with_timings(Duration::from_millis(50), Duration::from_secs(60));
        let response = on_these_workers(workers.clone(), get(slow))
            .oneshot(request(Method::GET, "/page"))
            .await
            .unwrap();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], b"<p>0</p><p>1</p><p>2</p>");
        assert_eq!(workers.stalled_pages(), 1);
        let response = on_these_workers(workers.clone(), get(quick))
            .oneshot(request(Method::GET, "/page"))
            .await
            .unwrap();
        axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(workers.stalled_pages(), 1);
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
