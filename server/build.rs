//! Link-time settings of the `upbeat` binary.
//!
//! On Linux with glibc 2.36 or newer (Debian 12, Ubuntu 22.10, RHEL 10,
//! and the Dockerfile's images), relative relocations are packed
//! (`-z pack-relative-relocs`, DT_RELR): the position-independent binary
//! carries 1.8 MB of them in `.rela.dyn`, which the dynamic loader reads
//! at every start and which then stays resident; packed they take a few
//! KB (`bench/rss-map.py` shows the sections that are resident). Older
//! glibc refuses such a binary, so the flag is set only when the glibc
//! building it (the one it is built for: cross builds are left alone) is
//! new enough.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target != host || !target.ends_with("-linux-gnu") {
        return;
    }
    if glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the build machine's glibc (`getconf GNU_LIBC_VERSION`, which
/// prints `glibc 2.36`) is at least `major.minor`.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(version) = text.split_whitespace().nth(1) else {
        return false;
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}
