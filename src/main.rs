//! The `dunghan` binary: parses the command line and runs a subcommand.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dunghan::cli::calendar::{self, CalendarArgs};

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
    /// Show a year of a calendar, or compute a due time by hand.
    Calendar(CalendarArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match &cli.command {
        Command::Calendar(args) => calendar::run(args, &mut out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = out.flush();
            let _ = writeln!(std::io::stderr(), "error: {err}");
            ExitCode::FAILURE
        }
    }
}
