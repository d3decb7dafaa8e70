//! Report-directory retention: after each report, a tag's directory keeps
//! at most so many reports and bytes, dropping the oldest first, so a flood
//! of triggers can never fill the disk.
//!
//! A report is every file sharing a stem (`…_<time>_<pid>.txt`, `.json`,
//! `.yaml`); the UTC timestamp in the name makes name order time order.

use std::{collections::BTreeMap, io, path::Path};

use crate::config::Retention;

/// What a prune removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Reports removed.
    pub reports: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// Removes the oldest reports in `dir` beyond `retention`.
pub fn prune(dir: &Path, retention: Retention) -> io::Result<Pruned> {
    let mut reports: BTreeMap<String, (u64, Vec<std::path::PathBuf>)> = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((stem, _ext)) = name.rsplit_once('.') else {
            continue;
        };
        if !stem.contains("_gurumeditation_") || !entry.file_type()?.is_file() {
            continue;
        }
        let report = reports.entry(stem.to_owned()).or_default();
        report.0 += entry.metadata()?.len();
        report.1.push(entry.path());
    }
    let mut total: u64 = reports.values().map(|r| r.0).sum();
    let mut count = reports.len();
    let mut pruned = Pruned::default();
    for (_, (bytes, files)) in reports {
        if count <= retention.max_reports && total <= retention.max_bytes {
            break;
        }
        for file in files {
            std::fs::remove_file(file)?;
        }
        count -= 1;
        total -= bytes;
        pruned.reports += 1;
        pruned.bytes += bytes;
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_reports_within_count_and_bytes() {
        let dir = std::env::temp_dir().join(format!("gmr-retention-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..5 {
            for ext in ["txt", "json"] {
                let name = format!("svc_gurumeditation_2026112612000{i}.000000_42.{ext}");
                std::fs::write(dir.join(name), vec![b'x'; 100]).unwrap();
            }
        }
        std::fs::write(dir.join("unrelated.txt"), "keep me").unwrap();
        let pruned = prune(
            &dir,
            Retention {
                max_reports: 3,
                max_bytes: u64::MAX,
            },
        )
        .unwrap();
        assert_eq!(
            pruned,
            Pruned {
                reports: 2,
                bytes: 400
            }
        );
        let pruned = prune(
            &dir,
            Retention {
                max_reports: 10,
                max_bytes: 250,
            },
        )
        .unwrap();
        assert_eq!(
            pruned.reports, 2,
            "two 200-byte reports go to get under 250 bytes"
        );
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "svc_gurumeditation_20261126120004.000000_42.json",
                "svc_gurumeditation_20261126120004.000000_42.txt",
                "unrelated.txt"
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
