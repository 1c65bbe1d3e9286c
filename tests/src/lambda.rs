//! The Lambda side: `pulldoctor::lambda::handle` run in-process on a world, and the real
//! `pulldoctor-lambda` binary driven through a local Lambda Runtime API (a small HTTP/1.1 server
//! on 127.0.0.1, enough for the runtime's hyper client), its audit lines read back.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{read_message, write_response};
use crate::moto::{Moto, REGION};
use crate::worlds::World;

impl World {
    /// The Lambda application wired to this world.
    pub fn app(&self, topic_arn: Option<String>) -> pulldoctor::lambda::App {
        pulldoctor::lambda::App::new(&self.config, topic_arn)
    }

    /// Runs `pulldoctor::lambda::handle` on `event` as the Lambda runtime would.
    pub async fn invoke(
        &self,
        app: &pulldoctor::lambda::App,
        event: Value,
    ) -> Result<Value, lambda_runtime::Error> {
        let event = lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default());
        pulldoctor::lambda::handle(app, event).await
    }
}

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
    while let Ok(Some(req)) = read_message(&mut reader) {
        let path = req.path().trim_start_matches("/2018-06-01/runtime/");
        let ok = if req.method() == "GET" && path == "invocation/next" {
            let (id, event) = {
                let mut s = lock.lock().unwrap();
                loop {
                    if let Some(next) = s.queue.pop_front() {
                        break next;
                    }
                    s = cvar.wait(s).unwrap();
                }
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                + Duration::from_secs(60);
            write_response(
                &mut writer,
                200,
                &[
                    ("content-type", "application/json".into()),
                    ("lambda-runtime-aws-request-id", id),
                    (
                        "lambda-runtime-deadline-ms",
                        deadline.as_millis().to_string(),
                    ),
                    ("lambda-runtime-invoked-function-arn", FUNCTION_ARN.into()),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
                    ),
                ],
                event.to_string().as_bytes(),
            )
        } else if req.method() == "POST" && path.starts_with("invocation/") {
            let rest = &path["invocation/".len()..];
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            let result = if kind == "response" {
                InvocationResult::Response(body)
            } else {
                InvocationResult::Error(body)
            };
            let mut s = lock.lock().unwrap();
            s.results.insert(id.to_string(), result);
            cvar.notify_all();
            drop(s);
            write_response(&mut writer, 202, &[], b"{\"status\":\"OK\"}")
        } else if req.method() == "POST" && path == "init/error" {
            let mut s = lock.lock().unwrap();
            s.init_errors
                .push(String::from_utf8_lossy(&req.body).into_owned());
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

/// Path of the `pulldoctor-lambda` binary, built once per test process (like the CLI's).
pub fn lambda_bin() -> PathBuf {
    crate::cli::workspace_bin("pulldoctor-lambda")
}

/// One execution environment: the real Lambda binary polling a [`RuntimeApi`]. Its stdout (the
/// audit lines and logs) is collected; killed on drop.
pub struct LambdaProcess {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
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
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        LambdaProcess {
            child,
            stdout,
            reader: Some(reader),
        }
    }

    /// Every stdout line so far.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Stops the process and returns everything it printed. An invocation's audit line is written
    /// before its response, but the thread reading the pipe may not have taken it yet when the
    /// response arrives (a loaded machine): the pipe keeps it until the reader reaches its end.
    pub fn finish(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.lines()
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
