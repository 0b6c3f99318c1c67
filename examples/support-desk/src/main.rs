//! The `support-desk` command line. The commands and their flags are a contract (see
//! `shared/contract/support-desk.md`): tests outside the crate drive the application through
//! them, so they are only ever extended, never renamed.

mod keys;
mod wiring;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use support_desk::db::Db;
use support_desk::model::User;
use support_desk::setup::{self, DEFAULT_DATA_DIR, DEFAULT_DB, SetupError};

/// A support desk whose AI assistant gets secure tools over a real SQLite database.
#[derive(Debug, Parser)]
#[command(name = "support-desk", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a built-in transcript of model tool calls against a fresh database (the default).
    Demo,
    /// Create and seed the database and the data folder.
    Init {
        /// The SQLite database to create.
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        /// The folder to fill with sample exports and reports.
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Replace an existing database and sample files.
        #[arg(long)]
        force: bool,
    },
    /// Print the tool definitions a user may see, in a provider's format.
    Schemas {
        /// The provider whose tool format to print.
        #[arg(long, value_enum)]
        provider: Provider,
        /// The user whose tools to show; none for an anonymous session.
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
    },
    /// Run the host loop: JSON tool calls in on stdin, one JSON reply per line out.
    Session {
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// The logged-in user; none for an anonymous session.
        #[arg(long)]
        user: Option<String>,
    },
    /// Serve the tools over MCP: on stdio for one user, or over HTTP (`--http`) to remote
    /// clients, each request authenticated by a bearer token.
    Serve {
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        #[arg(long, default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// The logged-in user (stdio only: over HTTP, each token names its user).
        #[arg(long, required_unless_present = "http", conflicts_with = "http")]
        user: Option<String>,
        /// Serve MCP over Streamable HTTP on this address, such as 127.0.0.1:8080.
        #[arg(long, value_name = "ADDR", requires = "jwks")]
        http: Option<String>,
        /// The JWK Set that verifies access tokens (required with --http): a file, or the
        /// issuer's https:// URL (its `jwks_uri`).
        #[arg(long, value_name = "FILE|URL")]
        jwks: Option<PathBuf>,
        /// The issuer access tokens must name.
        #[arg(long, default_value = keys::DEFAULT_ISSUER)]
        issuer: String,
        /// The audience access tokens must name; default http://ADDR/mcp.
        #[arg(long, value_name = "URL")]
        audience: Option<String>,
        /// An Origin a browser-based client may send (repeatable); others get 403.
        #[arg(long = "allowed-origin", value_name = "ORIGIN")]
        allowed_origins: Vec<String>,
        /// At least 32 secret bytes that sign approval states (protocol 2026-07-28), shared by
        /// every instance; without it, a random key of the process.
        #[arg(long, value_name = "FILE")]
        state_key: Option<PathBuf>,
        /// Keep rate limits and pending approvals in this Redis (redis://host:port), shared by
        /// every instance given the same URL (HTTP only).
        #[arg(long, value_name = "URL", requires = "http")]
        redis: Option<String>,
        /// The most calls one user may have running at once over HTTP; more are refused as
        /// `rate_limited`.
        #[arg(long, value_name = "N", default_value_t = 16, requires = "http")]
        max_calls_per_user: usize,
        /// The prefix of every key in Redis: one per application sharing a Redis.
        #[arg(
            long,
            value_name = "PREFIX",
            default_value = "support-desk",
            requires = "redis"
        )]
        redis_prefix: String,
        /// Write the audit log to this PostgreSQL database (postgres://...), shared by every
        /// instance given the same URL, instead of `--db` (HTTP only).
        #[arg(long, value_name = "URL", requires = "http")]
        audit_db: Option<String>,
    },
    /// Create a signing key pair, its public JWK Set and a state key (a local stand-in for an
    /// authorization server).
    Keys {
        /// The folder to write signing-key.pem, jwks.json and state.key into.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print one signed access token for a user.
    Token {
        /// The folder `keys` wrote.
        #[arg(long = "keys", value_name = "DIR")]
        keys_dir: PathBuf,
        /// The token's subject. Not checked here: the server checks it.
        #[arg(long)]
        user: String,
        /// Space-separated scopes.
        #[arg(long, default_value = "tools:read tools:write")]
        scope: String,
        /// Seconds the token is valid.
        #[arg(long, default_value_t = 600)]
        ttl: u64,
        /// The server the token is for.
        #[arg(long, default_value = "http://127.0.0.1:8080/mcp")]
        audience: String,
        /// The issuer named in the token.
        #[arg(long, default_value = keys::DEFAULT_ISSUER)]
        issuer: String,
    },
    /// Print the audit log as JSON lines, oldest first.
    Audit {
        #[arg(long, default_value = DEFAULT_DB)]
        db: PathBuf,
        /// Read the log from this PostgreSQL database (postgres://...) instead of `--db`.
        #[arg(long, value_name = "URL")]
        audit_db: Option<String>,
    },
}

