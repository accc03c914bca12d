//! make's progress on stderr: a bar (or a spinner when the length is not
//! known) on a terminal, counting kbuild's quiet lines (`  CC  path`), with
//! warnings and other output kept visible above it; make's lines as they
//! come otherwise.

use std::io::IsTerminal;
use std::time::Duration;

/// The progress of one make step.
#[derive(Default)]
pub struct MakeProgress {
    bar: Option<indicatif::ProgressBar>,
    count: u64,
}

impl MakeProgress {
    /// Begin step `phase`; `expected`: the number of quiet lines the
    /// previous build of the directory printed, if known.
    pub fn start(&mut self, phase: &str, expected: Option<u64>) {
        self.count = 0;
        self.bar = std::io::stderr().is_terminal().then(|| {
            let bar = match expected {
                Some(n) => indicatif::ProgressBar::new(n.max(1)),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let template = if expected.is_some() {
                "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}"
            } else {
                "{prefix} [{elapsed_precise}] {spinner} {pos} {wide_msg}"
            };
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar.set_prefix(phase.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
    }

    /// One line make printed.
    pub fn line(&mut self, line: &str) {
        let quiet = kforge_store::quiet_line(line);
        if quiet.is_some() {
            self.count += 1;
        }
        match &self.bar {
            Some(bar) => match quiet {
                Some((tag, what)) => {
                    if bar.length().is_some_and(|l| self.count > l) {
                        bar.set_length(self.count);
                    }
                    bar.set_position(self.count);
                    bar.set_message(format!("{tag} {what}"));
                }
                // Warnings and anything else make says stay visible.
                None if !line.starts_with("make") => bar.println(line),
                None => {}
            },
            None => eprintln!("{line}"),
        }
    }

    /// The step ended: the bar goes.
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
