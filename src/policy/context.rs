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
    let now = std::time::SystemTime::now();
    let dt = aws_smithy_types::DateTime::from(now);
    if let Ok(t) = dt.fmt(aws_smithy_types::date_time::Format::DateTime) {
        put("aws:CurrentTime", t);
    }
    put("aws:EpochTime", dt.secs().to_string());
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

#[cfg(test)]
mod tests {
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
