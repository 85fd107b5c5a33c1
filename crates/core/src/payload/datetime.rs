//! Datetimes as Qdrant's `datetime` payload type and `datetime_range`
//! condition read them: RFC 3339 and the relaxed forms Qdrant documents,
//! compared as UTC instants with microsecond resolution.

use core::fmt;

/// A UTC instant, in microseconds since 1970-01-01T00:00:00Z.
///
/// Parsed from the forms Qdrant accepts for `datetime` payloads:
/// `2023-02-08T10:49:00Z`, `2023-02-08T11:49:00+01:00`, `2023-02-08T10:49:00`
/// (no zone: UTC), `2023-02-08T10:49` (no seconds), `2023-02-08` (midnight
/// UTC). `T` may be a space; `T` and `Z` are case-insensitive; zones are `Z`,
/// `±HH:MM`, `±HHMM` or `±HH`; fractional seconds are kept to the
/// microsecond (further digits are accepted and dropped). Years are 0000–9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Datetime(i64);

const MICROS_PER_SEC: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SEC;

impl Datetime {
    /// The instant `micros` microseconds after the Unix epoch.
    pub fn from_micros(micros: i64) -> Self {
        Datetime(micros)
    }

    /// Microseconds since the Unix epoch (negative before 1970).
    pub fn micros(self) -> i64 {
        self.0
    }

    /// Parses one of the accepted forms; `None` when `s` is not a datetime.
    pub fn parse(s: &str) -> Option<Datetime> {
        let b = s.as_bytes();
        let mut p = Cursor { b, i: 0 };
        let year = p.digits(4)? as i64;
        p.byte(b'-')?;
        let month = p.digits(2)?;
        p.byte(b'-')?;
        let day = p.digits(2)?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let days = days_from_civil(year, month, day);
        if p.done() {
            return Some(Datetime(days * MICROS_PER_DAY));
        }
        match p.next()? {
            b'T' | b't' | b' ' => {}
            _ => return None,
        }
        let hour = p.digits(2)?;
        p.byte(b':')?;
        let minute = p.digits(2)?;
        let mut second = 0;
        let mut micros = 0i64;
        if p.peek() == Some(b':') {
            p.i += 1;
            second = p.digits(2)?;
            if p.peek() == Some(b'.') {
                p.i += 1;
                let start = p.i;
                while let Some(c) = p.peek().filter(u8::is_ascii_digit) {
                    if p.i - start < 6 {
                        micros = micros * 10 + i64::from(c - b'0');
                    }
                    p.i += 1;
                }
                let n = p.i - start;
                if n == 0 {
                    return None;
                }
                for _ in n..6 {
                    micros *= 10;
                }
            }
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let offset_secs = match p.next() {
            None => 0,
            Some(b'Z' | b'z') => 0,
            Some(sign @ (b'+' | b'-')) => {
                let oh = p.digits(2)?;
                let om = if p.done() {
                    0
                } else {
                    if p.peek() == Some(b':') {
                        p.i += 1;
                    }
                    p.digits(2)?
                };
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = i64::from(oh * 3600 + om * 60);
                if sign == b'-' { -off } else { off }
            }
            Some(_) => return None,
        };
        if !p.done() {
            return None;
        }
        let local = i64::from(hour * 3600 + minute * 60 + second);
        Some(Datetime(
            days * MICROS_PER_DAY + (local - offset_secs) * MICROS_PER_SEC + micros,
        ))
    }
}

impl fmt::Display for Datetime {
    /// RFC 3339 in UTC: `2023-02-08T10:49:00Z`, with `.ffffff` when the
    /// instant has a fraction of a second.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(MICROS_PER_DAY);
        let rem = self.0.rem_euclid(MICROS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let secs = rem / MICROS_PER_SEC;
        let frac = rem % MICROS_PER_SEC;
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )?;
        if frac != 0 {
            write!(f, ".{frac:06}")?;
        }
        f.write_str("Z")
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn byte(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }
    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let c = self.next()?;
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Some(v)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`, shifting the year to start in March).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn secs(s: &str) -> i64 {
        let d = Datetime::parse(s).unwrap_or_else(|| panic!("{s} should parse"));
        assert_eq!(d.micros() % MICROS_PER_SEC, 0, "{s}");
        d.micros() / MICROS_PER_SEC
    }

    #[test]
    fn accepted_forms_give_hand_computed_instants() {
        // 2023-02-08 is day 19_396 after the epoch: 53 years (13 leap days)
        // = 19_358 days to 2023-01-01, plus 31 + 7.
        let day = 19_396 * 86_400;
        assert_eq!(secs("2023-02-08"), day);
        assert_eq!(secs("2023-02-08T10:49:00Z"), day + 10 * 3600 + 49 * 60);
        assert_eq!(secs("2023-02-08T10:49:00Z"), 1_675_853_340);
        assert_eq!(secs("2023-02-08T11:49:00+01:00"), 1_675_853_340);
        assert_eq!(secs("2023-02-08T11:49:00+0100"), 1_675_853_340);
        assert_eq!(secs("2023-02-08T11:49:00+01"), 1_675_853_340);
        assert_eq!(secs("2023-02-08T05:19:00-05:30"), 1_675_853_340);
        assert_eq!(secs("2023-02-08T10:49:00"), 1_675_853_340);
        assert_eq!(secs("2023-02-08T10:49"), 1_675_853_340);
        assert_eq!(secs("2023-02-08 10:49:00z"), 1_675_853_340);
        assert_eq!(secs("2023-02-08t10:49:00Z"), 1_675_853_340);
        assert_eq!(secs("1970-01-01T00:00:00Z"), 0);
        assert_eq!(secs("1969-12-31T23:59:59Z"), -1);
        assert_eq!(secs("2000-02-29T00:00:00Z"), 951_782_400);
        assert_eq!(
            Datetime::parse("2023-02-08T10:49:00.5Z").unwrap().micros(),
            1_675_853_340_500_000
        );
        assert_eq!(
            Datetime::parse("2023-02-08T10:49:00.1234567Z")
                .unwrap()
                .micros(),
            1_675_853_340_123_456
        );
    }

    #[test]
    fn rejects_what_is_not_a_datetime() {
        for s in [
            "",
            "yesterday",
            "2023-2-8",
            "2023-02-30",
            "2023-13-01",
            "2023-02-29",
            "2023-02-08T",
            "2023-02-08T24:00",
            "2023-02-08T10:60",
            "2023-02-08T10:49:00.Z",
            "2023-02-08T10:49:00+1",
            "2023-02-08T10:49:00+01:00x",
            "2023-02-08X10:49",
            "20230208",
        ] {
            assert_eq!(Datetime::parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn display_is_rfc3339_utc_and_round_trips() {
        let d = Datetime::parse("2023-02-08T11:49:00.25+01:00").unwrap();
        assert_eq!(d.to_string(), "2023-02-08T10:49:00.250000Z");
        assert_eq!(Datetime::parse(&d.to_string()), Some(d));
        assert_eq!(
            Datetime::from_micros(-1).to_string(),
            "1969-12-31T23:59:59.999999Z"
        );
        for days in [-800_000i64, -1, 0, 59, 11_016, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
