//! The crate's error type: why the server could not start or stop cleanly.
//! (Errors answered to clients are [`crate::protocol::ErrorCode`]s.)

use std::net::SocketAddr;

/// Why the server could not start, or failed as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Binding the listener failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A non-loopback address without `[[auth.tokens]]`.
    #[error(
        "refusing to listen on {addr} without authentication: configure [[auth.tokens]] \
         or listen on a loopback address such as 127.0.0.1"
    )]
    InsecureListen {
        /// The address.
        addr: SocketAddr,
    },
    /// The server settings are unusable.
    #[error("invalid server configuration: {0}")]
    Config(String),
    /// A thread could not be started.
    #[error("starting thread {name}")]
    Thread {
        /// The thread's name.
        name: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The ingest thread is gone.
    #[error("the ingest thread stopped")]
    IngestGone,
}
