//! Resource limits, from `/proc/PID/limits`.

use super::{make_table, read_proc};
use crate::model::Table;

/// One row per limit: name, soft, hard, units.
pub fn table(pid: u32) -> Result<Table, String> {
    let text = read_proc(pid, "limits")?;
    let rows = text.lines().skip(1).filter_map(parse_line).collect();
    Ok(make_table(&["limit", "soft", "hard", "units"], rows, None))
}

/// Splits a limits line: the name is padded to 26 columns, then values.
fn parse_line(line: &str) -> Option<Vec<String>> {
    let (name, values) = (line.get(..26)?.trim(), line.get(26..)?);
    let mut values = values.split_whitespace();
    Some(vec![
        name.to_owned(),
        values.next()?.to_owned(),
        values.next()?.to_owned(),
        values.next().unwrap_or("").to_owned(),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_limits() {
        let t = super::table(std::process::id()).unwrap();
        let files = t
            .rows
            .iter()
            .find(|r| r[0] == "Max open files")
            .expect("Max open files");
        assert_eq!(files[3], "files");
        assert!(files[1].parse::<u64>().is_ok() || files[1] == "unlimited");
    }
}
