//! Respawn delays for one worker slot: a worker that crashed after serving a while is replaced at
//! once; one that keeps dying right after start is retried with doubling delays, so a broken
//! script does not make the master fork in a busy loop.

use std::time::Duration;

/// A worker that lived less than this "died on start-up".
pub const QUICK_DEATH: Duration = Duration::from_secs(1);
/// Delay after the second quick death in a row; doubled for each further one.
const FIRST_DELAY: Duration = Duration::from_millis(500);
/// Upper bound of the delay.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// Consecutive quick deaths of one slot.
#[derive(Debug, Default, Clone)]
pub struct RespawnBackoff {
    quick_deaths: u32,
}

impl RespawnBackoff {
    /// Records a death after `lived` and returns how long to wait before respawning.
    pub fn next_delay(&mut self, lived: Duration) -> Duration {
        if lived >= QUICK_DEATH {
            self.quick_deaths = 0;
            return Duration::ZERO;
        }
        self.quick_deaths = self.quick_deaths.saturating_add(1);
        match self.quick_deaths {
            1 => Duration::ZERO,
            n => FIRST_DELAY
                .saturating_mul(1u32 << (n - 2).min(16))
                .min(MAX_DELAY),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lived_worker_respawns_at_once() {
        let mut backoff = RespawnBackoff::default();
        assert_eq!(backoff.next_delay(Duration::from_secs(5)), Duration::ZERO);
    }

    #[test]
    fn quick_deaths_double_up_to_the_cap_and_reset() {
        let mut backoff = RespawnBackoff::default();
        let quick = Duration::from_millis(10);
        let delays = (0..10)
            .map(|_| backoff.next_delay(quick))
            .collect::<Vec<_>>();
        let ms = delays.iter().map(Duration::as_millis).collect::<Vec<_>>();
        assert_eq!(
            ms,
            [0, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff.next_delay(Duration::from_secs(2)), Duration::ZERO);
        assert_eq!(backoff.next_delay(quick), Duration::ZERO);
    }
}
