//! A device's credentials: obtained through its chain (`obtain`: the IoT credentials provider, then
//! AssumeRole into the environment's target role, or the IoT role's own in direct mode), written in
//! the device's clock (the endpoint's expiry shifted by the skew its `Date` header shows), kept in a
//! per-user cache (`cache`) so that `credential_process` calls within a window make one request, and
//! served to long-running processes by a local server (`server`).

pub mod cache;
pub mod server;

use crate::config::{Config, Target};
use crate::verify::mtls::DeviceIdentity;
use std::path::PathBuf;

/// Write `bytes` to `path` whole or not at all, privately: a new file beside it (mode 0600, or 0640
/// and owned by group `gid`), created without following symlinks, synced, then renamed over `path`.
pub fn write_private(path: &std::path::Path, bytes: &[u8], gid: Option<u32>) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.{}.tmp", std::process::id(), now()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        if let Some(gid) = gid {
            use std::os::fd::AsRawFd;
            // SAFETY: fchown on a descriptor this function owns; uid -1 keeps the owner
            if unsafe { libc::fchown(f.as_raw_fd(), u32::MAX, gid) } != 0 {
                return Err(format!(
                    "cannot give {} to group {gid}: {}",
                    tmp.display(),
                    std::io::Error::last_os_error()
                ));
            }
            f.set_permissions(std::fs::Permissions::from_mode(0o640))
                .map_err(|e| format!("cannot set the mode of {}: {e}", tmp.display()))?;
        }
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Skew beyond which a device is told its clock is wrong (SigV4 allows 5 minutes).
pub const SKEW_WARNING_SECS: i64 = 300;

/// Credentials issued to a device, their expiry in the device's own clock.
#[derive(Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Issued {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Expiry, seconds since the epoch by the device's clock.
    pub expires: i64,
    /// The device's clock minus the endpoint's, in seconds, when the endpoint said its time.
    #[serde(default)]
    pub skew: Option<i64>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        // never the secret or the token
        write!(
            f,
            "Issued {{ access_key_id: {}, expires: {} }}",
            self.access_key_id, self.expires
        )
    }
}

impl Issued {
    /// The expiry as RFC 3339 (`2026-12-07T08:00:00Z`), as SDKs read it.
    pub fn expiration(&self) -> String {
        rfc3339(self.expires)
    }
}

pub fn rfc3339(secs: i64) -> String {
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// Now, seconds since the epoch, by this device's clock.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// Why credentials could not be obtained.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Nothing answered (no connection, DNS, timeout): a cached entry still valid may stand in.
    pub unreachable: bool,
    pub message: String,
}

/// Where a device gets its credentials for one environment.
pub struct Chain<'a> {
    pub cfg: &'a Config,
    pub t: &'a Target,
    pub id: &'a DeviceIdentity,
    pub endpoint: String,
    pub ca_bundle: Option<PathBuf>,
    pub thing_name: Option<String>,
}

impl Chain<'_> {
    /// The device layout serving this environment (its alias and IoT role).
    fn layout(&self) -> crate::chain::Device {
        crate::chain::Device::of(self.cfg, Some(self.t)).expect("a device chain has an IoT account")
    }

    /// The alias this environment's devices use.
    pub fn alias(&self) -> String {
        self.layout().iot.role_alias
    }

    /// The role whose credentials the device gets: the target role, or the IoT role (direct).
    pub fn role_arn(&self) -> String {
        if self.t.direct() {
            self.layout().role_arn
        } else {
            self.cfg.target_role_arn(self.t)
        }
    }

    pub fn alias_arn(&self) -> String {
        self.layout().alias_arn
    }

    /// Fetch fresh credentials (one request to the credentials endpoint, and one AssumeRole).
    pub async fn obtain(&self) -> Result<Issued, Failure> {
        let iot = crate::verify::mtls::fetch(
            &self.endpoint,
            &self.alias(),
            self.id,
            self.ca_bundle.as_deref(),
            self.thing_name.as_deref(),
        )
        .await
        .map_err(|e| Failure {
            unreachable: e.unreachable,
            message: e.message,
        })?;
        let skew = iot.server_date.map(|d| now() - d);
        let c = if self.t.direct() {
            crate::verify::as_sts_credentials(&iot)
        } else {
            crate::verify::assume_target(
                self.cfg,
                self.t,
                &iot,
                crate::verify::device_session_name(self.id),
            )
            .await
            .map_err(|e| Failure {
                // STS answered (a denial or an error) unless nothing was sent
                unreachable: !e.denied && e.message.contains("dispatch failure"),
                message: e.message,
            })?
        };
        Ok(Issued {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: c.secret_access_key().to_string(),
            session_token: c.session_token().to_string(),
            expires: c.expiration().secs() + skew.unwrap_or(0),
            skew,
        })
    }
}

/// The words for a device clock that is off by `skew` seconds, if it is off by more than a few
/// minutes.
pub fn skew_words(skew: Option<i64>) -> Option<String> {
    let s = skew?;
    if s.abs() <= SKEW_WARNING_SECS {
        return None;
    }
    Some(format!(
        "warning: this device's clock is {} {} the credentials endpoint's; the credentials' expiry is written in the device's clock, but AWS refuses SigV4 requests signed more than 5 minutes off: set the clock (NTP)",
        human(s.abs()),
        if s > 0 { "ahead of" } else { "behind" }
    ))
}

fn human(secs: i64) -> String {
    if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// A duration flag: seconds, or with a unit (`90s`, `5m`, `1h`).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (n, mult) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1),
        Some('m') => (&t[..t.len() - 1], 60),
        Some('h') => (&t[..t.len() - 1], 3600),
        _ => (t, 1),
    };
    n.parse::<i64>()
        .ok()
        .filter(|v| *v >= 0)
        .map(|v| v * mult)
        .ok_or_else(|| format!("{s}: a duration is seconds, or a number with s, m or h (5m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_skew_words() {
        assert_eq!(parse_duration("300"), Ok(300));
        assert_eq!(parse_duration("5m"), Ok(300));
        assert_eq!(parse_duration("1h"), Ok(3600));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(skew_words(Some(120)).is_none());
        assert!(skew_words(None).is_none());
        let w = skew_words(Some(3 * 3600 + 60)).unwrap();
        assert!(w.contains("3h01m ahead of"), "{w}");
        assert!(skew_words(Some(-400)).unwrap().contains("behind"));
    }
}
