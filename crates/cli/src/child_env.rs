//! What a `userstream` process started by another must not inherit.

use std::ffi::OsString;

/// Every `USERSTREAM_*` variable of this process's environment: settings (a config file, an
/// admin token, addresses, a CA certificate) that belong to the parent's role, not the
/// child's, which is given its own explicitly.
pub fn userstream_variables() -> impl Iterator<Item = OsString> {
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name.to_string_lossy().starts_with("USERSTREAM_"))
}
