//! The one place that writes to the terminal. Data (what a script would parse) goes to stdout;
//! progress, warnings and notes go to stderr. Nothing below the command layer prints.

use std::io::Write;

#[derive(Debug, Clone, Copy, Default)]
pub struct Printer {
    quiet: bool,
}

impl Printer {
    pub fn new(quiet: bool) -> Self {
        Printer { quiet }
    }

    /// A line of the command's result, on stdout.
    pub fn data(&self, line: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", line.as_ref());
    }

    /// A JSON document on stdout.
    pub fn json(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_string());
        self.data(text);
    }

    /// What the command did, on stderr; hidden by `--quiet`.
    pub fn info(&self, line: impl AsRef<str>) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{}", line.as_ref());
        }
    }

    /// Something the user should act on; never hidden.
    pub fn warn(&self, line: impl AsRef<str>) {
        let _ = writeln!(std::io::stderr().lock(), "warning: {}", line.as_ref());
    }

    /// A progress line while waiting (stderr, hidden by `--quiet`).
    pub fn progress(&self, line: impl AsRef<str>) {
        self.info(line)
    }

    /// Render an error once, with its cause chain and hint.
    pub fn error(&self, err: &crate::Error) {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "error: {err}");
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            let _ = writeln!(e, "  caused by: {cause}");
            source = cause.source();
        }
        if !err.hint().is_empty() {
            let _ = writeln!(e, "hint: {}", err.hint());
        }
    }
}

impl crate::aws::wait::Reporter for Printer {
    fn progress(&self, line: &str) {
        Printer::progress(self, line)
    }
}
