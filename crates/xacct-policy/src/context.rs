//! The request context AWS sets for the requests of a chain, built once for the proof (`check`) and
//! the sandbox gateway alike. A key that is not known here is left out: a condition on it is then
//! reported as "depends on <key>" by the proof, never guessed.

use serde_json::{Map, Value};

/// Who makes a request: a session of a role.
#[derive(Debug, Clone, Default)]
pub struct Session<'a> {
    /// The role's ARN (`aws:PrincipalArn`).
    pub role_arn: &'a str,
    /// `ROLEID:SESSION` when both are known (`aws:userid`).
    pub userid: Option<String>,
    /// For a session issued by the IoT credentials provider: the device's certificate id, thing
    /// name and thing type, when known (`credentials-iot:*`).
    pub iot: Option<IotDevice>,
}

#[derive(Debug, Clone, Default)]
pub struct IotDevice {
    pub certificate_id: Option<String>,
    pub thing_name: Option<String>,
    pub thing_type: Option<String>,
}

/// The keys AWS sets for a request by `s` over HTTPS now.
pub fn request_context(s: &Session) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), Value::String(v));
    };
    put("aws:PrincipalArn", s.role_arn.to_string());
    if let Some(a) = crate::arn::Arn::account_of(s.role_arn) {
        put("aws:PrincipalAccount", a);
    }
    put("aws:PrincipalType", "AssumedRole".into());
    if let Some(u) = &s.userid {
        put("aws:userid", u.clone());
    }
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    put("aws:CurrentTime", iso8601(secs));
    put("aws:EpochTime", secs.to_string());
    put("aws:SecureTransport", "true".into());
    if let Some(d) = &s.iot {
        if let Some(c) = &d.certificate_id {
            put("credentials-iot:AwsCertificateId", c.clone());
        }
        if let Some(t) = &d.thing_name {
            put("credentials-iot:ThingName", t.clone());
        }
        if let Some(t) = &d.thing_type {
            put("credentials-iot:ThingTypeName", t.clone());
        }
    }
    m
}

/// `YYYY-MM-DDThh:mm:ssZ` for seconds since the epoch (the civil calendar from days, proleptic
/// Gregorian, as in H. Hinnant's `civil_from_days`).
pub fn iso8601(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_of_known_instants() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::iso8601(1_796_601_599), "2026-12-06T23:59:59Z");
        assert_eq!(super::iso8601(-1), "1969-12-31T23:59:59Z");
    }

    use super::*;

    #[test]
    fn sets_the_keys_aws_sets_and_only_those_it_knows() {
        let m = request_context(&Session {
            role_arn: "arn:aws:iam::111111111111:role/r",
            userid: None,
            iot: Some(IotDevice {
                certificate_id: Some("abc".into()),
                ..Default::default()
            }),
        });
        assert_eq!(m["aws:PrincipalAccount"], "111111111111");
        assert_eq!(m["aws:PrincipalType"], "AssumedRole");
        assert_eq!(m["aws:SecureTransport"], "true");
        assert!(m["aws:CurrentTime"].as_str().unwrap().ends_with('Z'));
        assert_eq!(m["credentials-iot:AwsCertificateId"], "abc");
        assert!(!m.contains_key("aws:userid"));
        assert!(!m.contains_key("credentials-iot:ThingName"));
        assert!(!m.contains_key("aws:PrincipalOrgID"));
    }
}
