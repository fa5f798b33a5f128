//! The `gatehouse` command line.
use crate::{app::AppState, config::Config};
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
    use tracing_subscriber::{EnvFilter, fmt};
    let filter =
        EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(&config.log_level));
    // Colours only for a terminal: escape codes in a log file or journal are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if config.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
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
            let state = AppState::from_config(config).await?;
            tracing::info!(address = %listener.local_addr()?, public_url = %state.public_url, "gatehouse listening");
            crate::app::server(state, listener)?.await?;
        }
        Command::Migrate => {
            let db = crate::db::connect(&config.database_url(), 1).await?;
            crate::db::migrate(&db).await?;
            println!("migrations applied");
        }
        Command::Admin { command } => {
            let state = AppState::from_config(config).await?;
            match command {
                AdminCommand::RotateSigningKey => {
                    let kid = crate::oauth::tokens::rotate(&state).await?;
                    println!("new signing key {kid}; replicas sign with it within seconds");
                }
                AdminCommand::RenameSlug { old, new } => {
                    let org = crate::orgs::rename_slug(&state, &old, &new)
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
                    let u = crate::accounts::create_user_cli(
                        &state,
                        &email,
                        password,
                        &display_name,
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
