//! A fault-injecting, latency-adding, recording HTTP proxy in front of moto.
//!
//! moto answers every read correctly and at once; real AWS sometimes denies, throttles, fails
//! with a 5xx, hangs, and always takes tens of milliseconds. [`FaultProxy`] sits between the SDK
//! and the moto endpoint and, per request, by IAM action name (`ec2:DescribeSubnets`):
//! * answers with the error AWS gives for [`Fault::AccessDenied`], [`Fault::Throttled`] or
//!   [`Fault::ServerError`], in the wire format of the service's protocol (EC2 query, IAM/SNS
//!   query, JSON for ECS/ECR/Secrets Manager);
//! * or holds the request without answering ([`Fault::Hang`]), as a black-holed connection does;
//! * otherwise waits the configured latency and forwards it;
//! * and records every request (action and exact bytes), so tests can count calls and spot a
//!   request issued twice.
//!
//! The action is read from the SigV4 credential scope (the service) and the `X-Amz-Target`
//! header or the `Action=` form field (the operation). One request per connection; bodies with
//! `Content-Length` only (what the SDK sends).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::AccessDenied => "access denied",
            Fault::Throttled => "throttled",
            Fault::ServerError => "5xx",
            Fault::Hang(_) => "timeout",
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
}

#[derive(Default)]
struct Rules {
    latency: Duration,
    faults: HashMap<String, Fault>,
}

pub struct FaultProxy {
    port: u16,
    rules: Arc<Mutex<Rules>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 forwarding to `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fault proxy");
        let port = listener.local_addr().unwrap().port();
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_string();
        let rules = Arc::new(Mutex::new(Rules::default()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (rules, seen, stop) = (rules.clone(), seen.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (upstream, rules, seen) = (upstream.clone(), rules.clone(), seen.clone());
                    std::thread::spawn(move || {
                        let _ = serve(conn, &upstream, &rules, &seen);
                    });
                }
            });
        }
        FaultProxy { port, rules, seen, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every forwarded request waits this long first (a fixed per-call latency).
    pub fn set_latency(&self, latency: Duration) {
        self.rules.lock().unwrap().latency = latency;
    }

    /// Apply `fault` to every request of `action` (`ec2:DescribeSubnets`) from now on.
    pub fn fault(&self, action: &str, fault: Fault) {
        self.rules.lock().unwrap().faults.insert(action.to_string(), fault);
    }

    pub fn clear_faults(&self) {
        self.rules.lock().unwrap().faults.clear();
    }

    /// Requests seen so far, and forget them.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
    }
}

fn read_head_and_body(reader: &mut impl BufRead) -> std::io::Result<(Vec<String>, Vec<u8>)> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let len = header(&lines, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok((lines, body))
}

fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
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
        None if service == "route53" => match lines.first().and_then(|l| l.split_whitespace().nth(1)) {
            Some(path) if path.contains("/hostedzonesbyvpc") => "ListHostedZonesByVPC".into(),
            _ => "Unknown".into(),
        },
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

fn serve(client: TcpStream, upstream: &str, rules: &Mutex<Rules>, seen: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let (lines, body) = read_head_and_body(&mut reader)?;
    let action = action_of(&lines, &body);
    let (latency, fault) = {
        let rules = rules.lock().unwrap();
        (rules.latency, rules.faults.get(&action).copied())
    };
    let key = format!("{} {}", header(&lines, "x-amz-target").unwrap_or(""), String::from_utf8_lossy(&body));
    let attempt = header(&lines, "amz-sdk-request")
        .and_then(|v| v.split(';').find_map(|p| p.trim().strip_prefix("attempt=")?.parse().ok()))
        .unwrap_or(1);
    seen.lock().unwrap().push(Seen { action: action.clone(), key, at: Instant::now(), faulted: fault.is_some(), attempt });
    let mut client = client;
    match fault {
        Some(Fault::Hang(d)) => {
            std::thread::sleep(d);
            let _ = client.shutdown(Shutdown::Both);
            return Ok(());
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
    let mut server = TcpStream::connect(upstream)?;
    let mut head = String::new();
    for line in &lines {
        if line.split(':').next().is_some_and(|k| k.trim().eq_ignore_ascii_case("connection")) {
            continue;
        }
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    server.write_all(head.as_bytes())?;
    server.write_all(&body)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    client.write_all(&response)?;
    client.flush()?;
    let _ = client.shutdown(Shutdown::Write);
    Ok(())
}
