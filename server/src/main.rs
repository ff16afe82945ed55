use std::cell::Cell;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// jemalloc with one arena and background purging (configured in
/// `.cargo/config.toml`) instead of glibc's malloc, whose per-thread arenas
/// fragment and held a third more memory at 10,000 services
/// (bench/sampler-scale.sh).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The runtime `#[tokio::main]` would build, plus [`release_thread_cache`]
/// on every worker that runs out of work. Everything runs on the workers:
/// the main thread only waits, so no cache of its own is left holding what
/// start-up freed.
fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(release_thread_cache)
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match tokio::spawn(upbeat::cli::run()).await {
            Ok(code) => code,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => ExitCode::FAILURE,
        }
    })
}

/// How often an idle worker hands its cache back, at most.
const RELEASE_EVERY: Duration = Duration::from_secs(1);

/// Hands the calling thread's jemalloc cache back to the arena, at most
/// once every [`RELEASE_EVERY`]. Each thread keeps freed blocks for its next
/// allocations and trims that cache only as it allocates, so a worker that
/// goes quiet after a burst kept them for good: 2.6 MiB of the idle
/// server's 7.3 MiB of heap (bench/memory.sh, with `tcache:false`). Called
/// when a worker parks, which under load is thousands of times a second:
/// the clock read is all it costs then.
#[allow(unsafe_code)] // the workspace's one exception: no safe binding exists
fn release_thread_cache() {
    thread_local! {
        static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
    }
    let now = Instant::now();
    if LAST
        .get()
        .is_some_and(|last| now.duration_since(last) < RELEASE_EVERY)
    {
        return;
    }
    LAST.set(Some(now));
    // SAFETY: `thread.tcache.flush` reads and writes nothing, so every
    // pointer is null and the length zero, as jemalloc's manual requires;
    // the name is a NUL-terminated literal. It fails only when the thread
    // has no cache, which needs no handling.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"thread.tcache.flush".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}
