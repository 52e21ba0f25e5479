//! A fixed-rate HTTP/1.1 load generator, for latency at a given request rate: what wrk
//! cannot do (wrk2's `-R` is not packaged in Debian).
//!
//! Open loop, as wrk2: each of `--connections` keep-alive connections owns an equal share
//! of the schedule (request `k` of connection `c` is due at `start + (k·C + c) / rate`),
//! and a request's latency runs from the time it was *due*, not from when it was sent.
//! A stall therefore counts against every request it delays (no coordinated omission).
//!
//! Requests come from the same file as `bench/presign.lua`: one per line,
//! `METHOD<TAB>PATH<TAB>TOKEN<TAB>BODY`, with `-` for no token or no body; connections
//! cycle through them. Prints one JSON object on stdout.
//!
//! ```sh
//! cargo build --release --example rate
//! target/release/examples/rate --addr 127.0.0.1:8080 --requests requests.tsv \
//!     --rate 3000 --duration 10 --connections 64
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

struct Args {
    addr: SocketAddr,
    requests: String,
    rate: f64,
    duration: Duration,
    connections: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut addr = None;
    let mut requests = None;
    let mut rate = None;
    let mut duration = Duration::from_secs(10);
    let mut connections = 64;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => addr = Some(value.parse().map_err(|e| bad(&e))?),
            "--requests" => requests = Some(value),
            "--rate" => rate = Some(value.parse::<f64>().map_err(|e| bad(&e))?),
            "--duration" => duration = Duration::from_secs_f64(value.parse().map_err(|e| bad(&e))?),
            "--connections" => connections = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(Args {
        addr: addr.ok_or("--addr is required")?,
        requests: requests.ok_or("--requests is required")?,
        rate: rate.filter(|r| *r > 0.0).ok_or("--rate > 0 is required")?,
        duration,
        connections: connections.max(1),
    })
}

/// The raw bytes of every request in the file.
fn load_requests(path: &str, addr: SocketAddr) -> Result<Vec<Vec<u8>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut requests = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.splitn(4, '\t').collect();
        let [method, path, token, body] = fields[..] else {
            return Err(format!("{path}: not METHOD\\tPATH\\tTOKEN\\tBODY: {line}"));
        };
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
        if token != "-" {
            raw.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if body != "-" {
            raw.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        } else {
            raw.push_str("\r\n");
        }
        requests.push(raw.into_bytes());
    }
    if requests.is_empty() {
        return Err(format!("{path}: no requests"));
    }
    Ok(requests)
}

#[derive(Default)]
struct Tally {
    /// Latency of every answered request, from its due time, in microseconds.
    latencies_us: Vec<u64>,
    non_2xx: u64,
    socket_errors: u64,
}

/// Reads one response; returns its status. Handles Content-Length and chunked bodies.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    buf.clear();
    let head_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n") {
            break at + 4;
        }
        read_more(stream, buf).await?;
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| invalid("head not UTF-8"))?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("no status"))?;
    let mut length = None;
    let mut chunked = false;
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().map_err(|_| invalid("length"))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
    if chunked {
        while find(&buf[head_end..], b"0\r\n\r\n").is_none() {
            read_more(stream, buf).await?;
        }
    } else {
        let want = head_end + length.unwrap_or(0);
        while buf.len() < want {
            read_more(stream, buf).await?;
        }
    }
    Ok(status)
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn connection(
    index: usize,
    args: Arc<Args>,
    requests: Arc<Vec<Vec<u8>>>,
    start: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let period = Duration::from_secs_f64(args.connections as f64 / args.rate);
    let mut due = start + Duration::from_secs_f64(index as f64 / args.rate);
    let end = start + args.duration;
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut next = index;
    while due < end {
        tokio::time::sleep_until(due).await;
        if stream.is_none() {
            match TcpStream::connect(args.addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    stream = Some(s);
                }
                Err(_) => {
                    tally.socket_errors += 1;
                    due += period;
                    continue;
                }
            }
        }
        let Some(s) = stream.as_mut() else {
            continue;
        };
        let request = &requests[next % requests.len()];
        next += args.connections;
        let answered = match s.write_all(request).await {
            Ok(()) => read_response(s, &mut buf).await,
            Err(error) => Err(error),
        };
        match answered {
            Ok(status) => {
                tally
                    .latencies_us
                    .push(due.elapsed().as_micros().try_into().unwrap_or(u64::MAX));
                if !(200..300).contains(&status) {
                    tally.non_2xx += 1;
                }
            }
            Err(_) => {
                tally.socket_errors += 1;
                stream = None;
            }
        }
        due += period;
    }
    tally
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn main() {
    let args = match parse_args() {
        Ok(args) => Arc::new(args),
        Err(error) => {
            eprintln!("rate: {error}");
            std::process::exit(2);
        }
    };
    let requests = match load_requests(&args.requests, args.addr) {
        Ok(requests) => Arc::new(requests),
        Err(error) => {
            eprintln!("rate: {error}");
            std::process::exit(2);
        }
    };
    // One thread: the generator should take as little of the machine as it can.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (tally, elapsed) = runtime.block_on(async {
        let start = Instant::now() + Duration::from_millis(50);
        let tasks: Vec<_> = (0..args.connections)
            .map(|c| tokio::spawn(connection(c, args.clone(), requests.clone(), start)))
            .collect();
        let mut total = Tally::default();
        for task in tasks {
            let tally = task.await.expect("connection task");
            total.latencies_us.extend(tally.latencies_us);
            total.non_2xx += tally.non_2xx;
            total.socket_errors += tally.socket_errors;
        }
        (total, start.elapsed())
    });
    let mut latencies = tally.latencies_us;
    latencies.sort_unstable();
    println!(
        "{{\"target_rate\":{:.0},\"achieved_rate\":{:.1},\"requests\":{},\"non_2xx\":{},\"socket_errors\":{},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3}}}",
        args.rate,
        latencies.len() as f64 / elapsed.as_secs_f64(),
        latencies.len(),
        tally.non_2xx,
        tally.socket_errors,
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 99.9),
        latencies.last().map_or(f64::NAN, |&us| us as f64 / 1000.0),
    );
}
