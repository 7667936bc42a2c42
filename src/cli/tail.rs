//! `dunghan tail`: follows alerts through `AlertService.Tail`, like `tail -f`, one line
//! per alert (or one proto3 JSON object per line with `--json`), until Ctrl-C.
//!
//! Resuming: the command remembers the sequence of the last alert it printed in a
//! state file and starts after it next time. The file holds that one decimal number
//! and is replaced atomically (written beside, then renamed) after every alert.
//! An alert is printed before its sequence is saved, so a crash in between prints it
//! again on the next run rather than lose it.
//! Its default path is `$XDG_STATE_HOME/dunghan/tail.seq`, else
//! `$HOME/.local/state/dunghan/tail.seq`, else `./.dunghan-tail.seq` when neither
//! variable is set; `--state-file` chooses another (use one per server and filter, since
//! a sequence seen through one filter says nothing about alerts another filter would
//! pass), `--no-state` neither reads nor writes one, and `--after` overrides what the
//! file says. Without `--after` or a state file the tail starts at the first stored
//! alert, so the whole backlog comes first.
//!
//! Reconnecting: when the stream ends with RESOURCE_EXHAUSTED (this subscriber lagged)
//! or UNAVAILABLE (the server is shutting down or unreachable), or breaks at the
//! transport, the command waits with exponential backoff and resubscribes after the
//! last sequence it printed, with the same filter. Its own record is authoritative (the
//! `dunghan-last-sequence` trailer is only advisory), so no alert is lost or printed
//! twice. Any other status (PERMISSION_DENIED, INVALID_ARGUMENT, ...) ends the command.
//! An alert whose sequence is not above the last one printed breaks the API's promise
//! and ends the command with [`CliError::Protocol`] rather than print a duplicate.
//!
//! Notices about reconnecting go to a separate writer (stderr in `main`), so that
//! standard output holds alerts only.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use tonic::Code;

use super::client::{connect_authorized, ClientArgs};
use super::table::{holder_text, id_flag, rpc_failed, OutputArgs, TimeDisplay};
use super::CliError;
use crate::proto::v1 as pb;

/// The RPC named in errors.
const TAIL_RPC: &str = "AlertService.Tail";

/// The state file's name inside `$XDG_STATE_HOME/dunghan` or `~/.local/state/dunghan`.
const STATE_FILE_NAME: &str = "tail.seq";

/// The state file used when no home or state directory is known.
const FALLBACK_STATE_FILE: &str = ".dunghan-tail.seq";

/// Arguments of `dunghan tail`.
#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    /// Start after this sequence number instead of the one in the state file (0: from
    /// the first stored alert).
    #[arg(long)]
    pub after: Option<u64>,
    /// Only alerts of units in this subtree (default: the whole scope of the token).
    #[arg(long)]
    pub unit: Option<String>,
    /// Only alerts of these kinds; repeat the flag or separate with commas. A
    /// retraction passes when `retraction` or the retracted alert's kind is listed.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub kind: Vec<AlertKindArg>,
    /// Only alerts at least this severe.
    #[arg(long, value_enum)]
    pub min_severity: Option<SeverityArg>,
    /// Only alerts of this file.
    #[arg(long)]
    pub file: Option<String>,
    /// Where to remember the last sequence seen (default: $XDG_STATE_HOME/dunghan/tail.seq,
    /// ~/.local/state/dunghan/tail.seq, or ./.dunghan-tail.seq).
    #[arg(long, conflicts_with = "no_state")]
    pub state_file: Option<PathBuf>,
    /// Neither read nor write a state file.
    #[arg(long)]
    pub no_state: bool,
    /// One JSON object per line instead of text, UTC or +07:00 in text.
    #[command(flatten)]
    pub output: OutputArgs,
    /// The server to follow.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A kind of alert as a flag value (`--kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlertKindArg {
    /// A step has used the due-soon share of its allotment.
    StepDueSoon,
    /// A step has used its whole allotment.
    StepOverdue,
    /// A file has little working time left.
    FileDueSoon,
    /// A file passed its due time while open.
    FileOverdue,
    /// Rule: a second supplement request.
    SecondSupplementRequest,
    /// Rule: a supplement requested more than 3 working days after receipt.
    LateSupplementRequest,
    /// Rule: a late file without a timely extension.
    LateWithoutExtension,
    /// Rule: a second extension.
    SecondExtension,
    /// Rule: handed back to a holder it already left, repeatedly.
    HandedBack,
    /// Rule: the source's appointment is later than the deadline allows.
    AppointmentInflated,
    /// Rule: an event backdated beyond the tolerance.
    BackdatedEvent,
    /// Rule: an event changed a finished file.
    FinishedFileChanged,
    /// Rule: a consultation answered after its own deadline.
    LateConsultationAnswer,
    /// Rule: a rejection issued after the due time.
    RejectionAfterDue,
    /// A late event or re-judging removed an earlier alert's condition.
    Retraction,
    /// An event arrived with a known id but different content.
    EventConflict,
}

