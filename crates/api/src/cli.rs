//! The `gatehouse` command line.
use crate::{auth::Support, config::Config, state::AppState};
use clap::{Parser, Subcommand};
use std::{net::TcpListener, process::ExitCode};

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse: the organization-settings control plane of an MCP gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run pending migrations, then serve the API and the dashboard (the default).
    Serve,
    /// Run pending database migrations and exit.
    Migrate,
    /// Support tooling.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Print the OpenAPI document (YAML).
    Openapi,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Start signing OAuth access tokens with a new key. Replicas switch within seconds;
    /// the old key stays in the JWKS until its tokens have expired, then the janitor
    /// retires it.
    RotateSigningKey,
    /// Change an organization's slug (users cannot: every URL of the org contains it).
    RenameSlug { old: String, new: String },
    /// Create a user. The password is read from GATEHOUSE_NEW_USER_PASSWORD or stdin.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        display_name: String,
        /// Mark the email address as verified.
        #[arg(long)]
        verified: bool,
    },
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};
    let filter =
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(&config.log_level));
    // Colours only for a terminal: escape codes in a log file or journal are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let base = tracing_subscriber::registry()
        .with(filter)
        .with(ClientFaults);
    let _ = if config.log_format == "json" {
        base.with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init()
    } else {
        base.with(fmt::layer().with_ansi(ansi).with_writer(std::io::stderr))
            .try_init()
    };
}

/// Drops the ERROR line actix-http writes for each connection a client ends badly (a
/// malformed or oversized request head, a request not sent in time, a reset): anyone
/// can cause them, so a flood would fill the log. The client gets its 4xx; actix's
/// own `trace` line (`RUST_LOG=actix_http=trace`) still tells what happened.
struct ClientFaults;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ClientFaults {
    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        let meta = event.metadata();
        if *meta.level() != tracing::Level::ERROR || !meta.target().starts_with("actix_http::h1") {
            return true;
        }
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        !(m.0.starts_with("stream error") || m.0.starts_with("MAX_BUFFER_SIZE"))
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        return match crate::openapi::yaml() {
            Ok(y) => {
                print!("{y}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "error: invalid configuration: {e}\nSettings come from gatehouse.toml (or GATEHOUSE_CONFIG) and GATEHOUSE_* variables; see README.md."
            );
            return ExitCode::FAILURE;
        }
    };
    init_tracing(&config);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cli.command.unwrap_or(Command::Serve), config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let listener = TcpListener::bind(&config.bind).map_err(|e| {
                anyhow::anyhow!("cannot listen on {} ({e}); set GATEHOUSE_BIND", config.bind)
            })?;
            let state =
                AppState::from_config(config, std::sync::Arc::new(crate::clock::SystemClock))
                    .await?;
            tracing::info!(address = %listener.local_addr()?, public_url = %state.public_url, "gatehouse listening");
            let state = actix_web::web::Data::new(state);
            crate::server::server_with(state.clone(), listener)?.await?;
            // The server stops on SIGTERM/SIGINT once in-flight requests are done (or
            // after its shutdown timeout); what they counted is still in memory. The
            // pool's connections may belong to the stopped workers' runtimes (PostgreSQL
            // sockets die with them), so the flush gets a connection of its own.
            match crate::db::connect(&state.config.database_url(), 1).await {
                Ok(db) => state.usage.flush_on_shutdown(&db).await,
                Err(e) => tracing::error!(error = %e, "usage counts were lost at shutdown"),
            }
            tracing::info!("gatehouse stopped");
        }
        Command::Migrate => {
            let db = crate::db::connect(&config.database_url(), 1).await?;
            crate::db::migrate(&db).await?;
            println!("migrations applied");
        }
        Command::Admin { command } => {
            let state =
                AppState::from_config(config, std::sync::Arc::new(crate::clock::SystemClock))
                    .await?;
            match command {
                AdminCommand::RotateSigningKey => {
                    let kid = crate::oauth::tokens::rotate(&state).await?;
                    println!("new signing key {kid}; replicas sign with it within seconds");
                }
                AdminCommand::RenameSlug { old, new } => {
                    let org = crate::orgs::service::change_slug(
                        &state,
                        &Support::cli_operator(),
                        &old,
                        &new,
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("renamed {old} to {} ({})", org.slug, org.id);
                }
                AdminCommand::CreateUser {
                    email,
                    display_name,
                    verified,
                } => {
                    let password = match std::env::var("GATEHOUSE_NEW_USER_PASSWORD") {
                        Ok(p) => p,
                        Err(_) => {
                            let mut line = String::new();
                            std::io::stdin().read_line(&mut line)?;
                            line.trim_end_matches(['\r', '\n']).to_string()
                        }
                    };
                    let new = crate::accounts::service::NewAccount {
                        email: &email,
                        password,
                        display_name: Some(&display_name),
                    };
                    let u = crate::accounts::service::create_user(
                        &state,
                        &Support::cli_operator(),
                        new,
                        verified,
                    )
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                    println!("created user {} ({})", u.email, u.id);
                }
            }
        }
        Command::Openapi => {}
    }
    Ok(())
}
