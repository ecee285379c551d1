//! Looking up the user a process should run as.

use crate::delegate::DelegateError;
use std::ffi::{CStr, CString};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIds {
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// Resolves a user name or numeric uid through the system's user database.
pub fn lookup_user(user: &str) -> Result<UserIds, DelegateError> {
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let rc = if let Ok(uid) = user.parse::<u32>() {
        unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) }
    } else {
        let name = CString::new(user).map_err(|_| {
            DelegateError::Invalid(format!("user name {user:?} contains a NUL byte"))
        })?;
        unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        }
    };
    if rc != 0 || result.is_null() {
        if let Ok(uid) = user.parse::<u32>() {
            // A uid without a passwd entry is still a valid identity.
            return Ok(UserIds {
                uid,
                gid: uid,
                home: "/".into(),
            });
        }
        return Err(DelegateError::Invalid(format!(
            "user \"{user}\" does not exist on this host; create it or change the `user` property"
        )));
    }
    let home = unsafe { CStr::from_ptr(pwd.pw_dir) }
        .to_string_lossy()
        .into_owned();
    Ok(UserIds {
        uid: pwd.pw_uid,
        gid: pwd.pw_gid,
        home,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_exists_and_nonsense_does_not() {
        assert_eq!(super::lookup_user("root").unwrap().uid, 0);
        assert_eq!(super::lookup_user("0").unwrap().uid, 0);
        assert!(super::lookup_user("no-such-user-khutulun").is_err());
    }
}
