//! AWS's error codes as xacct acts on them, and the one place that decides what a failed call means:
//! access denied, not found, already exists, or IAM's eventual consistency (retried). Every reader
//! of an error — the reads, the writes, the retries, verify's hops — asks here instead of comparing
//! code strings.

use std::fmt;

/// An error code of an AWS service (or xacct's own `WrongAccount`). Codes xacct does not act on are
/// kept as `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    // access denied, as each service spells it
    AccessDenied,
    AccessDeniedException,
    UnauthorizedException,
    UnauthorizedOperation,
    KmsAccessDeniedException,
    // not found
    NoSuchEntity,
    NoSuchEntityException,
    ResourceNotFoundException,
    NotFoundException,
    NoSuchBucket,
    NoSuchBucketPolicy,
    NoSuchKey,
    NotFound,
    ServerSideEncryptionConfigurationNotFoundError,
    /// Organizations: the account (or OU) is not in the organization.
    ChildNotFoundException,
    AccountNotFoundException,
    // already exists
    EntityAlreadyExists,
    ResourceAlreadyExistsException,
    // what IAM's eventual consistency answers (with the words in `eventual`)
    MalformedPolicyDocument,
    InvalidRequestException,
    InvalidParameterValueException,
    /// xacct's own: the credentials act in another account than the file says.
    WrongAccount,
    /// xacct's own: no source of the credential chain provided credentials.
    NoCredentials,
    /// xacct's own: an IAM Identity Center (SSO) profile has no valid cached token.
    SsoLogin,
    Other(String),
}

/// Every named code and its spelling on the wire.
const NAMED: &[(Code, &str)] = &[
    (Code::AccessDenied, "AccessDenied"),
    (Code::AccessDeniedException, "AccessDeniedException"),
    (Code::UnauthorizedException, "UnauthorizedException"),
    (Code::UnauthorizedOperation, "UnauthorizedOperation"),
    (Code::KmsAccessDeniedException, "KMS.AccessDeniedException"),
    (Code::NoSuchEntity, "NoSuchEntity"),
    (Code::NoSuchEntityException, "NoSuchEntityException"),
    (Code::ResourceNotFoundException, "ResourceNotFoundException"),
    (Code::NotFoundException, "NotFoundException"),
    (Code::NoSuchBucket, "NoSuchBucket"),
    (Code::NoSuchBucketPolicy, "NoSuchBucketPolicy"),
    (Code::NoSuchKey, "NoSuchKey"),
    (Code::NotFound, "NotFound"),
    (
        Code::ServerSideEncryptionConfigurationNotFoundError,
        "ServerSideEncryptionConfigurationNotFoundError",
    ),
    (Code::ChildNotFoundException, "ChildNotFoundException"),
    (Code::AccountNotFoundException, "AccountNotFoundException"),
    (Code::EntityAlreadyExists, "EntityAlreadyExists"),
    (
        Code::ResourceAlreadyExistsException,
        "ResourceAlreadyExistsException",
    ),
    (Code::MalformedPolicyDocument, "MalformedPolicyDocument"),
    (Code::InvalidRequestException, "InvalidRequestException"),
    (
        Code::InvalidParameterValueException,
        "InvalidParameterValueException",
    ),
    (Code::WrongAccount, "WrongAccount"),
    (Code::NoCredentials, "NoCredentials"),
    (Code::SsoLogin, "SsoLogin"),
];

