//! `iot_role_alias`: the role alias devices name to the credentials provider. Owned once the fleet is
//! established in the IoT account (its tagged IoT role exists), or when it points at one of the
//! fleet's IoT roles.

use super::{absent, gone, Diff, Found, Managed, Owners, Spec, Step, Writing};
use crate::aws::{retry_consistency, AwsError, Clients};
use crate::aws::{Call, Use};
use crate::config::Config;
use crate::model::{Addr, Kind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IotRoleAlias {
    pub role_alias: String,
    pub role_arn: String,
    pub credential_duration: i32,
}

impl Managed for IotRoleAlias {
    const KIND: Kind = Kind::IotRoleAlias;

    fn of(s: &Spec) -> Option<&Self> {
        if let Spec::IotRoleAlias(x) = s {
            Some(x)
        } else {
            None
        }
    }

    fn addr_name(&self) -> String {
        self.role_alias.clone()
    }

    fn attrs(&self) -> Value {
        json!({"role_alias": self.role_alias, "role_arn": self.role_arn,
            "credential_duration": self.credential_duration})
    }

    fn differs(&self, live: &Self) -> bool {
        self.role_arn != live.role_arn || self.credential_duration != live.credential_duration
    }

    fn broadens(&self, before: Option<&Self>) -> Vec<String> {
        match before {
            Some(b) if b.role_arn != self.role_arn => {
                vec![format!(
                    "the alias hands out credentials of {}",
                    self.role_arn
                )]
            }
            _ => vec![],
        }
    }

    fn owned(&self, o: &Owners, _: &Addr) -> bool {
        o.established || super::fleet_iot_arns(o.cfg).0.contains(&self.role_arn)
    }

    fn conflict(&self, _: &Owners) -> String {
        format!(
            "conflict: alias points at {}, which is not one of the fleet's IoT roles",
            self.role_arn
        )
    }

    fn plan(&self, live: &Self, addr: &Addr, d: &Diff) -> Step {
        if !live.owned(&d.owners, addr) {
            Step::Adopt(vec![live.conflict(&d.owners)])
        } else if self.differs(live) {
            Step::Update(if live.role_arn != self.role_arn {
                vec![format!(
                    "the alias was repointed to {} out of band",
                    live.role_arn
                )]
            } else {
                vec![]
            })
        } else {
            Step::Keep
        }
    }

    fn leftover(&self, addr: &Addr, d: &Diff) -> Option<String> {
        self.owned(&d.owners, addr).then(|| d.layout_note())
    }

    fn calls(&self, cfg: &Config, account: &str, u: Use) -> Vec<Call> {
        let arn = super::iot_arn(cfg, account, &format!("rolealias/{}", self.role_alias));
        match u {
            Use::Read => Call::each(&["iot:DescribeRoleAlias"], &arn),
            Use::Write => {
                let mut v = Call::each(
                    &[
                        "iot:DescribeRoleAlias",
                        "iot:CreateRoleAlias",
                        "iot:UpdateRoleAlias",
                    ],
                    &arn,
                );
                // the alias hands out the role's credentials: IoT checks that the caller may pass it
                v.push(Call::new("iam:PassRole", &self.role_arn));
                v
            }
            Use::Delete => Call::each(&["iot:DeleteRoleAlias"], &arn),
        }
    }

    async fn read(&self, c: &Clients) -> Result<Option<Found>, AwsError> {
        read(c, &self.role_alias).await
    }

    async fn create(&self, c: &Clients, w: &Writing) -> Result<(), AwsError> {
        let r = {
            let _slot = c.slot().await?;
            retry_consistency(|| async {
                c.iot()
                    .create_role_alias()
                    .role_alias(&self.role_alias)
                    .role_arn(&self.role_arn)
                    .credential_duration_seconds(self.credential_duration)
                    .send()
                    .await
                    .map_err(|e| c.err("iot:CreateRoleAlias", &self.role_alias, e))
            })
            .await
        };
        match r {
            Ok(_) => Ok(()),
            Err(e) if e.already_exists() => {
                let owner = read(c, &self.role_alias).await?.and_then(|f| {
                    let l = IotRoleAlias::of(&f.live.spec)?;
                    (!w.fleet_roles.contains(&l.role_arn))
                        .then(|| format!("it points at {}", l.role_arn))
                });
                w.may_take(c, "iot:CreateRoleAlias", &self.role_alias, owner)?;
                self.update(c).await
            }
            Err(e) => Err(e),
        }
    }

    async fn update(&self, c: &Clients) -> Result<(), AwsError> {
        let _slot = c.slot().await?;
        retry_consistency(|| async {
            c.iot()
                .update_role_alias()
                .role_alias(&self.role_alias)
                .role_arn(&self.role_arn)
                .credential_duration_seconds(self.credential_duration)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| c.err("iot:UpdateRoleAlias", &self.role_alias, e))
        })
        .await
    }

    async fn delete(&self, c: &Clients) -> Result<(), AwsError> {
        let _slot = c.slot().await?;
        match c
            .iot()
            .delete_role_alias()
            .role_alias(&self.role_alias)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => gone(c.err("iot:DeleteRoleAlias", &self.role_alias, e)),
        }
    }
}

/// The role alias named `alias` (None: absent).
pub async fn read(c: &Clients, alias: &str) -> Result<Option<Found>, AwsError> {
    let _slot = c.slot().await?;
    match c.iot().describe_role_alias().role_alias(alias).send().await {
        Ok(out) => {
            let Some(d) = out.role_alias_description() else {
                return Ok(None);
            };
            Ok(Some(Found::new(
                Spec::IotRoleAlias(IotRoleAlias {
                    role_alias: alias.into(),
                    role_arn: d.role_arn().unwrap_or_default().to_string(),
                    credential_duration: d.credential_duration_seconds().unwrap_or(3600),
                }),
                d.role_alias_arn().map(String::from),
            )))
        }
        Err(e) => absent(c.err("iot:DescribeRoleAlias", alias, e)),
    }
}
