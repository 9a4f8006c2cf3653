//! Login throttling: after too many failed logins for one account or from one client address
//! within the window, further attempts are refused until the oldest failure ages out. Kept in
//! memory per instance; an attacker spreading guesses over instances gets at most one window's
//! worth per instance.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginThrottle {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: usize::try_from(max_failures).unwrap_or(usize::MAX).max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(account: &str, source: Option<&str>) -> Vec<String> {
        let mut keys = vec![format!("account:{}", account.to_lowercase())];
        if let Some(source) = source {
            keys.push(format!("source:{source}"));
        }
        keys
    }

    /// How long until another attempt is allowed, if attempts are refused now.
    pub fn retry_after(&self, account: &str, source: Option<&str>) -> Option<Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().ok()?;
        Self::keys(account, source)
            .into_iter()
            .filter_map(|key| {
                let list = failures.get_mut(&key)?;
                while list
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    list.pop_front();
                }
                (list.len() >= self.max_failures)
                    .then(|| {
                        list.front()
                            .map(|oldest| self.window - now.duration_since(*oldest))
                    })
                    .flatten()
            })
            .max()
    }

    pub fn record_failure(&self, account: &str, source: Option<&str>) {
        let now = Instant::now();
        if let Ok(mut failures) = self.failures.lock() {
            // Bound memory under a flood of distinct names: forget entries that aged out.
            if failures.len() > 100_000 {
                failures.retain(|_, list| {
                    list.back()
                        .is_some_and(|t| now.duration_since(*t) < self.window)
                });
            }
            for key in Self::keys(account, source) {
                let list = failures.entry(key).or_default();
                list.push_back(now);
                while list.len() > self.max_failures {
                    list.pop_front();
                }
            }
        }
    }

    /// A successful login clears the account's failures (not the address's).
    pub fn record_success(&self, account: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&format!("account:{}", account.to_lowercase()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_refused_after_the_configured_number_of_failures() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            throttle.record_failure("Alice", Some("10.0.0.1"));
            assert_eq!(throttle.retry_after("alice", Some("10.0.0.1")), None);
        }
        throttle.record_failure("alice", Some("10.0.0.1"));
        let wait = throttle.retry_after("ALICE", Some("10.0.0.9"));
        assert!(wait.is_some_and(|w| w <= Duration::from_secs(60) && w > Duration::from_secs(50)));
        // The address is blocked for other accounts too.
        assert!(throttle.retry_after("bob", Some("10.0.0.1")).is_some());
        assert!(throttle.retry_after("bob", Some("10.0.0.2")).is_none());
        throttle.record_success("alice");
        assert!(throttle.retry_after("alice", Some("10.0.0.9")).is_none());
    }

    #[test]
    fn failures_age_out_of_the_window() {
        let throttle = LoginThrottle::new(1, Duration::from_millis(1));
        throttle.record_failure("carol", None);
        std::thread::sleep(Duration::from_millis(5));
        assert!(throttle.retry_after("carol", None).is_none());
    }
}
