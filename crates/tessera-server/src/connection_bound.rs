//! How many connections the server keeps open at once, and which one it
//! closes to make room: pure decisions, no sockets. [`crate::connections`]
//! acts on them.

use std::time::Instant;

/// File descriptors kept back from connections, for the store's pool, the
/// SQLite file and its journal, the listener, logs and the runtime: an
/// eighth of the limit, and never fewer than this.
const MIN_RESERVED_FILES: u64 = 32;

/// Above this, a larger bound buys nothing but memory.
const MAX_AUTOMATIC_BOUND: u64 = 100_000;

/// The bound on open connections, and why it is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionBound {
    pub max_connections: usize,
    /// The configured value, when the file limit forced a lower one.
    pub lowered_from: Option<usize>,
}

/// The room that `open_file_limit` (the soft `RLIMIT_NOFILE`, `None` where
/// there is none) leaves for connections, and the configured bound within it.
pub fn connection_bound(
    configured: Option<usize>,
    open_file_limit: Option<u64>,
) -> ConnectionBound {
    let room = open_file_limit.map_or(MAX_AUTOMATIC_BOUND, |limit| {
        let reserved = (limit / 8).max(MIN_RESERVED_FILES);
        limit.saturating_sub(reserved).clamp(1, MAX_AUTOMATIC_BOUND)
    });
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    match configured {
        Some(wanted) if wanted > room => ConnectionBound {
            max_connections: room,
            lowered_from: Some(wanted),
        },
        Some(wanted) => ConnectionBound {
            max_connections: wanted.max(1),
            lowered_from: None,
        },
        None => ConnectionBound {
            max_connections: room,
            lowered_from: None,
        },
    }
}

/// What the bound knows of one open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenConnection {
    pub id: u64,
    pub accepted: Instant,
    /// Requests being answered on it now.
    pub requests_in_progress: usize,
}

/// At the bound, the connection to close for a newcomer: the oldest one
/// with no request in progress (idle, or still sending its head, as a
/// slow-header client does). `None` when every connection is answering.
pub fn connection_to_close(open: &[OpenConnection]) -> Option<u64> {
    open.iter()
        .filter(|c| c.requests_in_progress == 0)
        .min_by_key(|c| c.accepted)
        .map(|c| c.id)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_bound_leaves_room_below_the_file_limit() {
        let bound = connection_bound(None, Some(1024));
        assert_eq!(bound.max_connections, 1024 - 128);
        assert_eq!(bound.lowered_from, None);
        // A small limit still keeps the minimum reserve.
        assert_eq!(connection_bound(None, Some(100)).max_connections, 68);
        // A limit smaller than the reserve still admits one connection.
        assert_eq!(connection_bound(None, Some(10)).max_connections, 1);
        // A huge limit is capped.
        assert_eq!(
            connection_bound(None, Some(1 << 40)).max_connections,
            MAX_AUTOMATIC_BOUND as usize
        );
        assert_eq!(
            connection_bound(None, None).max_connections,
            MAX_AUTOMATIC_BOUND as usize
        );
    }

    #[test]
    fn a_configured_bound_is_kept_unless_the_file_limit_is_lower() {
        assert_eq!(
            connection_bound(Some(50), Some(1024)),
            ConnectionBound {
                max_connections: 50,
                lowered_from: None
            }
        );
        assert_eq!(
            connection_bound(Some(5000), Some(1024)),
            ConnectionBound {
                max_connections: 896,
                lowered_from: Some(5000)
            }
        );
    }

    #[test]
    fn the_oldest_connection_without_a_request_is_closed_first() {
        let start = Instant::now();
        let at = |s| start + Duration::from_secs(s);
        let open = [
            OpenConnection {
                id: 1,
                accepted: at(0),
                requests_in_progress: 1,
            },
            OpenConnection {
                id: 2,
                accepted: at(5),
                requests_in_progress: 0,
            },
            OpenConnection {
                id: 3,
                accepted: at(2),
                requests_in_progress: 0,
            },
        ];
        assert_eq!(connection_to_close(&open), Some(3));
        assert_eq!(connection_to_close(&open[..1]), None);
        assert_eq!(connection_to_close(&[]), None);
    }
}
