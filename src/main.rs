//! The `dunghan` binary: parses the command line, sets up logging, and runs a subcommand.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

/// See the note on `mimalloc` in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use dunghan::cli::calendar::{self, CalendarArgs};
use dunghan::cli::catalog::{self as catalog_cli, CatalogArgs};
use dunghan::cli::file::{self as file_cli, FileArgs};
use dunghan::cli::files::{self as files_cli, FilesArgs};
use dunghan::cli::import::{self as import_cli, ImportArgs};
use dunghan::cli::leaderboard::{self, LeaderboardArgs};
use dunghan::cli::progress::{Progress, ProgressMode};
use dunghan::cli::push::{self, PushArgs};
use dunghan::cli::report::{self, ReportArgs};
use dunghan::cli::stats::{self, StatsArgs};
use dunghan::cli::tail::{self, TailArgs};
use dunghan::config::{self, Config, LogFormat, ServeArgs};
use dunghan::demo::{self, DemoArgs};
use dunghan::engine::SystemClock;
use dunghan::server;

/// dunghan ("đúng hạn", on time): monitors administrative-procedure files against their
/// published processing deadlines.
#[derive(Debug, Parser)]
#[command(name = "dunghan", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (defaults: 127.0.0.1:50051, data in ./dunghan-data, the shipped
    /// Vietnamese calendar).
    Serve(ServeArgs),
    /// Rebuild the derived state from the journal alone (the service must be stopped).
    Rebuild(RebuildArgs),
    /// Copy a (running or stopped) service's journal into a new folder, consistently.
    Backup(BackupArgs),
    /// Restore a backup into a new data folder and rebuild the state from it.
    Restore(RestoreArgs),
    /// Check a stopped service's data: every journaled event in the state exactly once, and
    /// every counter equal to a recount. Exits non-zero if anything is wrong.
    Check(RebuildArgs),
    /// Show a year of a calendar, or compute a due time by hand.
    Calendar(CalendarArgs),
    /// Push events to a running server, from a JSON Lines file or a CSV or XES event log.
    Push(PushArgs),
    /// Work with event logs (CSV, XES): derive the catalog of a log.
    Import(ImportArgs),
    /// Load a catalog document into a running server.
    Catalog(CatalogArgs),
    /// Show one file: timeline, control slip, verdict and why, attribution, rules broken.
    File(FileArgs),
    /// List files matching filters, page by page or all at once.
    Files(FilesArgs),
    /// Count verdicts and on-time rates by unit, officer, procedure, field or channel.
    Stats(StatsArgs),
    /// Rank officers, units or unit heads by late files or late working time.
    Leaderboard(LeaderboardArgs),
    /// Print form II.06a (files received, resolved, in progress by field) for a period.
    Report(ReportArgs),
    /// Follow alerts like `tail -f`, resuming after the last one seen.
    Tail(TailArgs),
    /// Start a server and feed it a simulated province (deterministic for a seed), then keep
    /// serving so it can be queried.
    Demo(DemoArgs),
    /// Client tokens: `dunghan token new` makes one.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Make a new client token and print it with the hash to put in the configuration.
    New,
}

#[derive(Debug, Args)]
struct BackupArgs {
    /// The folder to write the backup to (must be new or empty).
    dest: PathBuf,
    /// The data directory of the service.
    #[arg(long, env = "DUNGHAN_DATA_DIR", default_value = "./dunghan-data")]
    data_dir: PathBuf,
}

#[derive(Debug, Args)]
struct RestoreArgs {
    /// The backup folder (made by `dunghan backup`).
    backup: PathBuf,
    /// The data directory to restore into (must be new or empty).
    #[arg(long, env = "DUNGHAN_DATA_DIR", default_value = "./dunghan-data")]
    data_dir: PathBuf,
}

