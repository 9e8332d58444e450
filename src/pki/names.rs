//! Validation of the names vpnctl puts into certificates and file names: user names (client
//! CNs and file stems), the server's fully qualified name, and deployment names. Pure.

use crate::error::{Error, Result};

/// X.520 upper bound of a CommonName.
pub const MAX_CN: usize = 64;

/// Names that would collide with the PKI's own files or `pki show` targets.
const RESERVED_USERS: &[&str] = &["ca", "server"];

/// A client certificate's CN, also its file stem: letters, digits, `.`, `_`, `-`, `@`.
pub fn validate_user(name: &str) -> Result<()> {
    let hint = "user names use letters, digits, '.', '_', '-' and '@', 1 to 64 characters, \
                starting with a letter or digit (e.g. alice or alice@example.com)";
    if name.is_empty() {
        return Err(Error::invalid("user name is empty", hint));
    }
    if name.chars().count() > MAX_CN {
        return Err(Error::invalid(
            format!(
                "user name '{}…' is {} characters long; the limit is {MAX_CN}",
                prefix(name),
                name.chars().count()
            ),
            hint,
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-@".contains(*c)))
    {
        return Err(Error::invalid(
            format!("user name {name:?} contains {}", describe_char(bad)),
            hint,
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            format!("user name {name:?} must start with a letter or digit"),
            hint,
        ));
    }
    if RESERVED_USERS.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        return Err(Error::invalid(
            format!("'{name}' is reserved for the PKI's own certificates"),
            "choose another user name",
        ));
    }
    Ok(())
}

/// The server certificate's CN and SAN: a fully qualified domain name, as AWS Client VPN
/// requires ("Certificate ... does not have a domain" otherwise).
pub fn validate_server_name(name: &str) -> Result<()> {
    let hint = "use a fully qualified name of letters, digits and hyphens with at least two \
                labels, e.g. vpn.example.internal (64 characters at most)";
    if name.is_empty() {
        return Err(Error::invalid("server name is empty", hint));
    }
    if name.len() > MAX_CN {
        return Err(Error::invalid(
            format!(
                "server name '{}…' is {} characters; a CN holds at most {MAX_CN}",
                prefix(name),
                name.len()
            ),
            hint,
        ));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(Error::invalid(
            format!(
                "server name '{name}' is not fully qualified: AWS refuses a server certificate \
                    without a domain"
            ),
            hint,
        ));
    }
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err(Error::invalid(
                format!("server name '{name}' has an empty or over-long label"),
                hint,
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(Error::invalid(
                format!("server name '{name}' contains {}", describe_char(bad)),
                hint,
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(Error::invalid(
                format!("server name '{name}' has a label that starts or ends with '-'"),
                hint,
            ));
        }
    }
    if labels
        .last()
        .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(Error::invalid(
            format!("server name '{name}' ends in a numeric label"),
            hint,
        ));
    }
    Ok(())
}

/// A deployment name: tags, the default server name and file names derive from it.
pub fn validate_deployment(name: &str) -> Result<()> {
    let hint = "deployment names use lower-case letters, digits and '-', 1 to 32 characters, \
                starting with a letter or digit";
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("invalid deployment name {name:?}"),
            hint,
        ))
    }
}

/// The server name used when none is given: derived from the deployment so that two
/// deployments never share one.
pub fn default_server_name(deployment: &str) -> String {
    format!("server.{deployment}.vpnctl.internal")
}

fn prefix(s: &str) -> String {
    s.chars().take(16).collect()
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        '/' => "'/' (it would become a path)".to_string(),
        c if c.is_control() => format!("a control character (U+{:04X})", c as u32),
        c => format!("'{c}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users() {
        for good in [
            "alice",
            "bob.smith",
            "a_b-c",
            "alice@example.com",
            "0day",
            &"x".repeat(64),
        ] {
            assert!(validate_user(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a/b",
            "a b",
            "../x",
            ".hidden",
            "-rf",
            "ca",
            "SERVER",
            "é",
            "a\nb",
            "a:b",
            &"x".repeat(65),
        ] {
            assert!(
                matches!(validate_user(bad), Err(Error::Invalid { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn server_names() {
        for good in [
            "vpn.example.com",
            "server.default.vpnctl.internal",
            "a-b.c1",
        ] {
            assert!(validate_server_name(good).is_ok(), "{good}");
        }
        for bad in [
            "server",
            "",
            "-a.com",
            "a-.com",
            "a..com",
            "a_b.com",
            "1.2.3.4",
            "a b.com",
            &format!("{}.com", "a".repeat(61)),
        ] {
            assert!(validate_server_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_server_name(&default_server_name("lab")).is_ok());
    }

    #[test]
    fn deployments() {
        for good in ["default", "lab", "team-1"] {
            assert!(validate_deployment(good).is_ok());
        }
        for bad in ["", "Lab", "a_b", "-x", "x-", &"a".repeat(33)] {
            assert!(validate_deployment(bad).is_err(), "{bad:?}");
        }
    }
}
