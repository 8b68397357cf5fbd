//! Validation of an environment's targets as written: API Gateway methods (`apis`, long and short
//! forms) and S3 objects (`objects`), and the S3 bucket-name rules.

use super::{ApiMethod, Checker, ObjectRef};
use crate::arn::Arn;

const HTTP_METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "*",
];

/// The `apis` of one environment: full ARNs or `API-ID/STAGE/METHOD/PATH`, in the environment's
/// account and region.
pub(super) fn apis(
    c: &mut Checker,
    env: &str,
    list: &[String],
    partition: &str,
    region: &str,
    acct: &str,
) -> Vec<ApiMethod> {
    let mut out: Vec<ApiMethod> = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let i_s = i.to_string();
        let at = ["environments", env, "apis", i_s.as_str()];
        let example = format!(
            "arn:{partition}:execute-api:{region}:{acct}:API-ID/STAGE/METHOD/PATH (e.g. a1b2c3d4e5/prod/GET/orders/*)"
        );
        let Some(resource) = api_resource(c, &at, a, &example, (env, partition, region, acct))
        else {
            continue;
        };
        let parts: Vec<&str> = resource.splitn(4, '/').collect();
        if parts.len() < 4 {
            c.at(
                &at,
                "api-method",
                format!("`{a}` does not name a stage, an HTTP method and a path"),
                Some(format!("write {example}")),
            );
            continue;
        }
        let (id, stage, method, path) = (parts[0], parts[1], parts[2], parts[3]);
        let problem = api_method_problem(id, stage, method, path);
        if let Some(m) = problem {
            c.at(
                &at,
                "api-method",
                format!("API `{a}`: {m}"),
                Some(format!("write {example}")),
            );
            continue;
        }
        let arn = format!("arn:{partition}:execute-api:{region}:{acct}:{resource}");
        if out.iter().any(|x| x.arn == arn) {
            c.at(
                &at,
                "duplicate-api",
                format!("API method `{a}` is listed twice"),
                Some("list each method once".into()),
            );
            continue;
        }
        out.push(ApiMethod {
            arn,
            api_id: id.into(),
            stage: stage.into(),
            method: method.into(),
            path: path.into(),
        });
    }
    out
}

/// The `API-ID/STAGE/METHOD/PATH` of an entry given as it or as an execute-api ARN of the
/// environment's account and the fleet's region (None: reported).
fn api_resource(
    c: &mut Checker,
    at: &[&str],
    a: &str,
    example: &str,
    (env, partition, region, acct): (&str, &str, &str, &str),
) -> Option<String> {
    if a.starts_with("arn:") {
        let Some(arn) = Arn::parse(a).filter(|x| x.service == "execute-api") else {
            c.at(
                at,
                "api-arn",
                format!("`{a}` is not an execute-api ARN"),
                Some(format!("write {example}")),
            );
            return None;
        };
        if arn.account != acct {
            c.at(
                at,
                "api-account",
                format!(
                    "API `{a}` is in account {}, outside environment `{env}` (account {acct})",
                    arn.account
                ),
                Some(format!(
                    "use arn:{partition}:execute-api:{region}:{acct}:{}, or move it to the environment of account {}",
                    arn.resource, arn.account
                )),
            );
            return None;
        }
        if arn.region != region {
            c.at(
                at,
                "api-region",
                format!(
                    "API `{a}` is in region {}, but the fleet is in {region}",
                    arn.region
                ),
                Some(format!(
                    "use arn:{partition}:execute-api:{region}:{acct}:{}",
                    arn.resource
                )),
            );
            return None;
        }
        Some(arn.resource)
    } else {
        Some(a.to_string())
    }
}

/// What is wrong with an API method's parts, if anything.
fn api_method_problem(id: &str, stage: &str, method: &str, path: &str) -> Option<String> {
    let id_ok =
        |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let stage_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !id_ok(id) {
        Some(format!("`{id}` is not an API id (letters and digits)"))
    } else if !stage_ok(stage) {
        Some(format!(
            "`{stage}` is not a stage name (letters, digits, - and _)"
        ))
    } else if !HTTP_METHODS.contains(&method) {
        Some(format!(
            "`{method}` is not an HTTP method (GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS or *)"
        ))
    } else if path.starts_with('/') || path.contains("//") || path.contains(char::is_whitespace) {
        Some(format!("path `{path}` is not a resource path"))
    } else {
        None
    }
}

/// S3 bucket names: 3-63 of lowercase letters, digits, `.` and `-`, starting and ending with a
/// letter or digit, not an IP address, no `..`, none of the reserved prefixes and suffixes.
pub fn valid_bucket_name(b: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge(b.chars().next())
        && edge(b.chars().last())
        && !b.contains("..")
        && b.parse::<std::net::Ipv4Addr>().is_err()
        && !b.starts_with("xn--")
        && !b.starts_with("sthree-")
        && !b.ends_with("-s3alias")
        && !b.ends_with("--ol-s3")
}

/// The `objects` of one environment: `arn:PARTITION:s3:::BUCKET/KEY` or `BUCKET/KEY`.
pub(super) fn objects(
    c: &mut Checker,
    env: &str,
    list: &[String],
    partition: &str,
) -> Vec<ObjectRef> {
    let mut out: Vec<ObjectRef> = Vec::new();
    for (i, o) in list.iter().enumerate() {
        let i_s = i.to_string();
        let at = ["environments", env, "objects", i_s.as_str()];
        let example = format!(
            "arn:{partition}:s3:::BUCKET/KEY or BUCKET/KEY (a KEY ending in * is a prefix)"
        );
        let rest = if o.starts_with("arn:") {
            match Arn::parse(o) {
                Some(a) if a.service == "s3" && a.region.is_empty() && a.account.is_empty() => {
                    a.resource
                }
                _ => {
                    c.at(
                        &at,
                        "object-arn",
                        format!("`{o}` is not an S3 object ARN"),
                        Some(format!("write {example}")),
                    );
                    continue;
                }
            }
        } else {
            o.clone()
        };
        let Some((bucket, key)) = rest.split_once('/').filter(|(_, k)| !k.is_empty()) else {
            c.at(
                &at,
                "object-key",
                format!("`{o}` names no object key"),
                Some(format!(
                    "write {example}; for every object of a bucket write BUCKET/*"
                )),
            );
            continue;
        };
        if !valid_bucket_name(bucket) {
            c.at(
                &at,
                "bucket-name",
                format!("`{bucket}` is not a valid S3 bucket name"),
                Some("bucket names are 3-63 lowercase letters, digits, . and -, begin and end with a letter or digit, and are not IP addresses".into()),
            );
            continue;
        }
        let arn = format!("arn:{partition}:s3:::{bucket}/{key}");
        if out.iter().any(|x| x.arn == arn) {
            c.at(
                &at,
                "duplicate-object",
                format!("object `{o}` is listed twice"),
                Some("list each object or prefix once".into()),
            );
            continue;
        }
        out.push(ObjectRef {
            arn,
            bucket: bucket.into(),
            key: key.into(),
        });
    }
    out
}
