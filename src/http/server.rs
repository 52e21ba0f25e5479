//! The accept loop: presignd's own, because `axum::serve` has no header read timeout, no
//! connection caps and no shutdown deadline. Each connection is served by hyper-util's
//! auto (HTTP/1.1 and h2c) builder with the peer address in the request extensions
//! (`ConnectInfo<SocketAddr>`, read by the rate limiter and `ClientInfo`).
//!
//! Limits (`[server]`, DESIGN §7):
//! - `header_read_timeout_ms`: hyper closes an HTTP/1 connection whose next request head
//!   has not arrived in time (a slow or idle keep-alive client); a connection that has sent
//!   no complete request head at all within it, in either protocol, is dropped here.
//! - `max_connections`: at the cap the loop stops accepting, so new connections wait in the
//!   kernel's backlog instead of being refused; idle and slow connections leave within the
//!   header timeout, so a well-behaved client gets its turn.
//! - `max_connections_per_ip`: one more from the same address is closed at once, so no
//!   single client can take the global cap. Trusted proxies are exempt.
//! - `shutdown_grace_ms`: on shutdown the listener closes, idle connections close, and
//!   in-flight requests finish; what is still open at the deadline is cut.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::config::ServerConfig;
use crate::telemetry;

/// How connections are accepted, held and let go (the `[server]` limits).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Time a connection has to deliver each request's headers.
    pub header_read_timeout: Duration,
    /// Open connections at once.
    pub max_connections: usize,
    /// Open connections per client address (IPv4 address, IPv6 /64).
    pub max_connections_per_ip: usize,
    /// Peers not counted per address (trusted proxies carry many clients).
    pub exempt_peers: Vec<IpNet>,
    /// How long in-flight requests may run after shutdown begins.
    pub shutdown_grace: Duration,
}

impl ConnectionLimits {
    pub fn from_config(server: &ServerConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms),
            max_connections: server.max_connections,
            max_connections_per_ip: server.max_connections_per_ip,
            exempt_peers: server.trust_forwarded_for.clone(),
            shutdown_grace: Duration::from_millis(server.shutdown_grace_ms),
        }
    }
}

/// The most an HTTP/1 connection's buffers grow to (hyper's default is about 400 KB). A
/// 1000-item batch body (130 KB) grew each keep-alive connection's read buffer, which it
/// kept between requests: 64 connections of such batches peaked at 96–100 MiB, at 55 MiB
/// with this cap, at the same rate. It also bounds a request head to 64 KiB.
const CONNECTION_BUFFER_MAX: usize = 64 * 1024;

/// Serves `router` on `listener` within `limits` until `shutdown` completes; then stops
/// accepting, closes idle connections, lets in-flight requests finish for at most
/// `limits.shutdown_grace`, and cuts the rest. Returns once every connection is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(CONNECTION_BUFFER_MAX);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip = Arc::new(PerIp {
        limit: limits.max_connections_per_ip,
        exempt: limits.exempt_peers.clone(),
        open: Mutex::default(),
    });
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    if !is_connection_error(&error) {
                        // Out of file descriptors, most likely: let some close first.
                        tracing::error!(error = %error, "accept failed; retrying in 1 s");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                            () = &mut shutdown => break,
                        }
                    }
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(ip_slot) = per_ip.admit(peer.ip()) else {
            metrics::counter!(telemetry::CONNECTIONS_REFUSED, "reason" => "per_ip").increment(1);
            tracing::debug!(%peer, "connection refused: max_connections_per_ip reached");
            drop(stream);
            continue;
        };
        let held = Held {
            _slot: slot,
            _ip_slot: ip_slot,
        };
        connections.spawn(serve_connection(
            builder.clone(),
            stream,
            peer,
            router.clone(),
            graceful.watcher(),
            limits.header_read_timeout,
            held,
        ));
        // Reap finished connections, so the set holds only open ones.
        while connections.try_join_next().is_some() {}
    }

    // Closing the listener makes the kernel refuse new connections at once.
    drop(listener);
    let open = connections.len();
    tracing::info!(
        open,
        "shutting down: closing idle connections, finishing requests"
    );
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            grace_ms = limits.shutdown_grace.as_millis() as u64,
            "shutdown grace period over: cutting the connections still open"
        );
        connections.abort_all();
    }
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// What an open connection holds until it closes.
struct Held {
    _slot: OwnedSemaphorePermit,
    _ip_slot: IpSlot,
}

