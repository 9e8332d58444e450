//! The one place that writes to the terminal. Data (what a script would parse) goes to stdout;
//! progress, warnings and notes go to stderr. Nothing below the command layer prints.

use std::io::Write;

#[derive(Debug, Default)]
pub struct Printer {
    quiet: bool,
    /// On a terminal: one live line per wait in progress (indicatif), instead of a line per
    /// state change and heartbeat.
    live: Option<Live>,
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
        use std::io::IsTerminal;
        Printer {
            quiet,
            live: (!quiet && std::io::stderr().is_terminal()).then(Live::default),
            command: std::sync::OnceLock::new(),
            json: false.into(),
        }
    }

    /// No live lines (with `-v`/`--debug` the call log writes to stderr by itself, which live
    /// lines would overdraw).
    pub fn without_live(mut self) -> Self {
        self.live = None;
        self
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
            self.stderr_line(&self.flagged(line.as_ref()));
        }
    }

    /// A line on stderr, above the live lines while there are any.
    fn stderr_line(&self, line: &str) {
        if let Some(live) = &self.live
            && live.println(line)
        {
            return;
        }
        let _ = writeln!(std::io::stderr().lock(), "{line}");
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
        self.stderr_line(&format!("warning: {}", self.flagged(line.as_ref())));
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

    fn waiting(&self, what: &str, state: &str, elapsed: std::time::Duration, changed: bool) {
        match &self.live {
            Some(live) => live.show(what, state),
            None if changed => self.progress(format!(
                "  waiting for {what}: {state} ({} elapsed)",
                crate::aws::wait::elapsed(elapsed)
            )),
            None => {}
        }
    }

    fn waited(&self, what: &str, elapsed: std::time::Duration, reported: bool) {
        if let Some(live) = &self.live {
            live.end(what);
        }
        if reported {
            self.progress(format!(
                "  {what}: done after {}",
                crate::aws::wait::elapsed(elapsed)
            ));
        }
    }

    fn wait_ended(&self, what: &str) {
        if let Some(live) = &self.live {
            live.end(what);
        }
    }
}

/// The live lines of the waits in progress: one spinner per resource with its state, the
/// time waited and how long that kind of change typically takes on AWS.
#[derive(Default)]
struct Live {
    multi: indicatif::MultiProgress,
    bars: std::sync::Mutex<std::collections::BTreeMap<String, indicatif::ProgressBar>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

impl Live {
    fn show(&self, what: &str, state: &str) {
        let Ok(mut bars) = self.bars.lock() else {
            return;
        };
        let bar = bars.entry(what.to_string()).or_insert_with(|| {
            let bar = self.multi.add(indicatif::ProgressBar::new_spinner());
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "  {spinner} {prefix}: {msg}, {elapsed_precise}",
            ) {
                bar.set_style(style);
            }
            bar.set_prefix(what.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        bar.set_message(match typical(what) {
            Some(t) => format!("{state} (typically {t} on AWS)"),
            None => state.to_string(),
        });
    }

    fn end(&self, what: &str) {
        if let Ok(mut bars) = self.bars.lock()
            && let Some(bar) = bars.remove(what)
        {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    /// Print `line` above the live lines; false when there are none (print it as usual).
    fn println(&self, line: &str) -> bool {
        let active = self.bars.lock().map(|b| !b.is_empty()).unwrap_or(false);
        active && self.multi.println(line).is_ok()
    }
}

/// How long a kind of change typically takes on AWS (AWS-FACTS §3: Terraform's waiters and
/// reported timings), by the wait's name.
fn typical(what: &str) -> Option<&'static str> {
    let kinds: &[(&str, &str)] = &[
        ("association of", "5–15 min"),
        ("disassociation of", "a few min"),
        ("authorization of", "1–10 min"),
        ("revocation of", "1–10 min"),
        ("route ", "about 90 s"),
        ("deletion of the route", "about 90 s"),
        ("NAT gateway", "1–2 min"),
        ("deletion of cvpn-endpoint", "up to 5 min"),
    ];
    kinds
        .iter()
        .find(|(prefix, _)| what.starts_with(prefix))
        .map(|(_, t)| *t)
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
    "adopt",
    "doctor",
    "extend",
    "schedule",
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
