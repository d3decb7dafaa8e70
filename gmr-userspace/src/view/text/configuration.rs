//! Text of the Configuration section.

use std::fmt::{self, Formatter};

use super::clean;
use crate::model::Configuration;

/// Writes the command line.
pub(super) fn write(f: &mut Formatter<'_>, configuration: &Configuration) -> fmt::Result {
    writeln!(f, "command_line:")?;
    for arg in &configuration.command_line {
        writeln!(f, "  {}", clean(arg))?;
    }
    Ok(())
}
