//! Test harness for pulldoctor's workspace integration tests.
//!
//! * [`Moto`] starts a private `moto_server` on 127.0.0.1 (one per test: tests run in parallel threads
//!   of one process, so a shared server with `/moto-api/reset` would race) and kills it on drop.
//! * [`World`] builds AWS resources in that server with the real Rust AWS SDK: networks, clusters,
//!   execution roles, task definitions, ECR repositories and images, stopped Fargate tasks, and an SNS
//!   topic with an SQS queue subscribed to read back what pulldoctor published.
//! * [`events`] builds realistic EventBridge `ECS Task State Change` events and loads the saved
//!   fixtures in `tests/fixtures/events/`.
//! * [`split_sns_body`] / [`sns_diagnosis`] / [`diagnosis_from_sns_body`] read the diagnosis JSON out of an SNS
//!   message (the last two also validate it against `docs/schemas/`).
//! * [`pulldoctor_bin`] / [`run_cli`] run the `pulldoctor` CLI against a moto server.
//! * [`alerting`]: a Slack webhook stub, a Lambda Runtime API emulator driving the real
//!   `pulldoctor-lambda` binary, the dedup table and secrets in moto.
//!
//! [`Moto::url`] is the endpoint clients use: a [`compat`] proxy in front of moto that rewrites ECS
//! `containers[].cpu`/`memory` JSON numbers to strings (moto emits numbers; the Rust SDK rejects
//! them, so without it no `RunTask`/`DescribeTasks` response parses). Nothing else is changed.
//!
//! moto 5.2.1 quirks the builders work around (each is commented where it matters):
//! * `RunTask` with `awsvpc` fails (HTTP 500) unless every container definition has `memory` (or
//!   `memoryReservation`), the `awsvpcConfiguration` has `securityGroups`, and the VPC has DNS
//!   hostnames enabled (moto reads the ENI's `private_dns_name`, only set in such VPCs).
//! * `DescribeTasks` for a task ARN moto never saw returns `tasks: []` *and* `failures: []` (real ECS
//!   returns a `MISSING` failure).
//! * `PutImage` computes the digest as sha256 of the concatenated *layer digests*, not of the manifest
//!   bytes: images that share their layers share a digest. Always take the digest from the response.
//! * Pushing a different manifest under an existing tag deletes the previously tagged image outright
//!   (real ECR keeps it untagged).
//! * moto task ids are dashed UUIDs (real ECS: 32 hex characters); `containers[].taskArn` holds the
//!   task *definition* ARN; containers stay `PENDING` after `StopTask`; the ENI stays `in-use`.

pub mod alerting;
pub mod contracts;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub mod proxy;

/// The account moto uses by default.
pub const ACCOUNT_ID: &str = "123456789012";
/// The region every world is built in (the fixtures use it too).
pub const REGION: &str = "us-east-1";
/// Static credentials moto accepts.
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";
/// The AWS managed policy an ECS task execution role normally carries.
pub const EXECUTION_ROLE_POLICY_ARN: &str =
    "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy";

const MOTO_START_DEADLINE: Duration = Duration::from_secs(20);
const MOTO_INSTALL_HINT: &str = "install it with `pip install 'moto[server]'` (moto >= 5) so that \
     `moto_server` is on PATH, or point MOTO_SERVER_BIN at the executable";

// ---------------------------------------------------------------------------------------------
// Moto server
// ---------------------------------------------------------------------------------------------

/// A private `moto_server` process listening on 127.0.0.1. Killed on drop.
pub struct Moto {
    proxy: compat::Proxy,
    child: Child,
    port: u16,
    url: String,
    log_path: PathBuf,
    startup: Duration,
}

/// Ports handed out by this process: never hand the same port to two servers, even when one has
/// not bound it yet (the window between releasing the probe socket and moto binding it is ~1 s).
static PORTS_IN_USE: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        drop(listener);
        if PORTS_IN_USE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(port)
        {
            return port;
        }
    }
}

enum Readiness {
    Ready,
    Exited(std::process::ExitStatus),
    TimedOut,
}

impl Moto {
    /// Starts `moto_server -H 127.0.0.1 -p <free port>` with `MOTO_IAM_LOAD_MANAGED_POLICIES=true`
    /// and waits (up to 20 s) until `GET /moto-api/` answers. Retries on a port collision. Panics
    /// with an installation hint when the binary is missing.
    pub fn start() -> Moto {
        let began = Instant::now();
        let program =
            std::env::var("MOTO_SERVER_BIN").unwrap_or_else(|_| "moto_server".to_string());
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let log_path = std::env::temp_dir()
                .join(format!("pulldoctor-moto-{}-{port}.log", std::process::id()));
            let log = File::create(&log_path)
                .unwrap_or_else(|e| panic!("create moto log {}: {e}", log_path.display()));
            let log_err = log.try_clone().expect("clone log handle");
            let spawned = Command::new(&program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
                .stdin(Stdio::null())
                // moto logs every request: a file, not a pipe nobody drains (a full pipe blocks it).
                .stdout(Stdio::from(log))
                .stderr(Stdio::from(log_err))
                .spawn();
            let mut child = match spawned {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    panic!("cannot start `{program}`: not found. moto server is required for these tests: {MOTO_INSTALL_HINT}")
                }
                Err(e) => panic!("cannot start `{program}`: {e}. {MOTO_INSTALL_HINT}"),
            };
            match wait_ready(&mut child, port, Instant::now() + MOTO_START_DEADLINE) {
                Readiness::Ready => {
                    let proxy = compat::Proxy::start(SocketAddr::from(([127, 0, 0, 1], port)));
                    // PULLDOCTOR_TESTS_DIRECT_MOTO=1 bypasses the proxy (to check whether moto still
                    // needs it).
                    let direct =
                        std::env::var_os("PULLDOCTOR_TESTS_DIRECT_MOTO").is_some_and(|v| v == "1");
                    return Moto {
                        url: format!(
                            "http://127.0.0.1:{}",
                            if direct { port } else { proxy.port() }
                        ),
                        proxy,
                        child,
                        port,
                        log_path,
                        startup: began.elapsed(),
                    };
                }
                Readiness::Exited(status) => {
                    last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    let _ = std::fs::remove_file(&log_path);
                    if last_log.contains("Address already in use")
                        || last_log.contains("address already in use")
                    {
                        continue; // someone took the port between our probe and moto's bind
                    }
                    panic!("moto_server exited with {status} before answering on port {port}:\n{last_log}");
                }
                Readiness::TimedOut => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    panic!(
                        "moto_server did not answer GET /moto-api/ on 127.0.0.1:{port} within {MOTO_START_DEADLINE:?}; log {}:\n{log}",
                        log_path.display()
                    );
                }
            }
        }
        panic!("moto_server could not bind a free port after 5 attempts; last log:\n{last_log}");
    }

    /// The endpoint URL clients use: the [`compat`] proxy in front of the server.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server itself, bypassing the compatibility proxy.
    pub fn direct_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Port of the moto server itself.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many responses the compatibility proxy had to rewrite so far.
    pub fn rewritten_responses(&self) -> usize {
        self.proxy.rewritten()
    }

    /// Wall time from spawning the process to the first answer.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// Request log of this server (kept after a failing test; removed otherwise).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// SDK configuration pointing at this server: endpoint URL, static test credentials, region.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.url)
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                None,
                None,
                "pulldoctor-tests",
            ))
            .load()
            .await
    }

    /// Environment for a child process (the CLI) that should talk to this server through the
    /// standard SDK environment variables.
    pub fn env(&self, region: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_REGION", region.to_string()),
            ("AWS_DEFAULT_REGION", region.to_string()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            // Keep the developer's own profiles out of the child.
            (
                "AWS_CONFIG_FILE",
                "/nonexistent/pulldoctor-tests/config".to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/pulldoctor-tests/credentials".to_string(),
            ),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("moto server log kept at {}", self.log_path.display());
        } else {
            let _ = std::fs::remove_file(&self.log_path);
        }
        PORTS_IN_USE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.port);
    }
}

