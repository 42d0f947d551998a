//! Idle HTTP/1.1 upstream connections, kept per thread: a connection is registered with the
//! runtime of the thread that opened it, so it is only ever reused there, and taking or giving
//! one back touches no lock and no memory another thread writes.
//!
//! Each list belongs to one pool (by its id) and holds connections oldest first. Those idle
//! longer than their pool's `pool_idle_timeout` are dropped whenever the list is used, and by
//! [`reap`], which each serving thread calls every second.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use super::io::Conn;

/// The idle connections of one pool on this thread.
#[derive(Debug)]
struct List {
    pool: u64,
    idle_timeout: Duration,
    conns: Vec<(Box<Conn>, Instant)>,
}

impl List {
    /// Drops the connections idle for `idle_timeout` or longer (the oldest come first).
    fn drop_expired(&mut self, now: Instant) {
        let timeout = self.idle_timeout;
        // Oldest first: when the oldest is fresh, so are the rest.
        let fresh = |since: &Instant| now.saturating_duration_since(*since) < timeout;
        if self.conns.first().is_none_or(|(_, since)| fresh(since)) {
            return;
        }
        let expired = self
            .conns
            .partition_point(|(_, since)| now.saturating_duration_since(*since) >= timeout);
        self.conns.drain(..expired);
    }
}

thread_local! {
    static IDLE: RefCell<Vec<List>> = const { RefCell::new(Vec::new()) };
}

/// The most recently used idle connection of pool `pool` on this thread that is still good
/// at `now`.
pub(super) fn checkout(pool: u64, now: Instant) -> Option<Box<Conn>> {
    IDLE.with(|lists| {
        let mut lists = lists.borrow_mut();
        let list = lists.iter_mut().find(|list| list.pool == pool)?;
        list.drop_expired(now);
        while let Some((conn, _)) = list.conns.pop() {
            if !conn.is_stale() {
                return Some(conn);
            }
        }
        None
    })
}

/// Gives `conn` back to pool `pool` on this thread, idle from `now`, unless that already holds
/// `max_idle`.
pub(super) fn release(
    pool: u64,
    mut conn: Box<Conn>,
    (max_idle, idle_timeout): (usize, Duration),
    now: Instant,
) {
    if max_idle == 0 {
        return;
    }
    conn.reused = true;
    IDLE.with(|lists| {
        let mut lists = lists.borrow_mut();
        let index = match lists.iter().position(|list| list.pool == pool) {
            Some(index) => index,
            None => {
                lists.push(List {
                    pool,
                    idle_timeout,
                    conns: Vec::new(),
                });
                lists.len().saturating_sub(1)
            }
        };
        let Some(list) = lists.get_mut(index) else {
            return;
        };
        list.drop_expired(now);
        if list.conns.len() < max_idle {
            list.conns.push((conn, now));
        }
    });
}

/// Drops this thread's connections idle past their pool's timeout, and the lists left empty
/// (those of pools a reload removed end here once their connections expire).
pub(crate) fn reap() {
    let now = Instant::now();
    IDLE.with(|lists| {
        let mut lists = lists.borrow_mut();
        for list in lists.iter_mut() {
            list.drop_expired(now);
        }
        lists.retain(|list| !list.conns.is_empty());
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::either::Either;

    use super::*;

    const DEADLINE: Duration = Duration::from_secs(5);

    /// A connection to a loopback peer that stays open and silent (kept by the caller).
    async fn conn() -> (Box<Conn>, TcpStream) {
        tokio::time::timeout(DEADLINE, async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
            let (peer, _) = accepted.expect("accept");
            (Conn::new(Either::Left(client.expect("connect"))), peer)
        })
        .await
        .expect("in time")
    }

    #[tokio::test]
    async fn a_connection_is_idle_from_the_instant_it_was_given_back() {
        let (pool, timeout) = (7, Duration::from_secs(10));
        let now = Instant::now();
        // Given back 20 s ago: idle for longer than the timeout by the clock, whatever the
        // clock said when `release` ran.
        let Some(back) = now.checked_sub(Duration::from_secs(20)) else {
            return; // a monotonic clock this close to its origin
        };
        let (first, _peer) = conn().await;
        release(pool, first, (4, timeout), back);
        let just_fresh = back + timeout - Duration::from_millis(1);
        assert!(
            checkout(pool, just_fresh).is_some(),
            "fresh until the timeout"
        );
        let (second, _peer) = conn().await;
        release(pool, second, (4, timeout), back);
        assert!(
            checkout(pool, now).is_none(),
            "expired at the checkout's instant"
        );
    }

    #[tokio::test]
    async fn a_pool_that_keeps_none_takes_nothing_back() {
        let (conn, _peer) = conn().await;
        let now = Instant::now();
        release(8, conn, (0, Duration::from_secs(10)), now);
        assert!(checkout(8, now).is_none());
    }
}
