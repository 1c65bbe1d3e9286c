//! Small helpers: digests, random ids in AWS's shapes, temporary files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

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

/// `n` random decimal digits, the first not 0 (the number in `ecs-svc/…`).
pub fn random_digits(n: usize) -> String {
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
