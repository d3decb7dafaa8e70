//! The header line stating the freeze, when one was asked for:
//! `freeze = frozen for 1.234 ms (all tasks stopped after 0.456 ms), cgroup …`,
//! or what else came of it and why.

use std::fmt::{self, Formatter};

use super::{UNKNOWN, clean};
use crate::model::{Freeze, FreezeStatus};

/// Writes the `freeze = …` line.
pub(super) fn write(f: &mut Formatter<'_>, freeze: &Freeze) -> fmt::Result {
    let ms = |value: Option<f64>| value.map_or(UNKNOWN.to_owned(), |v| format!("{v:.3} ms"));
    write!(f, "freeze = ")?;
    match freeze.status {
        FreezeStatus::Frozen => write!(
            f,
            "frozen for {} (all tasks stopped after {})",
            ms(freeze.frozen_ms),
            ms(freeze.settled_ms)
        )?,
        FreezeStatus::Partly => write!(f, "partly frozen for {}", ms(freeze.frozen_ms))?,
        FreezeStatus::AlreadyFrozen => write!(f, "already frozen")?,
        FreezeStatus::NotFrozen => write!(f, "not frozen")?,
    }
    if let Some(cgroup) = &freeze.cgroup {
        write!(f, ", cgroup {}", clean(cgroup))?;
    }
    if let Some(note) = &freeze.note {
        write!(f, ": {}", clean(note))?;
    }
    writeln!(f)
}

#[cfg(test)]
mod tests {
    use crate::{
        model::{Freeze, FreezeStatus},
        view::{render_json, sample::sample_report, text::render_text},
    };

    fn header_line(freeze: Option<Freeze>) -> Option<String> {
        let mut report = sample_report();
        report.freeze = freeze;
        let text = render_text(&report);
        let line = text.lines().find(|l| l.starts_with("freeze = "))?;
        assert!(
            text.contains(&format!(
                "\ngenerated_at = 2026-11-26T17:48:46.123456Z\n{line}\n\n"
            )),
            "the line closes the header: {text}"
        );
        Some(line.to_owned())
    }

    #[test]
    fn states_the_freeze_or_why_not() {
        assert_eq!(header_line(None), None, "nothing unless asked for");
        let frozen = Freeze {
            status: FreezeStatus::Frozen,
            cgroup: Some("/sys/fs/cgroup/system.slice/nova-api.service".into()),
            frozen_ms: Some(12.3456),
            settled_ms: Some(0.5),
            note: None,
        };
        assert_eq!(
            header_line(Some(frozen.clone())).unwrap(),
            "freeze = frozen for 12.346 ms (all tasks stopped after 0.500 ms), \
             cgroup /sys/fs/cgroup/system.slice/nova-api.service"
        );
        let partly = Freeze {
            status: FreezeStatus::Partly,
            settled_ms: None,
            note: Some("not every task had stopped after 500 ms; captured anyway".into()),
            ..frozen.clone()
        };
        assert_eq!(
            header_line(Some(partly)).unwrap(),
            "freeze = partly frozen for 12.346 ms, cgroup \
             /sys/fs/cgroup/system.slice/nova-api.service: \
             not every task had stopped after 500 ms; captured anyway"
        );
        let refused = Freeze {
            status: FreezeStatus::NotFrozen,
            cgroup: None,
            frozen_ms: None,
            settled_ms: None,
            note: Some("the target is in the root cgroup,\nwhich cannot be frozen".into()),
        };
        assert_eq!(
            header_line(Some(refused)).unwrap(),
            "freeze = not frozen: the target is in the root cgroup,\\nwhich cannot be frozen"
        );

        let mut report = sample_report();
        report.freeze = Some(frozen);
        let json: serde_json::Value = serde_json::from_str(&render_json(&report)).unwrap();
        assert_eq!(
            json["freeze"],
            serde_json::json!({
                "status": "frozen",
                "cgroup": "/sys/fs/cgroup/system.slice/nova-api.service",
                "frozen_ms": 12.3456,
                "settled_ms": 0.5,
                "note": null
            })
        );
        report.freeze = None;
        let json: serde_json::Value = serde_json::from_str(&render_json(&report)).unwrap();
        assert!(json.as_object().unwrap().get("freeze").unwrap().is_null());
    }
}
