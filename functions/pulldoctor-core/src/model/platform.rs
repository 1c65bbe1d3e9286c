//! The platform a task pulls for (OS, architecture, Windows release), from the task definition or
//! the container instance.

use crate::model::facts::Facts;

/// The platform the task pulls for, in OCI terms (`linux`, `amd64`), and where that came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPlatform {
    pub os: String,
    pub architecture: String,
    pub source: &'static str,
    /// Windows only: the ECS operating system family (`WINDOWS_SERVER_2019_CORE`, …) from
    /// `runtimePlatform`, else from the container instance's `ecs.os-family` attribute.
    pub windows_family: Option<String>,
    pub windows_family_source: &'static str,
}

/// A Windows Server version ECS runs tasks on, and the build its images must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowsRelease {
    /// `Windows Server 2019`.
    pub name: &'static str,
    /// The third part of `os.version` (`10.0.17763.x`).
    pub build: u32,
    /// The base image tag of that release (`ltsc2019`).
    pub base_tag: &'static str,
}

/// The Windows Server releases `runtimePlatform.operatingSystemFamily` and `ecs.os-family` name
/// (`WINDOWS_SERVER_<release>_<CORE|FULL>`). `None` for Linux and for a family not listed here.
pub fn windows_release(family: &str) -> Option<WindowsRelease> {
    const RELEASES: [(&str, WindowsRelease); 6] = [
        (
            "2016",
            WindowsRelease {
                name: "Windows Server 2016",
                build: 14393,
                base_tag: "ltsc2016",
            },
        ),
        (
            "2019",
            WindowsRelease {
                name: "Windows Server 2019",
                build: 17763,
                base_tag: "ltsc2019",
            },
        ),
        (
            "2004",
            WindowsRelease {
                name: "Windows Server, version 2004",
                build: 19041,
                base_tag: "2004",
            },
        ),
        (
            "20H2",
            WindowsRelease {
                name: "Windows Server, version 20H2",
                build: 19042,
                base_tag: "20H2",
            },
        ),
        (
            "2022",
            WindowsRelease {
                name: "Windows Server 2022",
                build: 20348,
                base_tag: "ltsc2022",
            },
        ),
        (
            "2025",
            WindowsRelease {
                name: "Windows Server 2025",
                build: 26100,
                base_tag: "ltsc2025",
            },
        ),
    ];
    let upper = family.to_ascii_uppercase();
    let release = upper.strip_prefix("WINDOWS_SERVER_")?.split('_').next()?;
    RELEASES
        .iter()
        .find(|(r, _)| *r == release)
        .map(|(_, w)| *w)
}

/// The Windows build of an `os.version` (`10.0.17763.5458` → 17763).
pub fn windows_build(os_version: &str) -> Option<u32> {
    os_version.split('.').nth(2)?.parse().ok()
}

impl std::fmt::Display for TaskPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)
    }
}

/// The task definition's `runtimePlatform`; else, on EC2, the container instance's attributes;
/// else Fargate's default linux/x86_64.
pub fn task_platform(facts: &Facts) -> TaskPlatform {
    let td = facts.task_definition.value();
    let arch = |a: &str| match a.to_ascii_lowercase().as_str() {
        "x86_64" | "amd64" => "amd64".to_string(),
        "arm64" | "aarch64" => "arm64".to_string(),
        other => other.to_string(),
    };
    let os = |o: &str| {
        if o.to_ascii_lowercase().starts_with("windows") {
            "windows".to_string()
        } else {
            "linux".to_string()
        }
    };
    let windows = |f: Option<&String>| {
        f.filter(|f| f.to_ascii_uppercase().starts_with("WINDOWS"))
            .cloned()
    };
    let ci = facts.identity.container_instance.value();
    // On EC2 a runtimePlatform without a Windows version leaves the instance to say which.
    let instance_family = || {
        windows(ci.and_then(|c| c.os_family.as_ref()))
            .map(|f| (f, "the container instance's ecs.os-family attribute"))
    };
    if let Some(td) = td {
        if td.cpu_architecture.is_some() || td.operating_system_family.is_some() {
            let platform_os = td
                .operating_system_family
                .as_deref()
                .map(os)
                .unwrap_or_else(|| "linux".into());
            let family = windows(td.operating_system_family.as_ref())
                .map(|f| (f, "the task definition's runtimePlatform"))
                .or_else(|| {
                    if platform_os == "windows" {
                        instance_family()
                    } else {
                        None
                    }
                });
            return TaskPlatform {
                os: platform_os,
                architecture: td
                    .cpu_architecture
                    .as_deref()
                    .map(arch)
                    .unwrap_or_else(|| "amd64".into()),
                source: "the task definition's runtimePlatform",
                windows_family: family.as_ref().map(|(f, _)| f.clone()),
                windows_family_source: family.map(|(_, s)| s).unwrap_or_default(),
            };
        }
    }
    if let Some(ci) = ci {
        if ci.cpu_architecture.is_some() || ci.os_type.is_some() {
            let platform_os = ci
                .os_type
                .as_deref()
                .map(os)
                .unwrap_or_else(|| "linux".into());
            let family = if platform_os == "windows" {
                instance_family()
            } else {
                None
            };
            return TaskPlatform {
                os: platform_os,
                architecture: ci
                    .cpu_architecture
                    .as_deref()
                    .map(arch)
                    .unwrap_or_else(|| "amd64".into()),
                source: "the container instance's ecs.cpu-architecture and ecs.os-type attributes",
                windows_family: family.as_ref().map(|(f, _)| f.clone()),
                windows_family_source: family.map(|(_, s)| s).unwrap_or_default(),
            };
        }
    }
    TaskPlatform {
        os: "linux".into(),
        architecture: "amd64".into(),
        source: if facts.task.is_fargate() {
            "Fargate's default (no runtimePlatform in the task definition)"
        } else {
            "assumed linux/x86_64 (no runtimePlatform, container instance not read)"
        },
        windows_family: None,
        windows_family_source: "",
    }
}
