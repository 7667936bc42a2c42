//! The results as Markdown: the side-by-side table with ratios and targets, the checks that
//! both systems hold the same files, and one-line progress summaries.

use std::fmt::Write as _;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::latency::Summary;
use crate::{per_second, Run, Scale};

/// Which way is better for a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
}

/// A target of issue 7 (or issue 4) for dunghan's figure.
#[derive(Debug, Clone, Copy)]
struct Target {
    text: &'static str,
    /// The bound, in the figure's unit.
    bound: f64,
}

/// Picks one query's latencies out of a scale.
type Pick = fn(&Scale) -> Option<Summary>;

/// One row of the table.
struct Row {
    what: String,
    unit: &'static str,
    better: Better,
    target: Option<Target>,
    values: Vec<Option<f64>>,
}

/// The whole report: command, machine, table, checks.
pub(crate) fn markdown(args: &str, started: DateTime<Utc>, runs: &[Run]) -> Result<String> {
    let mut out = String::new();
    writeln!(
        out,
        "# dunghan-bench results, {}",
        started.format("%Y-%m-%d %H:%M UTC")
    )?;
    writeln!(out)?;
    writeln!(out, "- arguments: `{args}`")?;
    writeln!(out, "- machine: {}", machine())?;
    for run in runs {
        let scales: Vec<String> = run.scales.iter().map(|s| s.files.to_string()).collect();
        writeln!(
            out,
            "- {}: files measured at {}; {} files stored when killed",
            run.system,
            scales.join(", "),
            run.recovery_files
        )?;
    }
    writeln!(out)?;
    write_table(&mut out, runs)?;
    writeln!(out)?;
    write_checks(&mut out, runs)?;
    Ok(out)
}

/// One line per finished system, for the progress output.
pub(crate) fn run_summary(run: &Run) -> String {
    format!(
        "{}: batched {:.0} events/s, single {:.0} events/s, alerts p99 {}, recovery {:.2} s",
        run.system,
        per_second(run.batched.events, run.batched.elapsed),
        per_second(run.single.events, run.single.elapsed),
        run.alerts
            .map_or("-".to_owned(), |a| format!("{:.1} ms", a.p99_ms)),
        run.recovery.as_secs_f64()
    )
}

/// One line per scale, for the progress output.
pub(crate) fn scale_summary(system: &str, scale: &Scale) -> String {
    let p = |s: Option<Summary>| {
        s.map_or("-".to_owned(), |s| {
            format!("{:.1}/{:.1}", s.p50_ms, s.p99_ms)
        })
    };
    format!(
        "{system} @ {} files: stats {} ms, leaderboard {} ms, II.06a {} ms, file {} ms (p50/p99); \
         {:.0} MB resident, {:.0} bytes/file on disk",
        scale.files,
        p(scale.stats),
        p(scale.leaderboard),
        p(scale.report),
        p(scale.file),
        scale.memory as f64 / 1e6,
        scale.disk as f64 / scale.files.max(1) as f64
    )
}

