//! Text of the Package section.

use std::fmt::{self, Formatter};

use super::{clean, or_unknown};
use crate::model::Package;

/// Writes the Package section as `key = value` lines sorted by key, as
/// oslo's key-value view does.
pub(super) fn write(f: &mut Formatter<'_>, package: &Package) -> fmt::Result {
    writeln!(f, "build_id = {}", or_unknown(package.build_id.as_deref()))?;
    writeln!(
        f,
        "executable = {}",
        or_unknown(package.executable.as_deref())
    )?;
    writeln!(f, "executable_deleted = {}", package.executable_deleted)?;
    writeln!(f, "gmr_version = {}", clean(&package.gmr_version))?;
    writeln!(f, "kernel = {}", clean(&package.kernel))
}
