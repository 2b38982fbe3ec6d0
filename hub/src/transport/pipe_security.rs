//! Who may open the hub's named pipe: the security descriptor every instance of the pipe
//! is created with.
//!
//! Without one, Windows gives a pipe its default descriptor, which lets *every* user on
//! the machine (Everyone, and the anonymous account) open it for reading: any local user
//! could sit on the hub as a text listener. pipehub instead does what .NET's
//! `PipeOptions.CurrentUserOnly` does: a protected DACL with one entry, full access for
//! the user the hub runs as, and nothing for anyone else.
//!
//! `--allow-everyone` adds one entry for Everyone: read, write messages, write
//! attributes — but not `FILE_CREATE_PIPE_INSTANCE` (the same bit as `FILE_APPEND_DATA`,
//! part of `GENERIC_WRITE`), so another user can connect but cannot create instances of
//! the hub's pipe name and take over clients meant for the hub.
//!
//! The descriptor is written in SDDL with the hub user's SID filled in, converted once
//! by `ConvertStringSecurityDescriptorToSecurityDescriptorW`, and kept for the lifetime of
//! the listener, since every new instance is created with it.

use std::{ffi::c_void, io, ptr};

use windows_sys::Win32::{
    Foundation::{CloseHandle, HANDLE, LocalFree},
    Security::{
        Authorization::{
            ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
            SDDL_REVISION_1,
        },
        GetTokenInformation, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES, TOKEN_QUERY, TOKEN_USER,
        TokenUser,
    },
    System::Threading::{GetCurrentProcess, OpenProcessToken},
};

/// The rights Everyone gets with `--allow-everyone`: `FILE_GENERIC_READ` (0x120089),
/// `FILE_WRITE_DATA` (0x2) and `FILE_WRITE_ATTRIBUTES` (0x100). Not
/// `FILE_CREATE_PIPE_INSTANCE` (0x4).
const EVERYONE_RIGHTS: u32 = 0x0012_018b;

/// Who may open the pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeAccess {
    /// Only the user the hub runs as (the default, like `PipeOptions.CurrentUserOnly`).
    CurrentUser,
    /// Every local user may connect, read and write; only the hub's user may create
    /// instances of the pipe. Remote clients are rejected either way.
    Everyone,
}

/// The SDDL for `access`, with `owner` the hub user's SID in string form.
pub fn sddl(access: PipeAccess, owner: &str) -> String {
    // D: the DACL; P: protected (no inherited entries); A: allow; GA: generic all.
    let mut sddl = format!("D:P(A;;GA;;;{owner})");
    if access == PipeAccess::Everyone {
        sddl.push_str(&format!("(A;;{EVERYONE_RIGHTS:#x};;;WD)"));
    }
    sddl
}

/// A security descriptor to create pipe instances with. Frees it when dropped.
pub struct PipeSecurity {
    descriptor: PSECURITY_DESCRIPTOR,
    attributes: SECURITY_ATTRIBUTES,
}

// SAFETY: the descriptor is allocated once, never written after `new`, only read by
// `CreateNamedPipeW`, and freed once in `drop`; moving or sharing it between threads is
// as safe as sharing an immutable buffer.
unsafe impl Send for PipeSecurity {}
// SAFETY: as above: nothing mutates it through a shared reference.
unsafe impl Sync for PipeSecurity {}

impl PipeSecurity {
    /// The descriptor for `access`, for the user this process runs as.
    pub fn new(access: PipeAccess) -> io::Result<PipeSecurity> {
        let sddl = sddl(access, &current_user_sid()?);
        let wide: Vec<u16> = sddl.encode_utf16().chain(Some(0)).collect();
        let mut descriptor: PSECURITY_DESCRIPTOR = ptr::null_mut();
        // SAFETY: `wide` is NUL-terminated; on success the function stores a LocalAlloc'd
        // descriptor in `descriptor`, which `drop` frees.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PipeSecurity {
            descriptor,
            attributes: SECURITY_ATTRIBUTES {
                nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
                lpSecurityDescriptor: descriptor,
                bInheritHandle: 0,
            },
        })
    }

    /// The `SECURITY_ATTRIBUTES` to pass to `CreateNamedPipeW`. Valid while `self` lives.
    pub fn attributes(&self) -> *mut c_void {
        (&raw const self.attributes).cast_mut().cast()
    }
}

impl Drop for PipeSecurity {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW with
        // LocalAlloc, freed exactly once.
        unsafe { LocalFree(self.descriptor) };
    }
}

/// The SID of the user this process runs as, in string form (`S-1-5-21-...`).
pub fn current_user_sid() -> io::Result<String> {
    let mut token: HANDLE = ptr::null_mut();
    // SAFETY: the pseudo-handle of the current process needs no closing; `token` is
    // closed below.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let result = token_user_sid(token);
    // SAFETY: `token` was opened above and is closed once.
    unsafe { CloseHandle(token) };
    result
}

fn token_user_sid(token: HANDLE) -> io::Result<String> {
    // TOKEN_USER is a SID pointer followed by the SID it points at; ask for the size.
    let mut len = 0u32;
    // SAFETY: a null buffer of length 0 only asks for the needed length.
    unsafe { GetTokenInformation(token, TokenUser, ptr::null_mut(), 0, &mut len) };
    if len == 0 {
        return Err(io::Error::last_os_error());
    }
    // u64 elements keep the buffer aligned for TOKEN_USER's pointer.
    let mut buf = vec![0u64; (len as usize).div_ceil(8)];
    // SAFETY: `buf` holds at least `len` bytes.
    let ok =
        unsafe { GetTokenInformation(token, TokenUser, buf.as_mut_ptr().cast(), len, &mut len) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER whose SID lies in `buf`.
    let sid = unsafe { (*buf.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    let mut text: *mut u16 = ptr::null_mut();
    // SAFETY: `sid` is valid while `buf` lives; on success `text` is a LocalAlloc'd,
    // NUL-terminated string, freed below.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `text` is NUL-terminated.
    let sid = unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        String::from_utf16_lossy(std::slice::from_raw_parts(text, len))
    };
    // SAFETY: allocated by ConvertSidToStringSidW, freed once.
    unsafe { LocalFree(text.cast()) };
    Ok(sid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_only_the_owner_has_an_entry() {
        assert_eq!(
            sddl(PipeAccess::CurrentUser, "S-1-5-21-1-2-3-1001"),
            "D:P(A;;GA;;;S-1-5-21-1-2-3-1001)"
        );
    }

    #[test]
    fn everyone_may_connect_but_not_create_instances() {
        let sddl = sddl(PipeAccess::Everyone, "S-1-5-21-1-2-3-1001");
        assert_eq!(sddl, "D:P(A;;GA;;;S-1-5-21-1-2-3-1001)(A;;0x12018b;;;WD)");
        const FILE_CREATE_PIPE_INSTANCE: u32 = 0x4;
        assert_eq!(EVERYONE_RIGHTS & FILE_CREATE_PIPE_INSTANCE, 0);
    }

    #[test]
    fn the_current_user_has_a_sid_and_the_descriptor_converts() {
        assert!(current_user_sid().unwrap().starts_with("S-1-"));
        PipeSecurity::new(PipeAccess::CurrentUser).unwrap();
        PipeSecurity::new(PipeAccess::Everyone).unwrap();
    }
}