fn wait_ready(child: &mut Child, port: u16, deadline: Instant) -> Readiness {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Readiness::Exited(status);
        }
        if moto_api_answers(addr) {
            // The answer must come from *our* process: if it died meanwhile, someone else answered.
            return match child.try_wait() {
                Ok(Some(status)) => Readiness::Exited(status),
                _ => Readiness::Ready,
            };
        }
        if Instant::now() > deadline {
            return Readiness::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn moto_api_answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(250)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /moto-api/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    if stream.read_exact(&mut head).is_err() {
        return false;
    }
    head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200")
}

// ---------------------------------------------------------------------------------------------
// Compatibility proxy
// ---------------------------------------------------------------------------------------------

pub mod compat {
    //! A tiny HTTP/1.1 proxy between the SDK and moto that fixes one moto wire-format bug the Rust
    //! SDK cannot parse, and changes nothing else:
    //!
    //! moto 5.2.1 serializes ECS `Container.cpu` (and `memory`, `memoryReservation`) as JSON
    //! *numbers* (`"cpu": 0` — moto defaults every container definition's `cpu` to 0), where the ECS
    //! API types them as strings. The Rust SDK then fails the whole `RunTask` / `DescribeTasks` /
    //! `StopTask` call with `TypeMismatch: expected string`. The proxy turns those numbers into
    //! strings in ECS responses (`tasks[].containers[]`, `task.containers[]`), so the engine under test
    //! — and the CLI, through `AWS_ENDPOINT_URL` — can read tasks from moto at all.
    //!
    //! One request per connection (`Connection: close`), `Content-Length` bodies only (what the SDK
    //! sends for JSON and query protocols).

    use std::io::{BufRead, BufReader, Write};
    use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread::JoinHandle;
    use std::time::Duration;

    use serde_json::Value;

    const ECS_TARGET_PREFIX: &str = "amazonec2containerservicev20141113.";
    const IO_TIMEOUT: Duration = Duration::from_secs(60);

    pub struct Proxy {
        port: u16,
        stop: Arc<AtomicBool>,
        rewritten: Arc<AtomicUsize>,
        thread: Option<JoinHandle<()>>,
    }

    impl Proxy {
        pub fn start(upstream: SocketAddr) -> Proxy {
            let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind proxy");
            let port = listener.local_addr().expect("proxy addr").port();
            let stop = Arc::new(AtomicBool::new(false));
            let rewritten = Arc::new(AtomicUsize::new(0));
            let thread = {
                let stop = stop.clone();
                let rewritten = rewritten.clone();
                std::thread::spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(conn) = conn else { continue };
                        let rewritten = rewritten.clone();
                        std::thread::spawn(move || {
                            if let Err(e) = serve(conn, upstream, &rewritten) {
                                eprintln!("moto compat proxy: {e}");
                            }
                        });
                    }
                })
            };
            Proxy {
                port,
                stop,
                rewritten,
                thread: Some(thread),
            }
        }

        pub fn port(&self) -> u16 {
            self.port
        }

        pub fn rewritten(&self) -> usize {
            self.rewritten.load(Ordering::SeqCst)
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

    /// Reads an HTTP/1.1 message head (through the blank line) and its `Content-Length` body.
    fn read_message(reader: &mut impl BufRead) -> std::io::Result<Option<(Vec<String>, Vec<u8>)>> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return if lines.is_empty() {
                    Ok(None)
                } else {
                    Err(std::io::ErrorKind::UnexpectedEof.into())
                };
            }
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line.is_empty() {
                break;
            }
            lines.push(line);
        }
        let header = |name: &str| {
            lines.iter().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            return Err(std::io::Error::other(
                "chunked bodies are not supported by the compat proxy",
            ));
        }
        let mut body = Vec::new();
        match header("content-length") {
            Some(n) => {
                let n: usize = n.parse().map_err(std::io::Error::other)?;
                body.resize(n, 0);
                reader.read_exact(&mut body)?;
            }
            // A response without length ends at EOF; a request without length has no body.
            None if !lines[0].starts_with("HTTP/") => {}
            None => {
                reader.read_to_end(&mut body)?;
            }
        }
        Ok(Some((lines, body)))
    }

    fn write_message(out: &mut impl Write, head: &[String], body: &[u8]) -> std::io::Result<()> {
        let mut text = String::new();
        text.push_str(&head[0]);
        text.push_str("\r\n");
        for line in &head[1..] {
            let name = line.split(':').next().unwrap_or_default().trim();
            if name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("connection")
            {
                continue;
            }
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ));
        out.write_all(text.as_bytes())?;
        out.write_all(body)?;
        out.flush()
    }

    fn serve(
        client: TcpStream,
        upstream: SocketAddr,
        rewritten: &AtomicUsize,
    ) -> std::io::Result<()> {
        client.set_read_timeout(Some(IO_TIMEOUT))?;
        let mut client_reader = BufReader::new(client.try_clone()?);
        let Some((head, body)) = read_message(&mut client_reader)? else {
            return Ok(());
        };
        let is_ecs = head.iter().skip(1).any(|l| {
            l.split_once(':').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("x-amz-target")
                    && v.trim().to_ascii_lowercase().starts_with(ECS_TARGET_PREFIX)
            })
        });

        let mut server = TcpStream::connect(upstream)?;
        server.set_read_timeout(Some(IO_TIMEOUT))?;
        write_message(&mut server, &head, &body)?;
        let mut server_reader = BufReader::new(server);
        let (resp_head, mut resp_body) = read_message(&mut server_reader)?
            .ok_or_else(|| std::io::Error::other("moto closed the connection without answering"))?;

        if is_ecs {
            if let Ok(mut json) = serde_json::from_slice::<Value>(&resp_body) {
                if stringify_container_numbers(&mut json) {
                    resp_body = serde_json::to_vec(&json)?;
                    rewritten.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        let mut client = client;
        write_message(&mut client, &resp_head, &resp_body)?;
        let _ = client.shutdown(Shutdown::Write);
        Ok(())
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
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// `sha256:<64 hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for byte in hash.iter() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// 32 random-looking lowercase hex characters (a task id in the real, long ARN format).
pub fn random_hex32() -> String {
    let seed = format!(
        "{}-{}-{:?}-{:?}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed),
        SystemTime::now(),
        std::thread::current().id()
    );
    sha256_digest(seed.as_bytes())["sha256:".len().."sha256:".len() + 32].to_string()
}

/// A random UUID-shaped string (8-4-4-4-12).
pub fn random_uuid() -> String {
    let h = random_hex32();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// `123456789012.dkr.ecr.us-east-1.amazonaws.com`.
pub fn ecr_registry(account: &str, region: &str) -> String {
    format!("{account}.dkr.ecr.{region}.amazonaws.com")
}

/// A realistic Docker image manifest v2 (schema 2). `seed` varies the config and layer digests, so
/// distinct seeds give distinct moto digests (moto hashes the layer digests).
pub fn docker_manifest(seed: &str) -> String {
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/app/server"], "Labels": {"build": seed}},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(format!("{seed}/diff/0").as_bytes()),
                                                   sha256_digest(format!("{seed}/diff/1").as_bytes())]}
    })
    .to_string();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": config.len(),
            "digest": sha256_digest(config.as_bytes()),
        },
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 3_370_706,
             "digest": sha256_digest(format!("{seed}/layer/0").as_bytes())},
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 18_467_213,
             "digest": sha256_digest(format!("{seed}/layer/1").as_bytes())},
        ],
    });
    serde_json::to_string_pretty(&manifest).expect("manifest json")
}

