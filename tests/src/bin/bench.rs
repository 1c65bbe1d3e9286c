//! `bash tests/run.sh --bench` (or `cargo run --release -p pulldoctor-tests --bin bench`):
//! how fast and frugal one diagnosis is. Not a test: it measures and prints, it asserts nothing.
//!
//! The world is the README demo's (Fargate service `web`, image in ECR, private subnet whose
//! NAT route was deleted) in a private moto server. Every AWS request goes through a local
//! proxy that waits a fixed latency before forwarding it (default 50 ms, as a real AWS API call
//! from Lambda takes tens of milliseconds; moto itself answers in a few), so the wall time shows
//! how many dependent rounds of calls the collector makes. Reported:
//!
//! * for each IAM path (the simulator answers; it is denied and the collector reads the role's
//!   policy documents): wall time per diagnosis (median of 7, fresh clients each), AWS calls,
//!   dependent rounds (longest chain of calls each started after the previous answered), and the
//!   same wall without added latency (runs interleaved), so that (wall − it) ÷ latency shows how
//!   many times the latency was paid (ideal: the number of rounds);
//! * a storm: 100 events of the same service (each its own task, its ENI already deleted),
//!   diagnosed one after another by one warm container (`Clients::for_lambda`): calls per event;
//! * cold start of the `pulldoctor-lambda` binary: process start to its first request to the
//!   Lambda Runtime API (a local stub), median of 5;
//! * peak RSS of the Lambda binary after it handled the demo event (read from /proc while it
//!   waits for the next one), and of this bench process.
//!
//! `PULLDOCTOR_BENCH_LATENCY_MS` changes the latency. moto 5.2.1 lacks SimulatePrincipalPolicy:
//! the proxy answers it itself, as IAM does (allowed) for the simulator path, AccessDenied for the
//! fallback; everything after the two single-diagnosis rows runs on the fallback.

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pulldoctor::collect::Clients;
use pulldoctor::engine;
use pulldoctor::intake::{intake, Intake, PullFailure};
use pulldoctor_tests::http::read_message;
use pulldoctor_tests::proxy::{Fault, Proxy};
use pulldoctor_tests::NatRouteDeleted;

