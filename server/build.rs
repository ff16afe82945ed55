//! Link-time settings of the `upbeat` binary.
//!
//! - **Hot text first** (`link/hot-text.ld`, release builds for Linux):
//!   the functions the server runs when it starts and serves, as measured
//!   by `bench/hot-text.sh`, are placed together at the front of `.text`.
//!   At idle most resident memory is the binary's code, and the kernel maps
//!   code in windows around each page it faults in; scattered, the code
//!   start-up runs drags most of the binary in with it (README → Operations
//!   → Memory). A pattern that names no section is ignored, so a stale
//!   script places less, never fails the link.
//! - **Packed relocations**: on Linux with glibc 2.36 or newer (Debian 12,
//!   Ubuntu 22.10, RHEL 10, and the Dockerfile's images), relative
//!   relocations are packed (`-z pack-relative-relocs`, DT_RELR): the
//!   position-independent binary carries 1.8 MB of them in `.rela.dyn`,
//!   which the dynamic loader reads at every start and which then stays
//!   resident; packed they take a few KB (`bench/rss-map.py` shows the
//!   sections that are resident). Older glibc refuses such a binary, so the
//!   flag is set only when the glibc building it (the one it is built for:
//!   cross builds are left alone) is new enough.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=link/hot-text.ld");
    println!("cargo:rerun-if-env-changed=UPBEAT_HOT_TEXT");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if !target.contains("-linux-") {
        return;
    }
    // Release builds only: a debug build's symbols differ from the ones
    // measured. UPBEAT_HOT_TEXT=0 links without the script, to measure what
    // it does.
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    if release && std::env::var("UPBEAT_HOT_TEXT").as_deref() != Ok("0") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        let script = Path::new(&dir).join("link/hot-text.ld");
        if script.is_file() {
            println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
            // Code the compiler marks cold (`.text.unlikely.*`: panics,
            // error paths, `#[cold]` growth) is grouped, not spread.
            println!("cargo:rustc-link-arg-bins=-Wl,-z,keep-text-section-prefix");
        }
    }
    if target == host && target.ends_with("-linux-gnu") && glibc_at_least(2, 36) {
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
