//! The error type shared by the signing clients.

/// Transport failures only: every HTTP answer, whatever its status, is a response value
/// ([`crate::iak::IakResponse`], [`crate::isikuota::IsikuotaResponse`]).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("request timed out")]
    Timeout,
    #[error("transport error: {0}")]
    Transport(#[source] reqwest::Error),
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
