//! The credentials cache of `xacct creds`: one file per (fleet, environment, certificate id, thing
//! name, alias ARN, role ARN) under the user's cache directory (`$XDG_CACHE_HOME/xacct`, else
//! `~/.cache/xacct`, or `--cache-dir`). The directory is 0700 and each file 0600; a file is written
//! to a new temporary file and renamed over the old (never half-written), and opened without
//! following symlinks; a lock file per entry (`flock`) makes concurrent callers wait for the one
//! request the first makes. The device's private key never enters it.

use super::Issued;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One cached answer: the credentials, and when they were obtained (device clock).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Entry {
    pub version: u8,
    pub obtained: i64,
    pub credentials: Issued,
}

/// What a cached entry is good for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Use it: not within the refresh window, not older than the maximum age.
    Fresh,
    /// Refresh it; it may stand in only if the endpoint cannot be reached (still valid).
    Stale { valid: bool },
}

/// When to refresh.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Refresh this long before expiry (seconds).
    pub refresh_before: i64,
    /// Refresh an entry older than this (seconds), so that a device removed from a thing group
    /// stops getting new credentials soon.
    pub max_age: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            refresh_before: 300,
            max_age: 900,
        }
    }
}

impl Entry {
    pub fn freshness(&self, now: i64, p: Policy) -> Freshness {
        let valid = now < self.credentials.expires;
        if valid
            && now < self.credentials.expires - p.refresh_before
            && now - self.obtained < p.max_age
            && now >= self.obtained - 60
        {
            Freshness::Fresh
        } else {
            Freshness::Stale { valid }
        }
    }
}

pub struct Cache {
    dir: PathBuf,
}

/// The lock of one entry, held until dropped.
pub struct Lock {
    _file: File,
}

fn io(what: &str, p: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", p.display())
}

impl Cache {
    /// The cache at `dir`, or the user's default one.
    pub fn at(dir: Option<&Path>) -> Result<Cache, String> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => default_dir().ok_or(
                "no cache directory: set XDG_CACHE_HOME or HOME, pass --cache-dir, or --no-cache",
            )?,
        };
        Ok(Cache { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry's key: a digest of what identifies the credentials.
    pub fn key(parts: &[&str]) -> String {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p.as_bytes());
            h.update([0u8]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Create the directory (0700), refusing a symlink or a directory others may write.
    pub fn ensure(&self) -> Result<(), String> {
        match std::fs::symlink_metadata(&self.dir) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "the cache directory {} is a symlink; refusing it",
                    self.dir.display()
                ))
            }
            Ok(m) if !m.is_dir() => {
                return Err(format!(
                    "the cache directory {} is not a directory",
                    self.dir.display()
                ))
            }
            Ok(m) => {
                if m.permissions().mode() & 0o077 != 0 {
                    std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                        .map_err(|e| io("cannot make private", &self.dir, e))?;
                }
            }
            Err(_) => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&self.dir)
                    .map_err(|e| io("cannot create", &self.dir, e))?;
                std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| io("cannot make private", &self.dir, e))?;
            }
        }
        Ok(())
    }

    fn path(&self, key: &str, ext: &str) -> PathBuf {
        self.dir.join(format!("creds-{key}.{ext}"))
    }

    /// Take the entry's lock (waits for another caller holding it).
    pub fn lock(&self, key: &str) -> Result<Lock, String> {
        let p = self.path(key, "lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&p)
            .map_err(|e| io("cannot open", &p, e))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a file descriptor this function owns
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(io("cannot lock", &p, std::io::Error::last_os_error()));
        }
        Ok(Lock { _file: file })
    }

    /// The entry, if there is a readable one.
    pub fn read(&self, key: &str) -> Option<Entry> {
        let p = self.path(key, "json");
        let mut f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&p)
            .ok()?;
        let mut s = String::new();
        f.read_to_string(&mut s).ok()?;
        serde_json::from_str(&s)
            .ok()
            .filter(|e: &Entry| e.version == 1)
    }

    /// Write the entry: a new 0600 file, synced, renamed over the old one.
    pub fn write(&self, key: &str, e: &Entry) -> Result<(), String> {
        let bytes = serde_json::to_vec(e).unwrap_or_default();
        super::write_private(&self.path(key, "json"), &bytes, None)
    }
}

/// `$XDG_CACHE_HOME/xacct`, else `$HOME/.cache/xacct`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        let p = PathBuf::from(x);
        if p.is_absolute() {
            return Some(p.join("xacct"));
        }
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("xacct"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(obtained: i64, expires: i64) -> Entry {
        Entry {
            version: 1,
            obtained,
            credentials: Issued {
                access_key_id: "AKIA".into(),
                secret_access_key: "s".into(),
                session_token: "t".into(),
                expires,
                skew: None,
            },
        }
    }

    #[test]
    fn an_entry_is_fresh_outside_the_refresh_window_and_under_the_maximum_age() {
        let p = Policy::default();
        let e = entry(1000, 1000 + 3600);
        assert_eq!(e.freshness(1000 + 60, p), Freshness::Fresh);
        // older than 15 minutes: refresh, though still valid
        assert_eq!(e.freshness(1000 + 901, p), Freshness::Stale { valid: true });
        // within 5 minutes of expiry
        let short = entry(1000, 1000 + 600);
        assert_eq!(
            short.freshness(1000 + 301, p),
            Freshness::Stale { valid: true }
        );
        assert_eq!(
            short.freshness(1000 + 600, p),
            Freshness::Stale { valid: false }
        );
    }

    #[test]
    fn entries_are_private_atomic_and_never_followed_through_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let c = Cache::at(Some(&d.path().join("xacct"))).unwrap();
        c.ensure().unwrap();
        let mode = std::fs::metadata(c.dir()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let k = Cache::key(&["fleet", "env"]);
        assert_ne!(k, Cache::key(&["fleetenv", ""]));
        let _l = c.lock(&k).unwrap();
        let e = entry(1, 2);
        c.write(&k, &e).unwrap();
        assert_eq!(c.read(&k), Some(e));
        let f = c.dir().join(format!("creds-{k}.json"));
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // a symlink planted in place of the entry is not read
        let other = d.path().join("elsewhere.json");
        std::fs::rename(&f, &other).unwrap();
        std::os::unix::fs::symlink(&other, &f).unwrap();
        assert_eq!(c.read(&k), None);
        // no temporary file is left behind
        let left: Vec<_> = std::fs::read_dir(c.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty());
    }
}
