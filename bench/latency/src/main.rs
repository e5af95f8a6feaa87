//! `bench-latency`: sends HTTP/1.1 GET requests at a fixed total rate over a few keep-alive
//! connections and prints latency percentiles as one JSON line.
//!
//! wrk measures throughput with as many requests as the server can take; latency targets need a
//! fixed offered load instead (what `wrk2 -R` or `oha -q` do), and neither tool is packaged by
//! Debian, so the harness carries this small std-only client.
//!
//! Usage: `bench-latency --url http://127.0.0.1:8080/ [--rate 1000] [--duration 10]
//! [--connections 4] [--warmup 1]`

mod args;
mod response;
mod stats;

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use args::Options;
use response::read_response;
use stats::Summary;

/// What one connection thread measured, in nanoseconds per completed request.
#[derive(Default)]
struct ConnectionResult {
    /// From the moment the request was written to the end of the response body.
    service_ns: Vec<u64>,
    /// From the moment the request was due by the schedule (so a stall also counts the wait).
    scheduled_ns: Vec<u64>,
    errors: u64,
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("bench-latency: {message}");
            eprintln!("{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    reduce_timer_slack();

    let request = Arc::new(
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: bench-latency\r\n\r\n",
            options.path, options.authority
        )
        .into_bytes(),
    );
    // Every connection runs the same schedule shifted by its share of the period, so together
    // they offer `rate` requests per second evenly spaced.
    let period = Duration::from_secs_f64(options.connections as f64 / options.rate);
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + options.warmup;
    let end = measure_from + options.duration;

    let handles: Vec<_> = (0..options.connections)
        .map(|index| {
            let request = Arc::clone(&request);
            let address = options.authority.clone();
            let offset = period.mul_f64(index as f64 / options.connections as f64);
            thread::spawn(move || {
                run_connection(
                    &address,
                    &request,
                    start + offset,
                    period,
                    measure_from,
                    end,
                )
            })
        })
        .collect();

    let mut total = ConnectionResult::default();
    for handle in handles {
        match handle.join() {
            Ok(result) => {
                total.service_ns.extend(result.service_ns);
                total.scheduled_ns.extend(result.scheduled_ns);
                total.errors += result.errors;
            }
            Err(_) => total.errors += 1,
        }
    }

    let service = Summary::of(&mut total.service_ns);
    let scheduled = Summary::of(&mut total.scheduled_ns);
    let achieved = service.count as f64 / options.duration.as_secs_f64();
    println!(
        "{{\"requests\":{},\"errors\":{},\"offered_rate\":{},\"achieved_rate\":{:.1},{},{}}}",
        service.count,
        total.errors,
        options.rate,
        achieved,
        service.json_fields("service"),
        scheduled.json_fields("scheduled"),
    );
    if service.count == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Sends requests on one connection at `first`, `first + period`, ... until `end`; records the
/// ones sent at or after `measure_from`. A broken connection is counted and reopened.
fn run_connection(
    address: &str,
    request: &[u8],
    first: Instant,
    period: Duration,
    measure_from: Instant,
    end: Instant,
) -> ConnectionResult {
    let mut result = ConnectionResult::default();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut stream: Option<TcpStream> = None;
    let mut due = first;
    while due < end {
        let now = Instant::now();
        if now >= end {
            // A slow or failing server must not stretch the run: what is still due is dropped.
            break;
        }
        if due > now {
            thread::sleep(due - now);
        }
        let connection = match stream.take() {
            Some(connection) => connection,
            None => match connect(address) {
                Ok(connection) => connection,
                Err(_) => {
                    result.errors += 1;
                    due += period;
                    continue;
                }
            },
        };
        let sent = Instant::now();
        let outcome = (&connection)
            .write_all(request)
            .and_then(|()| read_response(&connection, &mut buffer));
        let done = Instant::now();
        match outcome {
            Ok(keep_alive) => {
                if due >= measure_from {
                    result.service_ns.push(nanos(done - sent));
                    result.scheduled_ns.push(nanos(done - due));
                }
                if keep_alive {
                    stream = Some(connection);
                }
            }
            Err(_) => result.errors += 1,
        }
        due += period;
    }
    result
}

fn connect(address: &str) -> std::io::Result<TcpStream> {
    let socket_address = address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::AddrNotAvailable))?;
    let stream = TcpStream::connect_timeout(&socket_address, Duration::from_secs(5))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    Ok(stream)
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Linux rounds sleeps up by the timer slack (50 µs by default), which would blur the schedule.
/// Threads inherit the slack of the thread that creates them, so this runs before any spawn.
fn reduce_timer_slack() {
    // Best effort: without it the schedule is only a little less even.
    let _ = std::fs::write("/proc/self/timerslack_ns", "1");
}
