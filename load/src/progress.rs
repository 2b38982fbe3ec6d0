//! What the load command shows while it runs: a progress bar per phase on a terminal
//! (indicatif, on stderr), plain log lines on stderr otherwise, so a CI log or a
//! redirected run still says where it is without control characters.

use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain (non-terminal) phase prints a line.
const PLAIN_INTERVAL: Duration = Duration::from_secs(2);

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// Progress bars (stderr is a terminal).
    Bars,
    /// One line now and then.
    Lines,
    /// Nothing (a `--procs` worker, tests).
    Quiet,
}

impl Display {
    /// Bars when stderr is a terminal, lines otherwise.
    pub fn detect() -> Display {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            Display::Bars
        } else {
            Display::Lines
        }
    }

    /// Starts showing a phase counting up to `total` `unit`s (`total` 0: no known end).
    pub fn phase(self, name: &str, total: u64, unit: &str) -> Phase {
        let bar = match self {
            Display::Bars => {
                let bar = if total > 0 {
                    ProgressBar::new(total)
                } else {
                    ProgressBar::new_spinner()
                };
                let template = if total > 0 {
                    "{prefix:>10} [{bar:30}] {pos}/{len} {msg}"
                } else {
                    "{prefix:>10} {spinner} {pos} {msg}"
                };
                let style = ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(name.to_owned());
                bar.enable_steady_tick(Duration::from_millis(100));
                Some(bar)
            }
            Display::Lines => {
                line(format_args!("{name}: started ({total} {unit})"));
                None
            }
            Display::Quiet => None,
        };
        Phase {
            display: self,
            name: name.to_owned(),
            unit: unit.to_owned(),
            total,
            bar,
            last_line: Instant::now(),
        }
    }

    /// A line for the person watching, outside any phase.
    pub fn note(self, message: impl std::fmt::Display) {
        if self != Display::Quiet {
            line(message);
        }
    }
}

/// One phase being shown.
pub struct Phase {
    display: Display,
    name: String,
    unit: String,
    total: u64,
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl Phase {
    /// Shows `done` of the total, and `detail`.
    pub fn update(&mut self, done: u64, detail: impl FnOnce() -> String) {
        match (&self.bar, self.display) {
            (Some(bar), _) => {
                bar.set_position(done);
                bar.set_message(detail());
            }
            (None, Display::Lines) if self.last_line.elapsed() >= PLAIN_INTERVAL => {
                self.last_line = Instant::now();
                line(format_args!(
                    "{}: {done}/{} {} {}",
                    self.name,
                    self.total,
                    self.unit,
                    detail()
                ));
            }
            _ => {}
        }
    }

    /// Ends the phase with a summary line.
    pub fn finish(self, summary: impl std::fmt::Display) {
        match (self.bar, self.display) {
            (Some(bar), _) => {
                bar.finish_and_clear();
                line(format_args!("{}: {summary}", self.name));
            }
            (None, Display::Lines) => line(format_args!("{}: {summary}", self.name)),
            _ => {}
        }
    }
}

fn line(message: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr().lock(), "pipehub-client: load: {message}");
}
