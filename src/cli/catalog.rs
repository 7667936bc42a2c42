//! `dunghan catalog load FILE`: sends a catalog document to a running server through
//! `CatalogService.LoadCatalog` and prints what happened to each object.
//!
//! The server checks the document; this command never parses it, so the line numbers
//! and messages it prints are the server's. It chooses only the format, from the file's
//! extension.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use super::client::{connect_authorized, ClientArgs};
use super::CliError;
use crate::proto::v1 as pb;

/// The RPC named in errors.
const LOAD_CATALOG_RPC: &str = "CatalogService.LoadCatalog";

/// `dunghan catalog`: change the catalog of a running server.
#[derive(Debug, Clone, Args)]
pub struct CatalogArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CatalogCommand,
}

/// The catalog subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum CatalogCommand {
    /// Check and load a catalog document (TOML, or JSON for `.json` files); all or
    /// nothing.
    Load(LoadArgs),
}

/// Arguments of `dunghan catalog load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// The catalog document: `.json` is read as JSON, anything else as TOML.
    pub file: PathBuf,
    /// Check only: report what would change and every diagnostic, store nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the server's response as proto3 JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The server to load into.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `dunghan catalog`.
///
/// # Errors
/// As [`load`].
pub async fn run(args: &CatalogArgs, out: &mut dyn Write) -> Result<(), CliError> {
    match &args.command {
        CatalogCommand::Load(load_args) => load(load_args, out).await,
    }
}

/// Runs `dunghan catalog load`: sends the document, writes one line per object and per
/// diagnostic.
///
/// # Errors
/// [`CliError::Read`] for an unreadable file, [`CliError::Connect`] or
/// [`CliError::Rpc`] when the server cannot be reached or refuses the call, and
/// [`CliError::CatalogRefused`] (after writing every diagnostic) when the document has
/// errors, in a dry run too, so that scripts can check a document before loading it.
pub async fn load(args: &LoadArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let shown = args.file.display().to_string();
    let document = std::fs::read_to_string(&args.file).map_err(|source| CliError::Read {
        path: shown.clone(),
        source,
    })?;
    let request = pb::LoadCatalogRequest {
        document,
        format: format_of(&args.file).into(),
        document_name: document_name(&args.file),
        dry_run: args.dry_run,
    };
    let channel = connect_authorized(&args.client).await?;
    let mut client = pb::catalog_service_client::CatalogServiceClient::new(channel);
    let response = client
        .load_catalog(request)
        .await
        .map_err(|status| CliError::Rpc {
            server: args.client.server.clone(),
            rpc: LOAD_CATALOG_RPC,
            code: status.code(),
            message: status.message().to_owned(),
        })?
        .into_inner();
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &response)?;
        writeln!(out)?;
    } else {
        write_table(&shown, args.dry_run, &response, out)?;
    }
    let n_errors = response
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.level() == pb::DiagnosticLevel::Error)
        .count();
    if n_errors > 0 {
        return Err(CliError::CatalogRefused {
            path: shown,
            n_errors,
        });
    }
    Ok(())
}

/// The document format the server should parse `path` as.
pub fn format_of(path: &Path) -> pb::CatalogFormat {
    let is_json = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("json"));
    if is_json {
        pb::CatalogFormat::Json
    } else {
        pb::CatalogFormat::Toml
    }
}

/// The name the server records the load under: the file name without directories,
/// which would only leak the operator's layout.
fn document_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Writes the response as a heading, one line per object, then one per diagnostic.
fn write_table(
    path: &str,
    dry_run: bool,
    response: &pb::LoadCatalogResponse,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let verdict = match (response.applied, dry_run) {
        (true, _) => "loaded",
        (false, true) => "checked (dry run, nothing stored)",
        (false, false) => "refused, nothing stored",
    };
    writeln!(out, "catalog {path}: {verdict}")?;
    for result in &response.results {
        let outcome = match result.outcome() {
            pb::CatalogObjectOutcome::Created => "created",
            pb::CatalogObjectOutcome::Updated => "updated",
            pb::CatalogObjectOutcome::Unchanged => "unchanged",
            pb::CatalogObjectOutcome::Invalid => "invalid",
            pb::CatalogObjectOutcome::Unspecified => "?",
        };
        writeln!(
            out,
            "  line {:>5}  {:<10} {}",
            result.line,
            outcome,
            object_text(result.object.as_ref())
        )?;
    }
    for diagnostic in &response.diagnostics {
        let level = match diagnostic.level() {
            pb::DiagnosticLevel::Error => "error",
            pb::DiagnosticLevel::Warning => "warning",
            pb::DiagnosticLevel::Unspecified => "note",
        };
        let mut text = format!("{path}:{}", diagnostic.line);
        if diagnostic.column > 0 {
            text.push_str(&format!(":{}", diagnostic.column));
        }
        text.push_str(&format!(": {level}"));
        if diagnostic.object.is_some() {
            text.push_str(&format!(": {}", object_text(diagnostic.object.as_ref())));
        }
        if !diagnostic.field_path.is_empty() {
            text.push_str(&format!(
                ": {} = {:?}",
                diagnostic.field_path, diagnostic.value
            ));
        }
        text.push_str(&format!(": {}", diagnostic.message));
        writeln!(out, "{text}")?;
    }
    writeln!(out, "files to re-judge: {}", response.files_to_rejudge)?;
    Ok(())
}

/// `unit so-xd (from 2020-01-01)`.
fn object_text(object: Option<&pb::CatalogObjectRef>) -> String {
    let Some(object) = object else {
        return "document".to_owned();
    };
    let kind = match object.kind() {
        pb::CatalogObjectKind::Procedure => "procedure",
        pb::CatalogObjectKind::Unit => "unit",
        pb::CatalogObjectKind::Officer => "officer",
        pb::CatalogObjectKind::Calendar => "calendar",
        pb::CatalogObjectKind::Unspecified => "object",
    };
    match &object.effective_from {
        Some(date) if date.year != 0 => format!(
            "{kind} {} (from {:04}-{:02}-{:02})",
            object.id, date.year, date.month, date.day
        ),
        _ => format!("{kind} {}", object.id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_extension_means_json_and_anything_else_toml() {
        assert_eq!(format_of(Path::new("a/b.json")), pb::CatalogFormat::Json);
        assert_eq!(format_of(Path::new("b.JSON")), pb::CatalogFormat::Json);
        assert_eq!(format_of(Path::new("b.toml")), pb::CatalogFormat::Toml);
        assert_eq!(format_of(Path::new("catalog")), pb::CatalogFormat::Toml);
    }

    #[test]
    fn object_names_kind_id_and_date() {
        let object = pb::CatalogObjectRef {
            kind: pb::CatalogObjectKind::Unit.into(),
            id: "so-xd".to_owned(),
            effective_from: Some(pb::Date {
                year: 2020,
                month: 1,
                day: 1,
            }),
        };
        assert_eq!(object_text(Some(&object)), "unit so-xd (from 2020-01-01)");
        assert_eq!(object_text(None), "document");
    }
}
