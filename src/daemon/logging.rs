//! Log line format shared by master and workers: one line per event on stderr, tagged with the
//! process's role so interleaved output from several workers stays attributable.
//!
//! `2024-05-01 12:00:00.123 [INF] [worker 2 pid 1234] message` (UTC).

use std::io::Write;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Which process of the daemon is writing a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogRole {
    /// The supervising process (or a one-shot command such as `--verify`).
    Master,
    /// A forked worker serving the listeners of one slot.
    Worker {
        /// The worker's slot, `0..workers`.
        slot: usize,
    },
}

/// 0 encodes `Master`, `slot + 1` encodes `Worker { slot }`: an atomic, because the role changes
/// in a forked child without any lock that could have been held at fork time.
static ROLE: AtomicUsize = AtomicUsize::new(0);
/// The pid is cached with the role: it changes exactly when the role does (after fork).
static ROLE_PID: AtomicU32 = AtomicU32::new(0);

/// Installs the global logger (env_logger) writing the daemon's line format to stderr.
/// Calling it a second time is harmless (the first logger stays).
pub fn init_logging(level: log::LevelFilter) {
    ROLE_PID.store(std::process::id(), Ordering::Relaxed);
    let _already_installed = env_logger::Builder::new()
        .filter_level(level)
        .target(env_logger::Target::Stderr)
        .format(|buf, record| {
            writeln!(
                buf,
                "{} [{}] [{}] {}",
                format_utc(SystemTime::now()),
                level_tag(record.level()),
                RoleTag,
                record.args()
            )
        })
        .try_init();
}

/// Sets the role printed on every following log line of this process (call it in a worker right
/// after fork).
pub fn set_log_role(role: LogRole) {
    let encoded = match role {
        LogRole::Master => 0,
        LogRole::Worker { slot } => slot + 1,
    };
    ROLE.store(encoded, Ordering::Relaxed);
    ROLE_PID.store(std::process::id(), Ordering::Relaxed);
}

/// The role this process currently logs as.
pub fn log_role() -> LogRole {
    match ROLE.load(Ordering::Relaxed) {
        0 => LogRole::Master,
        n => LogRole::Worker { slot: n - 1 },
    }
}

struct RoleTag;

impl std::fmt::Display for RoleTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pid = match ROLE_PID.load(Ordering::Relaxed) {
            0 => std::process::id(),
            pid => pid,
        };
        match log_role() {
            LogRole::Master => write!(f, "master pid {pid}"),
            LogRole::Worker { slot } => write!(f, "worker {slot} pid {pid}"),
        }
    }
}

fn level_tag(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "ERR",
        log::Level::Warn => "WRN",
        log::Level::Info => "INF",
        log::Level::Debug => "DBG",
        log::Level::Trace => "TRC",
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC.
fn format_utc(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let second_of_day = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since_epoch.subsec_millis()
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March = 0
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_epoch() {
        assert_eq!(format_utc(UNIX_EPOCH), "1970-01-01 00:00:00.000");
    }

    #[test]
    fn formats_leap_day_and_millis() {
        // 2024-02-29 13:14:15.678 UTC
        let t = UNIX_EPOCH + Duration::from_millis(1_709_212_455_678);
        assert_eq!(format_utc(t), "2024-02-29 13:14:15.678");
    }

    #[test]
    fn civil_dates_around_year_boundaries() {
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(10_957), (2000, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_453), (2025, 12, 31));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn role_round_trips() {
        set_log_role(LogRole::Worker { slot: 3 });
        assert_eq!(log_role(), LogRole::Worker { slot: 3 });
        assert_eq!(
            RoleTag.to_string(),
            format!("worker 3 pid {}", std::process::id())
        );
        set_log_role(LogRole::Master);
        assert_eq!(log_role(), LogRole::Master);
    }
}
