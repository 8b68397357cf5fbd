//! `xacct sandbox up`: the environment files to bootstrap are validated first, then described to the
//! sandbox as what an organization already has for them (`xacct_sandbox::bootstrap::Organization`);
//! the sandbox itself reads no file of xacct's.

use crate::commands::Error;
use crate::config::{self, Config, Devices, Origin};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use xacct_sandbox::bootstrap::{Account, Api, Organization, Target};

/// `xacct sandbox up`.
pub fn up_cmd(moto_url: Option<&str>, files: &[PathBuf], dir: &Path) -> Result<ExitCode, Error> {
    // validate the files before starting anything
    let orgs = files
        .iter()
        .map(|f| config::load(f).map(|c| organization(&c)))
        .collect::<Result<Vec<_>, _>>()?;
    crate::commands::server_runtime()
        .block_on(xacct_sandbox::up(moto_url, &orgs, dir))
        .map(|_| ExitCode::SUCCESS)
        .map_err(Error::Sandbox)
}

/// The role the administrators of an account assume: the last segment of the file's `assume_role`
/// for it, or `Admin`.
fn admin_role(assume_role: Option<&str>) -> String {
    assume_role
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or("Admin")
        .to_string()
}

/// What an organization has before xacct runs for `cfg`: the accounts with their admin roles, the
/// workload role or the device, and every target the environments list.
pub fn organization(cfg: &Config) -> Organization {
    let targets = cfg
        .environments
        .iter()
        .map(|t| Target {
            label: t.name.clone(),
            account: Account {
                id: t.account.clone(),
                admin_role: admin_role(t.access.assume_role.as_deref()),
            },
            functions: t
                .functions
                .iter()
                .map(|f| f.rsplit(':').next().unwrap_or(f).to_string())
                .collect(),
            objects: t
                .objects
                .iter()
                .map(|o| (o.bucket.clone(), o.key.clone()))
                .collect(),
            apis: t
                .apis
                .iter()
                .map(|a| Api {
                    api_id: a.api_id.clone(),
                    stage: a.stage.clone(),
                    method: a.method.clone(),
                    path: a.path.clone(),
                })
                .collect(),
        })
        .collect();
    let gate = |f: fn(&Devices) -> Option<&String>| -> Vec<String> {
        let mut v: Vec<String> = cfg
            .environments
            .iter()
            .filter_map(|t| t.devices.as_ref().and_then(f).cloned())
            .collect();
        v.dedup();
        v
    };
    Organization {
        name: cfg.fleet.clone(),
        region: cfg.region.clone(),
        partition: cfg.partition.clone(),
        origin: Account {
            id: cfg.origin_account().to_string(),
            admin_role: admin_role(cfg.origin_access().assume_role.as_deref()),
        },
        source_role: cfg.source_role().map(|s| s.arn.clone()),
        device: matches!(cfg.origin, Origin::Iot(_)),
        thing_type: gate(|d| match d {
            Devices::ThingType(t) => Some(t),
            Devices::ThingGroup(_) => None,
        })
        .into_iter()
        .next(),
        thing_groups: gate(|d| match d {
            Devices::ThingGroup(g) => Some(g),
            Devices::ThingType(_) => None,
        }),
        targets,
        aws_organization: cfg.organization.as_ref().map(|o| Account {
            id: o.account.clone(),
            admin_role: admin_role(o.access.assume_role.as_deref()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_organization_has_what_the_file_expects_to_find() {
        let c = config::parse(
            Path::new("g.yaml"),
            "fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\", assume_role: \"arn:aws:iam::111111111111:role/Ops\"}\nenvironments:\n  prd: {account: \"222222222222\", functions: [x, \"arn:aws:lambda:eu-west-1:222222222222:function:y\"], devices: {thing_group: gws}}\n  qa: {account: \"444444444444\", functions: [z], devices: {thing_type: Gw}}\n",
        )
        .unwrap();
        let o = organization(&c);
        assert_eq!(o.origin.id, "111111111111");
        assert_eq!(o.origin.admin_role, "Ops");
        assert!(o.device && o.source_role.is_none());
        assert_eq!(o.thing_groups, ["gws"]);
        assert_eq!(o.thing_type.as_deref(), Some("Gw"));
        assert_eq!(o.targets[0].account.admin_role, "Admin");
        assert_eq!(o.targets[0].functions, ["x", "y"]);
        assert_eq!(o.targets[1].label, "qa");
    }
}