/// Which history sections the diagnosis got, and their status.
fn history_sections(d: &pulldoctor::model::diagnosis::Diagnosis) -> String {
    let status = |s: pulldoctor::model::history::HistoryStatus| format!("{s:?}").to_lowercase();
    let mut parts = vec![];
    if let Some(x) = &d.deploy {
        parts.push(format!("deploy {}", status(x.status)));
    }
    if let Some(x) = &d.changes {
        parts.push(format!(
            "changes {} ({} events)",
            status(x.status),
            x.events.len()
        ));
    }
    if let Some(x) = &d.blast_radius {
        parts.push(format!(
            "blast_radius {} ({} services)",
            status(x.status),
            x.total
        ));
    }
    if parts.is_empty() {
        "no section".into()
    } else {
        parts.join(", ")
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn failure_of(event: &serde_json::Value) -> PullFailure {
    match intake(event) {
        Intake::PullFailure(f) => *f,
        other => panic!("not a pull failure: {other:?}"),
    }
}

/// What one run of the Lambda binary against a stub Runtime API showed.
struct LambdaRun {
    /// Process start → its first `GET /2018-06-01/runtime/invocation/next`.
    cold_start: Duration,
    /// Peak RSS once it asks for the next event after handling `event` (if one was given).
    peak_rss_kib: Option<u64>,
    /// What the handler answered.
    response: Option<String>,
}

/// Runs the `pulldoctor-lambda` binary against a stub Lambda Runtime API: measures the cold
/// start, hands it `event` (if any), and reads its peak RSS when it comes back for the next one.
fn run_lambda(bin: &std::path::Path, event: Option<String>, endpoint: &str) -> Option<LambdaRun> {
    use std::sync::mpsc;
    let listener = TcpListener::bind("127.0.0.1:0").ok()?;
    let addr = listener.local_addr().ok()?;
    let started = Instant::now();
    let mut child = Command::new(bin)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "pulldoctor")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let pid = child.id().to_string();
    // (kind, elapsed, body): "next" for each poll, "response" for the handler's answer.
    let (tx, rx) = mpsc::channel::<(&'static str, Duration, String)>();
    let wait_for = if event.is_some() { 2 } else { 1 };
    let event = std::sync::Arc::new(std::sync::Mutex::new(event));
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (tx, event) = (tx.clone(), event.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                while let Ok(Some(request)) = read_message(&mut reader) {
                    if request.path().contains("/invocation/next") {
                        let _ = tx.send(("next", started.elapsed(), String::new()));
                        let Some(e) = event.lock().unwrap().take() else {
                            return;
                        };
                        let deadline = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_millis()
                            + 60_000;
                        let _ = write!(
                            conn,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: bench-1\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:pulldoctor\r\nContent-Length: {}\r\n\r\n{e}",
                            e.len()
                        );
                    } else {
                        let _ = tx.send((
                            "response",
                            started.elapsed(),
                            String::from_utf8_lossy(&request.body).into_owned(),
                        ));
                        let _ =
                            conn.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
                    }
                }
            });
        }
    });
    let mut cold_start = None;
    let mut response = None;
    let mut polls = 0;
    let mut peak = None;
    while let Ok((kind, at, body)) = rx.recv_timeout(Duration::from_secs(60)) {
        match kind {
            "next" => {
                polls += 1;
                cold_start.get_or_insert(at);
                if polls >= wait_for {
                    peak = peak_rss_kib(&pid);
                    break;
                }
            }
            _ => response = Some(body),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Some(LambdaRun {
        cold_start: cold_start?,
        peak_rss_kib: peak,
        response,
    })
}

#[tokio::main]
async fn main() {
    let latency = Duration::from_millis(
        std::env::var("PULLDOCTOR_BENCH_LATENCY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50),
    );
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    eprintln!("building the demo world in moto...");
    let demo = NatRouteDeleted::build().await;
    let world = &demo.world;
    let failure = failure_of(&demo.event);

    let proxy = Proxy::start(world.moto.url());
    proxy.set_latency(latency);
    // moto also lacks ecs:ListServiceDeployments (history on) and answers 500, retried with backoff
    // (~0.5 s per diagnosis, and never cached). Real ECS answers it at once and the warm cache
    // keeps the answer; a denial costs the same one call and is cached the same way.
    proxy.fault("ecs:ListServiceDeployments", Fault::AccessDenied);
    let config = world.config.to_builder().endpoint_url(proxy.url()).build();
    let lat_ms = latency.as_secs_f64() * 1000.0;

    // One diagnosis, fresh clients (no cache), on each IAM path. moto lacks SimulatePrincipalPolicy
    // (it answers 500, which the SDK retries with a backoff real IAM never costs): the proxy
    // answers it as IAM does where it is granted (allowed, the demo role's managed policy grants
    // the pull), or denies it as an account that does not grant it would, which measures the
    // collector's fallback (the role's policy documents). With and without the added latency,
    // interleaved so that a busy machine slows both alike.
    let mut paths = vec![];
    for (path, answer) in [
        ("simulator", Fault::SimulatorAllows),
        ("fallback", Fault::AccessDenied),
    ] {
        proxy.fault("iam:SimulatePrincipalPolicy", answer);
        let (mut walls, mut walls0, mut last) = (vec![], vec![], None);
        for _ in 0..7 {
            proxy.set_latency(latency);
            let started = Instant::now();
            let run =
                engine::diagnose_with(&Clients::new(&config), &failure, Default::default()).await;
            walls.push(started.elapsed().as_secs_f64() * 1000.0);
            last = Some(run);
            // The same with no added latency: what moto, the proxy and this machine cost by themselves.
            proxy.set_latency(Duration::ZERO);
            let started = Instant::now();
            engine::diagnose_with(&Clients::new(&config), &failure, Default::default()).await;
            walls0.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        proxy.set_latency(latency);
        paths.push((path, last.unwrap(), median(walls), median(walls0)));
    }
    // The rest runs on the fallback, as against moto (the more calls of the two).
    let wall = paths.last().map_or(0.0, |p| p.2);

    // The same diagnosis with history on (what changed, who else is hit), as the CLI and the
    // Lambda run it by default: what it adds beside the diagnosis's own reads.
    let with_history = pulldoctor::collect::Options {
        history: true,
        ..Default::default()
    };
    let mut walls_h = vec![];
    let mut last_h = None;
    for _ in 0..5 {
        let started = Instant::now();
        let r = engine::diagnose_with(&Clients::new(&config), &failure, with_history).await;
        walls_h.push(started.elapsed().as_secs_f64() * 1000.0);
        last_h = Some(r);
    }
    let run_h = last_h.unwrap();
    let wall_h = median(walls_h);
    let history = run_h.history_stats.clone().unwrap_or_default();

    // Storm: 100 events of service web, each its own task (ENI gone), one warm container.
    let storm_clients = Clients::for_lambda(&config);
    let mut storm_calls = 0;
    let storm_started = Instant::now();
    let mut storm_roots = std::collections::BTreeSet::new();
    for _ in 0..100 {
        let f = failure_of(&demo.another_failed_task());
        let r = engine::diagnose_with(&storm_clients, &f, Default::default()).await;
        storm_calls += r.stats.calls;
        storm_roots.insert(r.diagnosis.root_cause.code.code().to_string());
    }
    let storm_wall = storm_started.elapsed().as_secs_f64();
    // The storm again with history on, in another warm container: the history reads are cached
    // like the others, so they should not repeat per event.
    let storm_h_clients = Clients::for_lambda(&config);
    let (mut storm_h_calls, mut storm_h_history) = (0, 0);
    let storm_h_started = Instant::now();
    for _ in 0..100 {
        let f = failure_of(&demo.another_failed_task());
        let r = engine::diagnose_with(&storm_h_clients, &f, with_history).await;
        storm_h_calls += r.stats.calls;
        storm_h_history += r.history_stats.map_or(0, |h| h.calls);
    }
    let storm_h_wall = storm_h_started.elapsed().as_secs_f64();

    // Cold start of the Lambda binary built next to this one, then one real invocation.
    let exe = std::env::current_exe().unwrap();
    // PULLDOCTOR_BENCH_LAMBDA_BIN: measure another build (e.g. the release binary from a debug bench).
    let lambda_bin = std::env::var_os("PULLDOCTOR_BENCH_LAMBDA_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| exe.parent().unwrap().join("pulldoctor-lambda"));
    let mut colds = vec![];
    let mut invoked = None;
    if lambda_bin.exists() {
        for _ in 0..5 {
            if let Some(r) = run_lambda(&lambda_bin, None, &proxy.url()) {
                colds.push(r.cold_start.as_secs_f64() * 1000.0);
            }
        }
        let event = demo.event.to_string();
        invoked = run_lambda(&lambda_bin, Some(event), &proxy.url());
    }

    println!("pulldoctor bench ({profile} build, {lat_ms:.0} ms added per AWS request, moto 5.2.1; Lambda binary {})", lambda_bin.display());
    println!("| what | number |");
    println!("|---|---|");
    for (path, run, wall, wall0) in &paths {
        let iam = match *path {
            "simulator" => "IAM's simulator answers",
            _ => "simulator denied: the role's policy documents",
        };
        println!("| {path}: wall time per diagnosis (median of 7) | {wall:.0} ms ({iam}) |");
        println!("| {path}: AWS calls per diagnosis | {} |", run.stats.calls);
        println!("| {path}: dependent rounds | {} |", run.stats.rounds);
        println!(
            "| {path}: wall with no added latency (moto, proxy, this machine) | {wall0:.0} ms |"
        );
        println!(
            "| {path}: latency paid, (wall − that) ÷ latency | {:.1} |",
            (wall - wall0) / lat_ms
        );
        println!(
            "| {path}: root cause | {} |",
            run.diagnosis.root_cause.code.code()
        );
    }
    println!(
        "| storm: 100 events of one service, one warm container | {:.2} calls per event ({storm_calls} calls, {:.1} s, root causes {:?}) |",
        storm_calls as f64 / 100.0,
        storm_wall,
        storm_roots
    );
    println!(
        "| history on: extra AWS calls / dependent rounds (what changed, who else is hit) | +{} calls, +{} rounds ({}) |",
        history.calls,
        history.rounds,
        history_sections(&run_h.diagnosis)
    );
    println!(
        "| history on: wall time per diagnosis (median of 5) | {wall_h:.0} ms (+{:.0} ms) |",
        wall_h - wall
    );
    println!(
        "| storm with history on: 100 events, one warm container | {:.2} calls per event, of which history {:.2} ({:.1} s) |",
        (storm_h_calls + storm_h_history) as f64 / 100.0,
        storm_h_history as f64 / 100.0,
        storm_h_wall
    );
    match colds.is_empty() {
        false => println!("| cold start, process start → first Runtime API poll (median of {}) | {:.1} ms |", colds.len(), median(colds)),
        true => println!("| cold start | not measured: {} missing (cargo build -p pulldoctor --bin pulldoctor-lambda) |", lambda_bin.display()),
    }
    if let Some(r) = &invoked {
        let kib = r.peak_rss_kib.map_or("not read".to_string(), |k| {
            format!("{:.1} MB", k as f64 / 1024.0)
        });
        println!("| peak RSS, pulldoctor-lambda after one diagnosis (VmHWM) | {kib} |");
        println!(
            "| handler answer in that run | `{}` |",
            r.response.as_deref().unwrap_or("none")
        );
    }
    if let Some(kib) = peak_rss_kib("self") {
        println!(
            "| peak RSS, this bench process (harness, moto client, 105 diagnoses) | {:.1} MB |",
            kib as f64 / 1024.0
        );
    }
    println!("\nhistory calls of the last diagnosis with history on:");
    let mut records = history.records.clone();
    records.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    for r in &records {
        println!(
            "  {:>7.0} → {:>7.0}  {:32} {}",
            r.start_ms, r.end_ms, r.action, r.outcome
        );
    }
    for (path, run, ..) in &paths {
        println!("\ncalls of the last single diagnosis, {path} path (ms from start, against {lat_ms:.0} ms latency):");
        let mut records = run.stats.records.clone();
        records.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
        for r in &records {
            println!(
                "  {:>7.0} → {:>7.0}  {:32} {}",
                r.start_ms, r.end_ms, r.action, r.outcome
            );
        }
    }
}
