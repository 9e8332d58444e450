//! The one place that writes to the terminal. Data (what a script would parse) goes to stdout;
//! progress, warnings and notes go to stderr. Nothing below the command layer prints.

use std::io::Write;

#[derive(Debug, Clone, Default)]
pub struct Printer {
    quiet: bool,
    /// `vpnctl` with the global flags in effect (`--pki`, `--name`, `--config`), set once the
    /// deployment is settled: every `` `vpnctl …` `` a hint quotes gets them, so that a pasted
    /// hint acts on the same PKI and deployment, wherever in the code the hint was written.
    command: std::sync::OnceLock<String>,
}

impl Printer {
    pub fn new(quiet: bool) -> Self {
        Printer {
            quiet,
            command: std::sync::OnceLock::new(),
        }
    }

    /// Set the command prefix hints get (see `command`); only the first call counts.
    pub fn set_command(&self, prefix: String) {
        let _ = self.command.set(prefix);
    }

    fn flagged<'a>(&self, line: &'a str) -> std::borrow::Cow<'a, str> {
        match self.command.get() {
            Some(prefix) if prefix != "vpnctl" => with_flags(line, prefix).into(),
            _ => line.into(),
        }
    }

    /// A line of the command's result, on stdout.
    pub fn data(&self, line: impl AsRef<str>) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", self.flagged(line.as_ref()));
    }

    /// A JSON document on stdout.
    pub fn json(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_string());
        self.data(text);
    }

    /// What the command did, on stderr; hidden by `--quiet`.
    pub fn info(&self, line: impl AsRef<str>) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{}", self.flagged(line.as_ref()));
        }
    }

    /// Something the user should act on; never hidden.
    pub fn warn(&self, line: impl AsRef<str>) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "warning: {}",
            self.flagged(line.as_ref())
        );
    }

    /// A progress line while waiting (stderr, hidden by `--quiet`).
    pub fn progress(&self, line: impl AsRef<str>) {
        self.info(line)
    }

    /// Render an error once, with its cause chain and hint.
    pub fn error(&self, err: &crate::Error) {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "error: {}", self.flagged(&err.to_string()));
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            let _ = writeln!(e, "  caused by: {cause}");
            source = cause.source();
        }
        if !err.hint().is_empty() {
            let _ = writeln!(e, "hint: {}", self.flagged(err.hint()));
        }
    }
}

impl crate::aws::wait::Reporter for Printer {
    fn progress(&self, line: &str) {
        Printer::progress(self, line)
    }
}

/// `line` with every quoted `` `vpnctl `` command given `prefix` (vpnctl and its global flags),
/// except those that already carry flags (`` `vpnctl --… ``).
pub fn with_flags(line: &str, prefix: &str) -> String {
    const MARK: &str = "`vpnctl ";
    let mut out = String::with_capacity(line.len() + prefix.len());
    let mut rest = line;
    while let Some(i) = rest.find(MARK) {
        let after = &rest[i + MARK.len()..];
        out.push_str(&rest[..i]);
        if after.starts_with("--") {
            out.push_str(MARK);
        } else {
            out.push('`');
            out.push_str(prefix);
            out.push(' ');
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::with_flags;

    #[test]
    fn hints_get_the_flags_once() {
        let p = "vpnctl --pki ../p --name lab";
        assert_eq!(
            with_flags("run `vpnctl pki crl`, then `vpnctl setup`", p),
            "run `vpnctl --pki ../p --name lab pki crl`, then `vpnctl --pki ../p --name lab setup`"
        );
        let already = "`vpnctl --name lab status`";
        assert_eq!(with_flags(already, p), already);
        assert_eq!(with_flags("no command here", p), "no command here");
        assert_eq!(with_flags("`vpnctl`", p), "`vpnctl`");
    }
}