/// A minimum severity as a flag value (`--min-severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// Everything.
    Info,
    /// Warnings and critical alerts.
    Warning,
    /// Critical alerts only.
    Critical,
}

/// How long to wait before resubscribing: `first_delay`, doubling after each failed
/// attempt up to `max_delay`, and back to `first_delay` once an alert arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    /// The wait before the first resubscription after a stream ends.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
}

/// What a tail did before it stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TailOutcome {
    /// The sequence of the last alert printed, or the starting point if none was.
    pub last_sequence: u64,
    /// Alerts printed.
    pub n_alerts: u64,
    /// Times the stream was resubscribed after it ended.
    pub n_reconnects: u64,
}

impl Default for Reconnect {
    /// Half a second, doubling up to 30 seconds.
    fn default() -> Reconnect {
        Reconnect {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl From<AlertKindArg> for pb::AlertKind {
    fn from(kind: AlertKindArg) -> pb::AlertKind {
        match kind {
            AlertKindArg::StepDueSoon => pb::AlertKind::StepDueSoon,
            AlertKindArg::StepOverdue => pb::AlertKind::StepOverdue,
            AlertKindArg::FileDueSoon => pb::AlertKind::FileDueSoon,
            AlertKindArg::FileOverdue => pb::AlertKind::FileOverdue,
            AlertKindArg::SecondSupplementRequest => pb::AlertKind::SecondSupplementRequest,
            AlertKindArg::LateSupplementRequest => pb::AlertKind::LateSupplementRequest,
            AlertKindArg::LateWithoutExtension => pb::AlertKind::LateWithoutExtension,
            AlertKindArg::SecondExtension => pb::AlertKind::SecondExtension,
            AlertKindArg::HandedBack => pb::AlertKind::HandedBack,
            AlertKindArg::AppointmentInflated => pb::AlertKind::AppointmentInflated,
            AlertKindArg::BackdatedEvent => pb::AlertKind::BackdatedEvent,
            AlertKindArg::FinishedFileChanged => pb::AlertKind::FinishedFileChanged,
            AlertKindArg::LateConsultationAnswer => pb::AlertKind::LateConsultationAnswer,
            AlertKindArg::RejectionAfterDue => pb::AlertKind::RejectionAfterDue,
            AlertKindArg::Retraction => pb::AlertKind::Retraction,
            AlertKindArg::EventConflict => pb::AlertKind::EventConflict,
        }
    }
}

impl From<SeverityArg> for pb::Severity {
    fn from(severity: SeverityArg) -> pb::Severity {
        match severity {
            SeverityArg::Info => pb::Severity::Info,
            SeverityArg::Warning => pb::Severity::Warning,
            SeverityArg::Critical => pb::Severity::Critical,
        }
    }
}

/// Runs `dunghan tail` until Ctrl-C, with the default [`Reconnect`] backoff.
///
/// # Errors
/// As [`run_tail`].
pub async fn run(
    args: &TailArgs,
    out: &mut dyn Write,
    notices: &mut dyn Write,
) -> Result<(), CliError> {
    let ctrl_c = async {
        // If the handler cannot be installed, follow until the process is killed
        // rather than stop at once.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    run_tail(args, Reconnect::default(), out, notices, ctrl_c).await?;
    Ok(())
}

/// Follows alerts until `stop` completes, writing each alert to `out` and each
/// reconnection to `notices`; see the module docs.
///
/// # Errors
/// [`CliError::Argument`] for a bad flag, [`CliError::TailState`] for an unreadable or
/// unwritable state file, [`CliError::Connect`] if the server cannot be reached at
/// the start, [`CliError::Rpc`] for a status that is not worth retrying,
/// [`CliError::Protocol`] for an alert out of order, and output errors.
pub async fn run_tail(
    args: &TailArgs,
    reconnect: Reconnect,
    out: &mut dyn Write,
    notices: &mut dyn Write,
    stop: impl Future<Output = ()>,
) -> Result<TailOutcome, CliError> {
    let filter = filter(args)?;
    let state_file = state_file_path(args);
    let start = match (args.after, &state_file) {
        (Some(after), _) => after,
        (None, Some(path)) => load_state(path)?.unwrap_or(0),
        (None, None) => 0,
    };
    let times = TimeDisplay::from_flag(args.output.utc);
    let mut outcome = TailOutcome {
        last_sequence: start,
        ..TailOutcome::default()
    };
    let channel = connect_authorized(&args.client).await?;
    // The channel reconnects by itself, so a resubscription needs no new connect.
    let mut client = pb::alert_service_client::AlertServiceClient::new(channel);
    let mut delay = reconnect.first_delay;
    tokio::pin!(stop);
    loop {
        let request = pb::TailRequest {
            after_sequence: outcome.last_sequence,
            filter: Some(filter.clone()),
        };
        let subscribed = tokio::select! {
            () = &mut stop => return Ok(outcome),
            subscribed = client.tail(request) => subscribed,
        };
        let ended = match subscribed {
            Err(status) => status,
            Ok(response) => {
                let mut stream = response.into_inner();
                loop {
                    let message = tokio::select! {
                        () = &mut stop => return Ok(outcome),
                        message = stream.message() => message,
                    };
                    let alert = match message {
                        Ok(Some(alert)) => alert,
                        // The API never ends a tail with OK; take it as a server going away.
                        Ok(None) => break tonic::Status::unavailable("the stream ended"),
                        Err(status) => break status,
                    };
                    if alert.sequence <= outcome.last_sequence {
                        return Err(CliError::Protocol {
                            server: args.client.server.clone(),
                            reason: format!(
                                "{TAIL_RPC} sent alert {} after alert {}; sequences must increase",
                                alert.sequence, outcome.last_sequence
                            ),
                        });
                    }
                    write_alert(&alert, args.output.json, times, out)?;
                    if let Some(path) = &state_file {
                        save_state(path, alert.sequence)?;
                    }
                    outcome.last_sequence = alert.sequence;
                    outcome.n_alerts += 1;
                    delay = reconnect.first_delay;
                }
            }
        };
        if !is_worth_retrying(&ended) {
            return Err(rpc_failed(&args.client.server, TAIL_RPC, &ended));
        }
        writeln!(
            notices,
            "{TAIL_RPC} ended with {:?}: {}; resubscribing after {} in {:?}",
            ended.code(),
            ended.message(),
            outcome.last_sequence,
            delay
        )?;
        notices.flush()?;
        tokio::select! {
            () = &mut stop => return Ok(outcome),
            () = tokio::time::sleep(delay) => {}
        }
        outcome.n_reconnects += 1;
        delay = (delay * 2).min(reconnect.max_delay);
    }
}

/// The filter of `args`, checked.
///
/// # Errors
/// [`CliError::Argument`] for an empty `--unit` or `--file`.
pub fn filter(args: &TailArgs) -> Result<pb::AlertFilter, CliError> {
    Ok(pb::AlertFilter {
        subtree_unit_id: id_flag("unit", args.unit.as_deref())?,
        kinds: args
            .kind
            .iter()
            .map(|kind| pb::AlertKind::from(*kind).into())
            .collect(),
        min_severity: args
            .min_severity
            .map_or(pb::Severity::Unspecified, pb::Severity::from)
            .into(),
        file_id: id_flag("file", args.file.as_deref())?,
    })
}

/// The state file `args` asks for: `--state-file`, none with `--no-state`, else
/// [`default_state_file`].
pub fn state_file_path(args: &TailArgs) -> Option<PathBuf> {
    if args.no_state {
        return None;
    }
    Some(
        args.state_file
            .clone()
            .unwrap_or_else(|| default_state_file(|name| std::env::var_os(name))),
    )
}

/// The default state file, given a way to read environment variables:
/// `$XDG_STATE_HOME/dunghan/tail.seq`, `$HOME/.local/state/dunghan/tail.seq`, or
/// `./.dunghan-tail.seq`. Relative or empty variables are ignored, as the XDG base
/// directory specification asks.
pub fn default_state_file(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let absolute = |name: &str| {
        var(name)
            .map(PathBuf::from)
            .filter(|path| path.is_absolute())
    };
    if let Some(state_home) = absolute("XDG_STATE_HOME") {
        return state_home.join("dunghan").join(STATE_FILE_NAME);
    }
    if let Some(home) = absolute("HOME") {
        return home
            .join(".local")
            .join("state")
            .join("dunghan")
            .join(STATE_FILE_NAME);
    }
    PathBuf::from(FALLBACK_STATE_FILE)
}

/// The sequence stored at `path`, or `None` if there is no such file.
///
/// # Errors
/// [`CliError::TailState`] if it cannot be read or does not hold a number.
pub fn load_state(path: &Path) -> Result<Option<u64>, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(state_error(path, &err.to_string())),
    };
    text.trim().parse().map(Some).map_err(|_| {
        state_error(
            path,
            &format!(
                "holds {:?}, not a sequence number; fix or delete it, or pass --after",
                text.trim()
            ),
        )
    })
}

/// Replaces the content of `path` with `sequence`, creating its directory if needed;
/// a reader sees the old or the new number, never a torn one.
///
/// # Errors
/// [`CliError::TailState`] if the directory or file cannot be written.
pub fn save_state(path: &Path, sequence: u64) -> Result<(), CliError> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|err| state_error(path, &err.to_string()))?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, format!("{sequence}\n"))
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|err| state_error(path, &err.to_string()))
}

