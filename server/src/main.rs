use std::process::ExitCode;

/// jemalloc with one arena and background purging (configured in
/// `.cargo/config.toml`) instead of glibc's malloc, whose per-thread arenas
/// fragment and held a third more memory at 10,000 services
/// (bench/sampler-scale.sh).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    upbeat::cli::run().await
}
