//! Running this workspace's binaries: the `pulldoctor` CLI against a moto server, and where it and
//! `pulldoctor-lambda` are.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::moto::{Moto, REGION};

/// Path of binary `name` of this workspace: `target/<profile>/<name>` next to the test
/// executable's `deps/` directory.
///
/// Once per test process this runs `cargo build --workspace --all-targets` (the cargo in `CARGO`)
/// from this workspace into that target directory: a no-op when fresh, and necessary because a
/// binary that merely exists may be stale, or, with a target directory shared between git
/// worktrees, may have been built from another worktree's sources.
pub fn workspace_bin(name: &str) -> PathBuf {
    static PROFILE_DIR: OnceLock<PathBuf> = OnceLock::new();
    let profile_dir = PROFILE_DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("current exe");
        let deps = exe.parent().expect("test exe dir");
        let profile_dir = if deps.file_name().is_some_and(|n| n == "deps") {
            deps.parent().expect("profile dir")
        } else {
            deps
        };
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
            .args([
                "build",
                "--quiet",
                "--workspace",
                "--all-targets",
                "--target-dir",
            ])
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
        profile_dir.to_path_buf()
    });
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{name} binary not found at {} after building it",
        bin.display()
    );
    bin
}

/// Path of the `pulldoctor` CLI binary ([`workspace_bin`]), or `PULLDOCTOR_BIN` if set.
pub fn pulldoctor_bin() -> PathBuf {
    match std::env::var("PULLDOCTOR_BIN") {
        Ok(path) => PathBuf::from(path),
        Err(_) => workspace_bin("pulldoctor"),
    }
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
