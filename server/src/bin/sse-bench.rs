//! Live-update fan-out benchmark (docs/benchmarks.md): opens many Server-Sent Events streams,
//! triggers events, and measures event-to-client latency and server memory per connection.
//!
//! ```text
//! sse-bench baseline ADDR                      a bare axum SSE server over a broadcast channel
//! sse-bench run --target atrium|baseline --url URL --pid PID [--clients N] [--events K]
//! ```
//! Against Atrium the events are one-row sales imports through the REST API (finance), read on
//! `/api/v1/partners/{id}/scorecard/stream` signed in as admin@northwind.test; against the
//! baseline, `POST /publish`. Latency is measured from the moment the server published the
//! event (`published_at_us` in the event) to the moment the client has read it.

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::Router;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::broadcast;

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn baseline(addr: String) -> anyhow::Result<()> {
    let (sender, _) = broadcast::channel::<i64>(1024);
    let subscribe = sender.clone();
    let app = Router::new()
        .route(
            "/stream",
            get(move || {
                let receiver = subscribe.subscribe();
                async move {
                    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
                        loop {
                            match receiver.recv().await {
                                Ok(at) => {
                                    let event = Event::default()
                                        .event("scorecard")
                                        .data(format!("{{\"published_at_us\":{at}}}"));
                                    return Some((Ok::<_, Infallible>(event), receiver));
                                }
                                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                                Err(broadcast::error::RecvError::Closed) => return None,
                            }
                        }
                    });
                    let ready =
                        futures_util::stream::once(async { Ok(Event::default().event("ready").data("{}")) });
                    Sse::new(futures_util::StreamExt::chain(ready, stream)).keep_alive(KeepAlive::default())
                }
            }),
        )
        .route(
            "/publish",
            post(move || {
                let _ = sender.send(now_us());
                async { "ok" }
            }),
        );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

/// One SSE client on a raw connection: sends the request, waits for `ready`, then records the
/// latency of every `scorecard` event. Lines are parsed in place and the clock is read once per
/// read, as soon as it returns, so that the client's own work adds as little as possible.
async fn client(
    host: String,
    path: String,
    cookie: String,
    ready: Arc<tokio::sync::Semaphore>,
    samples: Arc<Mutex<Vec<i64>>>,
) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut stream = TcpStream::connect(&host).await?;
    stream.set_nodelay(true)?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\nCookie: {cookie}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buffer = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    let mut in_scorecard = false;
    loop {
        let read = stream.read(&mut chunk).await?;
        let received = now_us();
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
        let mut consumed = 0;
        while let Some(end) = buffer[consumed..].iter().position(|&b| b == b'\n') {
            let line = &buffer[consumed..consumed + end];
            consumed += end + 1;
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(name) = line.strip_prefix(b"event:") {
                let name = name.trim_ascii();
                in_scorecard = name == b"scorecard";
                if name == b"ready" {
                    ready.add_permits(1);
                }
            } else if let (true, Some(data)) = (in_scorecard, line.strip_prefix(b"data:")) {
                if let Some(at) = published_at(data) {
                    samples.lock().expect("samples lock").push(received - at);
                }
            } else if line.is_empty() {
                in_scorecard = false;
            }
        }
        buffer.drain(..consumed);
    }
}

/// The `published_at_us` field of an event's JSON.
fn published_at(data: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"published_at_us\":";
    let start = data.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits: Vec<u8> = data[start..]
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| b.is_ascii_digit() || *b == b'-')
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// One HTTP/1.1 request on its own connection; returns the status, the `Set-Cookie` pairs and
/// the body.
async fn request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> anyhow::Result<(u16, Vec<String>, String)> {
    use tokio::io::AsyncReadExt;
    let mut stream = TcpStream::connect(host).await?;
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let cookies = head
        .lines()
        .filter_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .filter_map(|v| v.split(';').next().map(str::to_owned))
        .collect();
    // Bodies here are small JSON; a chunked one is unwrapped by taking the JSON object.
    let body = match (rest.find('{'), rest.rfind('}')) {
        (Some(a), Some(b)) if b >= a => rest[a..=b].to_owned(),
        _ => rest.to_owned(),
    };
    Ok((status, cookies, body))
}

async fn sign_in(host: &str, email: &str) -> anyhow::Result<(String, String)> {
    let body = format!("{{\"email\":\"{email}\",\"password\":\"atrium-demo-2026\"}}");
    let (status, cookies, body) = request(
        host,
        "POST",
        "/api/v1/session",
        &[("content-type", "application/json")],
        &body,
    )
    .await?;
    anyhow::ensure!(status == 200, "sign-in as {email} failed: {status}");
    let body: serde_json::Value = serde_json::from_str(&body)?;
    Ok((
        cookies.join("; "),
        body["csrf_token"].as_str().unwrap_or_default().to_owned(),
    ))
}

fn percentile(sorted: &[i64], p: usize) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1] as f64 / 1000.0
}

