//! Fiscal periods and metric windows (RULES.md §1 and §3).

use crate::calendar::Date;
use crate::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The fiscal calendar of a program: the month its fiscal year starts (1 = January).
/// A fiscal year is labelled by the calendar year in which it **ends**.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiscalCalendar {
    start_month: u8,
}

impl Default for FiscalCalendar {
    fn default() -> Self {
        Self { start_month: 1 }
    }
}

impl FiscalCalendar {
    /// A calendar whose fiscal year starts in `start_month` (1–12).
    pub fn new(start_month: u8) -> Option<Self> {
        (1..=12).contains(&start_month).then_some(Self { start_month })
    }

    /// The month the fiscal year starts.
    pub fn start_month(self) -> u8 {
        self.start_month
    }

    /// The fiscal period (year and quarter) that contains `date`.
    pub fn period_of(self, date: Date) -> FiscalPeriod {
        let offset = (i32::from(date.month()) - i32::from(self.start_month)).rem_euclid(12);
        let year = if self.start_month > 1 && date.month() >= self.start_month {
            date.year() + 1
        } else {
            date.year()
        };
        FiscalPeriod {
            year,
            quarter: (offset / 3 + 1) as u8,
        }
    }

    /// First day of fiscal year `year`.
    pub fn year_start(self, year: i32) -> Date {
        let calendar_year = if self.start_month > 1 { year - 1 } else { year };
        Date::new(calendar_year, self.start_month, 1).expect("the first of a valid month exists")
    }

    /// First and last day (inclusive) of a period.
    pub fn range(self, period: FiscalPeriod) -> (Date, Date) {
        let start = self
            .year_start(period.year)
            .add_months(i32::from(period.quarter - 1) * 3);
        (start, start.add_months(3).add_days(-1))
    }
}

/// A fiscal quarter, written `2026-Q2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiscalPeriod {
    /// Fiscal year (the calendar year in which it ends).
    pub year: i32,
    /// Quarter 1–4.
    pub quarter: u8,
}

impl FiscalPeriod {
    /// Parses `2026-Q2` (or `2026-q2`, as typed at a command line).
    pub fn parse(text: &str, field: &str) -> Result<Self, FieldError> {
        if text.trim().is_empty() {
            return Err(FieldError::new(
                field,
                "is required: a fiscal period such as 2026-Q2",
            ));
        }
        let bad = || FieldError::new(field, format!("`{text}` is not a fiscal period such as 2026-Q2"));
        let text = text.trim();
        let (year, quarter) = text
            .split_once("-Q")
            .or_else(|| text.split_once("-q"))
            .ok_or_else(bad)?;
        // Digits only, as written: `parse` alone would also read `+2`, `02` and `02026`.
        let digits = |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(quarter, 1) {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let quarter: u8 = quarter.parse().map_err(|_| bad())?;
        if !(1..=4).contains(&quarter) || year < 1000 {
            return Err(bad());
        }
        Ok(Self { year, quarter })
    }

    /// The same quarter a year earlier (the growth baseline).
    pub fn year_before(self) -> Self {
        Self {
            year: self.year - 1,
            ..self
        }
    }

    /// The quarter before this one.
    pub fn previous(self) -> Self {
        if self.quarter == 1 {
            Self {
                year: self.year - 1,
                quarter: 4,
            }
        } else {
            Self {
                quarter: self.quarter - 1,
                ..self
            }
        }
    }
}

impl fmt::Display for FiscalPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-Q{}", self.year, self.quarter)
    }
}

impl Serialize for FiscalPeriod {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for FiscalPeriod {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        FiscalPeriod::parse(&text, "period").map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Which dates a metric looks at, relative to the evaluation date D.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Window {
    /// The dates after `D − n months`, up to and including D.
    TrailingMonths(u16),
    /// From the first day of D's fiscal quarter to D.
    QuarterToDate,
    /// From the first day of D's fiscal year to D.
    YearToDate,
    /// A named fiscal period.
    Period(FiscalPeriod),
}

impl Window {
    /// First and last day (inclusive) of the window as of `as_of`.
    pub fn range(self, as_of: Date, calendar: FiscalCalendar) -> (Date, Date) {
        match self {
            Window::TrailingMonths(n) => (as_of.add_months(-i32::from(n)).add_days(1), as_of),
            Window::QuarterToDate => (calendar.range(calendar.period_of(as_of)).0, as_of),
            Window::YearToDate => (calendar.year_start(calendar.period_of(as_of).year), as_of),
            Window::Period(period) => calendar.range(period),
        }
    }

