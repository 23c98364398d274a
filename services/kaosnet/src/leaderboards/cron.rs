//! Standard 5-field cron schedules (minute hour day-of-month month day-of-week, UTC), as
//! leaderboard and tournament resets use them: `*`, lists, ranges, steps, month and day
//! names, `7` for Sunday, the `@yearly`/`@monthly`/`@weekly`/`@daily`/`@hourly` macros, and
//! Vixie cron's rule that when both day fields are restricted a day matching either runs.

use std::fmt;

use crate::time::civil;

/// A parsed schedule.
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    /// Bit d for day-of-month d (1-31).
    days: u32,
    /// Bit m for month m (1-12).
    months: u16,
    /// Bit w for weekday w (0 = Sunday).
    weekdays: u8,
    days_restricted: bool,
    weekdays_restricted: bool,
    source: String,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?})", self.source)
    }
}

/// Why a schedule did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression {expr:?}: {why}")]
pub struct CronError {
    expr: String,
    why: String,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// The bits of one field (`lo..=hi`), and whether it was restricted (not `*`).
fn field(text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<(u64, bool), String> {
    let value = |s: &str| -> Result<u32, String> {
        let lower = s.to_ascii_lowercase();
        if let Some(i) = names.iter().position(|n| *n == lower) {
            return Ok(lo + i as u32);
        }
        s.parse::<u32>().map_err(|_| format!("{s:?} is not a number"))
    };
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0).ok_or(format!("bad step in {part:?}"))?),
            None => (part, 1),
        };
        let (start, end) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // `5/15` means 5, 20, 35, 50 (from 5 to the end).
                None if step > 1 => (value(r)?, hi),
                None => (value(r)?, value(r)?),
            },
        };
        if start < lo || end > hi || start > end {
            return Err(format!("{part:?} is outside {lo}-{hi}"));
        }
        let mut v = start;
        while v <= end {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, !text.starts_with('*')))
}

impl Cron {
    /// Parses a schedule.
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let error = |why: String| CronError { expr: expr.to_string(), why };
        let text = match expr.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = parts[..] else {
            return Err(error(format!("expected 5 fields, found {}", parts.len())));
        };
        let (minutes, _) = field(minute, 0, 59, &[]).map_err(error)?;
        let (hours, _) = field(hour, 0, 23, &[]).map_err(error)?;
        let (days, days_restricted) = field(day, 1, 31, &[]).map_err(error)?;
        let (months, _) = field(month, 1, 12, &MONTHS).map_err(error)?;
        let (mut weekdays, weekdays_restricted) = field(weekday, 0, 7, &WEEKDAYS).map_err(error)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & 0x7f;
        }
        Ok(Cron {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            days_restricted,
            weekdays_restricted,
            source: expr.to_string(),
        })
    }

    /// The expression as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let by_day = self.days & (1 << day) != 0;
        let by_weekday = self.weekdays & (1 << weekday) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => by_day || by_weekday,
            (true, false) => by_day,
            (false, true) => by_weekday,
            (false, false) => true,
        }
    }

    /// The first time the schedule fires strictly after Unix second `after` (None if it
    /// never does, like `0 0 30 2 *`).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let start = after.div_euclid(60) + 1; // the next whole minute
        let (mut day, start_minute) = (start.div_euclid(1440), start.rem_euclid(1440));
        // Every month and weekday combination recurs within 28 years.
        for n in 0..366 * 28 {
            let (_, month, dom) = civil(day);
            let weekday = (day + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
            if self.months & (1 << month) != 0 && self.day_matches(dom, weekday) {
                let from = if n == 0 { start_minute } else { 0 };
                if let Some(minute) = self.first_minute_from(from as u32) {
                    return Some((day * 1440 + i64::from(minute)) * 60);
                }
            }
            day += 1;
        }
        None
    }

    /// The latest time the schedule fired at or before `at`, searched back up to a year
    /// (None if it did not fire in that time).
    pub fn previous_at_or_before(&self, at: i64) -> Option<i64> {
        let minute_now = at.div_euclid(60);
        let (mut day, mut last_minute) = (minute_now.div_euclid(1440), minute_now.rem_euclid(1440) as u32);
        for _ in 0..=366 {
            let (_, month, dom) = civil(day);
            let weekday = (day + 4).rem_euclid(7) as u32;
            if self.months & (1 << month) != 0 && self.day_matches(dom, weekday) {
                if let Some(minute) = (0..=last_minute).rev().find(|m| self.fires_at_minute(*m)) {
                    return Some((day * 1440 + i64::from(minute)) * 60);
                }
            }
            day -= 1;
            last_minute = 1439;
        }
        None
    }

    fn fires_at_minute(&self, minute_of_day: u32) -> bool {
        self.hours & (1 << (minute_of_day / 60)) != 0 && self.minutes & (1 << (minute_of_day % 60)) != 0
    }

    fn first_minute_from(&self, from: u32) -> Option<u32> {
        (from..1440).find(|m| self.fires_at_minute(*m))
    }
}

