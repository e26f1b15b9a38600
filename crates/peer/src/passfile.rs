//! Reading a password from a file, refusing files other users could read
//! or change (as ssh refuses a private key with loose permissions).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// More than any sane password file holds; reading stops there.
const MAX_LEN: u64 = 64 * 1024;

/// Reads the password on the first line of `path`.
///
/// Refuses the file, with an error saying how to fix it, unless it exists,
/// is a regular file (symbolic links are followed), is owned by the
/// effective uid of this process, and grants no permission to group or
/// others (`mode & 0o077 == 0`). Returns the first line without its line
/// ending; an empty first line is an error.
pub fn read_password_file(path: &Path) -> Result<String> {
    let read_err = |source| Error::PasswordFileRead {
        path: path.to_owned(),
        source,
    };
    let file = open(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => Error::PasswordFileMissing {
            path: path.to_owned(),
        },
        _ => read_err(source),
    })?;
    // Check the opened file itself, so it cannot be swapped after the check.
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(Error::PasswordFileNotRegular {
            path: path.to_owned(),
        });
    }
    let uid = effective_uid();
    if meta.uid() != uid {
        return Err(Error::PasswordFileWrongOwner {
            path: path.to_owned(),
            owner: meta.uid(),
            uid,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::PasswordFileInsecure {
            path: path.to_owned(),
            mode,
        });
    }
    let mut content = Vec::new();
    file.take(MAX_LEN)
        .read_to_end(&mut content)
        .map_err(read_err)?;
    let first_line = content.split(|&b| b == b'\n').next().unwrap_or_default();
    let first_line = first_line.strip_suffix(b"\r").unwrap_or(first_line);
    if first_line.is_empty() {
        return Err(Error::PasswordFileEmpty {
            path: path.to_owned(),
        });
    }
    String::from_utf8(first_line.to_vec()).map_err(|_| {
        read_err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the password is not valid UTF-8",
        ))
    })
}

/// Opens `path` for reading without blocking, so that a FIFO given by
/// mistake is reported as not a regular file instead of hanging.
fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory of ours and
    // cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn write_with_mode(dir: &Path, name: &str, content: &str, mode: u32) -> std::path::PathBuf {
        let path = dir.join(name);
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn private_file_is_read_first_line_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_with_mode(dir.path(), "pw", "s3cret\nsecond line\n", 0o600);
        assert_eq!(read_password_file(&p).unwrap(), "s3cret");
        let p = write_with_mode(dir.path(), "pw-crlf", "s3cret\r\n", 0o400);
        assert_eq!(read_password_file(&p).unwrap(), "s3cret");
        let p = write_with_mode(dir.path(), "pw-nonl", "  spaced  ", 0o600);
        assert_eq!(read_password_file(&p).unwrap(), "  spaced  ");
    }

    #[test]
    fn loose_modes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o601] {
            let p = write_with_mode(dir.path(), &format!("pw{mode:o}"), "pw\n", mode);
            match read_password_file(&p).unwrap_err() {
                Error::PasswordFileInsecure { mode: m, .. } => assert_eq!(m, mode),
                other => panic!("mode {mode:o}: unexpected {other}"),
            }
        }
        let p = write_with_mode(dir.path(), "pw", "pw\n", 0o644);
        let msg = read_password_file(&p).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "password file {0} is readable by others (mode 0644); run `chmod 600 {0}`",
                p.display()
            )
        );
    }

    #[test]
    fn missing_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_password_file(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, Error::PasswordFileMissing { .. }), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    #[test]
    fn directories_and_fifos_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_password_file(dir.path()).unwrap_err();
        assert!(matches!(err, Error::PasswordFileNotRegular { .. }), "{err}");

        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path that outlives the call.
        let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(rc, 0, "mkfifo: {}", io::Error::last_os_error());
        let err = read_password_file(&fifo).unwrap_err();
        assert!(matches!(err, Error::PasswordFileNotRegular { .. }), "{err}");
    }

    #[test]
    fn empty_password_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (name, content) in [("empty", ""), ("nl", "\nsecond\n"), ("crlf", "\r\n")] {
            let p = write_with_mode(dir.path(), name, content, 0o600);
            let err = read_password_file(&p).unwrap_err();
            assert!(
                matches!(err, Error::PasswordFileEmpty { .. }),
                "{name}: {err}"
            );
        }
    }

    #[test]
    fn symlink_to_private_file_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let p = write_with_mode(dir.path(), "pw", "pw\n", 0o600);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert_eq!(read_password_file(&link).unwrap(), "pw");
    }

    #[test]
    fn file_of_another_owner_is_refused() {
        if effective_uid() != 0 {
            eprintln!("skipped: changing a file's owner needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = write_with_mode(dir.path(), "pw", "pw\n", 0o600);
        let nobody = 65534;
        std::os::unix::fs::chown(&p, Some(nobody), None).unwrap();
        match read_password_file(&p).unwrap_err() {
            Error::PasswordFileWrongOwner { owner, uid, .. } => {
                assert_eq!(owner, nobody);
                assert_eq!(uid, 0);
            }
            other => panic!("unexpected {other}"),
        }
    }
}
