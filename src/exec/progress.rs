//! Progress display: an indicatif bar with throughput and ETA on a terminal; on anything else (logs,
//! CI, tests) one plain line when a unit of work ends.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// Where progress goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Lines,
    Quiet,
}

impl Mode {
    /// Bars on an interactive terminal outside CI, lines otherwise.
    pub fn detect() -> Mode {
        if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
            Mode::Bar
        } else {
            Mode::Lines
        }
    }
}

/// The progress of one unit (an epoch, a search).
pub struct Progress {
    mode: Mode,
    label: String,
    bar: Option<ProgressBar>,
    start: Instant,
    items: usize,
}

impl Progress {
    pub fn new(mode: &Mode, label: &str, total: usize, done: usize) -> Progress {
        let bar = (*mode == Mode::Bar).then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar.set_position(done as u64);
            bar
        });
        Progress {
            mode: *mode,
            label: label.to_string(),
            bar,
            start: Instant::now(),
            items: 0,
        }
    }

    /// Reports position `pos`, `items` more items processed and the last loss.
    pub fn advance(&mut self, pos: usize, items: usize, loss: f64) {
        self.items += items;
        if let Some(bar) = &self.bar {
            bar.set_position(pos as u64);
            let rate = self.items as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("loss {loss:.4} {rate:.0} img/s"));
        }
    }

    /// Ends the unit with a closing message.
    pub fn finish(&mut self, message: &str) {
        let secs = self.start.elapsed().as_secs_f64();
        match self.mode {
            Mode::Bar => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                eprintln!("{}: {message} ({secs:.1}s)", self.label);
            }
            Mode::Lines => eprintln!("{}: {message} ({secs:.1}s)", self.label),
            Mode::Quiet => {}
        }
    }
}
