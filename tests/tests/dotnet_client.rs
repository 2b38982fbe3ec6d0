//! The C# client library (`clients/dotnet/`) against the real hub, under Mono.
//!
//! The library and its driver program (`clients/dotnet/tests/Scenarios.cs`) are compiled
//! with Mono's `mcs` once per test run and run with `mono`; the scenarios are those every
//! client library passes (`pipehub_tests::clients`). `Vectors.cs` checks the library's
//! codec against the test vectors of docs/protocol.md.
//!
//! The Windows path of the library (a named pipe through `NamedPipeClientStream`) is not
//! run here: Debian has no Mono or .NET runtime for Windows that Wine could run.
#![cfg(unix)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use pipehub_tests::{
    ClientProcess, HubProcess, Scratch, clients, clients::Driver, mono, output_within,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Compiles `clients/dotnet/SOURCE.cs` with the library's sources, once per test process,
/// into this process's own directory; fails naming the fix without Mono.
fn compiled(source: &'static str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        mono::require();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("dotnet-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the build directory");
        dir
    });
    let program = source.rsplit('/').next().unwrap_or(source);
    let exe = dir.join(format!("{program}.exe"));
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if exe.exists() {
        return exe;
    }
    let dotnet = root().join("clients/dotnet");
    let sources: Vec<PathBuf> = std::fs::read_dir(dotnet.join("src/Pipehub"))
        .expect("clients/dotnet/src/Pipehub")
        .map(|entry| entry.expect("a source").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cs"))
        .collect();
    let mut all = vec![dotnet.join(format!("{source}.cs"))];
    all.extend(sources);
    mono::compile(&exe, &all, &["-langversion:7.2", "-warnaserror+"])
}

fn driver() -> Driver {
    Driver {
        program: vec!["mono".into(), compiled("tests/Scenarios").into()],
        listen_flags: Vec::new(),
    }
}

#[test]
fn the_csharp_codec_agrees_with_the_documents_vectors() {
    let output = output_within(
        Command::new("mono")
            .arg(compiled("tests/Vectors"))
            .arg(root().join("docs/protocol.md"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run Vectors.exe"),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.trim_end().ends_with(" passed, 0 failed"), "{stdout}");
}

#[test]
fn twenty_listeners_receive_ten_thousand_broadcasts_in_order() {
    clients::twenty_listeners_receive_ten_thousand_broadcasts_in_order(&driver());
}

#[test]
fn a_publishers_messages_reach_pipehub_client_listen() {
    clients::a_publishers_messages_reach_pipehub_client_listen(&driver());
}

#[test]
fn a_stopped_listener_is_told_its_exact_loss() {
    clients::a_stopped_listener_is_told_its_exact_loss(&driver());
}

#[test]
fn resume_after_a_cut_connection_loses_nothing() {
    clients::resume_after_a_cut_connection_loses_nothing(&driver());
}

#[test]
fn a_restarted_hub_is_announced_and_followed() {
    clients::a_restarted_hub_is_announced_and_followed(&driver());
}

#[test]
fn a_refused_connection_raises_a_clear_error() {
    clients::a_refused_connection_raises_a_clear_error(&driver(), &[]);
}

#[test]
fn a_missing_hub_raises_a_clear_error() {
    clients::a_missing_hub_raises_a_clear_error(&driver());
}

#[test]
fn the_hubs_bye_ends_the_stream_cleanly() {
    clients::the_hubs_bye_ends_the_stream_cleanly(&driver());
}

#[test]
fn the_examples_listen_and_publish_through_the_hub() {
    let scratch = Scratch::new();
    let mut hub = HubProcess::start(&scratch.endpoint("hub.sock"), &[]);
    let mut listen = ClientProcess::spawn({
        let mut command = Command::new("mono");
        command
            .arg(compiled("examples/Listen/Listen"))
            .arg(&hub.endpoint)
            .stdin(std::process::Stdio::null());
        command
    });
    hub.wait_for_listeners(1);
    let mut publish = Command::new("mono")
        .arg(compiled("examples/Publish/Publish"))
        .arg(&hub.endpoint)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start Publish.exe");
    std::io::Write::write_all(
        &mut publish.stdin.take().expect("stdin"),
        b"hello from Publish.exe\nsecond line\n",
    )
    .expect("write to Publish.exe");
    let published = output_within(publish);
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );
    // Publish.exe returned once the hub took both: stopping the hub now loses none.
    hub.terminate();
    assert!(
        listen.wait().success(),
        "Listen.exe ends with the hub's BYE, exit 0"
    );
    assert_eq!(
        listen.stdout.rest(),
        ["#1 hello from Publish.exe", "#2 second line"]
    );
    assert!(
        listen
            .stderr
            .rest()
            .iter()
            .any(|line| line.contains("shutdown")),
        "Listen.exe says why the stream ended"
    );
    assert!(hub.wait().success(), "the hub stops cleanly");
}