    /// The same window shifted twelve months back (for growth).
    pub fn year_before(self, as_of: Date, calendar: FiscalCalendar) -> (Date, Date) {
        match self {
            Window::Period(period) => calendar.range(period.year_before()),
            other => {
                let (from, to) = other.range(as_of, calendar);
                (from.add_months(-12), to.add_months(-12))
            }
        }
    }

    /// A label such as "trailing 12 months".
    pub fn describe(self) -> String {
        match self {
            Window::TrailingMonths(n) => format!("trailing {n} months"),
            Window::QuarterToDate => "quarter to date".into(),
            Window::YearToDate => "year to date".into(),
            Window::Period(p) => p.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Date {
        Date::parse(text, "date").unwrap()
    }

    #[test]
    fn rules_3_trailing_twelve_months_example() {
        let range = Window::TrailingMonths(12).range(d("2026-06-30"), FiscalCalendar::default());
        assert_eq!(range, (d("2025-07-01"), d("2026-06-30")));
    }

    #[test]
    fn rules_1_fiscal_year_is_labelled_by_the_year_it_ends() {
        let july = FiscalCalendar::new(7).unwrap();
        assert_eq!(july.year_start(2026), d("2025-07-01"));
        assert_eq!(
            july.period_of(d("2025-07-01")),
            FiscalPeriod {
                year: 2026,
                quarter: 1
            }
        );
        assert_eq!(
            july.period_of(d("2026-06-30")),
            FiscalPeriod {
                year: 2026,
                quarter: 4
            }
        );
        assert_eq!(
            july.range(FiscalPeriod {
                year: 2026,
                quarter: 4
            }),
            (d("2026-04-01"), d("2026-06-30"))
        );
        let calendar = FiscalCalendar::default();
        assert_eq!(calendar.period_of(d("2026-05-10")).to_string(), "2026-Q2");
        assert_eq!(
            calendar.range(FiscalPeriod::parse("2026-Q2", "p").unwrap()),
            (d("2026-04-01"), d("2026-06-30"))
        );
    }

    #[test]
    fn to_date_windows_start_at_the_fiscal_boundary() {
        let calendar = FiscalCalendar::new(7).unwrap();
        assert_eq!(
            Window::QuarterToDate.range(d("2026-05-15"), calendar),
            (d("2026-04-01"), d("2026-05-15"))
        );
        assert_eq!(
            Window::YearToDate.range(d("2026-05-15"), calendar),
            (d("2025-07-01"), d("2026-05-15"))
        );
    }

    #[test]
    fn periods_parse_and_step() {
        let p = FiscalPeriod::parse("2026-Q1", "period").unwrap();
        assert_eq!(p.previous().to_string(), "2025-Q4");
        assert_eq!(p.year_before().to_string(), "2025-Q1");
        assert_eq!(
            FiscalPeriod::parse(" 2026-Q2 ", "period").unwrap().to_string(),
            "2026-Q2"
        );
        assert_eq!(
            FiscalPeriod::parse("2026-q3", "period").unwrap(),
            FiscalPeriod::parse("2026-Q3", "period").unwrap(),
            "a period typed in lower case is the same period"
        );
        let bad_ones = [
            "2026Q1", "2026-Q5", "2026-Q0", "26-Q1", "Q1-2026", "2026-Q+2", "+2026-Q2", "02026-Q2",
            "2026-Q02", "2026-q", "0999-Q1",
        ];
        for bad in bad_ones {
            assert!(FiscalPeriod::parse(bad, "period").is_err(), "{bad}");
        }
    }
}