#[derive(Debug, Args)]
struct RebuildArgs {
    /// The data directory of the stopped service.
    #[arg(long, env = "DUNGHAN_DATA_DIR", default_value = "./dunghan-data")]
    data_dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(&args),
        Command::Rebuild(args) => rebuild(&args),
        Command::Check(args) => check(&args),
        Command::Backup(args) => {
            let report =
                dunghan::backup::backup(&args.data_dir, &args.dest).map_err(|err| err.to_string());
            report.and_then(|report| print_json(&report))
        }
        Command::Restore(args) => runtime().and_then(|runtime| {
            let bar = Progress::count(0, "journal records replayed", ProgressMode::Auto);
            let restored = runtime.block_on(dunghan::backup::restore(
                &args.backup,
                &args.data_dir,
                &|applied, last| show_replay(&bar, applied, last),
            ));
            bar.finish();
            print_json(&restored.map_err(|err| err.to_string())?)
        }),
        Command::Calendar(args) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            calendar::run(&args, &mut out).map_err(|err| err.to_string())
        }
        Command::Push(args) => runtime().and_then(|runtime| {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            runtime
                .block_on(push::run(&args, &mut out))
                .map_err(|err| err.to_string())
        }),
        Command::Import(args) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            import_cli::run(&args, &mut out).map_err(|err| err.to_string())
        }
        Command::Catalog(args) => runtime().and_then(|runtime| {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            runtime
                .block_on(catalog_cli::run(&args, &mut out))
                .map_err(|err| err.to_string())
        }),
        Command::File(args) => runtime().and_then(|runtime| {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            runtime
                .block_on(file_cli::run(&args, &mut out))
                .map_err(|err| err.to_string())
        }),
        Command::Files(args) => runtime().and_then(|runtime| {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            runtime
                .block_on(files_cli::run(&args, &mut out))
                .map_err(|err| err.to_string())
        }),
        Command::Stats(args) => runtime().and_then(|runtime| {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            runtime
                .block_on(stats::run(&args, &mut out))
                .map_err(|err| err.to_string())
        }),
        Command::Leaderboard(args) => runtime().and_then(|runtime| {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            runtime
                .block_on(leaderboard::run(&args, &mut out))
                .map_err(|err| err.to_string())
        }),
        Command::Report(args) => runtime().and_then(|runtime| {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            runtime
                .block_on(report::run(&args, &mut out))
                .map_err(|err| err.to_string())
        }),
        Command::Tail(args) => runtime().and_then(|runtime| {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            // Reconnection notices go to stderr, so stdout holds alerts only.
            let mut notices = std::io::stderr();
            runtime
                .block_on(tail::run(&args, &mut out, &mut notices))
                .map_err(|err| err.to_string())
        }),
        Command::Demo(args) => {
            init_tracing(&Config {
                log_filter: "warn".to_owned(),
                ..Config::default()
            });
            runtime().and_then(|runtime| {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                runtime
                    .block_on(demo::run(&args, &mut out))
                    .map_err(|err| err.to_string())
            })
        }
        Command::Token(TokenCommand::New) => (|| {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let output = config::token_new_output().map_err(|err| err.to_string())?;
            writeln!(out, "{output}").map_err(|err| err.to_string())
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let _ = writeln!(std::io::stderr(), "error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start the async runtime: {err}"))
}

fn serve(args: &ServeArgs) -> Result<(), String> {
    let config = config::load(args).map_err(|err| err.to_string())?;
    init_tracing(&config);
    for warning in config.warnings() {
        tracing::warn!(%warning, "configuration");
    }
    runtime()?.block_on(async {
        let running = server::start(&config, Arc::new(SystemClock))
            .await
            .map_err(|err| err.to_string())?;
        running
            .serve_until(server::shutdown_signal())
            .await
            .map_err(|err| err.to_string())
    })
}

fn rebuild(args: &RebuildArgs) -> Result<(), String> {
    let config = Config {
        data_dir: args.data_dir.clone(),
        ..Config::default()
    };
    init_tracing(&config);
    runtime()?.block_on(async {
        let bar = Progress::count(0, "journal records replayed", ProgressMode::Auto);
        let rebuilt = server::rebuild(&config.data_dir, &|applied, last| {
            show_replay(&bar, applied, last);
        })
        .await;
        bar.finish();
        let replayed = rebuilt.map_err(|err| err.to_string())?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        writeln!(out, "rebuilt the state from {replayed} journal records")
            .map_err(|err| err.to_string())
    })
}

fn check(args: &RebuildArgs) -> Result<(), String> {
    let config = Config {
        data_dir: args.data_dir.clone(),
        log_filter: "warn".to_owned(),
        ..Config::default()
    };
    init_tracing(&config);
    runtime()?.block_on(async {
        let report = server::check(&config.data_dir)
            .await
            .map_err(|err| err.to_string())?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let json = serde_json::to_string_pretty(&report).map_err(|err| err.to_string())?;
        writeln!(out, "{json}").map_err(|err| err.to_string())?;
        if report.is_sound() {
            Ok(())
        } else {
            Err("the data is not sound (see the report above)".to_owned())
        }
    })
}

/// Moves a replay's progress bar: `applied` of the journal's `last` sequence number.
fn show_replay(bar: &Progress, applied: u64, last: u64) {
    bar.set_total(last);
    bar.update(applied, String::new());
}

fn print_json(value: &impl serde::Serialize) -> Result<(), String> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let json = serde_json::to_string_pretty(value).map_err(|err| err.to_string())?;
    writeln!(out, "{json}").map_err(|err| err.to_string())
}
