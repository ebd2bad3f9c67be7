//! The embedded store's directory: readable by the service user alone (it holds API secrets and
//! the token signing keys), and used by one server at a time.

use super::StoreError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file; it names the process holding it.
const LOCK_FILE: &str = "userstream.lock";

/// An open data directory, locked against other servers until dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// Held for the directory's lifetime; the OS frees the lock when the process dies, even by
    /// `kill -9`, so a crash never leaves a stale lock behind.
    _lock: File,
}

impl DataDir {
    /// Creates the directory (mode 0700) when missing, tightens it when others can read it,
    /// and takes its lock, or says which process holds it. A directory that belongs to another
    /// user, or that others can write to (they could have planted files in it), is refused.
    pub fn open(path: &Path) -> Result<DataDir, StoreError> {
        let failed = |what: &str, error: std::io::Error| {
            StoreError::DataDir(format!("cannot {what} {}: {error}", path.display()))
        };
        create_private_dir(path).map_err(|e| failed("create data dir", e))?;
        check_ownership(path)?;
        make_private(path, 0o700).map_err(|e| failed("restrict the permissions of", e))?;
        let lock_path = path.join(LOCK_FILE);
        let mut lock = private_file(&lock_path).map_err(|e| failed("open the lock file in", e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                let holder = holder.trim();
                let holder = if holder.is_empty() {
                    "another process".to_owned()
                } else {
                    format!("another userstream server ({holder})")
                };
                return Err(StoreError::DataDir(format!(
                    "data dir {} is in use by {holder}; stop it, or give this server its own --data-dir",
                    path.display()
                )));
            }
            Err(TryLockError::Error(error)) => return Err(failed("lock", error)),
        }
        let pid = format!("pid {}\n", std::process::id());
        lock.set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| lock.write_all(pid.as_bytes()))
            .map_err(|e| failed("write the lock file in", e))?;
        Ok(DataDir {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    /// `name` inside the directory, created empty with mode 0600 when missing and restricted to
    /// 0600 when it exists, so what a library later writes there (SQLite copies the database's
    /// mode to its `-wal` and `-shm` files) is private too. A symbolic link is refused.
    pub fn private_file(&self, name: &str) -> Result<PathBuf, StoreError> {
        let path = self.path.join(name);
        refuse_symlink(&path)?;
        private_file(&path).map_err(|e| {
            StoreError::DataDir(format!("cannot create {} privately: {e}", path.display()))
        })?;
        Ok(path)
    }

    /// Restricts an existing file of the directory to the service user; a symbolic link there
    /// is refused.
    pub fn restrict(&self, name: &str) -> Result<(), StoreError> {
        let path = self.path.join(name);
        refuse_symlink(&path)?;
        if !path.exists() {
            return Ok(());
        }
        make_private(&path, 0o600)
            .map_err(|e| StoreError::DataDir(format!("cannot restrict {}: {e}", path.display())))
    }
}

/// The directory's files must be plain files: a link planted there could make the server
/// write (or change the mode of) a file elsewhere.
fn refuse_symlink(path: &Path) -> Result<(), StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(StoreError::DataDir(format!(
            "{} is a symbolic link; the files of a data dir must be plain files",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// The process's effective uid, read from `/proc/self/status` (no unsafe call needed); `None`
/// where that cannot be read, and then ownership is not checked.
#[cfg(unix)]
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(unix)]
fn check_ownership(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        StoreError::DataDir(format!("cannot inspect data dir {}: {e}", path.display()))
    })?;
    if let Some(uid) = effective_uid()
        && meta.uid() != uid
    {
        return Err(StoreError::DataDir(format!(
            "data dir {} belongs to uid {}, not to this server's uid {uid}; give the server a directory of its own",
            path.display(),
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(StoreError::DataDir(format!(
            "data dir {} is writable by other users (mode {mode:o}), who could have planted files in it; check its contents, then make it private (chmod 700)",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_ownership(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

#[cfg(not(unix))]
fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)
}

/// Opens (creating when missing, mode 0600) a file of the directory, never through a symbolic
/// link, and restricts it through the open descriptor.
#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        warn_restricted(path, mode, 0o600);
    }
    Ok(file)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Sets `mode` when group or others have any access, and says so: a directory made by hand or
/// by an older version is fixed, not just reported.
#[cfg(unix)]
fn make_private(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if current & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    warn_restricted(path, current, mode);
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

fn warn_restricted(path: &Path, was: u32, now: u32) {
    tracing::warn!(
        path = %path.display(),
        was = format!("{was:o}"),
        now = format!("{now:o}"),
        "other users could read this; restricted it to the service user"
    );
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_private_and_locked_for_one_server() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("data");
        let dir = DataDir::open(&path).unwrap();
        assert_eq!(mode(&path), 0o700);
        assert_eq!(mode(&path.join(LOCK_FILE)), 0o600);
        let error = DataDir::open(&path).unwrap_err().to_string();
        assert!(
            error.contains(&format!(
                "another userstream server (pid {})",
                std::process::id()
            )),
            "{error}"
        );
        drop(dir);
        assert!(
            DataDir::open(&path).is_ok(),
            "the lock goes with its holder"
        );
    }

    #[test]
    fn loose_permissions_are_tightened() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("data");
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let db = path.join("userstream.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let dir = DataDir::open(&path).unwrap();
        assert_eq!(mode(&path), 0o700);
        dir.private_file("userstream.db").unwrap();
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn writable_by_others_or_linked_files_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("data");
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        let error = DataDir::open(&path).unwrap_err().to_string();
        assert!(error.contains("writable by other users"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        let victim = root.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&victim, path.join("userstream.db")).unwrap();
        std::os::unix::fs::symlink(&victim, path.join("userstream.db-wal")).unwrap();
        let dir = DataDir::open(&path).unwrap();
        for name in ["userstream.db", "userstream.db-wal"] {
            let error = match name {
                "userstream.db" => dir.private_file(name).map(drop),
                _ => dir.restrict(name),
            };
            let error = error.unwrap_err().to_string();
            assert!(error.contains("symbolic link"), "{name}: {error}");
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert_eq!(mode(&victim), 0o644, "the link's target is left alone");
    }
}
