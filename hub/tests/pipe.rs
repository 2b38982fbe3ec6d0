//! The named pipe itself (Windows): who may open it, a second hub, clients that find
//! every instance busy, read-only clients. What every endpoint does is tested on both
//! platforms in the other files.
#![cfg(windows)]

mod common;

use std::time::Duration;

use common::{TestHub, fresh_endpoint, open_pipe, within};
use pipehub::transport::{BindError, Listener, PipeAccess, current_user_sid};
use pipehub_protocol::Role;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    net::windows::named_pipe::ClientOptions,
};

/// The pipe's DACL in SDDL, as a client that opened it sees it.
fn dacl_of(endpoint: &str) -> String {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::{
        Foundation::LocalFree,
        Security::{
            Authorization::{
                ConvertSecurityDescriptorToStringSecurityDescriptorW, GetSecurityInfo,
                SDDL_REVISION_1, SE_KERNEL_OBJECT,
            },
            DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
        },
    };
    let client = ClientOptions::new().open(endpoint).expect("open the pipe");
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: the handle is open; on success `descriptor` is LocalAlloc'd and freed below.
    let err = unsafe {
        GetSecurityInfo(
            client.as_raw_handle(),
            SE_KERNEL_OBJECT,
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    assert_eq!(err, 0, "GetSecurityInfo failed");
    let mut text: *mut u16 = std::ptr::null_mut();
    // SAFETY: `descriptor` is valid; on success `text` is LocalAlloc'd and freed below.
    let ok = unsafe {
        ConvertSecurityDescriptorToStringSecurityDescriptorW(
            descriptor,
            SDDL_REVISION_1,
            DACL_SECURITY_INFORMATION,
            &mut text,
            std::ptr::null_mut(),
        )
    };
    assert_ne!(
        ok, 0,
        "ConvertSecurityDescriptorToStringSecurityDescriptorW failed"
    );
    // SAFETY: `text` is NUL-terminated; both were allocated by the calls above.
    unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        let sddl = String::from_utf16_lossy(std::slice::from_raw_parts(text, len));
        LocalFree(text.cast());
        LocalFree(descriptor);
        sddl
    }
}

/// The access entries of an SDDL DACL, such as `["A;;FA;;;S-1-5-21-..."]`.
fn entries(sddl: &str) -> Vec<String> {
    sddl.split('(')
        .skip(1)
        .map(|entry| entry.trim_end_matches(')').to_owned())
        .collect()
}

#[tokio::test]
async fn by_default_only_the_hubs_own_user_may_open_the_pipe() {
    let hub = TestHub::start().await;
    let sddl = dacl_of(&hub.endpoint);
    let owner = current_user_sid().unwrap();
    let entries = entries(&sddl);
    assert_eq!(entries.len(), 1, "one entry: {sddl}");
    assert!(entries[0].starts_with("A;;"), "an allow entry: {sddl}");
    assert!(
        entries[0].ends_with(&format!(";;;{owner}")),
        "for {owner}: {sddl}"
    );
    assert!(
        sddl.starts_with("D:P"),
        "protected, nothing inherited: {sddl}"
    );
}

#[tokio::test]
async fn allow_everyone_lets_everyone_connect_but_not_create_instances() {
    let (endpoint, _) = fresh_endpoint();
    let _listener = Listener::bind_with_access(&endpoint, PipeAccess::Everyone).unwrap();
    let sddl = dacl_of(&endpoint);
    let everyone: Vec<_> = entries(&sddl)
        .into_iter()
        .filter(|e| e.ends_with(";;;WD"))
        .collect();
    assert_eq!(everyone.len(), 1, "one entry for Everyone: {sddl}");
    let mask = everyone[0]
        .split(';')
        .nth(2)
        .and_then(|m| u32::from_str_radix(m.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("a numeric mask: {sddl}"));
    const FILE_READ_DATA: u32 = 0x1;
    const FILE_WRITE_DATA: u32 = 0x2;
    const FILE_CREATE_PIPE_INSTANCE: u32 = 0x4;
    assert_eq!(
        mask & (FILE_READ_DATA | FILE_WRITE_DATA),
        FILE_READ_DATA | FILE_WRITE_DATA
    );
    assert_eq!(mask & FILE_CREATE_PIPE_INSTANCE, 0, "{sddl}");
}

#[tokio::test]
async fn a_bare_name_is_the_pipe_of_that_name() {
    let name = format!("pipehub-test-bare-{}", std::process::id());
    let listener = Listener::bind(&name).unwrap();
    assert_eq!(listener.endpoint(), format!(r"\\.\pipe\{name}"));
}

#[tokio::test]
async fn a_second_hub_is_refused_even_while_every_instance_is_busy() {
    let (endpoint, _) = fresh_endpoint();
    let _first = Listener::bind(&endpoint).unwrap();
    // Takes the only instance; the first hub has not accepted it yet.
    let _client = ClientOptions::new().open(&endpoint).unwrap();
    match Listener::bind(&endpoint) {
        Err(BindError::InUse { .. }) => {}
        Err(other) => panic!("expected InUse, got {other}"),
        Ok(_) => panic!("a second hub shared a live pipe"),
    }
}

#[tokio::test]
async fn a_client_that_finds_every_instance_busy_gets_in_once_one_is_free() {
    let (endpoint, _) = fresh_endpoint();
    let mut listener = Listener::bind(&endpoint).unwrap();
    // The first client takes the only instance; the second finds it busy and retries.
    let _first = ClientOptions::new().open(&endpoint).unwrap();
    let busy = ClientOptions::new().open(&endpoint).unwrap_err();
    assert_eq!(busy.raw_os_error(), Some(231), "ERROR_PIPE_BUSY: {busy}");
    let second = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { within(open_pipe(&endpoint, ClientOptions::new())).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!second.is_finished(), "nothing was free yet");
    // Accepting the first creates the next instance, which the second takes.
    within(listener.accept()).await.unwrap();
    within(listener.accept()).await.unwrap();
    within(second).await.unwrap();
}

#[tokio::test]
async fn a_read_only_client_is_a_text_listener() {
    // What .NET's NamedPipeClientStream(".", NAME, PipeDirection.In) does.
    let hub = TestHub::start().await;
    let mut options = ClientOptions::new();
    options.write(false);
    let stream = within(open_pipe(&hub.endpoint, options)).await;
    hub.wait_for_clients(1).await;
    let clients = hub.hub.clients();
    assert_eq!(clients[0].kind.name(), "text");
    hub.hub.publish(b"first").unwrap();
    hub.hub.publish(b"two\nlines").unwrap();
    let mut lines = BufReader::new(stream).lines();
    assert_eq!(within(lines.next_line()).await.unwrap().unwrap(), "first");
    assert_eq!(
        within(lines.next_line()).await.unwrap().unwrap(),
        "two\\nlines"
    );
}

#[tokio::test]
async fn many_clients_connecting_at_once_all_get_in() {
    const CLIENTS: usize = 50;
    let hub = TestHub::start().await;
    let joins: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let endpoint = hub.endpoint.clone();
            tokio::spawn(async move { common::RawClient::join(&endpoint, Role::Listener).await })
        })
        .collect();
    let mut clients = Vec::new();
    for join in joins {
        clients.push(within(join).await.unwrap().0);
    }
    hub.wait_for_clients(CLIENTS).await;
    hub.hub.publish(b"to all").unwrap();
    for client in &mut clients {
        assert_eq!(&client.recv_broadcast().await.1[..], b"to all");
    }
}
