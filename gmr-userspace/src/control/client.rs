//! The client side: `gmr-agent trigger` and `gmr-agent list`.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

use super::protocol::{Request, Response};

/// Sends `request` to the agent at `socket` and returns its response.
pub fn ask(socket: &Path, request: &Request, timeout: Duration) -> Result<Response> {
    let mut stream = UnixStream::connect(socket).with_context(|| {
        format!("cannot reach the agent at {} (is `gmr-agent run` running, and may you use its socket?)", socket.display())
    })?;
    stream.set_read_timeout(Some(timeout))?;
    let mut line = serde_json::to_string(request)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .with_context(|| format!("no answer from the agent within {timeout:?}"))?;
    if answer.is_empty() {
        bail!("the agent closed the connection without answering");
    }
    Ok(serde_json::from_str(&answer)?)
}

/// Human-readable text of a response; `Err` for an error response.
pub fn describe(response: &Response) -> Result<String> {
    let mut out = String::new();
    match response {
        Response::Error { message } => bail!("{message}"),
        Response::Triggered { outcomes } => {
            for o in outcomes {
                match (&o.note, o.files.is_empty()) {
                    (Some(note), true) => out.push_str(&format!("{}: {note}\n", o.pid)),
                    _ => {
                        for file in &o.files {
                            out.push_str(&format!("{}: {}\n", o.pid, file.display()));
                        }
                    }
                }
            }
        }
        Response::Listing { tags } => {
            for tag in tags {
                let cgroups: Vec<String> = tag
                    .cgroups
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect();
                out.push_str(&format!("{} ({})\n", tag.name, cgroups.join(", ")));
                let trigger = tag.trigger_file.as_ref().map(|p| p.display().to_string());
                out.push_str(&format!(
                    "  trigger file: {}\n",
                    trigger.as_deref().unwrap_or("none")
                ));
                let last = tag.last_report.as_ref().map(|p| p.display().to_string());
                out.push_str(&format!(
                    "  last report: {}\n",
                    last.as_deref().unwrap_or("none")
                ));
                for process in &tag.processes {
                    out.push_str(&format!(
                        "  {} {}  [{}]\n",
                        process.pid, process.comm, process.signal_note
                    ));
                }
            }
        }
    }
    Ok(out)
}
