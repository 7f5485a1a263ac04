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

/// The time zone of each program version, by the (UTC) date it takes effect.
#[derive(Debug, Clone, Default)]
pub struct BusinessCalendar {
    /// Oldest first.
    zones: Vec<(Date, TimeZone)>,
}

impl BusinessCalendar {
    /// A calendar of versions `(effective from, time zone)`, in any order.
    pub fn new(mut zones: Vec<(Date, TimeZone)>) -> Self {
        zones.sort_by_key(|(from, _)| *from);
        Self { zones }
    }

    /// The zone in force around `millis`: the version in force on that instant's UTC date (a
    /// version's start is a date, so which zone to read it in cannot itself depend on the zone).
    fn zone_at(&self, millis: i64) -> TimeZone {
        let utc = Date::from_unix_millis(millis);
        self.zones
            .iter()
            .rev()
            .find(|(from, _)| *from <= utc)
            .or(self.zones.first())
            .map_or(TimeZone::UTC, |(_, zone)| zone.clone())
    }

    /// The business date of an instant (Unix milliseconds).
    pub fn date_at(&self, millis: i64) -> Date {
        let zone = self.zone_at(millis);
        jiff::Timestamp::from_millisecond(millis)
            .ok()
            .and_then(|at| {
                let date = at.to_zoned(zone).date();
                Date::new(i32::from(date.year()), date.month() as u8, date.day() as u8)
            })
            .unwrap_or_else(|| Date::from_unix_millis(millis))
    }

    /// The first instant (Unix milliseconds) of a business date.
    pub fn day_start_millis(&self, date: Date) -> i64 {
        let utc_midnight = date.days_since_epoch() * 86_400_000;
        let zone = self.zone_at(utc_midnight);
        i16::try_from(date.year())
            .ok()
            .and_then(|year| jiff::civil::Date::new(year, date.month() as i8, date.day() as i8).ok())
            .and_then(|civil| civil.to_zoned(zone.clone()).ok())
            .map_or(utc_midnight, |start| start.timestamp().as_millisecond())
    }
}

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
    fn unknown_zones_are_refused_by_name() {
        let e = time_zone(Some("Mars/Olympus_Mons")).unwrap_err();
        assert_eq!(e.field, "time_zone");
        assert!(e.message.contains("Mars/Olympus_Mons"), "{e:?}");
        assert!(time_zone(Some("Asia/Kolkata")).is_ok());
    }
}
