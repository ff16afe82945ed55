//! The `upbeat` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::clock::{Clock, SystemClock};
use crate::config::{CheckConfig, Config, Overrides, Secret, DEFAULT_CONFIG_PATH};
use crate::domain::people::{check_password, Role, PASSWORD_LINK_LIFETIME};
use crate::password::hash_password;
use crate::startup::{shutdown_signal, Application};
use crate::token::{check_actor_name, hash_token, new_admin_token, new_token};
use crate::{store, telemetry};

/// What the audit log records as the actor of the command line's changes.
pub const CLI_ACTOR: &str = "cli";

/// Environment variable holding an optional bootstrap admin token.
pub const ADMIN_TOKEN_ENV: &str = "UPBEAT_ADMIN_TOKEN";

/// Upbeat: a self-hosted status page.
///
/// Probes the services in a TOML file, keeps their samples, and serves a
/// status page, JSON and health endpoints. Settings come from the file, then
/// UPBEAT_<SECTION>__<KEY> environment variables, then these flags.
#[derive(Debug, Parser)]
#[command(name = "upbeat", version, about, long_about)]
pub struct Cli {
    /// Configuration file [default: upbeat.toml]
    #[arg(long, short, global = true, env = "UPBEAT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on, e.g. 127.0.0.1:3000 (overrides server.listen)
    #[arg(long, global = true, env = "UPBEAT_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Database URL, sqlite://FILE or postgres://... (overrides database.url)
    #[arg(
        long,
        global = true,
        env = "UPBEAT_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the status page: probe, store and serve (the default)
    Serve,
    /// Apply database migrations and exit
    Migrate,
    /// Validate a configuration file and exit non-zero on problems
    CheckConfig {
        /// File to check [default: the --config file, or upbeat.toml]
        file: Option<PathBuf>,
    },
    /// Create (or replace) the heartbeat token of a push service and print
    /// it once; only its hash is stored
    PushToken {
        /// Slug of a service with `kind = "push"`
        slug: String,
    },
    /// Manage admin API tokens
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the console's users
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. With --password-stdin the password is read from
    /// standard input; otherwise a one-time link to set it is printed
    Create {
        /// The sign-in name, recorded on every change the user makes
        #[arg(long)]
        name: String,
        /// viewer (reads), editor (incidents and maintenance) or admin
        /// (also users, tokens, alert routes and subscribers)
        #[arg(long)]
        role: Role,
        /// Read the password from standard input (one line)
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users (names, roles, dates; never passwords)
    List,
    /// Give a user another role
    SetRole { name: String, role: Role },
    /// Disable a user; their sessions end at once
    Disable { name: String },
    /// Remove a user's password, end their sessions and print a one-time
    /// link to set a new one
    ResetPassword { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once; only its hash is stored
    Create {
        /// A name for the token, recorded on every change made with it
        #[arg(long)]
        name: String,
        /// What the token may do: viewer, editor or admin
        #[arg(long, default_value = "admin")]
        role: Role,
    },
    /// List tokens (names and dates, never the tokens)
    List,
    /// Revoke a token by name; it stops working at once
    Revoke {
        /// Name given at creation
        name: String,
    },
}

impl Cli {
    fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            database_url: self.database.clone(),
        }
    }

    fn config_path(&self) -> (PathBuf, bool) {
        match &self.config {
            Some(path) => (path.clone(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
        }
    }
}

/// Parses the command line and runs the chosen command.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None | Some(Command::Serve) => serve(&cli).await,
        Some(Command::Migrate) => migrate(&cli).await,
        Some(Command::CheckConfig { ref file }) => check_config(&cli, file.clone()),
        Some(Command::PushToken { ref slug }) => push_token(&cli, slug).await,
        Some(Command::Token(ref command)) => token(&cli, command).await,
        Some(Command::User(ref command)) => user(&cli, command).await,
    }
}

