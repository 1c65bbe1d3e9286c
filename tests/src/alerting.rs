//! Harness for the alerting tests: a local Slack webhook stub, a local Lambda Runtime API that
//! drives the real `pulldoctor-lambda` binary, and moto helpers for the dedup table and secrets.
//!
//! Both servers are small HTTP/1.1 servers on 127.0.0.1 (std threads, no framework): enough for
//! hyper's client, which is what the Lambda runtime and the Slack sender use.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Moto, World, REGION};

/// One parsed HTTP request.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Reads one request from a keep-alive connection; `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(HttpRequest { method, path, headers, body })
}

fn write_response(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

// ---------------------------------------------------------------------------------------------
// Slack webhook stub
// ---------------------------------------------------------------------------------------------

/// How the stub answers the next posts.
#[derive(Debug, Clone)]
pub enum SlackBehaviour {
    /// `200 ok`, as Slack does.
    Ok,
    /// This status with a Slack-like error body.
    Status(u16),
    /// `429` with `Retry-After: <seconds>`.
    RateLimited(u64),
    /// Answer `200` after this delay.
    Slow(Duration),
}

/// A local stand-in for `https://hooks.slack.com/services/…` that records every POST body.
pub struct SlackStub {
    port: u16,
    behaviour: Arc<Mutex<SlackBehaviour>>,
    posts: Arc<Mutex<Vec<Value>>>,
}

impl SlackStub {
    pub fn start() -> SlackStub {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind slack stub");
        let port = listener.local_addr().unwrap().port();
        let behaviour = Arc::new(Mutex::new(SlackBehaviour::Ok));
        let posts = Arc::new(Mutex::new(Vec::new()));
        let (b, p) = (behaviour.clone(), posts.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (b, p) = (b.clone(), p.clone());
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().expect("clone stream");
                    let mut reader = BufReader::new(stream);
                    while let Some(req) = read_request(&mut reader) {
                        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                        p.lock().unwrap().push(body);
                        let behaviour = b.lock().unwrap().clone();
                        let result = match behaviour {
                            SlackBehaviour::Ok => write_response(&mut writer, 200, &[], b"ok"),
                            SlackBehaviour::Status(s) => write_response(&mut writer, s, &[], b"internal_error"),
                            SlackBehaviour::RateLimited(after) => {
                                write_response(&mut writer, 429, &[("retry-after", after.to_string())], b"rate_limited")
                            }
                            SlackBehaviour::Slow(delay) => {
                                std::thread::sleep(delay);
                                write_response(&mut writer, 200, &[], b"ok")
                            }
                        };
                        if result.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        SlackStub { port, behaviour, posts }
    }

    /// A webhook URL in Slack's shape, on this stub.
    pub fn webhook_url(&self) -> String {
        format!("http://127.0.0.1:{}/services/T0PULLDOC/B0PULLDOC/s3cr3tW3bh00kT0k3n", self.port)
    }

    pub fn answer(&self, behaviour: SlackBehaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// Every body posted so far (including the ones answered with an error).
    pub fn posts(&self) -> Vec<Value> {
        self.posts.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// moto helpers
// ---------------------------------------------------------------------------------------------

impl World {
    /// The dedup table as template.yaml creates it (`pk` string key, TTL on `expires_at`).
    pub async fn dedup_table(&self, name: &str) -> String {
        use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification};
        let ddb = aws_sdk_dynamodb::Client::new(&self.config);
        ddb.create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap(),
            )
            .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
            .send()
            .await
            .expect("CreateTable");
        ddb.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().enabled(true).attribute_name("expires_at").build().unwrap(),
            )
            .send()
            .await
            .expect("UpdateTimeToLive");
        name.to_string()
    }

    /// A Secrets Manager secret holding `value`; returns its ARN.
    pub async fn secret(&self, name: &str, value: &str) -> String {
        aws_sdk_secretsmanager::Client::new(&self.config)
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("CreateSecret")
            .arn
            .expect("secret arn")
    }
}

// ---------------------------------------------------------------------------------------------
// Lambda Runtime API emulator
// ---------------------------------------------------------------------------------------------

/// What one invocation returned through the Runtime API.
#[derive(Debug, Clone)]
pub enum InvocationResult {
    Response(Value),
    Error(Value),
}

#[derive(Default)]
struct RuntimeState {
    queue: VecDeque<(String, Value)>,
    results: HashMap<String, InvocationResult>,
    init_errors: Vec<String>,
    next_id: u64,
}

/// The Lambda Runtime API (`/2018-06-01/runtime/...`) as the Lambda service serves it to a
/// function's bootstrap: `invocation/next` hands out queued events (blocking while there are
/// none), `invocation/{id}/response|error` records results. Any number of function processes may
/// poll it: each is one concurrent execution environment.
pub struct RuntimeApi {
    port: u16,
    state: Arc<(Mutex<RuntimeState>, Condvar)>,
}

/// ARN the emulator reports as the invoked function (account 123456789012, moto's default).
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:pulldoctor";

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind runtime api");
        let port = listener.local_addr().unwrap().port();
        let state: Arc<(Mutex<RuntimeState>, Condvar)> = Arc::default();
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve_runtime(stream, &shared));
            }
        });
        RuntimeApi { port, state }
    }

    /// `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Queue one event; returns its request id.
    pub fn invoke(&self, event: Value) -> String {
        let (lock, cvar) = &*self.state;
        let mut s = lock.lock().unwrap();
        s.next_id += 1;
        let id = format!("req-{:04}", s.next_id);
        s.queue.push_back((id.clone(), event));
        cvar.notify_all();
        id
    }

    /// Waits until `ids` all have results (or `timeout`), then returns the results by id.
    pub fn wait_for(&self, ids: &[String], timeout: Duration) -> HashMap<String, InvocationResult> {
        let (lock, cvar) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut s = lock.lock().unwrap();
        loop {
            if ids.iter().all(|id| s.results.contains_key(id)) || Instant::now() > deadline {
                return s.results.clone();
            }
            if !s.init_errors.is_empty() {
                panic!("the function failed to initialise: {:?}", s.init_errors);
            }
            s = cvar.wait_timeout(s, Duration::from_millis(200)).unwrap().0;
        }
    }
}

