//! `.ovpn` profiles: a pure `render(&ProfileContext)` over a tera template. The default template
//! is compiled into the binary; a user's templates directory (`--templates` / `VPNCTL_TEMPLATES`)
//! holding `client.ovpn.tera` overrides it.

use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;

pub const TEMPLATE_NAME: &str = "client.ovpn.tera";
pub const DEFAULT_TEMPLATE: &str = include_str!("../templates/client.ovpn.tera");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Udp,
    Tcp,
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        })
    }
}

/// Everything a profile template sees.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileContext {
    pub user: String,
    pub proto: Proto,
    /// The host as written into `remote`: for an AWS endpoint name, with a random label.
    pub remote: String,
    pub port: u16,
    pub server_name: String,
    pub ca: String,
    pub cert: String,
    pub key: String,
    /// `saml` or `directory` when users sign in that way too.
    pub sign_in: Option<String>,
}

/// A template source and where it came from (for error messages).
#[derive(Debug, Clone)]
pub struct Template {
    pub source: String,
    pub origin: String,
}

impl Template {
    pub fn builtin() -> Template {
        Template {
            source: DEFAULT_TEMPLATE.to_string(),
            origin: "the built-in client.ovpn.tera".to_string(),
        }
    }

    /// The user's template if `dir` has one, else the built-in one.
    pub fn load(dir: Option<&Path>) -> Result<Template> {
        let Some(dir) = dir else {
            return Ok(Template::builtin());
        };
        if !dir.is_dir() {
            return Err(Error::not_found(
                format!("templates directory {} does not exist", dir.display()),
                "fix --templates / VPNCTL_TEMPLATES, or unset it to use the built-in template",
            ));
        }
        let path = dir.join(TEMPLATE_NAME);
        if !path.exists() {
            return Ok(Template::builtin());
        }
        let source = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        Ok(Template {
            source,
            origin: path.display().to_string(),
        })
    }

    /// Parse the template without rendering it, so a broken template fails before any work.
    pub fn check(&self) -> Result<()> {
        self.engine().map(|_| ())
    }

    fn engine(&self) -> Result<tera::Tera> {
        let mut tera = tera::Tera::default();
        // PEM must never be escaped, whatever the template's name.
        tera.autoescape_on(Vec::<&str>::new());
        tera.add_raw_template(TEMPLATE_NAME, &self.source)
            .map_err(|e| self.error(e))?;
        Ok(tera)
    }

    fn error(&self, e: tera::Error) -> Error {
        let detail = e
            .to_string()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Error::invalid(
            format!("template {} cannot be used: {detail}", self.origin),
            "fix the template (tera syntax; variables: user, proto, remote, port, server_name, \
                ca, cert, key) or remove it to use the built-in one",
        )
    }

    pub fn render(&self, ctx: &ProfileContext) -> Result<String> {
        let engine = self.engine()?;
        let context = tera::Context::from_serialize(ctx).map_err(|e| self.error(e))?;
        engine
            .render(TEMPLATE_NAME, &context)
            .map_err(|e| self.error(e))
    }
}

/// Validate a `--remote` host: a DNS name or an IP address, nothing that could smuggle another
/// directive into the profile.
pub fn validate_remote(host: &str) -> Result<()> {
    // AWS shows an endpoint's name as `*.cvpn-endpoint-….amazonaws.com`: there the `*` stands
    // for the random label vpnctl writes. Any other wildcard would silently become the bare
    // domain, which is not the host the user named.
    if let Some(bare) = host.strip_prefix("*.")
        && !is_aws_endpoint(bare)
    {
        return Err(Error::invalid(
            format!(
                "--remote {host:?} is a wildcard, and only an AWS Client VPN endpoint name may \
                    be one"
            ),
            format!(
                "give the host itself, e.g. --remote vpn.{bare} (for an AWS endpoint vpnctl \
                    fills in the random label \
                 that `*.` stands for)"
            ),
        ));
    }
    let host = host.strip_prefix("*.").unwrap_or(host);
    let ok = if host.contains(':') {
        // Only an IPv6 address has colons; "host:port" is a mistake (--port takes the port).
        host.parse::<std::net::Ipv6Addr>().is_ok()
    } else if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
        host.parse::<std::net::Ipv4Addr>().is_ok()
    } else {
        host.len() <= 253
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("--remote {host:?} is not a host name or IP address"),
            "give the endpoint's DNS name or an IP address alone (the port goes in --port), e.g. \
                --remote vpn.example.com",
        ))
    }
}

/// Whether `host` is an AWS Client VPN endpoint name
/// (`[*.]cvpn-endpoint-….clientvpn.….amazonaws.com`).
pub fn is_aws_endpoint(host: &str) -> bool {
    let h = host.strip_prefix("*.").unwrap_or(host).to_ascii_lowercase();
    h.contains(".clientvpn.") && (h.ends_with(".amazonaws.com") || h.ends_with(".amazonaws.com.cn"))
        || h.starts_with("cvpn-endpoint-")
}

