//! `dunghan file ID`: shows one file through `QueryService.GetFile`: a header (procedure,
//! status, received, due time, extended due time, verdict and the explanation's
//! summary), the timeline, the control slip, the attribution and the rules broken.
//!
//! Everything shown is the server's judgement at the judging instant (`--as-of`, or
//! now); this command never recomputes a due time or a verdict.

use std::io::Write;

use clap::Args;

use super::client::{connect_authorized, ClientArgs};
use super::table::{
    channel_text, duration_text, holder_text, instant_flag, new_table, or_absent, rpc_failed,
    status_text, verdict_text, write_json, write_table, OutputArgs, TimeDisplay, ABSENT,
};
use super::CliError;
use crate::proto::v1 as pb;

/// The RPC named in errors.
const GET_FILE_RPC: &str = "QueryService.GetFile";

/// Arguments of `dunghan file`.
#[derive(Debug, Clone, Args)]
pub struct FileArgs {
    /// The file id.
    pub file_id: String,
    /// Judge an open file at this RFC 3339 instant instead of now (not before its
    /// receipt), e.g. 2026-03-02T17:00:00+07:00.
    #[arg(long)]
    pub as_of: Option<String>,
    /// JSON or table, UTC or +07:00.
    #[command(flatten)]
    pub output: OutputArgs,
    /// The server to ask.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `dunghan file`: asks for the file and writes it as sections of tables, or as
/// the proto3 JSON of the `GetFileResponse` with `--json`.
///
/// # Errors
/// [`CliError::Argument`] for an empty id or a bad `--as-of`, [`CliError::Connect`],
/// [`CliError::Rpc`] (NOT_FOUND for an unknown file), [`CliError::Protocol`] for a
/// response without a file, and output errors.
pub async fn run(args: &FileArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let request = request(args)?;
    let channel = connect_authorized(&args.client).await?;
    let mut client = pb::query_service_client::QueryServiceClient::new(channel);
    let response = client
        .get_file(request)
        .await
        .map_err(|status| rpc_failed(&args.client.server, GET_FILE_RPC, &status))?
        .into_inner();
    if args.output.json {
        return write_json(out, &response);
    }
    let Some(file) = &response.file else {
        return Err(CliError::Protocol {
            server: args.client.server.clone(),
            reason: format!("{GET_FILE_RPC} answered without a file"),
        });
    };
    write_file(file, TimeDisplay::from_flag(args.output.utc), out)
}

/// The request for `args`, checked.
///
/// # Errors
/// [`CliError::Argument`] for an empty id or a `--as-of` that is not RFC 3339.
pub fn request(args: &FileArgs) -> Result<pb::GetFileRequest, CliError> {
    if args.file_id.trim().is_empty() {
        return Err(CliError::Argument {
            flag: "ID",
            value: args.file_id.clone(),
            reason: "the file id must not be empty".to_owned(),
        });
    }
    let as_of = args
        .as_of
        .as_deref()
        .map(|value| instant_flag("as-of", value))
        .transpose()?;
    Ok(pb::GetFileRequest {
        file_id: args.file_id.clone(),
        as_of,
    })
}

/// Writes `file` as a header and one section per part, with instants shown by `times`.
///
/// # Errors
/// [`CliError::Output`] if `out` fails.
pub fn write_file(
    file: &pb::File,
    times: TimeDisplay,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    write_header(file, times, out)?;
    write_timeline(file, times, out)?;
    write_control_slip(file, times, out)?;
    write_attribution(file, times, out)?;
    write_rules(file, times, out)?;
    Ok(())
}

/// The header: identity, status, instants and the verdict with its summary.
fn write_header(file: &pb::File, times: TimeDisplay, out: &mut dyn Write) -> Result<(), CliError> {
    let judgment = file.judgment.clone().unwrap_or_default();
    let explanation = judgment.explanation.clone().unwrap_or_default();
    let mut verdict = verdict_text(judgment.verdict()).to_owned();
    if judgment.verdict_against_extension() != pb::Verdict::Unspecified {
        verdict.push_str(&format!(
            " (against the extension: {})",
            verdict_text(judgment.verdict_against_extension())
        ));
    }
    if let Some(reason) = &judgment.unjudged_reason {
        verdict.push_str(&format!(": {}", reason.detail));
    }
    let lines: Vec<(&str, String)> = vec![
        ("file", file.file_id.clone()),
        ("procedure", or_absent(&file.procedure_code).to_owned()),
        ("field", or_absent(&file.field_code).to_owned()),
        ("channel", channel_text(file.channel()).to_owned()),
        (
            "received by",
            holder_text(&file.receiving_officer_id, &file.receiving_unit_id),
        ),
        ("status", status_text(file.status()).to_owned()),
        (
            "holder",
            file.holder
                .as_ref()
                .map_or_else(|| ABSENT.to_owned(), holder_line),
        ),
        (
            "received",
            times.instant_with_zone(file.received_at.as_ref()),
        ),
        ("due", times.instant_with_zone(explanation.due_at.as_ref())),
        (
            "extended due",
            times.instant_with_zone(explanation.extended_due_at.as_ref()),
        ),
        (
            "finished",
            times.instant_with_zone(file.finished_at.as_ref()),
        ),
        (
            "judged at",
            times.instant_with_zone(judgment.judged_at.as_ref()),
        ),
        ("verdict", verdict),
        ("lateness", duration_text(explanation.lateness.as_ref())),
        ("why", or_absent(&explanation.summary).to_owned()),
    ];
    for (label, value) in lines {
        writeln!(out, "{label:<16} {value}")?;
    }
    if explanation.provisional {
        writeln!(
            out,
            "{:<16} provisional: a calendar year involved has only computed holidays",
            ""
        )?;
    }
    Ok(())
}

/// The timeline: one row per event.
fn write_timeline(
    file: &pb::File,
    times: TimeDisplay,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    writeln!(out, "\ntimeline (times at {})", times.zone_label())?;
    let mut table = new_table(&["occurred", "event", "what", "detail", "recorded by"], &[]);
    for entry in &file.timeline {
        let event = entry.event.clone().unwrap_or_default();
        let (what, detail) = event_text(event.kind.as_ref());
        table.add_row(vec![
            times.instant(event.occurred_at.as_ref()),
            event.event_id,
            what.to_owned(),
            detail,
            or_absent(&entry.recorded_by).to_owned(),
        ]);
    }
    write_table(out, &table)
}

/// The control slip: one row per holder segment.
fn write_control_slip(
    file: &pb::File,
    times: TimeDisplay,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    writeln!(out, "\ncontrol slip (times at {})", times.zone_label())?;
    let mut table = new_table(
        &[
            "step",
            "holder",
            "handed in",
            "handed on",
            "allotted",
            "used",
            "verdict",
        ],
        &[4, 5],
    );
    for row in &file.control_slip {
        let step = if row.step_code.is_empty() {
            "unplanned".to_owned()
        } else if row.step_name.is_empty() {
            row.step_code.clone()
        } else {
            format!("{} {}", row.step_code, row.step_name)
        };
        table.add_row(vec![
            step,
            holder_text(&row.holder_officer_id, &row.holder_unit_id),
            times.instant(row.handed_in_at.as_ref()),
            times.instant(row.handed_on_at.as_ref()),
            duration_text(row.allotted.as_ref()),
            duration_text(row.used.as_ref()),
            verdict_text(row.verdict()).to_owned(),
        ]);
    }
    write_table(out, &table)
}

/// The attribution: holder at breach, then one row per share; nothing if none.
fn write_attribution(
    file: &pb::File,
    times: TimeDisplay,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let Some(attribution) = &file.attribution else {
        return Ok(());
    };
    writeln!(out, "\nattribution")?;
    writeln!(
        out,
        "{:<16} {}",
        "holder at breach",
        attribution
            .holder_at_breach
            .as_ref()
            .map_or_else(|| ABSENT.to_owned(), holder_line)
    )?;
    writeln!(
        out,
        "{:<16} {}",
        "breached at",
        times.instant_with_zone(attribution.breached_at.as_ref())
    )?;
    writeln!(
        out,
        "{:<16} {}",
        "lateness",
        duration_text(attribution.lateness.as_ref())
    )?;
    let mut table = new_table(&["officer", "unit", "head", "step", "share", "basis"], &[4]);
    for share in &attribution.shares {
        let basis = match share.basis() {
            pb::ShareBasis::Unspecified => ABSENT,
            pb::ShareBasis::StepOverrun => "step overrun",
            pb::ShareBasis::HolderAtBreach => "holder at breach",
        };
        table.add_row(vec![
            or_absent(&share.officer_id).to_owned(),
            or_absent(&share.unit_id).to_owned(),
            or_absent(&share.head_officer_id).to_owned(),
            or_absent(&share.step_code).to_owned(),
            duration_text(share.late_working_time.as_ref()),
            basis.to_owned(),
        ]);
    }
    write_table(out, &table)
}

/// The rules broken, retracted ones marked; nothing if none.
fn write_rules(file: &pb::File, times: TimeDisplay, out: &mut dyn Write) -> Result<(), CliError> {
    if file.rules_broken.is_empty() {
        return Ok(());
    }
    writeln!(out, "\nrules broken (times at {})", times.zone_label())?;
    let mut table = new_table(
        &["detected", "rule", "step", "event", "alert", "detail"],
        &[4],
    );
    for breach in &file.rules_broken {
        let mut rule = rule_text(breach.rule()).to_owned();
        if breach.retracted {
            rule.push_str(" (retracted)");
        }
        let alert = if breach.alert_sequence == 0 {
            ABSENT.to_owned()
        } else {
            breach.alert_sequence.to_string()
        };
        table.add_row(vec![
            times.instant(breach.detected_at.as_ref()),
            rule,
            or_absent(&breach.step_code).to_owned(),
            or_absent(&breach.event_id).to_owned(),
            alert,
            breach.detail.clone(),
        ]);
    }
    write_table(out, &table)
}

/// `officer @ unit, step S`.
fn holder_line(holder: &pb::Holder) -> String {
    let mut text = holder_text(&holder.officer_id, &holder.unit_id);
    if !holder.step_code.is_empty() {
        text.push_str(&format!(", step {}", holder.step_code));
    }
    text
}

/// An event's kind in words and the one detail worth a column (where a handover went,
/// which procedure was received).
fn event_text(kind: Option<&pb::event::Kind>) -> (&'static str, String) {
    use pb::event::Kind;
    let Some(kind) = kind else {
        return (ABSENT, String::new());
    };
    match kind {
        Kind::Submitted(submitted) => ("submitted", submitted.procedure_code.clone()),
        Kind::Received(_) => ("received", String::new()),
        Kind::NotAccepted(_) => ("not accepted", String::new()),
        Kind::HandedOver(handover) => (
            "handed over",
            format!(
                "{} -> {}",
                holder_text(&handover.from_officer_id, &handover.from_unit_id),
                holder_text(&handover.to_officer_id, &handover.to_unit_id)
            ),
        ),
        Kind::SupplementRequested(_) => ("supplement requested", String::new()),
        Kind::SupplementReceived(_) => ("supplement received", String::new()),
        Kind::FinancialObligationRequested(_) => ("financial obligation requested", String::new()),
        Kind::FinancialObligationFulfilled(_) => ("financial obligation fulfilled", String::new()),
        Kind::ConsultationRequested(_) => ("consultation requested", String::new()),
        Kind::ConsultationAnswered(_) => ("consultation answered", String::new()),
        Kind::PauseStarted(_) => ("pause started", String::new()),
        Kind::PauseEnded(_) => ("pause ended", String::new()),
        Kind::Extended(_) => ("extended", String::new()),
        Kind::Withdrawn(_) => ("withdrawn", String::new()),
        Kind::Stopped(_) => ("stopped", String::new()),
        Kind::Rejected(_) => ("rejected", String::new()),
        Kind::Resolved(_) => ("resolved", String::new()),
        Kind::Returned(_) => ("returned", String::new()),
    }
}

/// A rule in words.
fn rule_text(rule: pb::RuleKind) -> &'static str {
    match rule {
        pb::RuleKind::Unspecified => ABSENT,
        pb::RuleKind::SecondSupplementRequest => "second supplement request",
        pb::RuleKind::LateSupplementRequest => "late supplement request",
        pb::RuleKind::LateWithoutExtension => "late without extension",
        pb::RuleKind::SecondExtension => "second extension",
        pb::RuleKind::HandedBack => "handed back",
        pb::RuleKind::AppointmentInflated => "appointment inflated",
        pb::RuleKind::BackdatedEvent => "backdated event",
        pb::RuleKind::FinishedFileChanged => "finished file changed",
        pb::RuleKind::LateConsultationAnswer => "late consultation answer",
        pb::RuleKind::RejectionAfterDue => "rejection after due",
    }
}
