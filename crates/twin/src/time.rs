//! Timestamps and their wire form. IoT Hub writes UTC times with seven fractional digits
//! (`2016-06-21T13:57:08.7843223Z`, 100 ns ticks); twinhub writes them the same way everywhere
//! a twin document shows a time.

use chrono::{DateTime, Timelike, Utc};

/// A point in time, UTC.
pub type Timestamp = DateTime<Utc>;

/// Formats a timestamp as IoT Hub does: `YYYY-MM-DDTHH:MM:SS.fffffffZ`.
pub fn format_timestamp(t: &Timestamp) -> String {
    let ticks = t.nanosecond() % 1_000_000_000 / 100;
    format!("{}.{ticks:07}Z", t.format("%Y-%m-%dT%H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::at;

    #[test]
    fn timestamps_have_seven_fractional_digits() {
        let t = DateTime::from_timestamp(1_466_517_428, 784_322_399).expect("in range");
        assert_eq!(format_timestamp(&t), "2016-06-21T13:57:08.7843223Z");
        assert_eq!(format_timestamp(&at(0)), "1970-01-01T00:00:00.0000000Z");
    }
}