/// A file in the temp dir, removed on drop.
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    pub fn new(name: &str, contents: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "pulldoctor-tests-{}-{}-{name}",
            std::process::id(),
            UNIQUE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        TempFile { path }
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------------------------
// World: AWS resources in one moto server
// ---------------------------------------------------------------------------------------------

/// One isolated AWS world: a private moto server and SDK clients pointed at it.
pub struct World {
    pub moto: Moto,
    pub config: SdkConfig,
    pub account: String,
    pub region: String,
    pub ec2: aws_sdk_ec2::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub iam: aws_sdk_iam::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

/// A VPC whose tasks run in a private subnet that reaches the internet through a NAT gateway:
/// the ordinary, working Fargate setup (so that only the fault a scenario injects is wrong).
#[derive(Debug, Clone)]
pub struct Network {
    pub vpc_id: String,
    /// Private subnet the tasks use (default route → NAT gateway).
    pub subnet_id: String,
    pub public_subnet_id: String,
    pub availability_zone: String,
    pub security_group_id: String,
    pub internet_gateway_id: String,
    pub nat_gateway_id: String,
    pub private_route_table_id: String,
}

/// What to register as a task definition.
#[derive(Debug, Clone)]
pub struct TaskDefSpec {
    pub family: String,
    pub container: String,
    pub image: String,
    pub execution_role_arn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Repository {
    pub name: String,
    pub arn: String,
    /// `123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web`
    pub uri: String,
}

impl Repository {
    /// `<uri>:<tag>`
    pub fn image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.uri)
    }
    /// `<uri>@<digest>`
    pub fn image_at(&self, digest: &str) -> String {
        format!("{}@{digest}", self.uri)
    }
}

/// The task's elastic network interface as ECS reports it in `attachments[].details`.
#[derive(Debug, Clone)]
pub struct Eni {
    pub subnet_id: String,
    pub network_interface_id: String,
    pub mac_address: String,
    pub private_dns_name: String,
    pub private_ipv4_address: String,
}

/// A Fargate task (stopped in moto, or one moto never saw) to describe in an event.
#[derive(Debug, Clone)]
pub struct StoppedTask {
    pub task_arn: String,
    pub cluster_arn: String,
    pub task_definition_arn: String,
    pub group: String,
    pub started_by: String,
    pub availability_zone: String,
    pub platform_version: String,
    pub eni: Eni,
}

/// The usual healthy account: Fargate service `web` in cluster `prod` running `team/web:v1`
/// (pushed) from the private subnet, whose route table sends `0.0.0.0/0` to the NAT gateway, with
/// the execution role `ecsTaskExecutionRole`. Worlds that break one thing start from it.
pub struct WebService {
    pub world: World,
    pub net: Network,
    pub cluster_arn: String,
    pub repo: Repository,
    pub image: String,
    pub task_definition: String,
}

impl WebService {
    pub async fn build() -> WebService {
        let world = World::new().await;
        let net = world.network().await;
        let cluster_arn = world.cluster("prod").await;
        let role = world.execution_role("ecsTaskExecutionRole").await;
        let repo = world.repository("team/web").await;
        world.push_image(&repo, "v1", "web-v1").await;
        let image = repo.image("v1");
        let task_definition = world
            .task_definition(&TaskDefSpec { family: "web".into(), container: "web".into(), image: image.clone(), execution_role_arn: Some(role) })
            .await;
        world.service("prod", "web", &task_definition, &net).await;
        WebService { world, net, cluster_arn, repo, image, task_definition }
    }

    /// Another task of service `web` that failed to start (its ENI already gone).
    pub fn stopped_task(&self) -> StoppedTask {
        self.world.unknown_task(&self.cluster_arn, &self.task_definition, &self.net, "service:web")
    }

    /// The event of `task` stopped with the I/O timeout of a pull that cannot reach ECR.
    pub fn io_timeout_event(&self, task: &StoppedTask) -> Value {
        let message = events::messages::io_timeout(&self.image, &self.world.registry(), &self.repo.name, "v1");
        events::TaskEvent::pull_failure(&self.world, task, "web", &self.image, &message).to_value()
    }
}

/// The demo account: Fargate service `web` in cluster `prod` running `team/web:v1` (pushed) from
/// the private subnet, one of its tasks stopped with the I/O timeout a task gets when the subnet
/// cannot reach ECR — because the private route table's `0.0.0.0/0` route to the NAT gateway was
/// deleted. The demo, the benchmark and the fault matrix all diagnose this world.
pub struct NatRouteDeleted {
    pub world: World,
    pub net: Network,
    pub cluster_arn: String,
    pub repo: Repository,
    pub image: String,
    pub task_definition: String,
    pub task: StoppedTask,
    pub message: String,
    /// The ECS Task State Change event EventBridge would deliver for `task`.
    pub event: Value,
}

impl NatRouteDeleted {
    pub async fn build() -> NatRouteDeleted {
        let WebService { world, net, cluster_arn, repo, image, task_definition } = WebService::build().await;
        let task = world.run_stopped_task("prod", &task_definition, &net, "service:web").await;
        world
            .ec2
            .delete_route()
            .route_table_id(&net.private_route_table_id)
            .destination_cidr_block("0.0.0.0/0")
            .send()
            .await
            .expect("DeleteRoute");
        let message = events::messages::io_timeout(&image, &world.registry(), &repo.name, "v1");
        let event = events::TaskEvent::pull_failure(&world, &task, "web", &image, &message).to_value();
        NatRouteDeleted { world, net, cluster_arn, repo, image, task_definition, task, message, event }
    }

    /// The event of another task of service `web` that failed the same way (its ENI already gone).
    pub fn another_failed_task(&self) -> Value {
        let other = self.world.unknown_task(&self.cluster_arn, &self.task_definition, &self.net, "service:web");
        events::TaskEvent::pull_failure(&self.world, &other, "web", &self.image, &self.message).to_value()
    }
}

/// An SNS topic with an SQS queue subscribed (envelope delivery, not raw).
#[derive(Debug, Clone)]
pub struct Inbox {
    pub topic_arn: String,
    pub queue_url: String,
    pub queue_arn: String,
}

/// One SNS notification read from the queue.
#[derive(Debug, Clone)]
pub struct SnsMessage {
    pub subject: Option<String>,
    pub message: String,
    /// The whole SNS envelope (`Type`, `TopicArn`, `Subject`, `Message`, …).
    pub envelope: Value,
}

impl World {
    /// Starts a private moto server and builds clients for [`REGION`].
    pub async fn new() -> World {
        let moto = tokio::task::spawn_blocking(Moto::start)
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        eprintln!(
            "moto server on port {} answered after {:?}",
            moto.port(),
            moto.startup()
        );
        let config = moto.sdk_config(REGION).await;
        World {
            ec2: aws_sdk_ec2::Client::new(&config),
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            account: ACCOUNT_ID.to_string(),
            region: REGION.to_string(),
            config,
            moto,
        }
    }

    /// The Lambda application wired to this world.
    pub fn app(&self, topic_arn: Option<String>) -> pulldoctor::lambda::App {
        pulldoctor::lambda::App::new(&self.config, topic_arn)
    }

    pub fn registry(&self) -> String {
        ecr_registry(&self.account, &self.region)
    }

    /// A VPC (DNS support and hostnames on) with a public subnet (route to an internet gateway,
    /// NAT gateway inside) and a private subnet for tasks (default route to the NAT gateway), and a
    /// task security group (moto's default egress: all traffic).
    pub async fn network(&self) -> Network {
        use aws_sdk_ec2::types::{AttributeBooleanValue, DomainType};
        let az = format!("{}a", self.region);
        let vpc_id = self
            .ec2
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await
            .expect("CreateVpc")
            .vpc
            .and_then(|v| v.vpc_id)
            .expect("vpc id");
        for hostnames in [false, true] {
            let value = AttributeBooleanValue::builder().value(true).build();
            let req = self.ec2.modify_vpc_attribute().vpc_id(&vpc_id);
            // moto quirk: RunTask (awsvpc) needs DNS hostnames on, or it fails on the ENI's DNS name.
            let req = if hostnames {
                req.enable_dns_hostnames(value)
            } else {
                req.enable_dns_support(value)
            };
            req.send().await.expect("ModifyVpcAttribute");
        }
        let subnet = |cidr: &'static str| {
            let az = az.clone();
            let vpc_id = vpc_id.clone();
            async move {
                self.ec2
                    .create_subnet()
                    .vpc_id(vpc_id)
                    .cidr_block(cidr)
                    .availability_zone(az)
                    .send()
                    .await
                    .expect("CreateSubnet")
                    .subnet
                    .and_then(|s| s.subnet_id)
                    .expect("subnet id")
            }
        };
        let public_subnet_id = subnet("10.0.0.0/24").await;
        let subnet_id = subnet("10.0.1.0/24").await;

        let internet_gateway_id = self
            .ec2
            .create_internet_gateway()
            .send()
            .await
            .expect("CreateInternetGateway")
            .internet_gateway
            .and_then(|g| g.internet_gateway_id)
            .expect("igw id");
        self.ec2
            .attach_internet_gateway()
            .internet_gateway_id(&internet_gateway_id)
            .vpc_id(&vpc_id)
            .send()
            .await
            .expect("AttachInternetGateway");
        let public_rt = self.route_table(&vpc_id, &public_subnet_id).await;
        self.ec2
            .create_route()
            .route_table_id(&public_rt)
            .destination_cidr_block("0.0.0.0/0")
            .gateway_id(&internet_gateway_id)
            .send()
            .await
            .expect("CreateRoute igw");

        let allocation_id = self
            .ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .send()
            .await
            .expect("AllocateAddress")
            .allocation_id
            .expect("allocation id");
        let nat_gateway_id = self
            .ec2
            .create_nat_gateway()
            .subnet_id(&public_subnet_id)
            .allocation_id(allocation_id)
            .send()
            .await
            .expect("CreateNatGateway")
            .nat_gateway
            .and_then(|n| n.nat_gateway_id)
            .expect("nat gateway id");
        let private_route_table_id = self.route_table(&vpc_id, &subnet_id).await;
        self.ec2
            .create_route()
            .route_table_id(&private_route_table_id)
            .destination_cidr_block("0.0.0.0/0")
            .nat_gateway_id(&nat_gateway_id)
            .send()
            .await
            .expect("CreateRoute nat");

        let security_group_id = self
            .ec2
            .create_security_group()
            .group_name("web-tasks")
            .description("web tasks")
            .vpc_id(&vpc_id)
            .send()
            .await
            .expect("CreateSecurityGroup")
            .group_id
            .expect("sg id");

        Network {
            vpc_id,
            subnet_id,
            public_subnet_id,
            availability_zone: az,
            security_group_id,
            internet_gateway_id,
            nat_gateway_id,
            private_route_table_id,
        }
    }

    async fn route_table(&self, vpc_id: &str, subnet_id: &str) -> String {
        let id = self
            .ec2
            .create_route_table()
            .vpc_id(vpc_id)
            .send()
            .await
            .expect("CreateRouteTable")
            .route_table
            .and_then(|r| r.route_table_id)
            .expect("route table id");
        self.ec2
            .associate_route_table()
            .route_table_id(&id)
            .subnet_id(subnet_id)
            .send()
            .await
            .expect("AssociateRouteTable");
        id
    }

    /// Creates an ECS cluster; returns its ARN.
    pub async fn cluster(&self, name: &str) -> String {
        self.ecs
            .create_cluster()
            .cluster_name(name)
            .send()
            .await
            .expect("CreateCluster")
            .cluster
            .and_then(|c| c.cluster_arn)
            .expect("cluster arn")
    }

    /// An ECS task execution role: trusts `ecs-tasks.amazonaws.com`, has
    /// `AmazonECSTaskExecutionRolePolicy` attached. Returns its ARN.
    pub async fn execution_role(&self, name: &str) -> String {
        self.service_role(name, "ecs-tasks.amazonaws.com", &[EXECUTION_ROLE_POLICY_ARN]).await
    }

    /// A role that `service` may assume, with these AWS managed policies attached (by ARN, or by
    /// name for those at the root path). Returns its ARN.
    pub async fn service_role(&self, name: &str, service: &str, managed_policies: &[&str]) -> String {
        let trust = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole"
            }]
        });
        let arn = self
            .iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .expect("CreateRole")
            .role
            .map(|r| r.arn)
            .expect("role arn");
        for policy in managed_policies {
            self.iam
                .attach_role_policy()
                .role_name(name)
                .policy_arn(if policy.starts_with("arn:") { policy.to_string() } else { format!("arn:aws:iam::aws:policy/{policy}") })
                .send()
                .await
                .expect("AttachRolePolicy (is MOTO_IAM_LOAD_MANAGED_POLICIES=true?)");
        }
        arn
    }

    /// Registers a Fargate (`awsvpc`, 256 CPU / 512 MiB) task definition; returns its ARN.
    pub async fn task_definition(&self, spec: &TaskDefSpec) -> String {
        use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, NetworkMode};
        let container = ContainerDefinition::builder()
            .name(&spec.container)
            .image(&spec.image)
            .essential(true)
            // moto quirk: RunTask needs a container-level memory or memoryReservation (it sums them).
            .memory_reservation(512)
            .build();
        self.ecs
            .register_task_definition()
            .family(&spec.family)
            .requires_compatibilities(Compatibility::Fargate)
            .network_mode(NetworkMode::Awsvpc)
            .cpu("256")
            .memory("512")
            .set_execution_role_arn(spec.execution_role_arn.clone())
            .container_definitions(container)
            .send()
            .await
            .expect("RegisterTaskDefinition")
            .task_definition
            .and_then(|t| t.task_definition_arn)
            .expect("task definition arn")
    }

    fn awsvpc(&self, network: &Network) -> aws_sdk_ecs::types::NetworkConfiguration {
        use aws_sdk_ecs::types::{AssignPublicIp, AwsVpcConfiguration, NetworkConfiguration};
        NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .subnets(&network.subnet_id)
                    // moto quirk: RunTask fails without securityGroups.
                    .security_groups(&network.security_group_id)
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()
                    .expect("awsvpc configuration"),
            )
            .build()
    }

    /// Creates a Fargate service (desired count 1) with the network's awsvpc configuration.
    /// Returns its ARN.
    pub async fn service(
        &self,
        cluster: &str,
        name: &str,
        task_definition_arn: &str,
        network: &Network,
    ) -> String {
        use aws_sdk_ecs::types::LaunchType;
        self.ecs
            .create_service()
            .cluster(cluster)
            .service_name(name)
            .task_definition(task_definition_arn)
            .desired_count(1)
            .launch_type(LaunchType::Fargate)
            .platform_version("1.4.0")
            .network_configuration(self.awsvpc(network))
            .send()
            .await
            .expect("CreateService")
            .service
            .and_then(|s| s.service_arn)
            .expect("service arn")
    }

    /// `RunTask` (FARGATE, awsvpc, platform 1.4.0) then `StopTask`: a stopped task that
    /// `DescribeTasks` still returns. `group` is `service:NAME` or `family:NAME`.
    pub async fn run_stopped_task(
        &self,
        cluster: &str,
        task_definition_arn: &str,
        network: &Network,
        group: &str,
    ) -> StoppedTask {
        use aws_sdk_ecs::types::LaunchType;
        let started_by = if group.starts_with("service:") {
            format!("ecs-svc/{}", &random_digits(19))
        } else {
            "pulldoctor-tests".to_string()
        };
        let out = self
            .ecs
            .run_task()
            .cluster(cluster)
            .task_definition(task_definition_arn)
            .launch_type(LaunchType::Fargate)
            .platform_version("1.4.0")
            .group(group)
            .started_by(&started_by)
            .count(1)
            .network_configuration(self.awsvpc(network))
            .send()
            .await
            .expect("RunTask");
        assert!(
            out.failures().is_empty(),
            "RunTask failures: {:?}",
            out.failures()
        );
        let task = out
            .tasks()
            .first()
            .expect("RunTask returned no task")
            .clone();
        let task_arn = task.task_arn().expect("task arn").to_string();
        let detail = |name: &str| -> String {
            task.attachments()
                .iter()
                .flat_map(|a| a.details())
                .find(|kv| kv.name() == Some(name))
                .and_then(|kv| kv.value())
                .unwrap_or_default()
                .to_string()
        };
        let eni = Eni {
            subnet_id: detail("subnetId"),
            network_interface_id: detail("networkInterfaceId"),
            mac_address: detail("macAddress"),
            private_dns_name: detail("privateDnsName"),
            private_ipv4_address: detail("privateIPv4Address"),
        };
        assert!(
            eni.network_interface_id.starts_with("eni-"),
            "RunTask gave no ENI attachment: {task:?}"
        );
        self.ecs
            .stop_task()
            .cluster(cluster)
            .task(&task_arn)
            .reason("Task failed to start")
            .send()
            .await
            .expect("StopTask");
        StoppedTask {
            task_arn,
            cluster_arn: task.cluster_arn().expect("cluster arn").to_string(),
            task_definition_arn: task_definition_arn.to_string(),
            group: group.to_string(),
            started_by,
            availability_zone: network.availability_zone.clone(),
            platform_version: "1.4.0".to_string(),
            eni,
        }
    }

    /// A task in the real long-ARN format that moto has never seen (`DescribeTasks` finds nothing),
    /// as if it had stopped more than an hour ago. Its ENI is made up too.
    pub fn unknown_task(
        &self,
        cluster_arn: &str,
        task_definition_arn: &str,
        network: &Network,
        group: &str,
    ) -> StoppedTask {
        let cluster_name = cluster_arn.rsplit('/').next().unwrap_or("default");
        let id = random_hex32();
        StoppedTask {
            task_arn: format!(
                "arn:aws:ecs:{}:{}:task/{cluster_name}/{id}",
                self.region, self.account
            ),
            cluster_arn: cluster_arn.to_string(),
            task_definition_arn: task_definition_arn.to_string(),
            group: group.to_string(),
            started_by: format!("ecs-svc/{}", random_digits(19)),
            availability_zone: network.availability_zone.clone(),
            platform_version: "1.4.0".to_string(),
            eni: Eni {
                subnet_id: network.subnet_id.clone(),
                network_interface_id: format!("eni-{}", &random_hex32()[..17]),
                mac_address: "0e:3a:5f:21:9c:47".to_string(),
                private_dns_name: "ip-10-0-1-87.ec2.internal".to_string(),
                private_ipv4_address: "10.0.1.87".to_string(),
            },
        }
    }

    /// Creates an ECR repository.
    pub async fn repository(&self, name: &str) -> Repository {
        let repo = self
            .ecr
            .create_repository()
            .repository_name(name)
            .send()
            .await
            .expect("CreateRepository")
            .repository
            .expect("repository");
        Repository {
            name: name.to_string(),
            arn: repo.repository_arn().expect("repository arn").to_string(),
            uri: repo.repository_uri().expect("repository uri").to_string(),
        }
    }

    /// `PutImage` of a Docker v2 manifest (built from `seed`) under `tag`. Returns the digest moto
    /// computed (from the response).
    pub async fn push_image(&self, repository: &Repository, tag: &str, seed: &str) -> String {
        let out = self
            .ecr
            .put_image()
            .repository_name(&repository.name)
            .image_manifest(docker_manifest(seed))
            .image_manifest_media_type("application/vnd.docker.distribution.manifest.v2+json")
            .image_tag(tag)
            .send()
            .await
            .expect("PutImage");
        let digest = out
            .image
            .and_then(|i| i.image_id)
            .and_then(|id| id.image_digest)
            .expect("PutImage returned no digest");
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "odd digest {digest}"
        );
        digest
    }

    /// Deletes an image by digest (ignores "not found").
    pub async fn delete_image(&self, repository: &Repository, digest: &str) {
        use aws_sdk_ecr::types::ImageIdentifier;
        self.ecr
            .batch_delete_image()
            .repository_name(&repository.name)
            .image_ids(ImageIdentifier::builder().image_digest(digest).build())
            .send()
            .await
            .expect("BatchDeleteImage");
    }

    /// `(digest, tags)` of every image in the repository.
    pub async fn images(&self, repository: &Repository) -> Vec<(String, Vec<String>)> {
        self.ecr
            .describe_images()
            .repository_name(&repository.name)
            .send()
            .await
            .expect("DescribeImages")
            .image_details()
            .iter()
            .map(|d| {
                (
                    d.image_digest().unwrap_or_default().to_string(),
                    d.image_tags().to_vec(),
                )
            })
            .collect()
    }

    /// An SNS topic with an SQS queue subscribed (`RawMessageDelivery=false`: the queue receives
    /// the SNS envelope with `Subject` and `Message`).
    pub async fn sns_inbox(&self, name: &str) -> Inbox {
        use aws_sdk_sqs::types::QueueAttributeName;
        let topic_arn = self
            .sns
            .create_topic()
            .name(name)
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn
            .expect("topic arn");
        let queue_url = self
            .sqs
            .create_queue()
            .queue_name(format!("{name}-inbox"))
            .send()
            .await
            .expect("CreateQueue")
            .queue_url
            .expect("queue url");
        let queue_arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("GetQueueAttributes")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .expect("queue arn");
        // What real SQS needs for SNS delivery (moto delivers without it).
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}
            }]
        });
        self.sqs
            .set_queue_attributes()
            .queue_url(&queue_url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .expect("SetQueueAttributes");
        self.sns
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .attributes("RawMessageDelivery", "false")
            .send()
            .await
            .expect("Subscribe");
        Inbox {
            topic_arn,
            queue_url,
            queue_arn,
        }
    }

    /// Waits up to 5 s for the first SNS notification in the inbox, then drains whatever else is
    /// there. Messages read are deleted from the queue.
    pub async fn read_sns_messages(&self, inbox: &Inbox) -> Vec<SnsMessage> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut messages = Vec::new();
        loop {
            let batch = self.receive(inbox, 1).await;
            let empty = batch.is_empty();
            messages.extend(batch);
            if (!messages.is_empty() && empty) || Instant::now() > deadline {
                return messages;
            }
        }
    }

    /// Every SNS notification that arrives within `window` (for asserting that nothing was sent).
    pub async fn sns_messages_within(&self, inbox: &Inbox, window: Duration) -> Vec<SnsMessage> {
        let deadline = Instant::now() + window;
        let mut messages = Vec::new();
        loop {
            messages.extend(self.receive(inbox, 0).await);
            if Instant::now() >= deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn receive(&self, inbox: &Inbox, wait_seconds: i32) -> Vec<SnsMessage> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&inbox.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .expect("ReceiveMessage");
        let mut messages = Vec::new();
        for m in out.messages() {
            let body = m.body().unwrap_or_default();
            let envelope: Value = serde_json::from_str(body)
                .unwrap_or_else(|e| panic!("SQS body is not an SNS envelope ({e}): {body}"));
            assert_eq!(
                envelope["Type"], "Notification",
                "unexpected SNS envelope: {envelope}"
            );
            messages.push(SnsMessage {
                subject: envelope["Subject"].as_str().map(str::to_string),
                message: envelope["Message"].as_str().unwrap_or_default().to_string(),
                envelope,
            });
            if let Some(handle) = m.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(&inbox.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
        messages
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

fn random_digits(n: usize) -> String {
    let mut out = String::new();
    while out.len() < n {
        out.extend(random_hex32().chars().filter(char::is_ascii_digit));
    }
    out.truncate(n);
    if out.starts_with('0') {
        out.replace_range(0..1, "7");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// SNS message body
// ---------------------------------------------------------------------------------------------

/// Splits a pulldoctor SNS message body into its human-readable summary and the diagnosis JSON
/// (from the first line that starts with `{"schema"` to the end). Panics with the body when the
/// body does not follow the contract (summary, blank line, JSON).
pub fn split_sns_body(body: &str) -> (&str, Value) {
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        if line.starts_with("{\"schema\"") {
            let (summary, json_text) = body.split_at(offset);
            let json: Value = serde_json::from_str(json_text.trim_end()).unwrap_or_else(|e| {
                panic!("diagnosis JSON in the SNS body does not parse ({e}):\n{body}")
            });
            assert!(
                !summary.trim().is_empty(),
                "SNS body has no summary before the JSON:\n{body}"
            );
            assert!(
                summary.ends_with("\n\n") || summary.ends_with("\r\n\r\n"),
                "SNS body: the summary must be followed by a blank line before the JSON:\n{body}"
            );
            return (summary.trim_end(), json);
        }
        offset += line.len();
    }
    panic!("SNS body has no line starting with {{\"schema\":\n{body}");
}

/// The diagnosis JSON of a pulldoctor SNS message body.
pub fn diagnosis_from_sns_body(body: &str) -> Value {
    sns_diagnosis(body).1
}

/// [`split_sns_body`] of a message pulldoctor delivered: its JSON must also follow
/// `docs/schemas/diagnosis.v1.json`.
pub fn sns_diagnosis(body: &str) -> (&str, Value) {
    let (summary, json) = split_sns_body(body);
    contracts::assert_valid(contracts::Contract::Diagnosis, &json);
    (summary, json)
}

/// The finding that decided the root cause: same code, status `fail`.
pub fn deciding_finding(diagnosis: &Value) -> Option<&Value> {
    let code = diagnosis["root_cause"]["code"].as_str()?;
    diagnosis["findings"]
        .as_array()?
        .iter()
        .find(|f| f["code"] == code && f["status"] == "fail")
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

/// Path of the `pulldoctor` CLI binary of this workspace: `target/<profile>/pulldoctor` next to the
/// test executable's `deps/` directory, or `PULLDOCTOR_BIN` if set.
///
/// Once per test process this runs `cargo build -p pulldoctor --bin pulldoctor` (the cargo in
/// `CARGO`) from this workspace into that target directory: a no-op when fresh, and necessary
/// because a binary that merely exists may be stale, or, with a target directory shared between
/// git worktrees, may have been built from another worktree's sources.
pub fn pulldoctor_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("PULLDOCTOR_BIN") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().expect("current exe");
        let deps = exe.parent().expect("test exe dir");
        let profile_dir = if deps.file_name().is_some_and(|n| n == "deps") {
            deps.parent().expect("profile dir")
        } else {
            deps
        };
        let bin = profile_dir.join(format!("pulldoctor{}", std::env::consts::EXE_SUFFIX));
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let target_dir = profile_dir.parent().expect("target dir");
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(workspace)
            // The same selection as `cargo test --workspace --all-targets`: a narrower one
            // (`-p pulldoctor --bin pulldoctor`) unifies other features and rebuilds every AWS
            // SDK crate a second time, which on a fresh CI machine costs more than all the tests.
            .args(["build", "--quiet", "--workspace", "--all-targets", "--target-dir"])
            .arg(target_dir);
        match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                cmd.arg("--release");
            }
            Some(profile) => {
                cmd.args(["--profile", profile]);
            }
        }
        let status = cmd.status().unwrap_or_else(|e| panic!("run {cargo}: {e}"));
        assert!(
            status.success(),
            "`cargo build --workspace --all-targets` failed: {status}"
        );
        assert!(
            bin.exists(),
            "pulldoctor binary not found at {} after building it",
            bin.display()
        );
        bin
    })
    .clone()
}

/// Output of one CLI run.
#[derive(Debug)]
pub struct CliOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `pulldoctor <args>` with the standard AWS environment pointing at `moto` (2 min limit).
pub async fn run_cli(moto: &Moto, args: &[&str]) -> CliOutput {
    let bin = tokio::task::spawn_blocking(pulldoctor_bin)
        .await
        .expect("locate pulldoctor");
    let mut cmd = tokio::process::Command::new(&bin);
    cmd.args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("PULLDOCTOR_TOPIC_ARN")
        .envs(moto.env(REGION))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "`pulldoctor {}` did not finish within 120 s",
                args.join(" ")
            )
        })
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    CliOutput {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------------

pub mod events {
    //! EventBridge `ECS Task State Change` events in the shape AWS sends them.

    use super::*;
    use chrono::{SecondsFormat, Utc};

    /// Real-format failure messages (Fargate platform 1.4.0, containerd).
    pub mod messages {
        /// Tag or digest unknown to the registry.
        pub fn image_not_found(image_ref: &str) -> String {
            format!(
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image_ref}: {image_ref}: not found"
            )
        }

        /// The registry refused the anonymous/unauthenticated manifest request.
        pub fn unauthorized(image_ref: &str, registry: &str, reference: &str) -> String {
            format!(
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image_ref}: pulling from host {registry} failed with status code [manifests {reference}]: 401 Unauthorized"
            )
        }

        /// The registry could not be reached (no route, SG, NACL…).
        pub fn io_timeout(
            image_ref: &str,
            registry: &str,
            repository: &str,
            reference: &str,
        ) -> String {
            format!(
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {image_ref}: failed to do request: Head \"https://{registry}/v2/{repository}/manifests/{reference}\": dial tcp 52.46.134.71:443: i/o timeout"
            )
        }

        /// Not an image-pull failure at all.
        pub const ESSENTIAL_CONTAINER_EXITED: &str = "Essential container in task exited";
    }

    /// One container of the event's `detail.containers`.
    #[derive(Debug, Clone)]
    pub struct EventContainer {
        pub name: String,
        pub image: String,
        pub image_digest: Option<String>,
        pub reason: Option<String>,
        pub exit_code: Option<i64>,
    }

    /// Builder for a STOPPED `ECS Task State Change` event of a Fargate task.
    #[derive(Debug, Clone)]
    pub struct TaskEvent {
        pub account: String,
        pub region: String,
        pub task: StoppedTask,
        pub containers: Vec<EventContainer>,
        pub stopped_reason: String,
        pub stop_code: String,
        /// `eni` in the events AWS sends (`ElasticNetworkInterface` in `DescribeTasks`).
        pub attachment_type: String,
    }

    impl TaskEvent {
        /// A task whose one container could not pull `image`: `stopCode: TaskFailedToStart`,
        /// `stoppedReason` and the container `reason` both carry `message`.
        pub fn pull_failure(
            world: &World,
            task: &StoppedTask,
            container: &str,
            image: &str,
            message: &str,
        ) -> TaskEvent {
            TaskEvent {
                account: world.account.clone(),
                region: world.region.clone(),
                task: task.clone(),
                containers: vec![EventContainer {
                    name: container.to_string(),
                    image: image.to_string(),
                    image_digest: None,
                    reason: Some(message.to_string()),
                    exit_code: None,
                }],
                stopped_reason: message.to_string(),
                stop_code: "TaskFailedToStart".to_string(),
                attachment_type: "eni".to_string(),
            }
        }

        /// A task whose essential container ran and exited with code 1 (not a pull failure).
        pub fn essential_container_exited(
            world: &World,
            task: &StoppedTask,
            container: &str,
            image: &str,
        ) -> TaskEvent {
            TaskEvent {
                account: world.account.clone(),
                region: world.region.clone(),
                task: task.clone(),
                containers: vec![EventContainer {
                    name: container.to_string(),
                    image: image.to_string(),
                    image_digest: Some(sha256_digest(image.as_bytes())),
                    reason: None,
                    exit_code: Some(1),
                }],
                stopped_reason: messages::ESSENTIAL_CONTAINER_EXITED.to_string(),
                stop_code: "EssentialContainerExited".to_string(),
                attachment_type: "eni".to_string(),
            }
        }

        /// Pins the (first) container to a digest, as ECS does since deployments resolve digests.
        pub fn image_digest(mut self, digest: &str) -> TaskEvent {
            if let Some(c) = self.containers.first_mut() {
                c.image_digest = Some(digest.to_string());
            }
            self
        }

        pub fn to_value(&self) -> Value {
            let now = Utc::now();
            let ts = |secs_ago: i64| {
                (now - chrono::Duration::milliseconds(secs_ago * 1000 + 137))
                    .to_rfc3339_opts(SecondsFormat::Millis, true)
            };
            let t = &self.task;
            let task_id = t
                .task_arn
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let cluster_name = t
                .cluster_arn
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            // A container that ran has an exit code: the task got past the pull.
            let ran = self.containers.iter().any(|c| c.exit_code.is_some());
            let containers: Vec<Value> = self
                .containers
                .iter()
                .map(|c| {
                    let mut v = json!({
                        "containerArn": format!("arn:aws:ecs:{}:{}:container/{cluster_name}/{task_id}/{}", self.region, self.account, random_uuid()),
                        "lastStatus": "STOPPED",
                        "name": c.name,
                        "image": c.image,
                        "taskArn": t.task_arn,
                        "networkInterfaces": [{
                            "attachmentId": random_uuid(),
                            "privateIpv4Address": t.eni.private_ipv4_address,
                        }],
                        "cpu": "0",
                        "memory": "512",
                    });
                    if let Some(d) = &c.image_digest {
                        v["imageDigest"] = json!(d);
                    }
                    if let Some(r) = &c.reason {
                        v["reason"] = json!(r);
                    }
                    if let Some(code) = c.exit_code {
                        v["exitCode"] = json!(code);
                        v["runtimeId"] = json!(format!("{task_id}-{}", 1_234_567_890u64));
                    }
                    v
                })
                .collect();
            let mut detail = json!({
                "attachments": [{
                    "id": random_uuid(),
                    "type": self.attachment_type,
                    "status": "DELETED",
                    "details": [
                        {"name": "subnetId", "value": t.eni.subnet_id},
                        {"name": "networkInterfaceId", "value": t.eni.network_interface_id},
                        {"name": "macAddress", "value": t.eni.mac_address},
                        {"name": "privateDnsName", "value": t.eni.private_dns_name},
                        {"name": "privateIPv4Address", "value": t.eni.private_ipv4_address},
                    ],
                }],
                "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
                "availabilityZone": t.availability_zone,
                "clusterArn": t.cluster_arn,
                "containers": containers,
                "cpu": "256",
                "memory": "512",
                "createdAt": ts(75),
                "desiredStatus": "STOPPED",
                "enableExecuteCommand": false,
                "ephemeralStorage": {"sizeInGiB": 20},
                "group": t.group,
                "launchType": "FARGATE",
                "lastStatus": "STOPPED",
                "overrides": {"containerOverrides": self.containers.iter().map(|c| json!({"name": c.name})).collect::<Vec<_>>()},
                "platformVersion": t.platform_version,
                "platformFamily": "Linux",
                "startedBy": t.started_by,
                "stopCode": self.stop_code,
                "stoppedReason": self.stopped_reason,
                "stoppingAt": ts(6),
                "stoppedAt": ts(2),
                "taskArn": t.task_arn,
                "taskDefinitionArn": t.task_definition_arn,
                "updatedAt": ts(2),
                "version": 4,
            });
            detail["pullStartedAt"] = json!(ts(60));
            if ran {
                detail["pullStoppedAt"] = json!(ts(50));
                detail["startedAt"] = json!(ts(45));
                detail["connectivity"] = json!("CONNECTED");
                detail["connectivityAt"] = json!(ts(55));
                detail["executionStoppedAt"] = json!(ts(8));
            }
            json!({
                "version": "0",
                "id": random_uuid(),
                "detail-type": "ECS Task State Change",
                "source": "aws.ecs",
                "account": self.account,
                "time": now.to_rfc3339_opts(SecondsFormat::Secs, true),
                "region": self.region,
                "resources": [t.task_arn],
                "detail": detail,
            })
        }
    }

    /// `tests/fixtures/events/`.
    pub fn fixtures_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join("events")
    }

    /// Loads `tests/fixtures/events/<name>`.
    pub fn fixture(name: &str) -> Value {
        let path = fixtures_dir().join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
    }

    /// Names of every saved fixture event.
    pub fn fixture_names() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
            .expect("read fixtures dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        names
    }
}
