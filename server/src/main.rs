use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    upbeat::cli::run().await
}