/// Writes one alert as a line of text or of JSON, and flushes it so a pipe sees it now.
///
/// The text line reads `SEQ FIRED SEVERITY KIND file FILE [step S] [at HOLDER]
/// [due DUE] [retracts SEQ (KIND)]: DETAIL`.
///
/// # Errors
/// [`CliError::Json`] or [`CliError::Output`].
pub fn write_alert(
    alert: &pb::Alert,
    json: bool,
    times: TimeDisplay,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if json {
        serde_json::to_writer(&mut *out, alert)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(());
    }
    let mut line = format!(
        "{} {} {} {} file {}",
        alert.sequence,
        times.instant_with_zone(alert.fired_at.as_ref()),
        enum_text(alert.severity().as_str_name(), "SEVERITY_"),
        enum_text(alert.kind().as_str_name(), "ALERT_KIND_"),
        alert.file_id
    );
    if !alert.step_code.is_empty() {
        line.push_str(&format!(" step {}", alert.step_code));
    }
    if !alert.officer_id.is_empty() || !alert.unit_id.is_empty() {
        line.push_str(&format!(
            " at {}",
            holder_text(&alert.officer_id, &alert.unit_id)
        ));
    }
    if alert.due_at.is_some() {
        line.push_str(&format!(
            " due {}",
            times.instant_with_zone(alert.due_at.as_ref())
        ));
    }
    if alert.retracted_sequence != 0 {
        line.push_str(&format!(
            " retracts {} ({})",
            alert.retracted_sequence,
            enum_text(alert.retracted_kind().as_str_name(), "ALERT_KIND_")
        ));
    }
    if !alert.detail.is_empty() {
        line.push_str(&format!(": {}", alert.detail));
    }
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Whether a tail that ended with `status` should be resubscribed: RESOURCE_EXHAUSTED
/// (lagged) and UNAVAILABLE (shutting down, unreachable) as the API says, and any
/// status that tonic made from a transport failure (a connection reset mid-stream
/// arrives as UNKNOWN or CANCELLED with the transport error as its source; a status
/// sent by the server has no source).
fn is_worth_retrying(status: &tonic::Status) -> bool {
    match status.code() {
        Code::ResourceExhausted | Code::Unavailable => true,
        Code::Unknown | Code::Cancelled | Code::Internal => {
            std::error::Error::source(status).is_some()
        }
        _ => false,
    }
}

/// `SEVERITY_CRITICAL` as `critical`, `ALERT_KIND_FILE_OVERDUE` as `file-overdue`: the
/// names the flags take.
fn enum_text(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// The [`CliError::TailState`] for `path`.
fn state_error(path: &Path, reason: &str) -> CliError {
    CliError::TailState {
        path: path.display().to_string(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| OsString::from(value))
        }
    }

    #[test]
    fn state_file_prefers_xdg_state_home_then_home_then_the_current_directory() {
        assert_eq!(
            default_state_file(env(&[("XDG_STATE_HOME", "/s"), ("HOME", "/h")])),
            PathBuf::from("/s/dunghan/tail.seq")
        );
        assert_eq!(
            default_state_file(env(&[("XDG_STATE_HOME", "relative"), ("HOME", "/h")])),
            PathBuf::from("/h/.local/state/dunghan/tail.seq")
        );
        assert_eq!(
            default_state_file(env(&[("HOME", "")])),
            PathBuf::from(".dunghan-tail.seq")
        );
    }

    #[test]
    fn state_round_trips_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("tail.seq");
        assert_eq!(load_state(&path).unwrap(), None);
        save_state(&path, 42).unwrap();
        assert_eq!(load_state(&path).unwrap(), Some(42));
        save_state(&path, 43).unwrap();
        assert_eq!(load_state(&path).unwrap(), Some(43));
    }

    #[test]
    fn a_state_file_without_a_number_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tail.seq");
        std::fs::write(&path, "forty-two").unwrap();
        let err = load_state(&path).unwrap_err();
        assert!(
            matches!(&err, CliError::TailState { path: shown, .. } if shown.ends_with("tail.seq"))
        );
        assert!(err.to_string().contains("forty-two"), "{err}");
    }

    #[test]
    fn lagging_and_unavailable_are_retried_but_refusals_are_not() {
        assert!(is_worth_retrying(&tonic::Status::resource_exhausted(
            "subscriber lagged; last sequence sent 7"
        )));
        assert!(is_worth_retrying(&tonic::Status::unavailable(
            "shutting down"
        )));
        assert!(!is_worth_retrying(&tonic::Status::permission_denied(
            "unit"
        )));
        assert!(!is_worth_retrying(&tonic::Status::unknown(
            "server said so"
        )));
    }

    #[test]
    fn an_alert_line_names_everything_set() {
        let alert = pb::Alert {
            sequence: 9,
            file_id: "f-1".to_owned(),
            kind: pb::AlertKind::StepOverdue.into(),
            step_code: "THAM_DINH".to_owned(),
            severity: pb::Severity::Critical.into(),
            unit_id: "so-xd".to_owned(),
            officer_id: "cb-1".to_owned(),
            detail: "step THAM_DINH used 8h of 8h".to_owned(),
            fired_at: Some(crate::proto::wkt::Timestamp {
                seconds: 1_772_414_100,
                nanos: 0,
            }),
            ..pb::Alert::default()
        };
        let mut out = Vec::new();
        write_alert(&alert, false, TimeDisplay::vietnam(), &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "9 2026-03-02 08:15:00 +07:00 critical step-overdue file f-1 step THAM_DINH at cb-1 @ so-xd: step THAM_DINH used 8h of 8h\n"
        );
    }
}
