//! Memory maps summarised per file: how much each mapped file (and the heap,
//! stacks and anonymous memory) takes, largest resident first.

use std::collections::HashMap;

use super::{make_table, read_proc};
use crate::model::Table;

/// Rows shown; the rest are summed into one line.
const MAX_ROWS: usize = 40;

/// Sizes and resident memory per mapping name, from `/proc/PID/smaps`.
pub fn table(pid: u32) -> Result<Table, String> {
    let smaps = read_proc(pid, "smaps")?;
    let mut by_name: HashMap<String, (u32, u64, u64)> = HashMap::new();
    let mut current: Option<String> = None;
    for line in smaps.lines() {
        if let Some(name) = mapping_name(line) {
            by_name.entry(name.clone()).or_default().0 += 1;
            current = Some(name);
        } else if let (Some(name), Some((key, kib))) = (&current, size_field(line)) {
            let entry = by_name.entry(name.clone()).or_default();
            match key {
                "Size" => entry.1 += kib,
                "Rss" => entry.2 += kib,
                _ => {}
            }
        }
    }
    let mut entries: Vec<(String, (u32, u64, u64))> = by_name.into_iter().collect();
    entries.sort_by(|a, b| b.1.2.cmp(&a.1.2).then(a.0.cmp(&b.0)));
    let total_rss: u64 = entries.iter().map(|e| e.1.2).sum();
    let hidden = entries.len().saturating_sub(MAX_ROWS);
    let rows = entries
        .into_iter()
        .take(MAX_ROWS)
        .map(|(name, (count, size, rss))| {
            vec![name, count.to_string(), size.to_string(), rss.to_string()]
        })
        .collect();
    let mut note = format!("total resident: {total_rss} KiB");
    if hidden > 0 {
        note.push_str(&format!("; {hidden} smaller entries not shown"));
    }
    Ok(make_table(
        &["mapping", "count", "size_kib", "rss_kib"],
        rows,
        Some(note),
    ))
}

/// The name of a mapping header line (`start-end perms offset dev inode [name]`).
fn mapping_name(line: &str) -> Option<String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let range = fields.first()?;
    if fields.len() < 5
        || !range.contains('-')
        || !range.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    {
        return None;
    }
    // Runs of spaces inside a path are rare; joining with one is good enough
    // for a summary.
    let name = fields[5..].join(" ");
    Some(if name.is_empty() {
        "[anonymous]".to_owned()
    } else {
        name
    })
}

/// `Rss:    1234 kB` → ("Rss", 1234).
fn size_field(line: &str) -> Option<(&str, u64)> {
    let (key, rest) = line.split_once(':')?;
    let value = rest.trim().strip_suffix(" kB")?;
    Some((key, value.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_and_sizes() {
        assert_eq!(
            mapping_name("7f00-7f10 r-xp 00000000 fe:00 123    /usr/lib/libc.so.6").as_deref(),
            Some("/usr/lib/libc.so.6")
        );
        assert_eq!(
            mapping_name("7f00-7f10 rw-p 00000000 00:00 0 ").as_deref(),
            Some("[anonymous]")
        );
        assert_eq!(mapping_name("Rss:                 12 kB"), None);
        assert_eq!(size_field("Rss:                 12 kB"), Some(("Rss", 12)));
    }

    #[test]
    fn summarises_own_maps() {
        let t = table(std::process::id()).unwrap();
        assert!(t.rows.iter().any(|r| r[0] == "[stack]"), "{:?}", t.rows);
        assert!(t.note.unwrap().starts_with("total resident: "));
    }
}
