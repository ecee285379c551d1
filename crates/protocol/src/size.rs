//! Sizes as the Khutulun profile's Size type writes them: a number and a unit.

/// "512 MiB" → bytes, with the units of the profile's Size type (no unit: bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    const UNITS: &[(&str, u64)] = &[
        ("B", 1),
        ("kB", 1000),
        ("KiB", 1 << 10),
        ("MB", 1_000_000),
        ("MiB", 1 << 20),
        ("GB", 1_000_000_000),
        ("GiB", 1 << 30),
        ("TB", 1_000_000_000_000),
        ("TiB", 1 << 40),
    ];
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = (text[..split].trim(), text[split..].trim());
    let number: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" must be a number and a unit, e.g. \"512 MiB\""))?;
    let unit = if unit.is_empty() { "B" } else { unit };
    let factor = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            format!(
                "\"{text}\" has unknown unit \"{unit}\"; use one of B, kB, KiB, MB, MiB, GB, GiB, TB, TiB"
            )
        })?;
    Ok((number * factor as f64).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_the_profile_units() {
        assert_eq!(parse_size("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2 GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("0 B"), Ok(0));
        assert_eq!(parse_size("1.5 KiB"), Ok(1536));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("3 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_size("lots").is_err());
    }
}
