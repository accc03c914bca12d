//! kforge's one HTTP agent.
//!
//! Every HTTP request kforge makes (source downloads in kforge-source, the
//! release list and signatures in kforge-releases) goes through
//! [`agent`]: one [`ureq::Agent`] per process, so connections to the same
//! host are reused, with one set of timeouts. Error statuses (404, 416...)
//! are answered as responses, for the caller to explain.
//!
//! The internal component of kforge; its API is unstable.

use std::sync::LazyLock;
use std::time::Duration;

/// Connecting: 30 s.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// From the request sent to the response's status line: 60 s.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Each read from the connection: 60 s (a download may take any time, as
/// long as it moves).
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

static AGENT: LazyLock<ureq::Agent> = LazyLock::new(|| {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .build()
        .into()
});

/// The process's HTTP agent (cheap to clone: clones share the pool).
pub fn agent() -> &'static ureq::Agent {
    &AGENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_agent_with_kforge_s_timeouts() {
        assert!(std::ptr::eq(agent(), agent()));
        let c = agent().config();
        assert!(!c.http_status_as_error());
        let t = c.timeouts();
        assert_eq!(t.connect, Some(CONNECT_TIMEOUT));
        assert_eq!(t.recv_response, Some(RESPONSE_TIMEOUT));
        assert_eq!(c.timeout_per_read(), Some(READ_TIMEOUT));
    }
}
