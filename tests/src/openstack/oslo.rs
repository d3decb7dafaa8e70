//! oslo.reports' own text report (what `TextGuruMeditation` writes on
//! SIGUSR2), parsed into the parts the corpus compares: its Green Threads
//! and Threads stacks and its Configuration options.

/// One frame as oslo prints it: `/path/file.py:LINE in function`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The source file.
    pub file: String,
    /// The line being run.
    pub line: u64,
    /// The function.
    pub function: String,
}

/// One oslo report, split into the sections the corpus compares.
#[derive(Debug, Default)]
pub struct Report {
    /// Each green thread's frames, outermost first (oslo's order); empty
    /// for a greenlet oslo printed as `No Traceback!`.
    pub greenlets: Vec<Vec<Frame>>,
    /// Each OS thread's Python ident (oslo's `Thread #IDENT` title) and
    /// frames, outermost first.
    pub threads: Vec<(u64, Vec<Frame>)>,
    /// Every `(group, option, value)` of its Configuration section; a list
    /// or dict value is its items (`key = value` for a dict), one per line,
    /// as oslo prints them.
    pub options: Vec<(String, String, String)>,
}

/// The title of a `====   Title   ====` banner line, if `line` is one.
fn banner(line: &str, edge: &str) -> Option<String> {
    let inner = line.strip_prefix(edge)?.strip_suffix(edge)?.trim();
    (!inner.is_empty() && !inner.starts_with(['=', '-'])).then(|| inner.to_owned())
}

/// A frame line, if `line` is one.
fn frame(line: &str) -> Option<Frame> {
    let (location, function) = line.split_once(" in ")?;
    let (file, number) = location.rsplit_once(':')?;
    Some(Frame {
        file: file.to_owned(),
        line: number.parse().ok()?,
        function: function.trim().to_owned(),
    })
}

/// The first banner of oslo's text report, and of gmr's.
const REPORT_BANNER: &str = "Guru Meditation";

/// Parses the text oslo wrote (the first report in `text`), skipping any
/// gmr report among it.
pub fn parse(text: &str) -> Report {
    let mut report = Report::default();
    let mut section = String::new();
    let mut group = String::new();
    let mut in_gmr = false;
    for line in text.lines() {
        if let Some(title) = banner(line, "====") {
            // Both reports open with this banner and a rule of `|`; gmr's
            // own (its SIGUSR2 trigger copies it to the same stderr) then
            // has its `pid = ` header, oslo's nothing.
            if title == REPORT_BANNER {
                in_gmr = false;
            }
            section = title;
            continue;
        }
        if section == REPORT_BANNER && line.starts_with("pid = ") {
            in_gmr = true;
        }
        if in_gmr {
            continue;
        }
        if let Some(title) = banner(line, "------") {
            match (section.as_str(), title.as_str()) {
                ("Green Threads", "Green Thread") => report.greenlets.push(Vec::new()),
                ("Threads", t) => {
                    if let Some(ident) = t.strip_prefix("Thread #").and_then(|i| i.parse().ok()) {
                        report.threads.push((ident, Vec::new()));
                    }
                }
                _ => {}
            }
            continue;
        }
        match section.as_str() {
            "Green Threads" => {
                if let (Some(frame), Some(stack)) = (frame(line), report.greenlets.last_mut()) {
                    stack.push(frame);
                }
            }
            "Threads" => {
                if let (Some(frame), Some((_, stack))) = (frame(line), report.threads.last_mut()) {
                    stack.push(frame);
                }
            }
            "Configuration" => {
                if let Some(name) = line.strip_suffix(':').or(line.strip_suffix(": "))
                    && !line.starts_with(' ')
                {
                    group = name.trim().to_owned();
                } else if let Some(item) = line.strip_prefix("    ") {
                    // An item of a list or dict option, one per line.
                    if let Some((_, _, value)) = report.options.last_mut() {
                        if !value.is_empty() {
                            value.push('\n');
                        }
                        value.push_str(item.trim());
                    }
                } else if let Some(rest) = line.strip_prefix("  ") {
                    if let Some((name, value)) = rest.split_once(" = ") {
                        report
                            .options
                            .push((group.clone(), name.to_owned(), value.to_owned()));
                    } else if let Some(name) = rest.strip_suffix(": ").or(rest.strip_suffix(':')) {
                        report
                            .options
                            .push((group.clone(), name.to_owned(), String::new()));
                    }
                }
            }
            _ => {}
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stacks_and_options_as_oslo_prints_them() {
        let text = "\
========================================================================
====                        Guru Meditation                         ====
========================================================================
||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||
pid = 7
========================================================================
====                          Configuration                         ====
========================================================================
  DEFAULT:
    from_gmr = 1
========================================================================
====                        Guru Meditation                         ====
========================================================================
||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||
========================================================================
====                         Green Threads                          ====
========================================================================
------                        Green Thread                        ------

/usr/lib/python3/dist-packages/eventlet/hubs/hub.py:355 in run
    `self.wait(sleep_time)`

------                        Green Thread                        ------

No Traceback!

========================================================================
====                            Threads                             ====
========================================================================
------                Thread #140410102470464                 ------

/usr/lib/python3/dist-packages/oslo_reports/guru_meditation_report.py:183 in handle_signal
    `res = cls(version, frame).run()`

========================================================================
====                          Configuration                         ====
========================================================================

default: 
  debug = False
  hosts = 
    a
    b
  mapping: 
    k = v
  transport_url = ***
";
        let report = parse(text);
        assert_eq!(report.greenlets.len(), 2);
        assert_eq!(report.greenlets[0][0].function, "run");
        assert_eq!(report.greenlets[0][0].line, 355);
        assert!(report.greenlets[1].is_empty());
        assert_eq!(report.threads.len(), 1);
        assert_eq!(report.threads[0].0, 140410102470464);
        assert_eq!(report.threads[0].1[0].function, "handle_signal");
        assert_eq!(
            report.options,
            vec![
                ("default".into(), "debug".into(), "False".into()),
                ("default".into(), "hosts".into(), "a\nb".into()),
                ("default".into(), "mapping".into(), "k = v".into()),
                ("default".into(), "transport_url".into(), "***".into())
            ]
        );
    }
}
