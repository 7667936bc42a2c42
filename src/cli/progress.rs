//! Progress bars for long client commands, drawn on stderr with indicatif.
//!
//! Progress never goes to the command's output writer, so `--json` output and
//! redirected tables stay clean; the bar is hidden when stderr is not a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether a progress bar may be drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Draw on stderr if stderr is a terminal.
    Auto,
    /// Never draw (machine-readable output was asked for).
    Hidden,
}

/// A progress bar over a number of bytes of input, with a short status message.
#[derive(Debug)]
pub struct Progress {
    /// The indicatif bar; a hidden bar when nothing may be drawn.
    bar: ProgressBar,
}

impl Progress {
    /// A bar over `total_bytes` of input (a spinner if the size is unknown).
    pub fn bytes(total_bytes: Option<u64>, mode: ProgressMode) -> Progress {
        if !is_visible(mode) {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = match total_bytes {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        // The template is a constant, so it parses; fall back to the default style
        // rather than fail a push over a cosmetic problem.
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Progress { bar }
    }

    /// A bar over `total` items named `items` (e.g. `journal records`); the total may be
    /// changed later with [`Progress::set_total`].
    pub fn count(total: u64, items: &str, mode: ProgressMode) -> Progress {
        if !is_visible(mode) {
            return Progress {
                bar: ProgressBar::hidden(),
            };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        // As in `bytes`: `items` is ours (no braces), so the template parses.
        let style = ProgressStyle::with_template(&format!(
            "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {items} {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Progress { bar }
    }

    /// Changes the total the bar counts to.
    pub fn set_total(&self, total: u64) {
        self.bar.set_length(total);
    }

    /// Moves the bar to `done` (bytes or items) and shows `message` next to it.
    pub fn update(&self, done: u64, message: String) {
        self.bar.set_position(done);
        self.bar.set_message(message);
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Whether a bar may be drawn: asked for, and stderr is a terminal.
fn is_visible(mode: ProgressMode) -> bool {
    mode == ProgressMode::Auto && std::io::stderr().is_terminal()
}
