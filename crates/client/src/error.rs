//! The error type shared by the signing clients.

/// Transport failures only: every HTTP answer, whatever its status, is a response value
/// ([`crate::iak::IakResponse`], [`crate::isikuota::IsikuotaResponse`]).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("request timed out")]
    Timeout,
    #[error("transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// A failure of a transport other than reqwest (e.g. `loket_billers`' h2c channel). Its
    /// message names no URL and no request content.
    #[error("transport error: {0}")]
    Channel(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            ClientError::Timeout
        } else {
            // The URL may carry a receipt signature: keep it out of messages.
            ClientError::Transport(e.without_url())
        }
    }
}
