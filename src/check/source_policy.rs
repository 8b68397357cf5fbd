//! The proof of the source role's side of `assume_role` (its part `source_policy`).

use super::proof::{boundary_words, depends, hop, labels, removal, two_sided, Step, StepResult};
use super::{json, Config, Decision, Facts, Target};

/// The source role's own side of `sts:AssumeRole` on the target role: its identity policies and its
/// permissions boundary (the trust is `assume_target`'s).
pub(super) fn hop_source_policy(cfg: &Config, t: &Target, f: &Facts) -> StepResult {
    let target_arn = cfg.target_role_arn(t);
    let policy_name = crate::desired::source_policy_name(cfg);
    let fix = json!({"inline_policy": policy_name, "of": cfg.origin_role_arn(),
        "statement": {"Effect":"Allow","Action":"sts:AssumeRole","Resource":target_arn}});
    let Some(src) = &f.origin_role else {
        return hop(
            Step::SourcePolicy,
            false,
            vec![format!(
                "the source role {} does not exist",
                cfg.origin_role_arn()
            )],
            vec![],
            None,
        );
    };
    let names: Vec<&str> = src.policies.iter().map(|(n, _)| n.as_str()).collect();
    // the side of the source role alone: the trust is taken as allowing it
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":src.arn},"Action":"sts:AssumeRole"}]});
    match two_sided(src, "sts:AssumeRole", &target_arn, Some(&trust)) {
        Err(e) => hop(
            Step::SourcePolicy,
            false,
            vec![format!("malformed policy: {e}")],
            vec![],
            None,
        ),
        Ok((o, true, _, _)) if o.decision == Decision::Allow => hop(
            Step::SourcePolicy,
            true,
            vec![format!(
                "the policies of {} allow sts:AssumeRole on {target_arn}",
                src.arn
            )],
            labels(&o, &names, ""),
            None,
        ),
        Ok((o, id_ok, _, case)) => {
            let mut detail = Vec::new();
            if let Some(w) = boundary_words(&o, src, "sts:AssumeRole", &target_arn) {
                detail.push(w);
            } else if o.decision == Decision::ExplicitDeny {
                detail.push(format!(
                    "an explicit Deny in the policies of the source role {} blocks sts:AssumeRole on {target_arn}",
                    src.arn
                ));
            } else if !id_ok {
                detail.push(format!(
                    "the source role's policies do not allow sts:AssumeRole on {target_arn} (xacct's inline policy {policy_name} on {} is missing or changed)",
                    src.arn
                ));
            }
            let fix = if o.decision == Decision::ExplicitDeny {
                removal(&o, &names, "")
            } else {
                fix
            };
            let h = hop(
                Step::SourcePolicy,
                false,
                detail,
                labels(&o, &names, ""),
                Some(fix),
            );
            depends(h, &case)
        }
    }
}