fn load(cli: &Cli) -> Result<(Config, PathBuf), ExitCode> {
    let (path, explicit) = cli.config_path();
    match Config::load(&path, explicit, &cli.overrides()) {
        Ok(config) => Ok((config, path)),
        Err(err) => {
            eprintln!("error: invalid configuration\n{err}");
            Err(ExitCode::from(2))
        }
    }
}

async fn serve(cli: &Cli) -> ExitCode {
    // Validate everything before touching the database.
    let (mut config, path) = match load(cli) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if config.profiling.enabled {
        heap_sampling_or_exec();
    }
    config.admin_token = std::env::var(ADMIN_TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(Secret);
    let telemetry = telemetry::init(&config.logging, config.traces.as_ref());
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %path.display(),
        database = %store::redact_url(&config.database.url),
        backend = if config.database.url.starts_with("postgres") { "postgres" } else { "sqlite" },
        services = config.services.len(),
        "starting upbeat"
    );
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "start-up failed");
            telemetry.stop().await;
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(address = %app.local_addr(), "listening");
    let code = match app.run_until_stopped(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "server failed");
            ExitCode::FAILURE
        }
    };
    telemetry.stop().await;
    code
}

/// The allocator's own variable: jemalloc reads it once, at start, on top
/// of the settings built in (`.cargo/config.toml`).
const MALLOC_CONF_ENV: &str = "_RJEM_MALLOC_CONF";
/// Heap sampling: one sample per 512 KiB allocated, on from the start.
const HEAP_SAMPLING: &str = "prof:true,prof_active:true,lg_prof_sample:19";

/// `[profiling] enabled`: makes sure jemalloc samples the heap. jemalloc
/// can only be told so before the process's first allocation, and
/// building it in for everyone cost the page 9 % of its requests a second
/// (bench/http.sh), so this process starts itself again (`exec`: same
/// process id, arguments and descriptors) with heap sampling in the
/// allocator's variable. Once set, it goes on.
fn heap_sampling_or_exec() {
    let current = std::env::var(MALLOC_CONF_ENV).unwrap_or_default();
    if current.contains("prof:true") {
        return;
    }
    let conf = if current.is_empty() {
        HEAP_SAMPLING.to_owned()
    } else {
        format!("{current},{HEAP_SAMPLING}")
    };
    let Ok(me) = std::env::current_exe() else {
        eprintln!("warning: profiling: cannot find this program to restart it with heap sampling; heap profiles are off");
        return;
    };
    let error = std::os::unix::process::CommandExt::exec(
        std::process::Command::new(me)
            .args(std::env::args_os().skip(1))
            .env(MALLOC_CONF_ENV, conf),
    );
    eprintln!(
        "warning: profiling: restarting with heap sampling failed ({error}); heap profiles are off"
    );
}