#[derive(Debug)]
struct Args {
    target: String,
    url: String,
    pid: u32,
    clients: usize,
    events: usize,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut parsed = Args {
        target: "atrium".into(),
        url: String::new(),
        pid: 0,
        clients: 10_000,
        events: 20,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
        match flag.as_str() {
            "--target" => parsed.target = value,
            "--url" => parsed.url = value,
            "--pid" => parsed.pid = value.parse()?,
            "--clients" => parsed.clients = value.parse()?,
            "--events" => parsed.events = value.parse()?,
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    anyhow::ensure!(
        !parsed.url.is_empty() && parsed.pid != 0,
        "--url and --pid are required"
    );
    Ok(parsed)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let host = args
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    // What to subscribe to, with which cookie, and how to make one event happen.
    let (path, cookie, trigger): (String, String, Trigger) = if args.target == "atrium" {
        let (cookie, _) = sign_in(&host, "admin@northwind.test").await?;
        let (_, _, me) = request(&host, "GET", "/api/v1/me", &[("cookie", &cookie)], "").await?;
        let me: serde_json::Value = serde_json::from_str(&me)?;
        let partner = me["organisation"]["id"].as_i64().unwrap_or_default();
        let (finance_cookie, csrf) = sign_in(&host, "finance@acme.test").await?;
        (
            format!("/api/v1/partners/{partner}/scorecard/stream"),
            cookie,
            Trigger::Import {
                partner,
                cookie: finance_cookie,
                csrf,
            },
        )
    } else {
        ("/stream".to_owned(), String::new(), Trigger::Publish)
    };

    // Memory per connection is the RSS growth over the second half of the connections: the
    // first half also pays one-time costs (database connections and caches warming up, work the
    // server started on its own), which are not a per-connection cost.
    let rss_before = rss_kib(args.pid);
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    let samples = Arc::new(Mutex::new(Vec::with_capacity(args.clients * args.events)));
    let connect_started = Instant::now();
    let mut handles = Vec::with_capacity(args.clients);
    let half = args.clients / 2;
    let mut rss_half = rss_before;
    for (from, to) in [(0, half), (half, args.clients)] {
        for i in from..to {
            handles.push(tokio::spawn(client(
                host.clone(),
                path.clone(),
                cookie.clone(),
                ready.clone(),
                samples.clone(),
            )));
            if i % 500 == 499 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let all_ready =
            tokio::time::timeout(Duration::from_secs(120), ready.acquire_many((to - from) as u32)).await;
        if all_ready.is_err() {
            anyhow::bail!(
                "only {} of {} streams became ready",
                from + ready.available_permits(),
                args.clients
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        if from == 0 {
            rss_half = rss_kib(args.pid);
        }
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let rss_connected = rss_kib(args.pid);
    for i in 0..args.events {
        let status = trigger.fire(&host, i).await?;
        anyhow::ensure!(status == 200, "trigger failed: {status}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut latencies = samples.lock().expect("samples lock").clone();
    latencies.sort_unstable();
    let expected = args.clients * args.events;
    let per_connection =
        (rss_connected.saturating_sub(rss_half)) as f64 * 1024.0 / (args.clients - half) as f64;
    let per_connection_with_warm_up =
        (rss_connected.saturating_sub(rss_before)) as f64 * 1024.0 / args.clients as f64;
    println!(
        "{{\"target\":\"{}\",\"clients\":{},\"ready\":{},\"connect_seconds\":{:.1},\"events\":{},\"deliveries\":{},\"expected\":{},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2},\"rss_before_kib\":{},\"rss_half_kib\":{},\"rss_connected_kib\":{},\"bytes_per_connection\":{:.0},\"bytes_per_connection_with_warm_up\":{:.0}}}",
        args.target,
        args.clients,
        args.clients,
        connect_secs,
        args.events,
        latencies.len(),
        expected,
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies.last().map_or(f64::NAN, |v| *v as f64 / 1000.0),
        rss_before,
        rss_half,
        rss_connected,
        per_connection,
        per_connection_with_warm_up
    );
    for handle in handles {
        handle.abort();
    }
    Ok(())
}

/// How an event is made to happen.
enum Trigger {
    /// Import one sale for the partner through the REST API, as finance.
    Import {
        partner: i64,
        cookie: String,
        csrf: String,
    },
    /// The baseline's publish endpoint.
    Publish,
}

impl Trigger {
    async fn fire(&self, host: &str, i: usize) -> anyhow::Result<u16> {
        Ok(match self {
            Trigger::Import {
                partner,
                cookie,
                csrf,
            } => {
                let csv = format!(
                    "external_id,partner_id,booked_on,product_line,amount,currency\nSSE-BENCH-{}-{i},{partner},{},hardware,100.00,USD\n",
                    now_us(),
                    today()
                );
                let headers = [
                    ("cookie", cookie.as_str()),
                    ("x-csrf-token", csrf.as_str()),
                    ("content-type", "text/csv"),
                ];
                request(host, "POST", "/api/v1/sales/import", &headers, &csv)
                    .await?
                    .0
            }
            Trigger::Publish => request(host, "POST", "/publish", &[], "").await?.0,
        })
    }
}

/// Today's date (UTC) as `YYYY-MM-DD`, from the domain calendar.
fn today() -> String {
    domain::calendar::Date::from_unix_millis(now_us() / 1000).to_string()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("baseline") => {
            let addr = args.next().unwrap_or_else(|| "127.0.0.1:3501".into());
            tokio::runtime::Runtime::new()?.block_on(baseline(addr))
        }
        // The clients run on one thread, leaving the other core to the server under test.
        Some("run") => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(run(parse_args(args)?)),
        _ => anyhow::bail!("usage: sse-bench baseline ADDR | sse-bench run --target atrium|baseline --url URL --pid PID [--clients N] [--events K]"),
    }
}