async fn serve_connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    watcher: Watcher,
    header_read_timeout: Duration,
    _held: Held,
) {
    metrics::gauge!(telemetry::OPEN_CONNECTIONS).increment(1.0);
    let _open = scopeguard(|| metrics::gauge!(telemetry::OPEN_CONNECTIONS).decrement(1.0));
    // Small answers, sent at once.
    let _ = stream.set_nodelay(true);
    let first_request = Arc::new(Notify::new());
    let service = {
        let first_request = first_request.clone();
        router.map_request(move |mut request: axum::http::Request<Incoming>| {
            first_request.notify_one();
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        })
    };
    let connection =
        builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    let connection = watcher.watch(connection);
    tokio::pin!(connection);
    // hyper's header timeout covers HTTP/1 request heads once the protocol is known; a
    // client that never gets that far (silent, or a partial h2 preface) is dropped here.
    let ended = tokio::select! {
        result = connection.as_mut() => Some(result),
        () = first_request.notified() => None,
        () = tokio::time::sleep(header_read_timeout) => {
            tracing::debug!(%peer, "connection closed: no request within header_read_timeout_ms");
            return;
        }
    };
    let result = match ended {
        Some(result) => result,
        None => connection.await,
    };
    if let Err(error) = result {
        // Resets, timeouts and protocol errors of one client: not the service's fault.
        tracing::debug!(%peer, error = %error, "connection ended with an error");
    }
}

/// Runs `f` when dropped (also when the task is aborted).
fn scopeguard(f: impl FnOnce()) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

/// Errors of one incoming connection (it went away before being accepted), as opposed to
/// the listener's own.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Open connections per client address.
struct PerIp {
    limit: usize,
    exempt: Vec<IpNet>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; gives its place back when dropped.
struct IpSlot {
    table: Arc<PerIp>,
    key: Option<IpAddr>,
}

impl PerIp {
    /// A slot for a connection from `ip`, or `None` when that address is at the limit.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let ip = ip.to_canonical();
        if self.exempt.iter().any(|net| net.contains(&ip)) {
            return Some(IpSlot {
                table: self.clone(),
                key: None,
            });
        }
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            table: self.clone(),
            key: Some(key),
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&key);
            }
        }
    }
}

/// IPv4 clients count by address; IPv6 clients by /64, which one host usually holds whole.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !((1u128 << 64) - 1))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_counted_until_their_connections_close() {
        let table = Arc::new(PerIp {
            limit: 2,
            exempt: vec!["10.0.0.0/8".parse().unwrap()],
            open: Mutex::default(),
        });
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let first = table.admit(ip("192.0.2.1")).unwrap();
        let _second = table.admit(ip("192.0.2.1")).unwrap();
        assert!(table.admit(ip("192.0.2.1")).is_none());
        // The same client as an IPv4-mapped IPv6 address is the same client.
        assert!(table.admit(ip("::ffff:192.0.2.1")).is_none());
        assert!(table.admit(ip("192.0.2.2")).is_some());
        drop(first);
        assert!(table.admit(ip("192.0.2.1")).is_some());
        // One /64 is one client; another /64 is another.
        let _a = table.admit(ip("2001:db8::1")).unwrap();
        let _b = table.admit(ip("2001:db8::2")).unwrap();
        assert!(table.admit(ip("2001:db8::ffff:3")).is_none());
        assert!(table.admit(ip("2001:db8:0:1::1")).is_some());
        // A trusted proxy carries many clients: never counted.
        let proxies: Vec<_> = (0..10).map(|_| table.admit(ip("10.1.2.3"))).collect();
        assert!(proxies.iter().all(Option::is_some));
        drop(proxies);
        assert!(!table.open.lock().unwrap().contains_key(&ip("10.1.2.3")));
    }
}
