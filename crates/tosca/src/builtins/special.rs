//! Reading the values of TOSCA's special types, which are written as strings: scalars
//! (§9.1.2.2), versions (§9.1.2.3) and timestamps (§9.1.2.1).

use crate::model::ScalarUnits;
use std::cmp::Ordering;

/// The value of scalar `text` ("<number> <unit>") in the unit of multiplier one.
pub(crate) fn scalar_value(text: &str, units: &ScalarUnits) -> Result<f64, String> {
    let mut parts = text.split_whitespace();
    let (Some(number_text), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "\"{text}\" is not a number and a unit separated by a space"
        ));
    };
    let Some(number) = parse_number(number_text) else {
        return Err(format!("\"{number_text}\" is not a number"));
    };
    if units.integer && number.fract() != 0.0 {
        return Err(format!("\"{number_text}\" is not an integer"));
    }
    if let Some((_, multiplier)) = units.units.iter().find(|(name, _)| name == unit) {
        return Ok(number * multiplier);
    }
    for (prefix, prefix_multiplier) in &units.prefixes {
        if let Some(base) = unit.strip_prefix(prefix.as_str()) {
            if let Some((_, multiplier)) = units.units.iter().find(|(name, _)| name == base) {
                return Ok(number * prefix_multiplier * multiplier);
            }
        }
    }
    let names: Vec<&str> = units.units.iter().map(|(n, _)| n.as_str()).collect();
    Err(format!(
        "unknown unit \"{unit}\"; units: {}",
        crate::diagnostic::known_list(names)
    ))
}

/// A number in YAML notation: decimal, 0x hex, 0o octal, or a float with an exponent.
pub(crate) fn parse_number(text: &str) -> Option<f64> {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if let Some(hex) = digits.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(|n| sign * n as f64);
    }
    if let Some(octal) = digits.strip_prefix("0o") {
        return i64::from_str_radix(octal, 8).ok().map(|n| sign * n as f64);
    }
    if digits
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
    {
        return digits.parse::<f64>().ok().map(|n| sign * n);
    }
    None
}

/// A parsed version: major, minor, fix, then the optional qualifier and build.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Version {
    numbers: [u64; 3],
    qualifier: Option<String>,
    build: Option<u64>,
}

/// `<major>.<minor>[.<fix>[.<qualifier>[-<build>]]]` (§9.1.2.3).
pub(crate) fn parse_version(text: &str) -> Option<Version> {
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let mut parts = text.splitn(4, '.');
    let major = number(parts.next()?)?;
    let minor = number(parts.next()?)?;
    let fix = match parts.next() {
        Some(fix) => number(fix)?,
        None => 0,
    };
    let (qualifier, build) = match parts.next() {
        None => (None, None),
        Some(rest) => {
            let (qualifier, build) = match rest.split_once('-') {
                Some((q, b)) => (q, Some(number(b)?)),
                None => (rest, None),
            };
            if qualifier.is_empty()
                || !qualifier
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return None;
            }
            (Some(qualifier.to_string()), build)
        }
    };
    Some(Version {
        numbers: [major, minor, fix],
        qualifier,
        build,
    })
}

/// Versions with a qualifier are older than the same version without one; different
/// qualifiers of the same version are not comparable (§9.1.2.3).
pub(crate) fn compare_versions(a: &Version, b: &Version) -> Option<Ordering> {
    match a.numbers.cmp(&b.numbers) {
        Ordering::Equal => {}
        other => return Some(other),
    }
    match (&a.qualifier, &b.qualifier) {
        (None, None) => Some(Ordering::Equal),
        (Some(_), None) => Some(Ordering::Less),
        (None, Some(_)) => Some(Ordering::Greater),
        (Some(x), Some(y)) if x == y => Some(a.build.unwrap_or(0).cmp(&b.build.unwrap_or(0))),
        _ => None,
    }
}

/// An RFC 3339 date-time (`YYYY-MM-DD(T|t| )HH:MM:SS[.frac](Z|z|±HH:MM)`) as seconds since
/// the epoch in UTC, or None when it is not one (including impossible dates and times).
pub(crate) fn parse_timestamp(text: &str) -> Option<f64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let slice = b.get(range)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(slice).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut fraction = 0.0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        fraction = format!("0.{}", &text[start..i]).parse().ok()?;
    }
    let offset = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = digits(i + 1..i + 3)?;
            let minutes = digits(i + 4..i + 6)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(seconds as f64 + fraction)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_instants() {
        let a = parse_timestamp("2025-07-22T10:00:00Z").unwrap();
        let b = parse_timestamp("2025-07-22T12:00:00+02:00").unwrap();
        assert_eq!(a, b);
        assert!(parse_timestamp("2025-02-30T10:00:00Z").is_none());
        assert!(parse_timestamp("2024-02-29T23:59:60.5-00:00").is_some());
        assert!(parse_timestamp("2025-07-22").is_none());
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0.0));
    }

    #[test]
    fn numbers_in_yaml_notation() {
        assert_eq!(parse_number("0x10"), Some(16.0));
        assert_eq!(parse_number("1.5e3"), Some(1500.0));
        assert_eq!(parse_number("-2"), Some(-2.0));
        assert_eq!(parse_number("kg"), None);
    }
}