fn serve_runtime(stream: TcpStream, shared: &Arc<(Mutex<RuntimeState>, Condvar)>) {
    let (lock, cvar) = &**shared;
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        let path = req.path.trim_start_matches("/2018-06-01/runtime/");
        let ok = if req.method == "GET" && path == "invocation/next" {
            let (id, event) = {
                let mut s = lock.lock().unwrap();
                loop {
                    if let Some(next) = s.queue.pop_front() {
                        break next;
                    }
                    s = cvar.wait(s).unwrap();
                }
            };
            let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap() + Duration::from_secs(60);
            write_response(
                &mut writer,
                200,
                &[
                    ("content-type", "application/json".into()),
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", deadline.as_millis().to_string()),
                    ("lambda-runtime-invoked-function-arn", FUNCTION_ARN.into()),
                    ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0".into()),
                ],
                event.to_string().as_bytes(),
            )
        } else if req.method == "POST" && path.starts_with("invocation/") {
            let rest = &path["invocation/".len()..];
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let result = if kind == "response" { InvocationResult::Response(body) } else { InvocationResult::Error(body) };
            let mut s = lock.lock().unwrap();
            s.results.insert(id.to_string(), result);
            cvar.notify_all();
            drop(s);
            write_response(&mut writer, 202, &[], b"{\"status\":\"OK\"}")
        } else if req.method == "POST" && path == "init/error" {
            let mut s = lock.lock().unwrap();
            s.init_errors.push(String::from_utf8_lossy(&req.body).into_owned());
            cvar.notify_all();
            drop(s);
            write_response(&mut writer, 202, &[], b"{\"status\":\"OK\"}")
        } else {
            write_response(&mut writer, 404, &[], b"not found")
        };
        if ok.is_err() {
            return;
        }
    }
}

/// Path of the `pulldoctor-lambda` binary, built once per test process (like [`crate::pulldoctor_bin`]).
pub fn lambda_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let cli = crate::pulldoctor_bin();
        let dir = cli.parent().expect("bin dir");
        let target_dir = dir.parent().expect("target dir");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(workspace)
            // Same selection as `cargo test --workspace --all-targets` (see `pulldoctor_bin`).
            .args(["build", "--quiet", "--workspace", "--all-targets", "--target-dir"])
            .arg(target_dir);
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().expect("run cargo").success(), "building pulldoctor-lambda failed");
        let bin = dir.join(format!("pulldoctor-lambda{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
    .clone()
}

/// One execution environment: the real Lambda binary polling a [`RuntimeApi`]. Its stdout (the
/// audit lines and logs) is collected; killed on drop.
pub struct LambdaProcess {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl LambdaProcess {
    pub fn spawn(runtime: &RuntimeApi, moto: &Moto, settings: &[(&str, String)]) -> LambdaProcess {
        let mut cmd = Command::new(lambda_bin());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "pulldoctor")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/pulldoctor")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .envs(moto.env(REGION))
            .envs(settings.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn pulldoctor-lambda");
        let out = child.stdout.take().expect("stdout");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let sink = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        LambdaProcess { child, stdout }
    }

    /// Every stdout line so far.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// The audit records (`"audit": "pulldoctor.audit/v1"`) printed so far.
    pub fn audit_records(&self) -> Vec<Value> {
        audit_records(&self.lines())
    }
}

/// Audit records among log lines.
pub fn audit_records(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["audit"] == "pulldoctor.audit/v1")
        .inspect(|v| crate::contracts::assert_valid(crate::contracts::Contract::Audit, v))
        .collect()
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
