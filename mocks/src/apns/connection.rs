//! What an APNs connection remembers between pushes: its provider-token
//! state ([`ConnectionAuth`]), the stream limit it announces, the host it
//! was reached by (which decides the environment), and how often it sent a
//! never-repeating header value.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use http::header::HeaderValue;

use super::auth::ConnectionAuth;
use crate::config::ApnsEnvironment;
use crate::server::StreamLimit;

/// One in this many never-repeating header values is entered into the
/// HPACK table, which keeps its name there (see [`Connection::one_off`]).
pub(super) const ONE_OFF_INDEXED_EVERY: u32 = 1024;

/// MAX_CONCURRENT_STREAMS before the first accepted push and after every
/// rejected one.
const RESTRICTED_STREAMS: u32 = 1;

/// The APNs state of one client connection.
#[derive(Default)]
pub(crate) struct Connection {
    pub(super) auth: ConnectionAuth,
    /// The MAX_CONCURRENT_STREAMS the connection announces; `None` when it
    /// is not an APNs connection of its own (a request routed by host on a
    /// shared listener).
    stream_limit: Option<Arc<StreamLimit>>,
    /// The environment the host the client named stands for
    /// (`api.sandbox.push.apple.com` or `api.push.apple.com`), when the
    /// connection came through the host router; else the configured one.
    environment: Option<ApnsEnvironment>,
    /// Header values that never repeat sent so far (see
    /// [`Connection::one_off`]).
    one_offs: AtomicU32,
}

impl Connection {
    pub(crate) fn new(
        stream_limit: Option<Arc<StreamLimit>>,
        environment: Option<ApnsEnvironment>,
    ) -> Connection {
        Connection {
            stream_limit,
            environment,
            ..Connection::default()
        }
    }

    /// The environment pushes on this connection answer as.
    pub(super) fn environment(&self, configured: ApnsEnvironment) -> ApnsEnvironment {
        self.environment.unwrap_or(configured)
    }

    /// Prepares a response header value that never repeats (a fresh
    /// `apns-id`) for HTTP/2's header compression. Entering each such value
    /// into the HPACK dynamic table, as h2 does by default, costs both ends
    /// an insert and an eviction per response and pushes out entries that
    /// do repeat. So the value goes as a literal on the indexed name, not
    /// entered (marked sensitive: h2's only way to say so), except one in
    /// [`ONE_OFF_INDEXED_EVERY`], which enters name and value and so keeps
    /// the name in the table however long the connection lives.
    pub(super) fn one_off(&self, mut value: HeaderValue) -> HeaderValue {
        let n = self.one_offs.fetch_add(1, Ordering::Relaxed);
        value.set_sensitive(!n.is_multiple_of(ONE_OFF_INDEXED_EVERY));
        value
    }

    /// APNs's stream limits: it announces MAX_CONCURRENT_STREAMS=1 until a
    /// request with a valid provider token arrives, drops back to 1 after a
    /// rejected push and restores the full limit after the next accepted
    /// one. The transport sends the SETTINGS frame when the value changes.
    pub(super) fn limit_streams(&self, accepted: bool) {
        if let Some(limit) = &self.stream_limit {
            limit.set(if accepted {
                limit.max()
            } else {
                RESTRICTED_STREAMS
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_off_values_enter_the_hpack_table_once_in_a_while() {
        let conn = Connection::default();
        let sensitive: Vec<bool> = (0..=ONE_OFF_INDEXED_EVERY)
            .map(|_| conn.one_off(HeaderValue::from_static("x")).is_sensitive())
            .collect();
        // The first keeps the name in the table; the rest are literals on it.
        assert!(!sensitive[0]);
        assert!(sensitive[1..sensitive.len() - 1].iter().all(|&s| s));
        assert!(!sensitive[sensitive.len() - 1]);
    }
}
