//! Mono, for the tests of .NET programs: the C# compiler (`mcs`) and the runtime (`mono`)
//! from Debian, which `.ci/packages` installs.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// How to get Mono on the Debian machines CI runs on.
pub const INSTALL_MONO: &str =
    "apt-get install -y --no-install-recommends mono-mcs libmono-system-core4.0-cil";

/// Fails the test, naming the fix, if `mcs` or `mono` cannot be run.
pub fn require() {
    for tool in ["mcs", "mono"] {
        if let Err(err) = Command::new(tool).arg("--version").output() {
            panic!("`{tool}` cannot be run ({err}); these tests need Mono: {INSTALL_MONO}");
        }
    }
}

/// Compiles `sources` (the first names the program) into `exe` with `mcs` and `args`;
/// fails the test with the compiler's output if it does not build.
pub fn compile(exe: &Path, sources: &[PathBuf], args: &[&str]) -> PathBuf {
    let output = Command::new("mcs")
        .args(args)
        .arg(format!("-out:{}", exe.display()))
        .args(sources)
        .output()
        .expect("run mcs");
    assert!(
        output.status.success(),
        "mcs {} failed (is {INSTALL_MONO} complete?):\n{}{}",
        sources
            .first()
            .map_or(String::new(), |s| s.display().to_string()),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    exe.to_path_buf()
}