impl Code {
    pub fn parse(code: &str) -> Code {
        NAMED
            .iter()
            .find(|(_, s)| *s == code)
            .map(|(c, _)| c.clone())
            .unwrap_or_else(|| Code::Other(code.to_string()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Code::Other(s) => s,
            named => NAMED
                .iter()
                .find(|(c, _)| c == named)
                .map(|(_, s)| *s)
                .unwrap_or_default(),
        }
    }

    /// The caller's credentials are not allowed to make the call.
    pub fn access_denied(&self) -> bool {
        matches!(
            self,
            Code::AccessDenied
                | Code::AccessDeniedException
                | Code::UnauthorizedException
                | Code::UnauthorizedOperation
                | Code::KmsAccessDeniedException
        )
    }

    /// The resource (or the policy, configuration or object asked for) does not exist.
    pub fn not_found(&self) -> bool {
        matches!(
            self,
            Code::NoSuchEntity
                | Code::NoSuchEntityException
                | Code::ResourceNotFoundException
                | Code::NotFoundException
                | Code::NoSuchBucket
                | Code::NoSuchBucketPolicy
                | Code::NoSuchKey
                | Code::NotFound
                | Code::ServerSideEncryptionConfigurationNotFoundError
                | Code::ChildNotFoundException
                | Code::AccountNotFoundException
        )
    }

    /// A create met a resource of that name.
    pub fn already_exists(&self) -> bool {
        matches!(
            self,
            Code::EntityAlreadyExists | Code::ResourceAlreadyExistsException
        )
    }

    /// IAM's eventual consistency: a principal or role created moments ago is not yet visible to
    /// the service that checks it. Worth retrying with backoff, never worth a fixed sleep.
    pub fn eventual(&self, message: &str) -> bool {
        let m = message.to_ascii_lowercase();
        match self {
            Code::MalformedPolicyDocument => m.contains("invalid principal"),
            Code::InvalidRequestException => m.contains("role") && m.contains("assume"),
            // Lambda's AddPermission naming a role created moments ago
            Code::InvalidParameterValueException => m.contains("provided principal was invalid"),
            _ => false,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to tell the user when resolving credentials failed, from the credential chain's error text
/// (`profile`: the profile in use, if any): no credentials at all, or an SSO profile that needs a
/// login; None for any other failure (its own words are better).
pub fn credentials_problem(text: &str, profile: Option<&str>) -> Option<(Code, String)> {
    if text.contains("failed to load the cached SSO token") || text.contains("SSO token") {
        let p = profile.unwrap_or("default");
        return Some((
            Code::SsoLogin,
            format!("the IAM Identity Center (SSO) session of profile {p} has no valid token: run `aws sso login --profile {p}`"),
        ));
    }
    // the chain's last source is the instance metadata: a failure there means nothing before it
    // had credentials (on a laptop IMDS is unreachable or refuses)
    let imds_last = text.contains("IMDS") && text.contains("credentials");
    if text.contains("no providers in chain provided credentials")
        || text.contains("no credentials found in chain")
        || imds_last
    {
        return Some((
            Code::NoCredentials,
            "no AWS credentials found: tried the environment (AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN), the shared config and credentials files (AWS_PROFILE or the default profile: keys, credential_process, SSO, assume role), web identity, and the ECS and EC2 instance metadata. Provide them with a profile (AWS_PROFILE, or `profile:` for the account in the environment file), `aws sso login --profile NAME` for an SSO profile, environment variables, or `assume_role:` in the environment file".into(),
        ));
    }
    None
}

/// Whether an SDK error's code (as the SDK reports it) is an access denial.
pub fn denied(code: Option<&str>) -> bool {
    code.is_some_and(|c| Code::parse(c).access_denied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_code_round_trips_and_others_are_kept() {
        for (c, s) in NAMED {
            assert_eq!(Code::parse(s), *c);
            assert_eq!(c.as_str(), *s);
        }
        assert_eq!(Code::parse("Throttling"), Code::Other("Throttling".into()));
        assert_eq!(Code::parse("Throttling").as_str(), "Throttling");
    }

    #[test]
    fn one_classification() {
        assert!(Code::parse("KMS.AccessDeniedException").access_denied());
        assert!(Code::parse("UnauthorizedOperation").access_denied());
        assert!(!Code::parse("NoSuchKey").access_denied());
        assert!(Code::parse("NoSuchBucketPolicy").not_found());
        assert!(Code::parse("ResourceAlreadyExistsException").already_exists());
        assert!(Code::MalformedPolicyDocument.eventual("Invalid principal in policy: \"AWS\""));
        assert!(!Code::MalformedPolicyDocument.eventual("Syntax errors in policy"));
        assert!(!Code::AccessDenied.eventual("Invalid principal"));
        assert!(Code::parse("InvalidParameterValueException").eventual(
            "The provided principal was invalid. Please check the principal and try again."
        ));
        assert!(denied(Some("AccessDeniedException")));
        assert!(!denied(None));
    }

    #[test]
    fn credential_chain_failures_say_what_to_do() {
        let (c, m) = credentials_problem(
            "dispatch failure: other: failed to load the cached SSO token: …",
            Some("dev"),
        )
        .unwrap();
        assert_eq!(c, Code::SsoLogin);
        assert!(m.contains("aws sso login --profile dev"), "{m}");
        let (c, m) = credentials_problem(
            "dispatch failure: other: no providers in chain provided credentials",
            None,
        )
        .unwrap();
        assert_eq!(c, Code::NoCredentials);
        assert!(
            m.contains("AWS_PROFILE") && m.contains("assume_role"),
            "{m}"
        );
        let laptop = "dispatch failure: other: an error occurred while loading credentials: failed to load IMDS session token: service error: request forbidden";
        assert_eq!(
            credentials_problem(laptop, None).unwrap().0,
            Code::NoCredentials
        );
        assert!(credentials_problem("AccessDenied: not authorized", None).is_none());
    }
}
