//! Which deployment a command acts on. Pure: the evidence (the flag, what the PKI records, the
//! config file's tables, the state files beside the PKI) is gathered by `dispatch`; the rules
//! live here and are tested by table.
//!
//! Order: `--name` / `VPNCTL_NAME`; the deployment the PKI records (`vpnctl.json`); the single
//! table of the config file; the single state file under `.vpnctl/`; otherwise `default`. A
//! name chosen by a rule must agree with every other rule that names something: a PKI that
//! records `lab` beside a config whose only table is `prod` stops with both named, rather than
//! acting on one of them silently (a revocation that reaches the wrong endpoint, or none).

use crate::error::{Error, Result};

pub const DEFAULT: &str = "default";

/// Which rule chose the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Flag,
    Pki,
    Config,
    State,
    Default,
}

/// What this directory says about deployments.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub flag: Option<String>,
    /// The deployment `vpnctl.json` records.
    pub pki: Option<String>,
    /// The config file's deployment tables.
    pub config: Vec<String>,
    /// The state files `.vpnctl/NAME.json`.
    pub state: Vec<String>,
}

impl Evidence {
    /// Every deployment this directory knows, with where it is known from.
    pub fn known(&self) -> Vec<(String, &'static str)> {
        let mut out: Vec<(String, &'static str)> = Vec::new();
        let mut add = |name: &String, from: &'static str| {
            if !out.iter().any(|(n, _)| n == name) {
                out.push((name.clone(), from));
            }
        };
        if let Some(n) = &self.pki {
            add(n, "recorded in the PKI's vpnctl.json");
        }
        for n in &self.config {
            add(n, "a table of the config file");
        }
        for n in &self.state {
            add(n, "a state file in .vpnctl/");
        }
        out
    }
}

impl Rule {
    /// Why this deployment, for the note a command prints when the name was not given.
    pub fn reason(self) -> &'static str {
        match self {
            Rule::Flag => "given with --name",
            Rule::Pki => "the deployment the PKI records",
            Rule::Config => "the only table of the config file",
            Rule::State => "the only deployment with a state file here",
            Rule::Default => "no other deployment is known here",
        }
    }
}

pub fn resolve(ev: &Evidence) -> Result<(String, Rule)> {
    if let Some(name) = &ev.flag {
        return Ok((name.clone(), Rule::Flag));
    }
    // Each rule's candidates, in order; the first rule with exactly one decides.
    let rules: [(Rule, Vec<&String>); 3] = [
        (Rule::Pki, ev.pki.iter().collect()),
        (Rule::Config, ev.config.iter().collect()),
        (Rule::State, ev.state.iter().collect()),
    ];
    let listing = || {
        ev.known()
            .iter()
            .map(|(n, from)| format!("{n} ({from})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some((rule, chosen)) = rules
        .iter()
        .find_map(|(rule, c)| (c.len() == 1).then(|| (*rule, c[0].clone())))
    else {
        return match rules.iter().find(|(_, c)| c.len() > 1) {
            Some(_) => Err(Error::invalid(
                format!("several deployments are known here: {}", listing()),
                "name it on every run: --name NAME (or export VPNCTL_NAME=NAME)",
            )),
            None => Ok((DEFAULT.to_string(), Rule::Default)),
        };
    };
    // Every rule that names something must include the chosen one.
    let disagree = rules
        .iter()
        .any(|(_, c)| !c.is_empty() && !c.contains(&&chosen));
    if disagree {
        let others: Vec<String> = ev
            .known()
            .into_iter()
            .filter(|(n, _)| *n != chosen)
            .map(|(n, from)| format!("'{n}' ({from})"))
            .collect();
        return Err(Error::invalid(
            format!(
                "it is not clear which deployment is meant: {} is '{chosen}', but this \
                 directory also knows {}",
                rule.reason(),
                others.join(", ")
            ),
            "name it on every run: --name NAME (or export VPNCTL_NAME=NAME)",
        ));
    }
    Ok((chosen, rule))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(flag: Option<&str>, pki: Option<&str>, config: &[&str], state: &[&str]) -> Evidence {
        Evidence {
            flag: flag.map(str::to_string),
            pki: pki.map(str::to_string),
            config: config.iter().map(|s| s.to_string()).collect(),
            state: state.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_rules_in_order() {
        let ok: &[(Evidence, &str, Rule)] = &[
            (ev(None, None, &[], &[]), "default", Rule::Default),
            (
                ev(Some("x"), Some("lab"), &["prod"], &["y"]),
                "x",
                Rule::Flag,
            ),
            (ev(None, Some("lab"), &[], &[]), "lab", Rule::Pki),
            (
                ev(None, Some("lab"), &["lab", "prod"], &["lab"]),
                "lab",
                Rule::Pki,
            ),
            (ev(None, None, &["prod"], &[]), "prod", Rule::Config),
            (ev(None, None, &["prod"], &["prod"]), "prod", Rule::Config),
            (ev(None, None, &[], &["lab2"]), "lab2", Rule::State),
            (ev(None, None, &["a", "b"], &["b"]), "b", Rule::State),
        ];
        for (e, name, rule) in ok {
            assert_eq!(resolve(e).unwrap(), (name.to_string(), *rule), "{e:?}");
        }
    }

    #[test]
    fn disagreement_and_several_candidates_are_errors_that_list_them() {
        let bad: &[(Evidence, &[&str])] = &[
            (ev(None, Some("lab"), &["prod"], &[]), &["lab", "prod"]),
            (ev(None, Some("lab"), &[], &["lab2"]), &["lab", "lab2"]),
            (ev(None, None, &["a", "b"], &[]), &["a", "b"]),
            (ev(None, None, &[], &["a", "b"]), &["a", "b"]),
            (ev(None, None, &["a"], &["b"]), &["a", "b"]),
        ];
        for (e, names) in bad {
            let err = resolve(e).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{e:?}");
            for n in *names {
                assert!(err.to_string().contains(*n), "{e:?}: {err}");
            }
            assert!(err.hint().contains("--name"));
        }
    }
}
