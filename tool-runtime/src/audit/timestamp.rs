//! RFC 3339 timestamps from `SystemTime`, without a date-time dependency.

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` in UTC as `YYYY-MM-DDTHH:MM:SS.mmmZ`, truncated to the millisecond.
pub(crate) fn rfc3339_millis(t: SystemTime) -> String {
    let millis: i128 = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_millis() as i128,
        // Truncating toward the past keeps a time just before the epoch in 1969.
        Err(before) => -(before.duration().as_nanos().div_ceil(1_000_000) as i128),
    };
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01.
///
/// Howard Hinnant's `civil_from_days`: counts in 400-year eras starting on 0000-03-01, so
/// that the leap day is the last day of each counted year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: i64, millis: u64) -> SystemTime {
        let base = if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        };
        base + Duration::from_millis(millis)
    }

    #[test]
    fn known_dates() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, 0, "2000-02-29T00:00:00.000Z"),
            (1_234_567_890, 123, "2009-02-13T23:31:30.123Z"),
            (1_709_210_096, 789, "2024-02-29T12:34:56.789Z"),
            (4_102_444_799, 999, "2099-12-31T23:59:59.999Z"),
            (253_402_300_799, 0, "9999-12-31T23:59:59.000Z"),
            (-1, 0, "1969-12-31T23:59:59.000Z"),
        ];
        for (secs, millis, expected) in cases {
            assert_eq!(rfc3339_millis(at(secs, millis)), expected);
        }
    }

    #[test]
    fn before_the_epoch_truncates_toward_the_past() {
        let t = UNIX_EPOCH - Duration::from_micros(500);
        assert_eq!(rfc3339_millis(t), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn sub_millisecond_is_truncated() {
        let t = UNIX_EPOCH + Duration::from_nanos(1_999_999);
        assert_eq!(rfc3339_millis(t), "1970-01-01T00:00:00.001Z");
    }

    /// Walks the calendar one day at a time from 1600 to 2600 and compares every date.
    #[test]
    fn every_day_agrees_with_a_naive_calendar() {
        fn days_in(year: i64, month: u32) -> u32 {
            match month {
                2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            }
        }
        // 1600-01-01 is 135,140 days before the epoch.
        let (mut y, mut m, mut d) = (1600_i64, 1_u32, 1_u32);
        for days in -135_140..235_000 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            d += 1;
            if d > days_in(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
        assert!(y > 2600);
    }
}
