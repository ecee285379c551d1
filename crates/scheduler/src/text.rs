//! Wording shared by reasons and errors: amounts, lists, policy names.

use crate::model::Resources;

/// How many names a list shows before "and N more".
const LIST_LIMIT: usize = 5;

pub(crate) fn cpu(millis: u64) -> String {
    format!("{millis}m")
}

pub(crate) fn memory(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = KIB * 1024;
    const GIB: u64 = MIB * 1024;
    let (unit, name) = match bytes {
        b if b >= GIB => (GIB, "GiB"),
        b if b >= MIB => (MIB, "MiB"),
        b if b >= KIB => (KIB, "KiB"),
        b => return format!("{b} B"),
    };
    if unit != GIB && bytes.is_multiple_of(unit) {
        return format!("{} {name}", bytes / unit);
    }
    // One decimal, rounded half up, in integers (float formatting is slow and this runs
    // for every assignment).
    let tenths = (bytes as u128 * 10 + unit as u128 / 2) / unit as u128;
    format!("{}.{} {name}", tenths / 10, tenths % 10)
}

/// "2000m CPU and 4.0 GiB memory", leaving out what is zero.
pub(crate) fn demand(r: Resources) -> String {
    match (r.cpu_millis, r.memory_bytes) {
        (0, 0) => "nothing".to_string(),
        (c, 0) => format!("{} CPU", cpu(c)),
        (0, m) => format!("{} memory", memory(m)),
        (c, m) => format!("{} CPU and {} memory", cpu(c), memory(m)),
    }
}

/// "500m/1.0 GiB"
pub(crate) fn free(r: Resources) -> String {
    format!("{}/{}", cpu(r.cpu_millis), memory(r.memory_bytes))
}

pub(crate) fn quoted(name: &str) -> String {
    format!("\"{name}\"")
}

/// `"a", "b"` for the policy field and messages.
pub(crate) fn policy_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().map(quoted).collect::<Vec<_>>().join(", ")
}

/// "a, b, c, d, e and 3 more"
pub(crate) fn short_list<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let items: Vec<S> = items.into_iter().collect();
    let shown: Vec<&str> = items.iter().take(LIST_LIMIT).map(|s| s.as_ref()).collect();
    let mut out = shown.join(", ");
    if items.len() > LIST_LIMIT {
        out.push_str(&format!(" and {} more", items.len() - LIST_LIMIT));
    }
    out
}

/// "web", "web or cache", "web, cache or db"
pub(crate) fn either<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => {
            let init: Vec<&str> = init.iter().map(|s| s.as_ref()).collect();
            format!("{} or {}", init.join(", "), last.as_ref())
        }
    }
}

/// "web", "web and cache", "web, cache and db"
pub(crate) fn both<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [init @ .., last] if !init.is_empty() => {
            let init: Vec<&str> = init.iter().map(|s| s.as_ref()).collect();
            format!("{} and {}", init.join(", "), last.as_ref())
        }
        _ => either(items),
    }
}

pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts() {
        assert_eq!(memory(4 << 30), "4.0 GiB");
        assert_eq!(memory(256 << 20), "256 MiB");
        assert_eq!(memory(3 << 19), "1.5 MiB");
        assert_eq!(memory(100), "100 B");
        assert_eq!(
            demand(Resources {
                cpu_millis: 2000,
                memory_bytes: 4 << 30
            }),
            "2000m CPU and 4.0 GiB memory"
        );
        assert_eq!(
            demand(Resources {
                cpu_millis: 0,
                memory_bytes: 1 << 30
            }),
            "1.0 GiB memory"
        );
    }

    #[test]
    fn lists() {
        assert_eq!(short_list(["a", "b"]), "a, b");
        assert_eq!(
            short_list(["a", "b", "c", "d", "e", "f", "g"]),
            "a, b, c, d, e and 2 more"
        );
        assert_eq!(either(&["web"]), "web");
        assert_eq!(either(&["web", "cache", "db"]), "web, cache or db");
        assert_eq!(both(&["web", "cache"]), "web and cache");
        assert_eq!(policy_names(["a", "b"]), "\"a\", \"b\"");
    }
}
