//! `dunghan report --from DATE --to DATE [--unit U]`: form II.06a (Circular
//! 01/2020/TT-VPCP) through `QueryService.GetReport`: files received, resolved and in
//! progress, one row per field and a totals row, under the form's three column groups.
//!
//! The form's identities (received = resolved + in progress, and so on) hold by
//! construction on the server; this command prints the numbers as sent and never
//! recomputes a total, so a broken identity would show rather than be hidden.

use std::io::Write;

use clap::Args;

use super::client::{connect_authorized, ClientArgs};
use super::table::{id_flag, new_table, period_flags, rpc_failed, write_json, write_table};
use super::CliError;
use crate::proto::v1 as pb;

/// The RPC named in errors.
const GET_REPORT_RPC: &str = "QueryService.GetReport";

/// Arguments of `dunghan report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The unit subtree (default: the whole scope of the token).
    #[arg(long)]
    pub unit: Option<String>,
    /// First day of the reporting period (at +07:00), or an RFC 3339 instant.
    #[arg(long)]
    pub from: String,
    /// Last day of the reporting period, inclusive (at +07:00), or the first RFC 3339
    /// instant excluded.
    #[arg(long)]
    pub to: String,
    /// Print the server's response as proto3 JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The server to ask.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `dunghan report`.
///
/// # Errors
/// [`CliError::Argument`] for a bad flag, [`CliError::Connect`], [`CliError::Rpc`], and
/// output errors.
pub async fn run(args: &ReportArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let request = request(args)?;
    let channel = connect_authorized(&args.client).await?;
    let mut client = pb::query_service_client::QueryServiceClient::new(channel);
    let response = client
        .get_report(request)
        .await
        .map_err(|status| rpc_failed(&args.client.server, GET_REPORT_RPC, &status))?
        .into_inner();
    if args.json {
        return write_json(out, &response);
    }
    write_report(&response, out)
}

/// The request for `args`, checked.
///
/// # Errors
/// [`CliError::Argument`] naming the flag: an empty unit, or a bad or reversed period.
pub fn request(args: &ReportArgs) -> Result<pb::GetReportRequest, CliError> {
    Ok(pb::GetReportRequest {
        subtree_unit_id: id_flag("unit", args.unit.as_deref())?,
        period: period_flags(Some(&args.from), Some(&args.to))?,
    })
}

/// Writes the form: a two-line header naming the column groups, one row per field,
/// the totals row, then the notes.
///
/// # Errors
/// [`CliError::Output`] if `out` fails.
pub fn write_report(response: &pb::GetReportResponse, out: &mut dyn Write) -> Result<(), CliError> {
    // comfy-table has no column spans, so each group's name heads its first column
    // and the second header line names the column.
    let mut table = new_table(
        &[
            "\nfield",
            "\nname",
            "received\ntotal",
            "\nonline",
            "\nin person/postal",
            "\ncarried over",
            "resolved\ntotal",
            "\nearly",
            "\non time",
            "\nlate",
            "in progress\ntotal",
            "\nwithin time",
            "\noverdue",
        ],
        &[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    );
    for row in &response.rows {
        table.add_row(row_cells(row, row.field_code.clone()));
    }
    if let Some(total) = &response.total {
        table.add_row(row_cells(total, "total".to_owned()));
    }
    write_table(out, &table)?;
    for note in &response.notes {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

/// The cells of one row; `key` is the first cell.
fn row_cells(row: &pb::ReportRow, key: String) -> Vec<String> {
    let received = row.received.unwrap_or_default();
    let resolved = row.resolved.unwrap_or_default();
    let in_progress = row.in_progress.unwrap_or_default();
    vec![
        key,
        row.field_name.clone(),
        received.total.to_string(),
        received.online.to_string(),
        received.in_person_or_postal.to_string(),
        received.carried_over.to_string(),
        resolved.total.to_string(),
        resolved.early.to_string(),
        resolved.on_time.to_string(),
        resolved.late.to_string(),
        in_progress.total.to_string(),
        in_progress.within_time.to_string(),
        in_progress.overdue.to_string(),
    ]
}
