//! A small progress bar on stderr, drawn only when stderr is a terminal
//! (redirected output gets no control characters).

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Progress of one job measured in units of `total` (bytes or rows).
pub struct Progress {
    label: &'static str,
    total: u64,
    drawn_permille: Option<u64>,
    enabled: bool,
    start: Instant,
}

const WIDTH: u64 = 30;

impl Progress {
    /// A bar for `total` units labelled `label`.
    pub fn new(label: &'static str, total: u64) -> Self {
        Progress {
            label,
            total,
            drawn_permille: None,
            enabled: std::io::stderr().is_terminal(),
            start: Instant::now(),
        }
    }

    /// Redraws the bar at `done` units with `points` imported so far (only
    /// when the shown value changes).
    pub fn set(&mut self, done: u64, points: u64) {
        if !self.enabled {
            return;
        }
        let permille = (done.min(self.total) * 1000)
            .checked_div(self.total)
            .unwrap_or(1000);
        if self.drawn_permille == Some(permille) {
            return;
        }
        self.drawn_permille = Some(permille);
        let filled = (permille * WIDTH / 1000) as usize;
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{}{}] {:>5.1}% {} points, {:.0}/s ",
            self.label,
            "#".repeat(filled),
            "-".repeat(WIDTH as usize - filled),
            permille as f64 / 10.0,
            points,
            points as f64 / secs
        );
        let _ = err.flush();
    }

    /// Ends the bar's line (if one was drawn).
    pub fn finish(&mut self) {
        if self.enabled && self.drawn_permille.is_some() {
            eprintln!();
            self.drawn_permille = None;
        }
    }
}
