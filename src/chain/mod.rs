//! The chain of one environment as the tool sees it: the hops it makes, in order (`hop`: their names,
//! shared by `check` and `verify`).

pub mod hop;

pub use hop::{Hop, Part, FORMAT_VERSION};

use crate::config::{Config, Origin, Target};

/// The hops of environment `t`, in order: how the chain starts, the role it assumes (none in direct
/// mode), then one hop per kind of target it lists.
pub fn hops(cfg: &Config, t: &Target) -> Vec<Hop> {
    let mut v = vec![match cfg.origin {
        Origin::Iot(_) => Hop::Credentials,
        Origin::Role(_) => Hop::Source,
    }];
    if !t.direct() {
        v.push(Hop::AssumeRole);
    }
    v.extend(target_hops(t));
    v
}

/// The hops after the target role, for the targets `t` lists: one per target type it lists, in the
/// order of the registry (`targets::TYPES`).
pub fn target_hops(t: &Target) -> Vec<Hop> {
    crate::targets::listed(t).map(|ty| ty.hop()).collect()
}
