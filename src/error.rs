//! The one error type of the library, and its exit codes.

use crate::diag::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec (or a profile) is invalid: exit 1.
    #[error("invalid spec")]
    Invalid(Invalid),
    /// The input is fine but the result differs or is broken (drift, verify): exit 1.
    #[error("{0}")]
    Failed(String),
    /// Bad command line: exit 2.
    #[error("{0}")]
    Usage(String),
    /// Reading or writing failed: exit 2.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// A bug or an unexpected state: exit 2.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    #[must_use]
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) | Error::Failed(_) => 1,
            Error::Usage(_) | Error::Io(..) | Error::Internal(_) => 2,
        }
    }
}
