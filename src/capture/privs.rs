//! Dropping root once the capture device and output file are open, as `tcpdump -Z` does: a
//! parser bug met while reading hostile traffic then runs without root's rights.

use super::CaptureError;
use std::ffi::{CStr, CString};

/// Who the process runs as after [`drop_root`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// User name (or the numeric id when it has no name).
    pub user: String,
    /// Real and effective user id now.
    pub uid: u32,
    /// Real and effective group id now.
    pub gid: u32,
}

/// The account to become: `wanted` if given, else the user who ran `sudo` (`SUDO_UID`,
/// `SUDO_GID`), else `nobody`. `None` when the process is not root (nothing to drop) or
/// `wanted` is `root` (the user asked to keep it).
fn target(wanted: Option<&str>) -> Result<Option<(String, u32, u32)>, CaptureError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || wanted == Some("root") {
        return Ok(None);
    }
    if wanted.is_none() {
        let id = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u32>().ok());
        if let (Some(uid), Some(gid)) = (id("SUDO_UID"), id("SUDO_GID")) {
            if uid != 0 {
                let name = std::env::var("SUDO_USER").unwrap_or_else(|_| uid.to_string());
                return Ok(Some((name, uid, gid)));
            }
        }
    }
    let name = wanted.unwrap_or("nobody");
    let c = CString::new(name).map_err(|_| CaptureError::Live(format!("bad user name {name:?}")))?;
    // SAFETY: getpwnam reads a NUL-terminated name; the returned record is copied out at once
    // (the process is single-threaded with respect to passwd lookups here).
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return Err(CaptureError::Live(format!(
            "cannot drop privileges: no user {name:?} (choose one with -Z USER, or -Z root to keep root)"
        )));
    }
    // SAFETY: pw is non-null and points to a valid passwd record.
    let (uid, gid, pw_name) = unsafe { ((*pw).pw_uid, (*pw).pw_gid, CStr::from_ptr((*pw).pw_name)) };
    Ok(Some((pw_name.to_string_lossy().into_owned(), uid, gid)))
}

/// Gives up root: supplementary groups cleared, then group, then user (that order, or the
/// user change would forbid the group change). Checks that root cannot be taken back.
pub fn drop_root(wanted: Option<&str>) -> Result<Option<Dropped>, CaptureError> {
    let Some((user, uid, gid)) = target(wanted)? else { return Ok(None) };
    let fail = |what: &str| {
        CaptureError::Live(format!("cannot drop privileges to {user}: {what}: {}", std::io::Error::last_os_error()))
    };
    // SAFETY: plain system calls on integers; glibc applies set*id to every thread.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0 {
            return Err(fail("setgroups"));
        }
        if libc::setgid(gid) != 0 {
            return Err(fail("setgid"));
        }
        if libc::setuid(uid) != 0 {
            return Err(fail("setuid"));
        }
        if uid != 0 && libc::setuid(0) == 0 {
            return Err(CaptureError::Live(format!("dropping privileges to {user} did not stick")));
        }
        Ok(Some(Dropped { user, uid: libc::getuid(), gid: libc::getgid() }))
    }
}
