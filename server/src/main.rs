use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: with probes spread over several
/// threads, glibc's per-thread arenas fragment and held a third more memory
/// at 10,000 services (bench/sampler-scale.sh).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    upbeat::cli::run().await
}
