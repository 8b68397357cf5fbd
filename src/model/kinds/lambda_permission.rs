//! `lambda_permission`: xacct's statement in a Lambda function's resource policy (direct mode):
//! `principal` may `lambda:InvokeFunction` the function. The rest of the function's policy is not
//! xacct's. Owned by its statement id, which is in xacct's namespace (`xacct-<fleet>`).

use super::{absent, gone, Diff, Found, Managed, Owners, Spec, Step, Writing};
use crate::aws::{retry_consistency, AwsError, Clients};
use crate::aws::{Call, Use};
use crate::config::Config;
use crate::model::{Addr, Kind};
use crate::policy;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LambdaPermission {
    /// The unqualified function ARN.
    pub function: String,
    pub statement_id: String,
    /// The exact IoT role ARN.
    pub principal: String,
}

/// The statement that stands beside xacct's own while it is replaced (`<sid>-next`), so that an
/// update never leaves the principal without a working statement.
pub fn permission_next_sid(sid: &str) -> String {
    format!("{sid}-next")
}

impl Managed for LambdaPermission {
    const KIND: Kind = Kind::LambdaPermission;

    fn of(s: &Spec) -> Option<&Self> {
        if let Spec::LambdaPermission(x) = s {
            Some(x)
        } else {
            None
        }
    }

    fn addr_name(&self) -> String {
        let f = &self.function;
        format!(
            "{}/{}",
            f.rsplit(':').next().unwrap_or(f),
            self.statement_id
        )
    }

    fn attrs(&self) -> Value {
        json!({"function": self.function, "statement_id": self.statement_id,
            "principal": self.principal, "action": "lambda:InvokeFunction"})
    }

    fn differs(&self, live: &Self) -> bool {
        self.principal != live.principal
    }

    fn broadens(&self, before: Option<&Self>) -> Vec<String> {
        match before {
            Some(b) if b.principal == self.principal => vec![],
            _ => vec![format!("{} may invoke {}", self.principal, self.function)],
        }
    }

    fn owned(&self, _: &Owners, _: &Addr) -> bool {
        true
    }

    fn plan(&self, live: &Self, _: &Addr, _: &Diff) -> Step {
        if self.differs(live) {
            Step::Update(vec![
                "xacct's statement in the function policy was changed out of band".into(),
            ])
        } else {
            Step::Keep
        }
    }

    fn calls(&self, _: &Config, _: &str, u: Use) -> Vec<Call> {
        Call::each(
            match u {
                Use::Read => &["lambda:GetPolicy"],
                Use::Write => &[
                    "lambda:GetPolicy",
                    "lambda:AddPermission",
                    "lambda:RemovePermission",
                ],
                Use::Delete => &["lambda:RemovePermission"],
            },
            &self.function,
        )
    }

    async fn read(&self, c: &Clients) -> Result<Option<Found>, AwsError> {
        read(c, &self.function, &self.statement_id).await
    }

    async fn create(&self, c: &Clients, _: &Writing) -> Result<(), AwsError> {
        self.update(c).await
    }

    async fn update(&self, c: &Clients) -> Result<(), AwsError> {
        let _slot = c.slot().await?;
        let (function, sid) = (&self.function, &self.statement_id);
        // A statement cannot be edited in place. So that the principal is never without a
        // working statement: add `-next`, remove the old statement, add it anew, remove `-next`.
        // Interrupted in between, the `-next` statement is read as a change the next plan repairs.
        let next = permission_next_sid(sid);
        remove(c, function, &next).await?;
        add(c, function, &next, &self.principal).await?;
        remove(c, function, sid).await?;
        add(c, function, sid, &self.principal).await?;
        remove(c, function, &next).await
    }

    async fn delete(&self, c: &Clients) -> Result<(), AwsError> {
        remove(c, &self.function, &self.statement_id).await?;
        remove(c, &self.function, &permission_next_sid(&self.statement_id)).await
    }
}

/// Remove the statement `sid` from a function's policy (absent is fine).
async fn remove(c: &Clients, function: &str, sid: &str) -> Result<(), AwsError> {
    match c
        .lambda()
        .remove_permission()
        .function_name(function)
        .statement_id(sid)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => gone(c.err("lambda:RemovePermission", &format!("{function}/{sid}"), e)),
    }
}

/// Add the statement `sid` letting `principal` invoke `function` (retried while IAM propagates a
/// role created moments ago).
async fn add(c: &Clients, function: &str, sid: &str, principal: &str) -> Result<(), AwsError> {
    retry_consistency(|| async {
        c.lambda()
            .add_permission()
            .function_name(function)
            .statement_id(sid)
            .action("lambda:InvokeFunction")
            .principal(principal)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| c.err("lambda:AddPermission", &format!("{function}/{sid}"), e))
    })
    .await
}

/// xacct's statement (`sid`) in a function's resource policy, if it is there. A statement whose
/// action or resource is not exactly `lambda:InvokeFunction` on the function reads as a different
/// principal, so that plan restores it.
pub async fn read(c: &Clients, function: &str, sid: &str) -> Result<Option<Found>, AwsError> {
    let _slot = c.slot().await?;
    let out = match c.lambda().get_policy().function_name(function).send().await {
        Ok(o) => o,
        Err(e) => return absent(c.err("lambda:GetPolicy", function, e)),
    };
    let Some(text) = out.policy() else {
        return Ok(None);
    };
    let doc =
        policy::parse_document(text).map_err(|m| c.unreadable("lambda:GetPolicy", function, m))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(v) => vec![v.clone()],
        None => vec![],
    };
    let sid_of = |s: &Value| s.get("Sid").and_then(|x| x.as_str()).map(String::from);
    // an update interrupted between its steps leaves xacct's `-next` statement beside (or
    // instead of) its own: read as a change, so the next plan updates it and the update removes it
    let next = permission_next_sid(sid);
    let leftover = statements
        .iter()
        .any(|s| sid_of(s).as_deref() == Some(&next));
    let Some(st) = statements
        .iter()
        .find(|s| sid_of(s).as_deref() == Some(sid))
        .or_else(|| {
            statements
                .iter()
                .find(|s| sid_of(s).as_deref() == Some(&next))
        })
    else {
        return Ok(None);
    };
    let one = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.len() == 1 => a[0].as_str().unwrap_or_default().to_string(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let principal = match st.get("Principal") {
        Some(Value::Object(m)) => one(m.get("AWS").or_else(|| m.values().next())),
        other => one(other),
    };
    let action = one(st.get("Action"));
    let resource = one(st.get("Resource"));
    let exact = action.eq_ignore_ascii_case("lambda:InvokeFunction")
        && resource == function
        && st.get("Effect").and_then(|e| e.as_str()) == Some("Allow")
        && st.get("Condition").is_none()
        && !leftover;
    Ok(Some(Found::new(
        Spec::LambdaPermission(LambdaPermission {
            function: function.to_string(),
            statement_id: sid.to_string(),
            principal: if exact {
                principal
            } else {
                format!("{principal} (statement changed: {st})")
            },
        }),
        None,
    )))
}