#[cfg(test)]
mod tests {
    use super::Cron;
    use crate::time::rfc3339;

    fn next(expr: &str, after: &str) -> String {
        let after = parse_time(after);
        rfc3339(Cron::parse(expr).unwrap().next_after(after).unwrap())
    }

    /// Unix seconds of `YYYY-MM-DDTHH:MM:SSZ`, by searching (tests only).
    fn parse_time(s: &str) -> i64 {
        let day = (0..40_000i64).find(|d| rfc3339(d * 86_400)[..10] == s[..10]).unwrap();
        let h: i64 = s[11..13].parse().unwrap();
        let m: i64 = s[14..16].parse().unwrap();
        let sec: i64 = s[17..19].parse().unwrap();
        day * 86_400 + h * 3600 + m * 60 + sec
    }

    #[test]
    fn next_occurrences() {
        assert_eq!(next("0 0 * * *", "2026-11-29T10:00:00Z"), "2026-11-30T00:00:00Z");
        assert_eq!(next("* * * * *", "2026-11-29T10:00:00Z"), "2026-11-29T10:01:00Z");
        assert_eq!(next("* * * * *", "2026-11-29T10:00:59Z"), "2026-11-29T10:01:00Z");
        assert_eq!(next("*/15 * * * *", "2026-11-29T10:07:00Z"), "2026-11-29T10:15:00Z");
        assert_eq!(next("5/20 * * * *", "2026-11-29T10:26:00Z"), "2026-11-29T10:45:00Z");
        assert_eq!(next("0 12 * * mon", "2026-11-29T10:00:00Z"), "2026-11-30T12:00:00Z"); // a Sunday
        assert_eq!(next("0 0 * * 7", "2026-11-29T10:00:00Z"), "2026-12-06T00:00:00Z");
        assert_eq!(next("@monthly", "2026-12-15T00:00:00Z"), "2027-01-01T00:00:00Z");
        assert_eq!(next("0 0 29 2 *", "2026-03-01T00:00:00Z"), "2028-02-29T00:00:00Z");
        assert_eq!(next("30 9 1-7 * 1-5", "2026-11-29T10:00:00Z"), "2026-11-30T09:30:00Z");
        // Both day fields restricted: the 13th, or any Friday.
        assert_eq!(next("0 0 13 * fri", "2026-11-29T10:00:00Z"), "2026-12-04T00:00:00Z");
        assert_eq!(next("0 0 1 jan *", "2026-11-29T10:00:00Z"), "2027-01-01T00:00:00Z");
    }

    #[test]
    fn previous_occurrences() {
        let cron = Cron::parse("0 0 * * *").unwrap();
        let at = parse_time("2026-11-29T10:00:00Z");
        assert_eq!(rfc3339(cron.previous_at_or_before(at).unwrap()), "2026-11-29T00:00:00Z");
        let midnight = parse_time("2026-11-29T00:00:00Z");
        assert_eq!(cron.previous_at_or_before(midnight), Some(midnight));
        assert_eq!(Cron::parse("0 0 30 2 *").unwrap().previous_at_or_before(at), None);
    }

    #[test]
    fn impossible_schedules_never_fire() {
        assert_eq!(Cron::parse("0 0 30 2 *").unwrap().next_after(0), None);
    }

    #[test]
    fn bad_expressions_are_refused() {
        for bad in [
            "",
            "* * * *",
            "* * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "*/0 * * * *",
            "a * * * *",
            "5-1 * * * *",
            "* * * * 8",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
