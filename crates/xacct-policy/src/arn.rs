//! Amazon Resource Names: the one parser and formatter of `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
//! The partition is always taken from an ARN (or from the region), never assumed.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account: String,
    /// Everything after the fifth `:` (`role/path/name`, `function:name:qualifier`, …).
    pub resource: String,
}

impl Arn {
    /// Parse an ARN; None when `s` does not have the six parts of one.
    pub fn parse(s: &str) -> Option<Arn> {
        let mut parts = s.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let partition = parts.next()?.to_string();
        let service = parts.next()?.to_string();
        let region = parts.next()?.to_string();
        let account = parts.next()?.to_string();
        let resource = parts.next()?.to_string();
        Some(Arn {
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    /// The account of an ARN, if `s` is one.
    pub fn account_of(s: &str) -> Option<String> {
        Arn::parse(s).map(|a| a.account)
    }

    /// The resource split on `:` (Lambda: `function`, name, qualifier).
    pub fn resource_parts(&self) -> Vec<&str> {
        self.resource.split(':').collect()
    }

    /// The last path segment of the resource (a role's name without its path).
    pub fn resource_name(&self) -> &str {
        self.resource.rsplit(['/', ':']).next().unwrap_or("")
    }

    /// A Lambda function ARN without its qualifier (version or alias).
    pub fn unqualified_function(&self) -> Arn {
        let mut a = self.clone();
        let parts = self.resource_parts();
        if parts.len() > 2 {
            a.resource = parts[..2].join(":");
        }
        a
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

/// The partition of a region (`aws`, `aws-cn`, `aws-us-gov`).
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_every_part() {
        let a = Arn::parse("arn:aws-cn:lambda:cn-north-1:111111111111:function:f:live").unwrap();
        assert_eq!(a.partition, "aws-cn");
        assert_eq!(a.service, "lambda");
        assert_eq!(a.region, "cn-north-1");
        assert_eq!(a.account, "111111111111");
        assert_eq!(a.resource_parts(), vec!["function", "f", "live"]);
        assert_eq!(
            a.unqualified_function().to_string(),
            "arn:aws-cn:lambda:cn-north-1:111111111111:function:f"
        );
        let r = Arn::parse("arn:aws:iam::222222222222:role/service-role/x").unwrap();
        assert_eq!(r.resource_name(), "x");
        assert_eq!(r.region, "");
        assert!(Arn::parse("arn:aws:iam::1").is_none());
        assert!(Arn::parse("AROAEXAMPLE").is_none());
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
    }
}
