//! Calendar dates without a time-zone database: enough to label timestamps and, later,
//! fiscal periods. Uses the proleptic Gregorian calendar (days-from-civil algorithm).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A calendar date, stored as days since 1970-01-01 so that comparing two dates (the hot path
/// of every metric window) is one integer comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    days: i32,
}

/// Year, month and day of a day number (Howard Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

/// Day number of a valid year, month and day (days_from_civil).
fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Date {
    /// Builds a date, refusing impossible ones (2026-02-30).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Self> {
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || !(-9999..=9999).contains(&year)
        {
            return None;
        }
        Some(Self {
            days: days_from_civil(year, month, day) as i32,
        })
    }

    /// The UTC date of a Unix timestamp in milliseconds.
    pub fn from_unix_millis(millis: i64) -> Self {
        Self::from_days_since_epoch(millis.div_euclid(86_400_000))
    }

    /// The date `days` after 1970-01-01 (clamped to about ±5.8 million years).
    pub fn from_days_since_epoch(days: i64) -> Self {
        Self {
            days: days.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
        }
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        i64::from(self.days)
    }

    /// The year.
    pub fn year(self) -> i32 {
        civil_from_days(self.days_since_epoch()).0
    }
    /// The month, 1–12.
    pub fn month(self) -> u8 {
        civil_from_days(self.days_since_epoch()).1
    }
    /// The day of the month.
    pub fn day(self) -> u8 {
        civil_from_days(self.days_since_epoch()).2
    }

    /// `n` months later (negative: earlier), keeping the day of month and clamping it to the
    /// target month's end: 2026-03-31 − 1 month = 2026-02-28 (RULES.md §1).
    pub fn add_months(self, n: i32) -> Self {
        let (year, month, day) = civil_from_days(self.days_since_epoch());
        let index = year * 12 + i32::from(month) - 1 + n;
        let year = index.div_euclid(12);
        let month = (index.rem_euclid(12) + 1) as u8;
        let day = day.min(days_in_month(year, month));
        Self {
            days: days_from_civil(year, month, day) as i32,
        }
    }

    /// `n` days later (negative: earlier).
    pub fn add_days(self, n: i64) -> Self {
        Self::from_days_since_epoch(self.days_since_epoch() + n)
    }

    /// Parses `YYYY-MM-DD`, naming `field` when it is not a real date.
    pub fn parse(text: &str, field: &str) -> Result<Self, crate::FieldError> {
        let bad = || crate::FieldError::new(field, format!("`{text}` is not a date in the form YYYY-MM-DD"));
        // Digits and dashes at fixed places: imports parse a date on every row.
        let bytes = text.trim().as_bytes();
        let well_formed = bytes.len() == 10
            && bytes.iter().enumerate().all(|(i, b)| match i {
                4 | 7 => *b == b'-',
                _ => b.is_ascii_digit(),
            });
        if !well_formed {
            return Err(bad());
        }
        let number = |range: std::ops::Range<usize>| {
            bytes[range]
                .iter()
                .fold(0u16, |n, b| n * 10 + u16::from(b - b'0'))
        };
        let month = u8::try_from(number(5..7)).map_err(|_| bad())?;
        let day = u8::try_from(number(8..10)).map_err(|_| bad())?;
        let year = i32::from(number(0..4));
        // Well formed but not on the calendar: say which part is wrong, as a spreadsheet that
        // wrote `2026-11-31` or swapped month and day leaves the reader guessing otherwise.
        Self::new(year, month, day).ok_or_else(|| {
            let message = if !(1..=12).contains(&month) {
                format!("`{text}` has no month {month:02}; write dates as YYYY-MM-DD, months 01 to 12")
            } else {
                const MONTHS: [&str; 12] = [
                    "January",
                    "February",
                    "March",
                    "April",
                    "May",
                    "June",
                    "July",
                    "August",
                    "September",
                    "October",
                    "November",
                    "December",
                ];
                format!(
                    "`{text}` is not a day of the calendar: {} {year} has {} days",
                    MONTHS[usize::from(month - 1)],
                    days_in_month(year, month)
                )
            };
            crate::FieldError::new(field, message)
        })
    }

    /// A short human label such as `26 Nov 2026`.
    pub fn human(self) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let (year, month, day) = civil_from_days(self.days_since_epoch());
        format!("{day} {} {year}", MONTHS[usize::from(month - 1)])
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.days_since_epoch());
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

impl Serialize for Date {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Date::parse(&text, "date").map_err(|e| serde::de::Error::custom(e.message))
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Number of days in `month` of `year`.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Date {
        Date::parse(text, "date").unwrap()
    }

    #[test]
    fn rules_1_month_arithmetic_clamps_to_month_end() {
        assert_eq!(d("2026-03-31").add_months(-1), d("2026-02-28"));
        assert_eq!(d("2028-03-31").add_months(-1), d("2028-02-29"));
        assert_eq!(d("2026-06-30").add_months(-12), d("2025-06-30"));
        assert_eq!(d("2026-01-15").add_months(-1), d("2025-12-15"));
        assert_eq!(d("2026-12-31").add_months(2), d("2027-02-28"));
        assert_eq!(d("2026-02-28").add_days(1), d("2026-03-01"));
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(d("2026-06-30").to_string(), "2026-06-30");
        assert_eq!(
            Date::parse(" 2024-02-29 ", "booked_on").unwrap(),
            Date::new(2024, 2, 29).unwrap()
        );
        for bad in [
            "2026-6-30",
            "2026-02-30",
            "30/06/2026",
            "2026-06-30x",
            "",
            "2026-+6-30",
            "+026-06-30",
            "2026-13-01",
            "2026-00-10",
            "2026-06-00",
            "2026_06_30",
            "２０２６-06-30",
        ] {
            assert!(Date::parse(bad, "booked_on").is_err(), "{bad}");
        }
        let message = |text: &str| Date::parse(text, "booked_on").unwrap_err().message;
        assert_eq!(
            message("2026-11-31"),
            "`2026-11-31` is not a day of the calendar: November 2026 has 30 days"
        );
        assert_eq!(
            message("2025-02-29"),
            "`2025-02-29` is not a day of the calendar: February 2025 has 28 days"
        );
        assert_eq!(
            message("2026-06-00"),
            "`2026-06-00` is not a day of the calendar: June 2026 has 30 days"
        );
        assert_eq!(
            message("2026-13-01"),
            "`2026-13-01` has no month 13; write dates as YYYY-MM-DD, months 01 to 12"
        );
        assert_eq!(
            message("30/06/2026"),
            "`30/06/2026` is not a date in the form YYYY-MM-DD"
        );
    }

    #[test]
    fn epoch_and_round_trip() {
        assert_eq!(Date::from_days_since_epoch(0).to_string(), "1970-01-01");
        for days in [-800_000, -1, 0, 59, 60, 10_957, 20_000, 20_633, 2_000_000] {
            assert_eq!(Date::from_days_since_epoch(days).days_since_epoch(), days);
        }
    }

    #[test]
    fn timestamps_label_their_utc_day() {
        // 2026-11-26T15:59:00Z
        let d = Date::from_unix_millis(1_795_708_740_000);
        assert_eq!(d.to_string(), "2026-11-26");
        assert_eq!(d.human(), "26 Nov 2026");
        assert_eq!(Date::from_unix_millis(-1).to_string(), "1969-12-31");
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert!(Date::new(2026, 2, 29).is_none());
        assert!(Date::new(2028, 2, 29).is_some());
        assert!(Date::new(2026, 13, 1).is_none());
        assert!(Date::new(2026, 4, 31).is_none());
    }
}
