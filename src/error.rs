//! vpnctl's one error type. Typed inside, rendered once (by `crate::run`): `error: <what>`, the
//! cause chain, and a `hint:` that says what to do. Every variant maps to an exit code so scripts
//! can tell bad input from a cloud failure.

use std::path::Path;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user asked for something malformed (a name, a CIDR, a flag value). Nothing was done.
    #[error("{message}")]
    Invalid { message: String, hint: String },
    /// Doing it would overwrite or duplicate something that exists. Nothing was done.
    #[error("{message}")]
    Conflict { message: String, hint: String },
    /// Something the command needs does not exist (a user, the PKI, a subnet).
    #[error("{message}")]
    NotFound { message: String, hint: String },
    /// Files on disk are not what vpnctl wrote (truncated PEM, key/cert mismatch, bad index).
    #[error("{message}")]
    Corrupt { message: String, hint: String },
    /// A file-system operation failed.
    #[error("{context}: {cause}")]
    Io {
        context: String,
        cause: std::io::Error,
        hint: String,
    },
    /// A call to AWS (or the emulator) failed; `cause` is the call AWS answered, when it
    /// answered (service, operation, code, HTTP status, request id), printed as `caused by:`.
    #[error("{message}")]
    Cloud {
        message: String,
        hint: String,
        #[source]
        cause: Option<Box<crate::aws::cloud::Call>>,
    },
    /// A wait ran out of time; the message names the resource and its last state.
    #[error("{message}")]
    Timeout { message: String, hint: String },
    /// The command finished but left the world in a state the user must act on (e.g. teardown
    /// found billable resources that remain). The report was already printed.
    #[error("{message}")]
    Incomplete { message: String, hint: String },
    /// The user answered no to a confirmation. Nothing was changed.
    #[error("{message}")]
    Declined { message: String, hint: String },
}

impl Error {
    pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Invalid {
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn conflict(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Conflict {
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn not_found(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::NotFound {
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn corrupt(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Corrupt {
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn cloud(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Cloud {
            message: message.into(),
            hint: hint.into(),
            cause: None,
        }
    }
    pub fn timeout(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Timeout {
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn incomplete(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Incomplete {
            message: message.into(),
            hint: hint.into(),
        }
    }
    pub fn declined(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Declined {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// An I/O error on `path`, with a hint derived from the error kind.
    pub fn io(action: &str, path: &Path, source: std::io::Error) -> Self {
        let hint = match source.kind() {
            std::io::ErrorKind::PermissionDenied => {
                "check the permissions of that path or choose another one".to_string()
            }
            std::io::ErrorKind::NotFound => "check that the path exists".to_string(),
            std::io::ErrorKind::AlreadyExists => {
                "remove it first or pass --force to replace it".to_string()
            }
            _ => "check the path and the file system (space, permissions)".to_string(),
        };
        Error::Io {
            context: format!("cannot {action} {}", path.display()),
            cause: source,
            hint,
        }
    }

    /// The same error (and exit code) with `context` before its message.
    pub fn prefixed(mut self, context: &str) -> Error {
        let message = match &mut self {
            Error::Invalid { message, .. }
            | Error::Conflict { message, .. }
            | Error::NotFound { message, .. }
            | Error::Corrupt { message, .. }
            | Error::Cloud { message, .. }
            | Error::Timeout { message, .. }
            | Error::Incomplete { message, .. }
            | Error::Declined { message, .. } => message,
            Error::Io { context, .. } => context,
        };
        *message = format!("{context}: {message}");
        self
    }

    pub fn hint(&self) -> &str {
        match self {
            Error::Invalid { hint, .. }
            | Error::Conflict { hint, .. }
            | Error::NotFound { hint, .. }
            | Error::Corrupt { hint, .. }
            | Error::Io { hint, .. }
            | Error::Cloud { hint, .. }
            | Error::Timeout { hint, .. }
            | Error::Incomplete { hint, .. }
            | Error::Declined { hint, .. } => hint,
        }
    }

    /// Exit codes: 2 bad input (also clap's), 3 conflict, 4 not found, 5 corrupt local state,
    /// 6 cloud failure, 7 timeout, 8 finished with something left to act on, 9 the user
    /// answered no, 1 I/O.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid { .. } => 2,
            Error::Conflict { .. } => 3,
            Error::NotFound { .. } => 4,
            Error::Corrupt { .. } => 5,
            Error::Cloud { .. } => 6,
            Error::Timeout { .. } => 7,
            Error::Incomplete { .. } => 8,
            Error::Declined { .. } => 9,
            Error::Io { .. } => 1,
        }
    }
}
