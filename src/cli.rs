//! Command-line options (`pipy [options] <script>`).

use std::path::PathBuf;
use std::time::Duration;

use crate::worker::busy_poll::BusyPollMode;

pub const USAGE: &str = "\
Usage: pipy [options] <script>

A programmable network stream processor and load balancer running PipyJS scripts.
The script may also be named by the PIPY_CONFIG_FILE environment variable.

Options:
  -h, --help                 Show this help and exit
  -v, --version              Show version information and exit
  --log-level=LEVEL          debug | info | warn | error (default: info)
  --verify                   Evaluate the script and its modules, print the pipeline graph, exit
  --list-filters             List every filter with its parameters
  --help-filters             Describe every filter
  --spawn=N                  Run N+1 worker processes (also PIPY_SPAWN; default 0 = one worker)
  --reuse-port               Accepted for compatibility (SO_REUSEPORT is always on)
  --pid-file=PATH            Write the master's pid to PATH (removed on exit)
  --drain-timeout=SECONDS    Bound on draining old workers at reload/stop (default 30)
  --user=NAME, --group=NAME  Drop privileges in workers after binding (when started as root)
  --signal=reload|stop|quit  Signal the running master named by --pid-file, then exit
  --single-process           Run one worker in this process, without a master (debugging)
  --no-native-callbacks      Run every script callback in the JavaScript engine, including
                             those that would be compiled (docs/performance.md)
  --no-splice                Copy bulk bodies through user space instead of splicing them
                             socket to socket through kernel pipes (docs/performance.md)
  --busy-poll=off|auto|TIME  How long a worker out of work polls before it sleeps: off (or
                             0, the default) sleeps at once; auto learns a window of up to
                             50us from the gaps between events, at most doubling the CPU used;
                             TIME (e.g. 1ms) always spins that long after an event, lower
                             latency on VMs for up to one CPU per busy worker
                             (docs/performance.md)
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Help,
    Version,
    ListFilters,
    HelpFilters,
    Verify,
    Run,
    Signal(nix::sys::signal::Signal),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub script: Option<PathBuf>,
    pub log_level: log::LevelFilter,
    pub spawn: Option<usize>,
    pub pid_file: Option<PathBuf>,
    pub drain_timeout: Duration,
    pub user: Option<String>,
    pub group: Option<String>,
    pub single_process: bool,
    /// Whether serveHTTP callbacks in the pure subset are compiled ([`crate::js::pure`]).
    pub native_callbacks: bool,
    /// How workers poll before they sleep ([`crate::worker::busy_poll`]).
    pub busy_poll: BusyPollMode,
    /// Whether bulk bodies are spliced through kernel pipes ([`crate::engine::piped`]).
    pub splice: bool,
}

