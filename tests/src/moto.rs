//! The moto server: one private `moto_server` process per world on 127.0.0.1 (tests run in
//! parallel threads of one process, so a shared server with `/moto-api/reset` would race), the
//! ports it is given, and the SDK settings that point at it.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

use crate::proxy::Proxy;

/// The account moto uses by default.
pub const ACCOUNT_ID: &str = "123456789012";
/// The region every world is built in (the fixtures use it too).
pub const REGION: &str = "us-east-1";
/// Static credentials moto accepts.
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";

const MOTO_START_DEADLINE: Duration = Duration::from_secs(20);
const MOTO_INSTALL_HINT: &str = "install it with `pip install 'moto[server]'` (moto >= 5) so that \
     `moto_server` is on PATH, or point MOTO_SERVER_BIN at the executable";

/// A private `moto_server` process listening on 127.0.0.1. Killed on drop.
pub struct Moto {
    proxy: Proxy,
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
                    let proxy = Proxy::moto_compat(&format!("http://127.0.0.1:{port}"));
                    // PULLDOCTOR_TESTS_DIRECT_MOTO=1 bypasses the proxy (to check whether moto still
                    // needs it).
                    let direct =
                        std::env::var_os("PULLDOCTOR_TESTS_DIRECT_MOTO").is_some_and(|v| v == "1");
                    return Moto {
                        url: if direct {
                            format!("http://127.0.0.1:{port}")
                        } else {
                            proxy.url()
                        },
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

    /// The endpoint URL clients use: the compatibility [`Proxy`] in front of the server.
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
    /// The compatibility proxy every request of this world goes through (its emulated
    /// CloudTrail, its faults, its call log).
    pub fn proxy(&self) -> &Proxy {
        &self.proxy
    }

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
            .http_client(pulldoctor::aws::https_client())
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
