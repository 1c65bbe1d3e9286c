//! The one HTTP proxy of the harness, between the SDK and moto. Per request it
//! * records it (IAM action name such as `ec2:DescribeSubnets`, exact bytes, SDK attempt), so
//!   tests can count calls and spot a request issued twice;
//! * answers with the error AWS gives for [`Fault::AccessDenied`], [`Fault::Throttled`] or
//!   [`Fault::ServerError`] when a fault is set for its action, in the wire format of the
//!   service's protocol (EC2 query, IAM/SNS query, JSON for ECS/ECR/Secrets Manager), or holds it
//!   without answering ([`Fault::Hang`]), as a black-holed connection does; or answers
//!   `iam:SimulatePrincipalPolicy` itself as IAM would ([`Fault::SimulatorAllows`], moto lacks it);
//! * otherwise waits the configured latency (real AWS takes tens of milliseconds; moto answers at
//!   once) and forwards it;
//! * and, as the compatibility proxy every [`crate::Moto`] puts in front of its server
//!   ([`Proxy::moto_compat`]), fixes the one moto wire-format bug the Rust SDK cannot parse:
//!   moto 5.2.1 serializes ECS `Container.cpu` (and `memory`, `memoryReservation`) as JSON
//!   *numbers* (`"cpu": 0`), where the ECS API types them as strings, and the SDK then fails the
//!   whole `RunTask` / `DescribeTasks` / `StopTask` call with `TypeMismatch: expected string`. It
//!   turns those numbers into strings in ECS responses and changes nothing else;
//! * stands in for CloudTrail, which moto lacks ([`crate::cloudtrail`]): it records every
//!   successful mutating call as a management event (caller from the SigV4 key and the STS
//!   `AssumeRole` answers it saw, resources from the request, source IP 127.0.0.1) and answers
//!   `cloudtrail:LookupEvents` from that record ([`Proxy::trail`]; faults apply to it too).
//!
//! The action is read from the SigV4 credential scope (the service) and the `X-Amz-Target`
//! header or the `Action=` form field (the operation). One request per connection
//! (`Connection: close`); bodies with `Content-Length` only (what the SDK sends).

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cloudtrail::Trail;
use crate::http::{header, read_message, write_message};

const ECS_TARGET_PREFIX: &str = "amazonec2containerservicev20141113.";
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// What the proxy does to requests of one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 403 `UnauthorizedOperation` (EC2) / `AccessDenied` (IAM) / 400 `AccessDeniedException` (JSON).
    AccessDenied,
    /// `RequestLimitExceeded` (EC2, 503) / `Throttling` (IAM, 400) / `ThrottlingException` (JSON, 400).
    Throttled,
    /// 500 `InternalError` / `ServiceFailure` / `ServerException`.
    ServerError,
    /// Read the request, answer nothing for this long, then close.
    Hang(Duration),
    /// `iam:SimulatePrincipalPolicy` only: answer as IAM does when the role's policies allow every
    /// asked action on every asked resource (a `SimulatePrincipalPolicyResponse` with one
    /// `allowed` evaluation result per action and resource). moto lacks the simulator; this lets a
    /// test or the bench take the path real accounts take.
    SimulatorAllows,
    /// `ecr:DescribePullThroughCacheRules` only: answer as ECR does for a registry without rules
    /// (`{"pullThroughCacheRules": []}`). moto answers 500 (not implemented), which the SDK retries
    /// and the warm cache does not keep, unlike real ECR's answer.
    NoPullThroughCacheRules,
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::AccessDenied => "access denied",
            Fault::Throttled => "throttled",
            Fault::ServerError => "5xx",
            Fault::Hang(_) => "timeout",
            Fault::SimulatorAllows => "simulator allows",
            Fault::NoPullThroughCacheRules => "no pull-through cache rules",
        }
    }
}

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `ec2:DescribeSubnets`.
    pub action: String,
    /// Target header and body: two requests with equal keys ask the same question.
    pub key: String,
    pub at: Instant,
    pub faulted: bool,
    /// The SDK's attempt number (`amz-sdk-request: attempt=N`): above 1 is a retry.
    pub attempt: u32,
    /// The signing access key id (`Credential=AKID/…`): whose request it was.
    pub access_key: Option<String>,
}

