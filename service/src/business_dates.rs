//! Business dates (RULES.md §1): calendar dates in the program's time zone, UTC unless the
//! program names one. Each program version may name its own; the one in force on a day decides
//! that day's date.

use domain::calendar::Date;
use domain::FieldError;
use jiff::tz::TimeZone;

/// Looks up an IANA time zone in the built-in database; `None` is UTC.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, FieldError> {
    match name {
        None => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name).map_err(|_| {
            FieldError::new(
                "time_zone",
                format!(
                    "`{name}` is not a time zone of the IANA database (e.g. Europe/Berlin, America/New_York)"
                ),
            )
        }),
    }
}

/// The time zone of each program version, and the instant from which it decides the date.
#[derive(Debug, Clone, Default)]
pub struct BusinessCalendar {
    /// `(effective from, switch instant in Unix milliseconds, zone)`, oldest first.
    versions: Vec<(Date, i64, TimeZone)>,
}

/// The first instant of `date` in `zone`, in Unix milliseconds (midnight, or the first instant
/// after a summer-time gap that swallows midnight).
fn day_start(date: Date, zone: &TimeZone) -> i64 {
    let utc_midnight = date.days_since_epoch() * 86_400_000;
    i16::try_from(date.year())
        .ok()
        .and_then(|year| jiff::civil::Date::new(year, date.month() as i8, date.day() as i8).ok())
        .and_then(|civil| civil.to_zoned(zone.clone()).ok())
        .and_then(|zoned| zoned.start_of_day().ok())
        .map_or(utc_midnight, |start| start.timestamp().as_millisecond())
}

/// The calendar date of an instant in `zone`.
fn local_date(millis: i64, zone: &TimeZone) -> Date {
    jiff::Timestamp::from_millisecond(millis)
        .ok()
        .and_then(|at| {
            let date = at.to_zoned(zone.clone()).date();
            Date::new(i32::from(date.year()), date.month() as u8, date.day() as u8)
        })
        .unwrap_or_else(|| Date::from_unix_millis(millis))
}

impl BusinessCalendar {
    /// A calendar of versions `(effective from, time zone)`, in any order. A version decides
    /// the date from its first day's start in its own zone, or in the previous version's zone
    /// if that comes later: a move east does not start the new version before the old zone has
    /// finished the day before, and a move west of less than a day never turns today back.
    pub fn new(mut zones: Vec<(Date, TimeZone)>) -> Self {
        zones.sort_by_key(|(from, _)| *from);
        let mut versions: Vec<(Date, i64, TimeZone)> = Vec::with_capacity(zones.len());
        for (from, zone) in zones {
            let mut switch = day_start(from, &zone);
            if let Some((_, _, previous)) = versions.last() {
                switch = switch.max(day_start(from, previous));
            }
            versions.push((from, switch, zone));
        }
        Self { versions }
    }

    /// The zone deciding the date at `millis`; before the first version, the first version's.
    fn zone_at(&self, millis: i64) -> &TimeZone {
        self.versions
            .iter()
            .rev()
            .find(|(_, switch, _)| *switch <= millis)
            .or(self.versions.first())
            .map_or(&UTC, |(_, _, zone)| zone)
    }

    /// The business date of an instant (Unix milliseconds).
    pub fn date_at(&self, millis: i64) -> Date {
        local_date(millis, self.zone_at(millis))
    }

    /// The first instant (Unix milliseconds) of a business date: in the zone of the version in
    /// force on that date.
    pub fn day_start_millis(&self, date: Date) -> i64 {
        let zone = self
            .versions
            .iter()
            .rev()
            .find(|(from, _, _)| *from <= date)
            .or(self.versions.first())
            .map_or(&UTC, |(_, _, zone)| zone);
        day_start(date, zone)
    }
}