fn write_table(out: &mut String, runs: &[Run]) -> Result<()> {
    let rows = rows(runs);
    let names: Vec<&str> = runs.iter().map(|run| run.system).collect();
    write!(out, "| measure | unit | target (dunghan) |")?;
    for name in &names {
        write!(out, " {name} |")?;
    }
    let compare = runs.len() == 2;
    if compare {
        write!(out, " {} / {} |", names[0], names[1])?;
    }
    writeln!(out)?;
    write!(out, "| --- | --- | --- |")?;
    for _ in &names {
        write!(out, " ---: |")?;
    }
    if compare {
        write!(out, " --- |")?;
    }
    writeln!(out)?;
    for row in rows {
        let target = match (row.target, row.values.first().copied().flatten()) {
            (Some(target), Some(value)) => {
                let met = match row.better {
                    Better::Higher => value >= target.bound,
                    Better::Lower => value <= target.bound,
                };
                format!("{} ({})", target.text, if met { "met" } else { "missed" })
            }
            (Some(target), None) => target.text.to_owned(),
            (None, _) => String::new(),
        };
        write!(out, "| {} | {} | {} |", row.what, row.unit, target)?;
        for value in &row.values {
            write!(out, " {} |", value.map_or("-".to_owned(), format_value))?;
        }
        if compare {
            write!(out, " {} |", ratio(&row))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn write_checks(out: &mut String, runs: &[Run]) -> Result<()> {
    writeln!(out, "Checks: what each system holds and answers at each scale (province-wide stats totals; files received in the II.06a period).")?;
    writeln!(out)?;
    writeln!(out, "| system | files | events | accepted | duplicates | other | early | on time | late | within time | overdue | not counted | stats rows | II.06a period | II.06a received | MB resident after ingest |")?;
    writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")?;
    for run in runs {
        for scale in &run.scales {
            let t = &scale.totals;
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} – {} | {} | {:.0} |",
                run.system,
                scale.files,
                scale.events,
                scale.ingest.tally.accepted,
                scale.ingest.tally.duplicates,
                scale.ingest.tally.other,
                t.early,
                t.on_time,
                t.late,
                t.within_time,
                t.overdue,
                t.not_counted,
                t.rows,
                scale.period.0.format("%Y-%m-%d %H:%M"),
                scale.period.1.format("%Y-%m-%d %H:%M"),
                scale.report_received,
                scale.memory_after_ingest as f64 / 1e6
            )?;
        }
    }
    for run in runs {
        writeln!(out)?;
        writeln!(
            out,
            "- {}: one-event phase {} events ({} accepted, {} duplicates, {} other); alerts missed (none within 5 s): {}",
            run.system,
            run.single.events,
            run.single.tally.accepted,
            run.single.tally.duplicates,
            run.single.tally.other,
            run.alerts_missed
        )?;
    }
    Ok(())
}

fn rows(runs: &[Run]) -> Vec<Row> {
    let mut rows = Vec::new();
    let each = |f: &dyn Fn(&Run) -> Option<f64>| runs.iter().map(f).collect::<Vec<_>>();
    let summaries = |f: fn(&Run) -> Option<Summary>| runs.iter().map(f).collect::<Vec<_>>();
    rows.push(Row {
        what: "durable ingest, batched (1,000 events a call)".to_owned(),
        unit: "events/s",
        better: Better::Higher,
        target: Some(Target {
            text: "≥ 20,000",
            bound: 20_000.0,
        }),
        values: each(&|run| Some(per_second(run.batched.events, run.batched.elapsed))),
    });
    rows.push(Row {
        what: "server CPU per 1,000 events, batched".to_owned(),
        unit: "CPU ms",
        better: Better::Lower,
        target: None,
        values: each(&|run| Some(run.batched.server_cpu * 1e6 / run.batched.events.max(1) as f64)),
    });
    rows.push(latency_row(
        "batched call, ack latency p50",
        None,
        &summaries(|run| run.batched.calls),
        false,
    ));
    rows.push(latency_row(
        "batched call, ack latency p99",
        None,
        &summaries(|run| run.batched.calls),
        true,
    ));
    rows.push(Row {
        what: "durable ingest, one event a call, 64 clients".to_owned(),
        unit: "events/s",
        better: Better::Higher,
        target: Some(Target {
            text: "≥ 3,000",
            bound: 3_000.0,
        }),
        values: each(&|run| Some(per_second(run.single.events, run.single.elapsed))),
    });
    rows.push(Row {
        what: "server CPU per 1,000 events, one event a call".to_owned(),
        unit: "CPU ms",
        better: Better::Lower,
        target: None,
        values: each(&|run| Some(run.single.server_cpu * 1e6 / run.single.events.max(1) as f64)),
    });
    rows.push(latency_row(
        "one event a call, ack latency p50",
        None,
        &summaries(|run| run.single.calls),
        false,
    ));
    rows.push(latency_row(
        "one event a call, ack latency p99",
        None,
        &summaries(|run| run.single.calls),
        true,
    ));
    let scales: Vec<u64> = runs
        .first()
        .map(|run| run.scales.iter().map(|s| s.files).collect())
        .unwrap_or_default();
    for (index, files) in scales.iter().enumerate() {
        let at = |f: &dyn Fn(&Scale) -> Option<f64>| {
            runs.iter()
                .map(|run| run.scales.get(index).and_then(f))
                .collect::<Vec<_>>()
        };
        let scale_label = thousands(*files);
        let queries: [(&str, Pick, Option<Target>); 4] = [
            (
                "stats, province by unit",
                |s| s.stats,
                Some(Target {
                    text: "p99 < 20 ms",
                    bound: 20.0,
                }),
            ),
            (
                "leaderboard, top 50 officers",
                |s| s.leaderboard,
                Some(Target {
                    text: "p99 < 50 ms",
                    bound: 50.0,
                }),
            ),
            ("II.06a report, province", |s| s.report, None),
            ("a file with its timeline", |s| s.file, None),
        ];
        for (what, pick, target) in queries {
            let summaries = at(&|s| pick(s).map(|x| x.p50_ms));
            rows.push(Row {
                what: format!("{what}, p50 @ {scale_label} files"),
                unit: "ms",
                better: Better::Lower,
                target: None,
                values: summaries,
            });
            rows.push(Row {
                what: format!("{what}, p99 @ {scale_label} files"),
                unit: "ms",
                better: Better::Lower,
                target,
                values: at(&|s| pick(s).map(|x| x.p99_ms)),
            });
        }
        rows.push(Row {
            what: format!("resident memory @ {scale_label} files"),
            unit: "MB",
            better: Better::Lower,
            target: None,
            values: at(&|s| Some(s.memory as f64 / 1e6)),
        });
        rows.push(Row {
            what: format!("resident memory per million files @ {scale_label} files"),
            unit: "MB",
            better: Better::Lower,
            target: Some(Target {
                text: "≤ 200",
                bound: 200.0,
            }),
            values: at(&|s| Some(s.memory as f64 / 1e6 / (s.files as f64 / 1e6))),
        });
        rows.push(Row {
            what: format!("disk per file @ {scale_label} files"),
            unit: "bytes",
            better: Better::Lower,
            target: None,
            values: at(&|s| Some(s.disk as f64 / s.files.max(1) as f64)),
        });
    }
    rows.push(latency_row(
        "alert, ack to tailing client, p50",
        None,
        &summaries(|run| run.alerts),
        false,
    ));
    rows.push(latency_row(
        "alert, ack to tailing client, p99",
        Some(Target {
            text: "< 100 ms",
            bound: 100.0,
        }),
        &summaries(|run| run.alerts),
        true,
    ));
    rows.push(latency_row(
        "alert, event sent to tailing client, p50",
        None,
        &summaries(|run| run.alerts_from_send),
        false,
    ));
    rows.push(latency_row(
        "alert, event sent to tailing client, p99",
        None,
        &summaries(|run| run.alerts_from_send),
        true,
    ));
    rows.push(Row {
        what: "recovery after SIGKILL to first answered stats".to_owned(),
        unit: "s",
        better: Better::Lower,
        target: Some(Target {
            text: "< 10 s",
            bound: 10.0,
        }),
        values: each(&|run| Some(run.recovery.as_secs_f64())),
    });
    rows
}

fn latency_row(
    what: &str,
    target: Option<Target>,
    summaries: &[Option<Summary>],
    p99: bool,
) -> Row {
    Row {
        what: what.to_owned(),
        unit: "ms",
        better: Better::Lower,
        target,
        values: summaries
            .iter()
            .map(|s| s.map(|s| if p99 { s.p99_ms } else { s.p50_ms }))
            .collect(),
    }
}

/// `dunghan / PG` with which way it goes.
fn ratio(row: &Row) -> String {
    let (Some(Some(first)), Some(Some(second))) = (row.values.first(), row.values.get(1)) else {
        return "-".to_owned();
    };
    if *second <= 0.0 || *first <= 0.0 {
        return "-".to_owned();
    }
    let ratio = first / second;
    let better = match row.better {
        Better::Higher => ratio >= 1.0,
        Better::Lower => ratio <= 1.0,
    };
    format!("{ratio:.2} ({})", if better { "better" } else { "worse" })
}

fn format_value(value: f64) -> String {
    if value >= 1_000.0 {
        thousands(value.round() as u64)
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or("unknown memory".to_owned(), |kib| {
            format!("{:.1} GiB", kib / 1_048_576.0)
        });
    format!("{cpus} cores ({model}), {memory}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn ratios_say_which_way_is_better() {
        let row = |better, values: Vec<Option<f64>>| Row {
            what: String::new(),
            unit: "",
            better,
            target: None,
            values,
        };
        assert_eq!(
            ratio(&row(Better::Lower, vec![Some(5.0), Some(10.0)])),
            "0.50 (better)"
        );
        assert_eq!(
            ratio(&row(Better::Higher, vec![Some(5.0), Some(10.0)])),
            "0.50 (worse)"
        );
        assert_eq!(ratio(&row(Better::Higher, vec![Some(5.0), None])), "-");
    }
}