#[derive(Default)]
struct Rules {
    latency: Duration,
    faults: HashMap<String, Fault>,
}

/// What the serving threads share with the [`Proxy`] handle.
struct Shared {
    /// `127.0.0.1:PORT`.
    upstream: String,
    /// In front of moto: rewrite ECS numbers, and be CloudTrail.
    moto_compat: bool,
    rules: Mutex<Rules>,
    seen: Mutex<Vec<Seen>>,
    rewritten: AtomicUsize,
    trail: Trail,
    /// Held while a DynamoDB request is at moto (see `serve`).
    dynamodb: Mutex<()>,
}

pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 forwarding to `upstream` (`http://127.0.0.1:PORT`) unchanged
    /// until told to add latency or faults.
    pub fn start(upstream: &str) -> Proxy {
        Proxy::spawn(upstream, false)
    }

    /// The compatibility proxy in front of a moto server: also rewrites ECS container numbers.
    pub fn moto_compat(upstream: &str) -> Proxy {
        Proxy::spawn(upstream, true)
    }

    fn spawn(upstream: &str, moto_compat: bool) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let shared = Arc::new(Shared {
            upstream: upstream
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string(),
            moto_compat,
            rules: Mutex::new(Rules::default()),
            seen: Mutex::new(Vec::new()),
            rewritten: AtomicUsize::new(0),
            trail: Trail::default(),
            dynamodb: Mutex::new(()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let shared = shared.clone();
                    std::thread::spawn(move || {
                        if let Err(e) = serve(conn, &shared) {
                            eprintln!("test proxy: {e}");
                        }
                    });
                }
            })
        };
        Proxy {
            port,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every forwarded request waits this long first (a fixed per-call latency).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.rules.lock().unwrap().latency = latency;
    }

    /// Apply `fault` to every request of `action` (`ec2:DescribeSubnets`) from now on.
    pub fn fault(&self, action: &str, fault: Fault) {
        self.shared
            .rules
            .lock()
            .unwrap()
            .faults
            .insert(action.to_string(), fault);
    }

    pub fn clear_faults(&self) {
        self.shared.rules.lock().unwrap().faults.clear();
    }

    /// Requests seen so far, and forget them.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.shared.seen.lock().unwrap())
    }

    /// The emulated CloudTrail: what the worlds wrote through this proxy (a moto compatibility
    /// proxy's; a plain [`Proxy::start`] forwards `LookupEvents` and records nothing).
    pub fn trail(&self) -> &Trail {
        &self.shared.trail
    }

    /// How many responses had their ECS container numbers rewritten so far.
    pub fn rewritten(&self) -> usize {
        self.shared.rewritten.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `ec2:DescribeSubnets` from the SigV4 scope and the target header or `Action=` field.
pub fn action_of(lines: &[String], body: &[u8]) -> String {
    let service = header(lines, "authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    let operation = match header(lines, "x-amz-target") {
        Some(target) => target.rsplit('.').next().unwrap_or(target).to_string(),
        // Route 53 is a REST API: the operation is in the path.
        None if service == "route53" => {
            match lines.first().and_then(|l| l.split_whitespace().nth(1)) {
                Some(path) if path.contains("/hostedzonesbyvpc") => "ListHostedZonesByVPC".into(),
                _ => "Unknown".into(),
            }
        }
        None => String::from_utf8_lossy(body)
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action=").map(str::to_string))
            .unwrap_or_else(|| "Unknown".into()),
    };
    format!("{service}:{operation}")
}

fn error_response(action: &str, fault: Fault) -> (u16, &'static str, &'static str, String) {
    let service = action.split(':').next().unwrap_or_default();
    let (status, code) = match (service, fault) {
        ("ec2", Fault::AccessDenied) => (403, "UnauthorizedOperation"),
        ("ec2", Fault::Throttled) => (503, "RequestLimitExceeded"),
        ("ec2", _) => (500, "InternalError"),
        ("iam" | "sns" | "sts" | "route53", Fault::AccessDenied) => (403, "AccessDenied"),
        ("iam" | "sns" | "sts" | "route53", Fault::Throttled) => (400, "Throttling"),
        ("iam" | "sns" | "sts" | "route53", _) => (500, "ServiceFailure"),
        (_, Fault::AccessDenied) => (400, "AccessDeniedException"),
        (_, Fault::Throttled) => (400, "ThrottlingException"),
        (_, _) => (500, "ServerException"),
    };
    let message = match fault {
        Fault::AccessDenied => format!("User: arn:aws:sts::123456789012:assumed-role/pulldoctor/fn is not authorized to perform: {action}"),
        Fault::Throttled => "Rate exceeded".to_string(),
        _ => "We encountered an internal error. Please try again.".to_string(),
    };
    match service {
        "ec2" => (
            status,
            "text/xml",
            code,
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"),
        ),
        "iam" | "sns" | "sts" | "route53" => (
            status,
            "text/xml",
            code,
            format!("<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"),
        ),
        _ => (status, "application/x-amz-json-1.1", code, serde_json::json!({"__type": code, "message": message}).to_string()),
    }
}

fn serve(client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    let mut client_reader = BufReader::new(client.try_clone()?);
    let Some(request) = read_message(&mut client_reader)? else {
        return Ok(());
    };
    let action = action_of(&request.head, &request.body);
    let (latency, fault) = {
        let rules = shared.rules.lock().unwrap();
        (rules.latency, rules.faults.get(&action).copied())
    };
    let target = request.header("x-amz-target");
    let key = format!(
        "{} {}",
        target.unwrap_or(""),
        String::from_utf8_lossy(&request.body)
    );
    let attempt = request
        .header("amz-sdk-request")
        .and_then(|v| {
            v.split(';')
                .find_map(|p| p.trim().strip_prefix("attempt=")?.parse().ok())
        })
        .unwrap_or(1);
    let is_ecs = target.is_some_and(|t| t.to_ascii_lowercase().starts_with(ECS_TARGET_PREFIX));
    let access_key = request
        .header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').next())
        .map(str::to_string);
    shared.seen.lock().unwrap().push(Seen {
        action: action.clone(),
        key,
        at: Instant::now(),
        faulted: fault.is_some(),
        attempt,
        access_key,
    });

    let mut client = client;
    match fault {
        Some(Fault::Hang(d)) => {
            std::thread::sleep(d);
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
        }
        Some(Fault::SimulatorAllows) if action == "iam:SimulatePrincipalPolicy" => {
            std::thread::sleep(latency);
            let body = simulation_allowed(&request.body);
            write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nx-amzn-RequestId: fault-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return client.flush();
        }
        Some(Fault::NoPullThroughCacheRules) if action == "ecr:DescribePullThroughCacheRules" => {
            std::thread::sleep(latency);
            let body = r#"{"pullThroughCacheRules":[]}"#;
            write!(
                client,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: fault-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return client.flush();
        }
        Some(Fault::SimulatorAllows | Fault::NoPullThroughCacheRules) => {
            std::thread::sleep(latency)
        }
        Some(fault) => {
            std::thread::sleep(latency);
            let (status, content_type, code, body) = error_response(&action, fault);
            write!(
                client,
                "HTTP/1.1 {status} Error\r\nContent-Type: {content_type}\r\nx-amzn-ErrorType: {code}\r\nx-amzn-RequestId: fault-proxy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return client.flush();
        }
        None => std::thread::sleep(latency),
    }
    // Only the moto compatibility proxy is CloudTrail: a proxy in front of it forwards.
    let cloudtrail = shared.moto_compat;
    if cloudtrail && action == "cloudtrail:LookupEvents" {
        let (status, body) = shared.trail.lookup(&request.body);
        let body = body.to_string();
        write!(
            client,
            "HTTP/1.1 {status} {}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            if status == 200 { "OK" } else { "Bad Request" },
            crate::util::random_uuid(),
            body.len()
        )?;
        return client.flush();
    }

    // DynamoDB applies a conditional write atomically; moto's threaded server checks and writes
    // without a lock, so two concurrent claims can both succeed there. The compatibility proxy
    // lets one DynamoDB request at a time through, as the real service orders writes to an item.
    let _one_at_a_time = (shared.moto_compat && action.starts_with("dynamodb:"))
        .then(|| shared.dynamodb.lock().unwrap_or_else(|e| e.into_inner()));
    let mut server = TcpStream::connect(&shared.upstream)?;
    server.set_read_timeout(Some(IO_TIMEOUT))?;
    write_message(&mut server, &request.head, &request.body)?;
    let mut response = read_message(&mut BufReader::new(server))?
        .ok_or_else(|| std::io::Error::other("upstream closed the connection without answering"))?;
    drop(_one_at_a_time);
    if shared.moto_compat && is_ecs {
        if let Ok(mut json) = serde_json::from_slice::<Value>(&response.body) {
            if stringify_container_numbers(&mut json) {
                response.body = serde_json::to_vec(&json)?;
                shared.rewritten.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    if cloudtrail
        && response
            .head
            .first()
            .and_then(|l| l.split_whitespace().nth(1))
            .is_some_and(|code| code.starts_with('2'))
    {
        shared
            .trail
            .observe(&action, &request.head, &request.body, &response.body);
    }
    write_message(&mut client, &response.head, &response.body)?;
    let _ = client.shutdown(Shutdown::Write);
    Ok(())
}

/// IAM's `SimulatePrincipalPolicy` answer allowing each `ActionNames.member.N` on each
/// `ResourceArns.member.N` (`*` when none is given), in the query protocol's XML.
pub fn simulation_allowed(form: &[u8]) -> String {
    let fields: Vec<(String, String)> = String::from_utf8_lossy(form)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                crate::cloudtrail::percent_decode(k),
                crate::cloudtrail::percent_decode(v),
            )
        })
        .collect();
    let listed = |prefix: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let actions = listed("ActionNames.member.");
    let mut resources = listed("ResourceArns.member.");
    if resources.is_empty() {
        resources.push("*");
    }
    let mut results = String::new();
    for action in &actions {
        for resource in &resources {
            results.push_str(&format!(
                "<member><EvalActionName>{action}</EvalActionName><EvalResourceName>{resource}</EvalResourceName>\
                 <EvalDecision>allowed</EvalDecision><MatchedStatements><member>\
                 <SourcePolicyId>AmazonECSTaskExecutionRolePolicy</SourcePolicyId><SourcePolicyType>aws-managed</SourcePolicyType>\
                 </member></MatchedStatements><MissingContextValues/></member>"
            ));
        }
    }
    format!(
        "<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><SimulatePrincipalPolicyResult>\
         <IsTruncated>false</IsTruncated><EvaluationResults>{results}</EvaluationResults></SimulatePrincipalPolicyResult>\
         <ResponseMetadata><RequestId>fault-proxy</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>"
    )
}

/// `containers[].{cpu,memory,memoryReservation}` numbers → strings, anywhere in the document.
/// Returns whether anything changed.
pub fn stringify_container_numbers(value: &mut Value) -> bool {
    let mut changed = false;
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if key == "containers" {
                    if let Value::Array(containers) = child {
                        for c in containers.iter_mut().filter_map(Value::as_object_mut) {
                            for field in ["cpu", "memory", "memoryReservation"] {
                                if let Some(n) = c
                                    .get(field)
                                    .filter(|v| v.is_number())
                                    .map(|v| v.to_string())
                                {
                                    c.insert(field.to_string(), Value::String(n));
                                    changed = true;
                                }
                            }
                        }
                    }
                }
                changed |= stringify_container_numbers(child);
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= stringify_container_numbers(item);
            }
        }
        _ => {}
    }
    changed
}