static UTC: TimeZone = TimeZone::UTC;

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> Date {
        Date::parse(text, "date").unwrap()
    }

    /// 2026-11-29T03:30:00Z.
    const EARLY_MORNING_UTC: i64 = 1_795_923_000_000;

    #[test]
    fn utc_unless_a_version_names_a_zone() {
        let calendar = BusinessCalendar::default();
        assert_eq!(calendar.date_at(EARLY_MORNING_UTC), date("2026-11-29"));
        assert_eq!(
            calendar.day_start_millis(date("2026-11-29")),
            EARLY_MORNING_UTC - 3 * 3_600_000 - 1_800_000
        );
    }

    #[test]
    fn the_version_in_force_decides_the_date() {
        let new_york = time_zone(Some("America/New_York")).unwrap();
        let calendar = BusinessCalendar::new(vec![
            (date("2027-01-01"), TimeZone::UTC),
            (date("2026-01-01"), new_york),
        ]);
        // 03:30 UTC is 22:30 the evening before in New York (EST, UTC−5).
        assert_eq!(calendar.date_at(EARLY_MORNING_UTC), date("2026-11-28"));
        // The New York day starts at 05:00 UTC.
        assert_eq!(
            calendar.day_start_millis(date("2026-11-29")),
            EARLY_MORNING_UTC + 3_600_000 + 1_800_000
        );
        // Summer time: 2026-07-01 starts at 04:00 UTC.
        assert_eq!(
            calendar.day_start_millis(date("2026-07-01")),
            date("2026-07-01").days_since_epoch() * 86_400_000 + 4 * 3_600_000
        );
        // From the second version on, UTC again.
        assert_eq!(
            calendar.date_at(date("2027-03-01").days_since_epoch() * 86_400_000 + 1),
            date("2027-03-01")
        );
    }

    #[test]
    fn a_version_takes_over_when_both_zones_have_reached_its_first_day() {
        let new_york = time_zone(Some("America/New_York")).unwrap();
        let kiritimati = time_zone(Some("Pacific/Kiritimati")).unwrap();
        let at = |text: &str, hours: i64| date(text).days_since_epoch() * 86_400_000 + hours * 3_600_000;
        // East: New York's 2027-01-01 starts at 05:00 UTC, Kiritimati's at 10:00 UTC the day before.
        let east = BusinessCalendar::new(vec![
            (date("2026-01-01"), new_york.clone()),
            (date("2027-01-01"), kiritimati.clone()),
        ]);
        assert_eq!(
            east.date_at(at("2026-12-31", 12)),
            date("2026-12-31"),
            "still New York's day"
        );
        assert_eq!(east.date_at(at("2027-01-01", 4)), date("2026-12-31"));
        assert_eq!(east.date_at(at("2027-01-01", 5)), date("2027-01-01"));
        assert_eq!(
            east.date_at(at("2027-01-01", 10)),
            date("2027-01-02"),
            "Kiritimati from then on"
        );
        // West: the date stays 2027-01-01 from 10:00 UTC the day before until New York's day ends.
        let west = BusinessCalendar::new(vec![
            (date("2026-01-01"), kiritimati),
            (date("2027-01-01"), new_york),
        ]);
        let mut previous = west.date_at(at("2026-12-31", 0));
        for hour in 1..72 {
            let today = west.date_at(at("2026-12-31", hour));
            assert!(today >= previous, "hour {hour}: {today} after {previous}");
            previous = today;
        }
        assert_eq!(west.date_at(at("2027-01-01", 4)), date("2027-01-01"));
        assert_eq!(
            west.date_at(at("2027-01-02", 4)),
            date("2027-01-01"),
            "New York's 1 January"
        );
        assert_eq!(west.date_at(at("2027-01-02", 5)), date("2027-01-02"));
        assert_eq!(west.day_start_millis(date("2027-01-02")), at("2027-01-02", 5));
    }

    #[test]
    fn unknown_zones_are_refused_by_name() {
        let e = time_zone(Some("Mars/Olympus_Mons")).unwrap_err();
        assert_eq!(e.field, "time_zone");
        assert!(e.message.contains("Mars/Olympus_Mons"), "{e:?}");
        assert!(time_zone(Some("Asia/Kolkata")).is_ok());
    }
}