/// A command-line error, printed with the usage hint; exit status 2.
#[derive(Debug)]
pub struct CliError(pub String);

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, CliError> {
    let mut o = Options {
        mode: Mode::Run,
        script: None,
        log_level: log::LevelFilter::Info,
        spawn: None,
        pid_file: None,
        drain_timeout: crate::daemon::DEFAULT_DRAIN_TIMEOUT,
        user: None,
        group: None,
        single_process: false,
        native_callbacks: true,
        busy_poll: BusyPollMode::Off,
        splice: true,
    };
    for a in args {
        let (name, value) = match a.split_once('=') {
            Some((n, v)) if n.starts_with('-') => (n.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let need =
            |v: Option<String>| v.ok_or_else(|| CliError(format!("option {name} needs a value")));
        match name.as_str() {
            "-h" | "-help" | "--help" => o.mode = Mode::Help,
            "-v" | "-version" | "--version" => o.mode = Mode::Version,
            "--list-filters" => o.mode = Mode::ListFilters,
            "--help-filters" => o.mode = Mode::HelpFilters,
            "--verify" => o.mode = Mode::Verify,
            "--reuse-port" => {}
            "--single-process" => o.single_process = true,
            "--no-native-callbacks" => o.native_callbacks = false,
            "--no-splice" => o.splice = false,
            "--log-level" => {
                o.log_level = match need(value)?.as_str() {
                    "debug" => log::LevelFilter::Debug,
                    "info" => log::LevelFilter::Info,
                    "warn" => log::LevelFilter::Warn,
                    "error" => log::LevelFilter::Error,
                    other => return Err(CliError(format!("invalid log level: {other}"))),
                }
            }
            "--spawn" => {
                let v = need(value)?;
                o.spawn = Some(
                    v.parse()
                        .map_err(|_| CliError(format!("invalid --spawn value: {v}")))?,
                );
            }
            "--pid-file" => o.pid_file = Some(PathBuf::from(need(value)?)),
            "--drain-timeout" => {
                let v = need(value)?;
                o.drain_timeout = crate::js::units::parse_seconds_str(&v)
                    .ok_or_else(|| CliError(format!("invalid --drain-timeout value: {v}")))?;
            }
            "--busy-poll" => {
                let v = need(value)?;
                o.busy_poll = parse_busy_poll(&v)
                    .ok_or_else(|| CliError(format!("invalid --busy-poll value: {v}")))?;
            }
            "--user" => o.user = Some(need(value)?),
            "--group" => o.group = Some(need(value)?),
            "--signal" => {
                let v = need(value)?;
                let signal = crate::daemon::signal_command::signal_for(&v).ok_or_else(|| {
                    CliError(format!(
                        "invalid --signal value: {v} (reload, stop or quit)"
                    ))
                })?;
                o.mode = Mode::Signal(signal);
            }
            n if n.starts_with('-') && n.len() > 1 => {
                return Err(CliError(format!("unknown option: {a}")));
            }
            _ => {
                if o.script.is_some() {
                    return Err(CliError(format!("redundant filename: {a}")));
                }
                o.script = Some(PathBuf::from(a));
            }
        }
    }
    if o.script.is_none()
        && let Ok(p) = std::env::var("PIPY_CONFIG_FILE")
        && !p.is_empty()
    {
        o.script = Some(PathBuf::from(p));
    }
    Ok(o)
}

/// `auto`, `off`, or a duration (zero is `off`).
fn parse_busy_poll(v: &str) -> Option<BusyPollMode> {
    match v {
        "auto" => Some(BusyPollMode::Adaptive),
        "off" => Some(BusyPollMode::Off),
        _ => {
            let window = crate::js::units::parse_seconds_str(v)?;
            Some(if window.is_zero() {
                BusyPollMode::Off
            } else {
                BusyPollMode::Fixed(window)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> Result<Options, CliError> {
        parse(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn options() {
        let o = p(&["--log-level=debug", "--spawn=3", "a.js"]).unwrap();
        assert_eq!(o.log_level, log::LevelFilter::Debug);
        assert_eq!(o.spawn, Some(3));
        assert_eq!(o.script, Some(PathBuf::from("a.js")));
        assert!(p(&["--bogus"]).is_err());
        assert!(p(&["a.js", "b.js"]).is_err());
        assert_eq!(p(&["--verify", "x.js"]).unwrap().mode, Mode::Verify);
    }

    #[test]
    fn splicing_is_on_unless_turned_off() {
        assert!(p(&["a.js"]).unwrap().splice);
        assert!(!p(&["--no-splice", "a.js"]).unwrap().splice);
    }

    #[test]
    fn busy_poll_is_auto_off_or_a_duration() {
        let mode = |arg: &str| p(&[arg, "a.js"]).map(|o| o.busy_poll);
        assert_eq!(
            mode("--busy-poll=1ms").unwrap(),
            BusyPollMode::Fixed(Duration::from_millis(1))
        );
        assert_eq!(
            mode("--busy-poll=0.5").unwrap(),
            BusyPollMode::Fixed(Duration::from_millis(500))
        );
        assert_eq!(mode("--busy-poll=0").unwrap(), BusyPollMode::Off);
        assert_eq!(mode("--busy-poll=off").unwrap(), BusyPollMode::Off);
        assert_eq!(mode("--busy-poll=auto").unwrap(), BusyPollMode::Adaptive);
        assert_eq!(p(&["a.js"]).unwrap().busy_poll, BusyPollMode::Off);
        for bad in ["--busy-poll=soon", "--busy-poll=-1ms", "--busy-poll"] {
            let e = mode(bad).expect_err(bad);
            assert!(e.0.contains("--busy-poll"), "{bad}: {}", e.0);
        }
    }
}
