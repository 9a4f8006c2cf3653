//! Progress of long commands: an indicatif bar on a terminal, plain lines otherwise (CI logs),
//! nothing with `--format json`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::repository::publish::Progress;

/// Shows the stages of a push, import or export.
pub struct CliProgress {
    bar: Option<ProgressBar>,
    plain: bool,
    started: Mutex<Option<(String, Instant)>>,
}

impl CliProgress {
    /// A bar on stderr when it is a terminal, plain lines otherwise; silent when `quiet`.
    pub fn new(quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (terminal && !quiet).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar
        });
        Self {
            bar,
            plain: !terminal && !quiet,
            started: Mutex::new(None),
        }
    }

    /// Ends the current stage (its duration goes on a plain line) and clears the bar.
    pub fn finish(&self) {
        self.close_stage();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn close_stage(&self) {
        let Ok(mut started) = self.started.lock() else {
            return;
        };
        if let (true, Some((name, at))) = (self.plain, started.take()) {
            eprintln!("{name}: done in {:.1} s", at.elapsed().as_secs_f64());
        }
    }
}

impl Progress for CliProgress {
    fn stage(&self, name: &str, total: usize) {
        self.close_stage();
        if let Some(bar) = &self.bar {
            bar.set_message(name.to_owned());
            bar.set_length(total as u64);
            bar.set_position(0);
        }
        if self.plain {
            if total > 0 {
                eprintln!("{name} ({total})…");
            } else {
                eprintln!("{name}…");
            }
            if let Ok(mut started) = self.started.lock() {
                *started = Some((name.to_owned(), Instant::now()));
            }
        }
    }

    fn advance(&self, steps: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(steps as u64);
        }
    }
}