/// The host to write into `remote`. AWS's own export says `remote cvpn-endpoint-… 443` plus
/// `remote-random-hostname`; some clients (the AWS VPN Client among them) mishandle that
/// directive, so vpnctl writes the random label itself. `label` is 12 hex digits.
pub fn remote_host(host: &str, label: &str) -> String {
    let bare = host.strip_prefix("*.").unwrap_or(host);
    if is_aws_endpoint(bare) {
        format!("{label}.{bare}")
    } else {
        bare.to_string()
    }
}

/// `remote_host` undone: an AWS endpoint name without the random label vpnctl put in front
/// (as `*.` again, which `--remote` accepts); any other host as it is.
pub fn unlabelled(host: &str) -> String {
    match host.split_once('.') {
        Some((label, rest))
            if label.len() == 12
                && label.chars().all(|c| c.is_ascii_hexdigit())
                && is_aws_endpoint(rest) =>
        {
            format!("*.{rest}")
        }
        _ => host.to_string(),
    }
}

/// 12 random hex digits, as OpenVPN's remote-random-hostname makes.
pub fn random_label() -> Result<String> {
    let mut b = [0u8; 6];
    crate::fsx::random(&mut b)?;
    Ok(crate::fsx::hex(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(remote: &str) -> ProfileContext {
        ProfileContext {
            user: "alice".into(),
            proto: Proto::Udp,
            remote: remote.into(),
            port: 443,
            server_name: "server.lab.vpnctl.internal".into(),
            ca: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n".into(),
            cert: "-----BEGIN CERTIFICATE-----\nC<&>\n-----END CERTIFICATE-----\n".into(),
            // A stand-in, labelled so that no scanner takes it for key material.
            key: "-----BEGIN TEST KEY-----\nK\n-----END TEST KEY-----\n".into(),
            sign_in: None,
        }
    }

    #[test]
    fn builtin_template_has_the_aws_directives_and_no_escaping() {
        let out = Template::builtin().render(&ctx("abc.example.com")).unwrap();
        for d in [
            "client",
            "dev tun",
            "proto udp",
            "remote abc.example.com 443",
            "resolv-retry infinite",
            "nobind",
            "remote-cert-tls server",
            "verify-x509-name server.lab.vpnctl.internal name",
            "cipher AES-256-GCM",
            "reneg-sec 0",
            "verb 3",
            "<ca>",
            "</ca>",
            "<cert>",
            "</cert>",
            "<key>",
            "</key>",
        ] {
            assert!(out.lines().any(|l| l == d), "missing {d:?} in\n{out}");
        }
        assert!(out.contains("C<&>"), "PEM must not be escaped");
        assert!(!out.contains("remote-random-hostname"));
        assert!(out.contains("-----END TEST KEY-----\n</key>"));
    }

    #[test]
    fn aws_names_get_a_random_label() {
        let h = "*.cvpn-endpoint-0123456789abcdef0.prod.clientvpn.us-east-1.amazonaws.com";
        let r = remote_host(h, "a1b2c3d4e5f6");
        assert_eq!(
            r,
            "a1b2c3d4e5f6.cvpn-endpoint-0123456789abcdef0.prod.clientvpn.us-east-1.amazonaws.com"
        );
        assert_eq!(remote_host("127.0.0.1", "a1b2c3d4e5f6"), "127.0.0.1");
        let aws = "cvpn-endpoint-0a1.prod.clientvpn.us-east-1.amazonaws.com";
        assert_eq!(
            unlabelled(&remote_host(aws, "a1b2c3d4e5f6")),
            format!("*.{aws}")
        );
        assert_eq!(
            unlabelled("a1b2c3d4e5f6.example.com"),
            "a1b2c3d4e5f6.example.com"
        );
        assert_eq!(random_label().unwrap().len(), 12);
    }

    #[test]
    fn remotes_that_could_inject_directives_are_refused() {
        for bad in [
            "",
            "a b",
            "x\nscript-security 2",
            "-x",
            "a;b",
            "a/b",
            "vpn.example.com:443",
            "999.1.1.1",
            "a..b",
            "1.2.3",
            "*.example.com",
            "*.10.0.0.1",
        ] {
            assert!(validate_remote(bad).is_err(), "{bad:?}");
        }
        for good in [
            "127.0.0.1",
            "vpn.example.com",
            "::1",
            "*.cvpn-endpoint-0a.prod.clientvpn.us-east-1.amazonaws.com",
        ] {
            assert!(validate_remote(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn template_errors_are_invalid_input() {
        let t = Template {
            source: "{% if %}".into(),
            origin: "t".into(),
        };
        assert!(matches!(t.check(), Err(Error::Invalid { .. })));
        let t = Template {
            source: "{{ nope }}".into(),
            origin: "t".into(),
        };
        assert!(matches!(t.render(&ctx("h")), Err(Error::Invalid { .. })));
    }
}
