//! Classifying a failed attempt: whether to fail over, and what to cool down.

use http::StatusCode;

/// What a failed attempt says about the request, the upstream key and the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The upstream blames the request (400, 413, 422, …): no retry; the client gets it as is.
    Request(StatusCode),
    /// 429 on this key.
    RateLimited,
    /// 401, 402, 403: this key is refused (revoked, out of credit, not allowed).
    Credential(StatusCode),
    /// 5xx, 404, 408: the channel is broken or does not serve the model.
    Upstream(StatusCode),
    /// No answer within the model's timeout.
    Timeout,
    /// Could not connect, or the connection broke.
    Transport,
    /// A 2xx whose content is unusable: malformed, an error object, or an `error_triggers` hit.
    BadResponse,
}

/// What a failure puts on the bench.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Nothing: the request itself is at fault.
    Request,
    /// The upstream key used.
    Key,
    /// The provider + model pair.
    Channel,
}

impl Failure {
    /// Classifies a non-2xx upstream status.
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            429 => Self::RateLimited,
            401..=403 => Self::Credential(status),
            404 | 408 | 409 | 425 => Self::Upstream(status),
            400..=499 => Self::Request(status),
            _ => Self::Upstream(status),
        }
    }

    pub fn scope(self) -> Scope {
        match self {
            Self::Request(_) => Scope::Request,
            Self::RateLimited | Self::Credential(_) => Scope::Key,
            Self::Upstream(_) | Self::Timeout | Self::Transport | Self::BadResponse => Scope::Channel,
        }
    }

    /// Whether another channel or key may be tried.
    pub fn is_retryable(self) -> bool {
        self.scope() != Scope::Request
    }

    /// The upstream status, when there was one.
    pub fn status(self) -> Option<StatusCode> {
        match self {
            Self::Request(s) | Self::Credential(s) | Self::Upstream(s) => Some(s),
            Self::RateLimited => Some(StatusCode::TOO_MANY_REQUESTS),
            Self::Timeout | Self::Transport | Self::BadResponse => None,
        }
    }
}

/// The status to answer with when every attempt failed.
///
/// One shared upstream answer (every attempt a 429, or every attempt the same 5xx) is passed
/// on; all timeouts give 504; no attempt possible (all keys limited) gives 429; else 502.
pub fn final_status(failures: &[Failure]) -> StatusCode {
    if failures.is_empty() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    if failures.iter().all(|f| *f == Failure::RateLimited) {
        return StatusCode::TOO_MANY_REQUESTS;
    }
    if failures.iter().all(|f| *f == Failure::Timeout) {
        return StatusCode::GATEWAY_TIMEOUT;
    }
    if let Failure::Upstream(s) = failures[0] {
        if s.is_server_error()
            && failures.iter().all(|f| *f == Failure::Upstream(s))
            && s != StatusCode::INTERNAL_SERVER_ERROR
        {
            return s;
        }
    }
    StatusCode::BAD_GATEWAY
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(Failure::from_status(s(400)).scope(), Scope::Request);
        assert_eq!(Failure::from_status(s(413)).scope(), Scope::Request);
        assert_eq!(Failure::from_status(s(422)).scope(), Scope::Request);
        assert_eq!(Failure::from_status(s(429)).scope(), Scope::Key);
        assert_eq!(Failure::from_status(s(401)).scope(), Scope::Key);
        assert_eq!(Failure::from_status(s(403)).scope(), Scope::Key);
        assert_eq!(Failure::from_status(s(404)).scope(), Scope::Channel);
        assert_eq!(Failure::from_status(s(500)).scope(), Scope::Channel);
        assert_eq!(Failure::from_status(s(503)).scope(), Scope::Channel);
        assert!(!Failure::from_status(s(400)).is_retryable());
        assert!(Failure::Timeout.is_retryable());
    }

    #[test]
    fn the_final_status_is_the_most_meaningful() {
        assert_eq!(final_status(&[Failure::RateLimited, Failure::RateLimited]), 429);
        assert_eq!(final_status(&[Failure::Timeout]), 504);
        assert_eq!(final_status(&[Failure::Upstream(s(503)), Failure::Upstream(s(503))]), 503);
        assert_eq!(final_status(&[Failure::Upstream(s(500))]), 502);
        assert_eq!(final_status(&[Failure::Upstream(s(503)), Failure::Timeout]), 502);
        assert_eq!(final_status(&[Failure::Credential(s(401))]), 502);
        assert_eq!(final_status(&[]), 503);
    }
}