/// A provider's tool definition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Provider {
    /// Chat Completions `tools` array.
    Openai,
    /// Responses API `tools` array.
    OpenaiResponses,
    /// Messages API `tools` array.
    Anthropic,
    /// The `functionDeclarations` array.
    Gemini,
    /// The `tools` array of an MCP `tools/list` result.
    Mcp,
}

/// Why a command did not complete.
#[derive(Debug)]
pub enum Failure {
    /// The invocation was refused (an unknown user, an existing database): exit code 2, the
    /// code clap uses for a bad command line too.
    Refused(String),
    /// Something went wrong while running: exit code 1.
    Failed(String),
}

impl From<SetupError> for Failure {
    fn from(e: SetupError) -> Self {
        if e.is_refusal() {
            Failure::Refused(e.to_string())
        } else {
            Failure::Failed(e.to_string())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command.unwrap_or(Command::Demo)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(message)) => {
            eprintln!("support-desk: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("support-desk: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Demo => {
            let scratch = tempfile::tempdir()
                .map_err(|e| Failure::Failed(format!("cannot create a temporary folder: {e}")))?;
            let data_dir = scratch.path().join("data");
            let db = setup::init(&scratch.path().join("desk.db"), &data_dir, false)?;
            wiring::replay_demo(&db, &data_dir)
        }
        Command::Init {
            db,
            data_dir,
            force,
        } => {
            setup::init(&db, &data_dir, force)?;
            eprintln!(
                "support-desk: created {} and {}",
                db.display(),
                data_dir.display()
            );
            Ok(())
        }
        Command::Schemas { provider, user, db } => {
            let db = setup::ensure_db(&db)?;
            let user = user.map(|id| log_in(&db, &id)).transpose()?;
            wiring::print_schemas(&db, provider, user.as_ref())
        }
        Command::Session { db, data_dir, user } => {
            let db = setup::ensure(&db, &data_dir)?;
            let user = user.map(|id| log_in(&db, &id)).transpose()?;
            wiring::run_session(&db, &data_dir, user.as_ref())
        }
        Command::Serve {
            db,
            data_dir,
            user,
            http,
            jwks,
            issuer,
            audience,
            allowed_origins,
            state_key,
            redis,
            redis_prefix,
            audit_db,
            max_calls_per_user,
        } => {
            let db = setup::ensure(&db, &data_dir)?;
            let state_key = state_key
                .map(|path| wiring::read_state_key(&path))
                .transpose()?;
            match (http, jwks, user) {
                (Some(addr), Some(jwks), None) => wiring::serve_http(
                    &db,
                    &data_dir,
                    &wiring::HttpOptions {
                        addr,
                        jwks,
                        issuer,
                        audience,
                        allowed_origins,
                        state_key,
                        redis,
                        redis_prefix,
                        audit_db,
                        max_calls_per_user,
                    },
                ),
                (None, _, Some(user)) => {
                    let user = log_in(&db, &user)?;
                    wiring::serve_mcp(&db, &data_dir, &user, state_key.as_deref())
                }
                _ => Err(Failure::Refused(
                    "serve needs either --user ID (stdio) or --http ADDR --jwks FILE".into(),
                )),
            }
        }
        Command::Keys { dir } => keys::create(&dir),
        Command::Token {
            keys_dir,
            user,
            scope,
            ttl,
            audience,
            issuer,
        } => {
            let token = keys::token(
                &keys_dir,
                &keys::TokenRequest {
                    user: &user,
                    scope: &scope,
                    ttl,
                    audience: &audience,
                    issuer: &issuer,
                },
            )?;
            println!("{token}");
            Ok(())
        }
        Command::Audit {
            audit_db: Some(url),
            ..
        } => wiring::print_postgres_audit(&url),
        Command::Audit { db, audit_db: None } => {
            let db = setup::ensure_db(&db)?;
            wiring::print_audit(&db)
        }
    }
}

/// The session's user, from the command line (the host's login), never from model input.
fn log_in(db: &Db, user_id: &str) -> Result<User, Failure> {
    match db.find_user(user_id) {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(Failure::Refused(format!(
            "unknown user `{user_id}`: there is no such user in {}",
            db.path().display()
        ))),
        Err(e) => Err(Failure::Failed(format!(
            "cannot look up users in {}: {}",
            db.path().display(),
            e.cause().map_or_else(|| e.to_string(), ToString::to_string)
        ))),
    }
}
