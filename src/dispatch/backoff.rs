//! When to try again: exponential backoff with "equal jitter".
//!
//! Attempt `n` (1-based) failed; the next one waits `d/2 + random(0..d/2)` where
//! `d = min(max, base · 2^(n-1))`. Half the delay is fixed so retries never collapse
//! to zero, and the random half spreads out the messages that failed together (a
//! receiver coming back from an outage is not hit by every retry at once).

use std::time::Duration;

/// The exponential schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failure, before jitter.
    pub base: Duration,
    /// Longest delay, before jitter.
    pub max: Duration,
}

impl Backoff {
    /// The un-jittered delay after attempt `attempt` (1-based) failed.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The delay after attempt `attempt` failed, with `jitter` in `[0, 1)` choosing
    /// where in the upper half it falls.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// The delay after attempt `attempt` failed, with fresh randomness.
    pub fn next(&self, attempt: u32) -> Duration {
        self.delay(attempt, random_unit())
    }
}

/// A uniform number in `[0, 1)` from the OS generator (a v4 UUID's random bits,
/// so no extra dependency).
fn random_unit() -> f64 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    // 53 random bits → an f64 in [0, 1).
    (u64::from_le_bytes(word) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Backoff {
        Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }

    #[test]
    fn the_ceiling_doubles_per_attempt_up_to_the_maximum() {
        let b = schedule();
        let ceilings: Vec<u64> = (1..=8).map(|n| b.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_keeps_the_delay_in_the_upper_half_of_the_ceiling() {
        let b = schedule();
        assert_eq!(b.delay(3, 0.0), Duration::from_secs(2));
        assert_eq!(b.delay(3, 0.5), Duration::from_secs(3));
        assert!(b.delay(3, 0.999_999) < Duration::from_secs(4));
        for _ in 0..1000 {
            let d = b.next(4);
            assert!(
                d >= Duration::from_secs(4) && d < Duration::from_secs(8),
                "{d:?}"
            );
        }
    }

    #[test]
    fn random_delays_are_not_all_equal() {
        let b = schedule();
        let first = b.next(6);
        assert!((0..100).any(|_| b.next(6) != first));
    }
}