async fn migrate(cli: &Cli) -> ExitCode {
    let (config, _) = match load(cli) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let _logging = telemetry::init(&config.logging, None);
    let url = store::redact_url(&config.database.url);
    match store::connect(&config.database.url, 1).await {
        Ok(store) => {
            let applied = store.applied_migrations().await.unwrap_or_default();
            store.close().await;
            println!(
                "{url}: {} migrations applied (latest {:?})",
                applied.len(),
                applied.last()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: migrating {url}: {err}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(cli: &Cli, file: Option<PathBuf>) -> ExitCode {
    let (path, explicit) = match file {
        Some(file) => (file, true),
        None => cli.config_path(),
    };
    match Config::load(&path, explicit, &cli.overrides()) {
        Ok(config) => {
            println!(
                "{}: OK ({} service{}, database {})",
                path.display(),
                config.services.len(),
                if config.services.len() == 1 { "" } else { "s" },
                store::redact_url(&config.database.url)
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::from(2)
        }
    }
}

async fn push_token(cli: &Cli, slug: &str) -> ExitCode {
    let (config, _) = match load(cli) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    match config.services.iter().find(|s| s.slug == slug) {
        Some(service) if matches!(service.check, CheckConfig::Push(_)) => {}
        Some(_) => {
            eprintln!("error: service \"{slug}\" is not a push check");
            return ExitCode::from(2);
        }
        None => {
            eprintln!("error: no service \"{slug}\" in the configuration");
            return ExitCode::from(2);
        }
    }
    let url = store::redact_url(&config.database.url);
    let result = async {
        let store = store::connect(&config.database.url, 1).await?;
        // The service may not be in the database yet if `serve` never ran.
        store
            .sync_services(&config.service_defs(), SystemClock.now())
            .await?;
        let token = new_token();
        let stored = store.set_push_token(slug, &hash_token(&token)).await?;
        store.close().await;
        Ok::<_, store::StoreError>(stored.then_some(token))
    }
    .await;
    match result {
        Ok(Some(token)) => {
            let base = config.server.base_url();
            println!("{token}");
            eprintln!(
                "Push token for {slug}: shown once, only its hash is stored. Send heartbeats to\n  {base}api/v1/push/{token}?status=up&msg=OK"
            );
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("error: service \"{slug}\" not found in {url}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {url}: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn token(cli: &Cli, command: &TokenCommand) -> ExitCode {
    let (config, _) = match load(cli) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    if let TokenCommand::Create { name, .. } = command {
        if let Err(message) = check_actor_name(name) {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    }
    let result = async {
        let store = store::connect(&config.database.url, 1).await?;
        let outcome = match command {
            TokenCommand::Create { name, role } => {
                let token = new_admin_token();
                match store
                    .create_token(name, &hash_token(&token), *role, CLI_ACTOR, SystemClock.now())
                    .await?
                {
                    Some(_) => {
                        println!("{token}");
                        eprintln!(
                            "Admin token \"{name}\" ({role}) created. It is shown once, above; only its hash is stored.\nSend it as the header `Authorization: Bearer <token>`."
                        );
                        ExitCode::SUCCESS
                    }
                    None => {
                        eprintln!("error: a token or a user named \"{name}\" already exists (names are not reused)");
                        ExitCode::FAILURE
                    }
                }
            }
            TokenCommand::List => {
                let fmt = |at: Option<chrono::DateTime<chrono::Utc>>| {
                    at.map_or_else(|| "-".to_owned(), |at| at.format("%Y-%m-%d %H:%M:%S").to_string())
                };
                println!("{:<24} {:<7} {:<19} {:<19} {:<19}", "NAME", "ROLE", "CREATED", "LAST USED", "REVOKED");
                for t in store.tokens().await? {
                    println!(
                        "{:<24} {:<7} {:<19} {:<19} {:<19}",
                        t.name,
                        t.role,
                        fmt(Some(t.created_at)),
                        fmt(t.last_used_at),
                        fmt(t.revoked_at)
                    );
                }
                ExitCode::SUCCESS
            }
            TokenCommand::Revoke { name } => {
                if store.revoke_token(name, CLI_ACTOR, SystemClock.now()).await? {
                    eprintln!("Token \"{name}\" revoked.");
                    ExitCode::SUCCESS
                } else {
                    eprintln!("error: no active token named \"{name}\"");
                    ExitCode::FAILURE
                }
            }
        };
        store.close().await;
        Ok::<_, store::StoreError>(outcome)
    }
    .await;
    result.unwrap_or_else(|err| {
        eprintln!("error: {err} ({})", store::redact_url(&config.database.url));
        ExitCode::FAILURE
    })
}

/// The password on standard input: one line, its line ending removed.
fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from standard input: {e}"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    check_password(password).map_err(|reason| format!("password: {reason}"))?;
    Ok(password.to_owned())
}

/// Prints where a user sets a password, once.
fn print_link(config: &Config, name: &str, token: &str) {
    let base = config.server.base_url();
    println!("{base}admin/password/{token}");
    eprintln!(
        "A one-time link for \"{name}\" to set a password is above; it works for {} hours, once.",
        PASSWORD_LINK_LIFETIME.num_hours()
    );
}

async fn user(cli: &Cli, command: &UserCommand) -> ExitCode {
    let (config, _) = match load(cli) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    // Everything that can be refused without the database is, first.
    let mut password = None;
    if let UserCommand::Create {
        name,
        password_stdin,
        ..
    } = command
    {
        if let Err(message) = check_actor_name(name) {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
        if *password_stdin {
            match read_password() {
                Ok(read) => password = Some(hash_password(&read)),
                Err(message) => {
                    eprintln!("error: {message}");
                    return ExitCode::from(2);
                }
            }
        }
    }
    let result = async {
        let store = store::connect(&config.database.url, 1).await?;
        let now = SystemClock.now();
        let missing = |name: &str| {
            eprintln!("error: no user named \"{name}\"");
            ExitCode::FAILURE
        };
        let outcome = match command {
            UserCommand::Create { name, role, .. } => {
                match store
                    .create_user(name, *role, password.as_deref(), CLI_ACTOR, now)
                    .await?
                {
                    None => {
                        eprintln!("error: a user or a token named \"{name}\" already exists");
                        ExitCode::FAILURE
                    }
                    Some(_) if password.is_some() => {
                        eprintln!(
                            "User \"{name}\" ({role}) created; they can sign in at {}admin/login.",
                            config.server.base_url()
                        );
                        ExitCode::SUCCESS
                    }
                    Some(_) => {
                        let token = new_token();
                        let expires = now + PASSWORD_LINK_LIFETIME;
                        store
                            .reset_password(name, &hash_token(&token), expires, CLI_ACTOR, now)
                            .await?;
                        eprintln!("User \"{name}\" ({role}) created.");
                        print_link(&config, name, &token);
                        ExitCode::SUCCESS
                    }
                }
            }
            UserCommand::List => {
                let fmt = |at: Option<chrono::DateTime<chrono::Utc>>| {
                    at.map_or_else(
                        || "-".to_owned(),
                        |at| at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    )
                };
                println!(
                    "{:<24} {:<7} {:<8} {:<19} {:<19}",
                    "NAME", "ROLE", "PASSWORD", "CREATED", "DISABLED"
                );
                for u in store.users().await? {
                    println!(
                        "{:<24} {:<7} {:<8} {:<19} {:<19}",
                        u.name,
                        u.role,
                        if u.has_password { "set" } else { "not set" },
                        fmt(Some(u.created_at)),
                        fmt(u.disabled_at)
                    );
                }
                ExitCode::SUCCESS
            }
            UserCommand::SetRole { name, role } => {
                if store.set_user_role(name, *role, CLI_ACTOR, now).await? {
                    eprintln!("User \"{name}\" is now {role}.");
                    ExitCode::SUCCESS
                } else {
                    missing(name)
                }
            }
            UserCommand::Disable { name } => {
                if store.disable_user(name, CLI_ACTOR, now).await? {
                    eprintln!("User \"{name}\" disabled; their sessions have ended.");
                    ExitCode::SUCCESS
                } else {
                    eprintln!("error: no enabled user named \"{name}\"");
                    ExitCode::FAILURE
                }
            }
            UserCommand::ResetPassword { name } => {
                let token = new_token();
                let expires = now + PASSWORD_LINK_LIFETIME;
                if store
                    .reset_password(name, &hash_token(&token), expires, CLI_ACTOR, now)
                    .await?
                {
                    eprintln!(
                        "The password of \"{name}\" is removed and their sessions have ended."
                    );
                    print_link(&config, name, &token);
                    ExitCode::SUCCESS
                } else {
                    missing(name)
                }
            }
        };
        store.close().await;
        Ok::<_, store::StoreError>(outcome)
    }
    .await;
    result.unwrap_or_else(|err| {
        eprintln!("error: {err} ({})", store::redact_url(&config.database.url));
        ExitCode::FAILURE
    })
}
