//! Where a hub serves and where clients look for it, when nobody says otherwise.
//!
//! The order is the same for the hub and every client: an explicit `--endpoint`, then the
//! `PIPEHUB_ENDPOINT` environment variable, then the platform default:
//! - Linux/macOS: `$XDG_RUNTIME_DIR/pipehub.sock`; without `XDG_RUNTIME_DIR`,
//!   `<temp dir>/pipehub-<uid>/pipehub.sock` (the hub creates that directory mode 0700).
//! - Windows: `\\.\pipe\pipehub`. A bare name `NAME` means `\\.\pipe\NAME`.

#[cfg(unix)]
use std::path::PathBuf;

/// The environment variable that overrides the default endpoint.
pub const ENV_VAR: &str = "PIPEHUB_ENDPOINT";

/// The file name of the default socket, and the default pipe name.
pub const DEFAULT_NAME: &str = "pipehub";

/// The endpoint to use when `--endpoint` is not given: `PIPEHUB_ENDPOINT` if set and not
/// empty, else [`platform_default`].
pub fn from_env_or_default() -> String {
    match std::env::var(ENV_VAR) {
        Ok(value) if !value.is_empty() => value,
        _ => platform_default(),
    }
}

/// The platform's default endpoint (see the module documentation).
#[cfg(unix)]
pub fn platform_default() -> String {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => private_temp_dir(),
    };
    dir.join(format!("{DEFAULT_NAME}.sock"))
        .to_string_lossy()
        .into_owned()
}

/// The per-user fallback directory for the default socket: `<temp>/pipehub-<uid>`.
#[cfg(unix)]
pub fn private_temp_dir() -> PathBuf {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("{DEFAULT_NAME}-{uid}"))
}

/// The platform's default endpoint (see the module documentation).
#[cfg(windows)]
pub fn platform_default() -> String {
    pipe_path(DEFAULT_NAME)
}

/// A full pipe path for `name`: a bare name becomes `\\.\pipe\NAME`, a full path is kept.
pub fn pipe_path(name: &str) -> String {
    if name.starts_with(r"\\") {
        name.to_owned()
    } else {
        format!(r"\\.\pipe\{name}")
    }
}
