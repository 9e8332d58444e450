//! The one place that writes to the terminal. Data (what a script would parse) goes to stdout;
//! progress, warnings and notes go to stderr. Nothing below the command layer prints.

use std::io::Write;

#[derive(Debug, Default)]
pub struct Printer {
    quiet: bool,
    /// `vpnctl` with the global flags in effect (`--pki`, `--name`, `--config`), set once the
    /// deployment is settled: every `` `vpnctl …` `` a hint quotes gets them, so that a pasted
    /// hint acts on the same PKI and deployment, wherever in the code the hint was written.
    command: std::sync::OnceLock<(String, String)>,
    /// `--json` of a command that changes AWS: stdout holds one JSON document, so the
    /// command's own result lines go to stderr.
    json: std::sync::atomic::AtomicBool,
}

impl Printer {
    pub fn new(quiet: bool) -> Self {
        Printer {
            quiet,
            command: std::sync::OnceLock::new(),
            json: false.into(),
        }
    }

    /// Reserve stdout for one JSON document (see `json`).
    pub fn set_json_mode(&self) {
        self.json.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn json_mode(&self) -> bool {
        self.json.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Set what hints get (see `command`): `prefix` is `vpnctl` with the global flags,
    /// `aws_flags` the `--profile`/`--region` in effect, added to quoted AWS commands. Only the
    /// first call counts.
    pub fn set_command(&self, prefix: String, aws_flags: String) {
        let _ = self.command.set((prefix, aws_flags));
    }

    /// `line` with the flags in effect in its quoted commands. Stderr only: stdout data and
    /// JSON are never rewritten.
    fn flagged<'a>(&self, line: &'a str) -> std::borrow::Cow<'a, str> {
        match self.command.get() {
            Some((prefix, aws)) if prefix != "vpnctl" || !aws.is_empty() => {
                with_flags(line, prefix, aws).into()
            }
            _ => line.into(),
        }
    }

    /// A line of the command's result, on stdout (on stderr in JSON mode).
    pub fn data(&self, line: impl AsRef<str>) {
        if self.json_mode() {
            let _ = writeln!(std::io::stderr().lock(), "{}", line.as_ref());
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", line.as_ref());
    }

    /// A JSON document on stdout.
    pub fn json(&self, value: &serde_json::Value) {
        let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".to_string());
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }

    /// What the command did, on stderr; hidden by `--quiet`.
    pub fn info(&self, line: impl AsRef<str>) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr().lock(), "{}", self.flagged(line.as_ref()));
        }
    }

    /// A line of a question to the user on stderr, shown even with `--quiet`; a line ending
    /// in a space is the question itself and gets no newline.
    pub fn ask(&self, line: &str) {
        let line = self.flagged(line);
        let mut e = std::io::stderr().lock();
        let _ = if line.ends_with(' ') {
            write!(e, "{line}")
        } else {
            writeln!(e, "{line}")
        };
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

/// The commands that reach AWS, which take `--profile`/`--region` after their name.
const AWS_COMMANDS: &[&str] = &[
    "setup",
    "status",
    "list",
    "teardown",
    "connections",
    "kick",
    "sleep",
    "wake",
    "nat",
    "pki revoke",
    "pki merge-crl",
];

/// `line` with every quoted `` `vpnctl …` `` command given `prefix` (vpnctl and its global
/// flags) and, for a command that reaches AWS, `aws` (` --profile P --region R`) at its end;
/// except commands that already carry flags (`` `vpnctl --… ``).
pub fn with_flags(line: &str, prefix: &str, aws: &str) -> String {
    const MARK: &str = "`vpnctl ";
    let mut out = String::with_capacity(line.len() + prefix.len() + aws.len());
    let mut rest = line;
    while let Some(i) = rest.find(MARK) {
        let after = &rest[i + MARK.len()..];
        out.push_str(&rest[..i]);
        let Some(end) = after.find('`') else {
            out.push_str(&rest[i..]);
            return out;
        };
        let command = &after[..end];
        if command.starts_with("--") {
            out.push_str(MARK);
            out.push_str(command);
        } else {
            out.push('`');
            out.push_str(prefix);
            out.push(' ');
            out.push_str(command);
            let reaches_aws = AWS_COMMANDS.iter().any(|c| {
                command == *c || command.strip_prefix(c).is_some_and(|r| r.starts_with(' '))
            });
            if reaches_aws && !command.contains("--region") && !command.contains("--profile") {
                out.push_str(aws);
            }
        }
        out.push('`');
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::with_flags;

    #[test]
    fn hints_get_the_flags_once_and_aws_commands_the_aws_flags() {
        let p = "vpnctl --pki ../p --name lab";
        let aws = " --region eu-west-1";
        assert_eq!(
            with_flags("run `vpnctl pki crl`, then `vpnctl setup`", p, aws),
            "run `vpnctl --pki ../p --name lab pki crl`, then \
             `vpnctl --pki ../p --name lab setup --region eu-west-1`"
        );
        assert_eq!(
            with_flags("`vpnctl pki merge-crl` or `vpnctl pki list`", p, aws),
            "`vpnctl --pki ../p --name lab pki merge-crl --region eu-west-1` or \
             `vpnctl --pki ../p --name lab pki list`"
        );
        let already = "`vpnctl --name lab status`";
        assert_eq!(with_flags(already, p, aws), already);
        let given = "`vpnctl status --region us-east-1`";
        assert_eq!(
            with_flags(given, p, aws),
            "`vpnctl --pki ../p --name lab status --region us-east-1`"
        );
        assert_eq!(with_flags("no command here", p, aws), "no command here");
        assert_eq!(with_flags("`vpnctl`", p, aws), "`vpnctl`");
        assert_eq!(
            with_flags("unclosed `vpnctl setup", p, aws),
            "unclosed `vpnctl setup"
        );
    }
}
