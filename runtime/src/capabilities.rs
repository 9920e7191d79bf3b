//! The five capability sets of `process.capabilities`.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};

use crate::error::{Error, Result};
use crate::explain;
use crate::spec::Capabilities;

/// Every name must be a capability this runtime knows; names the running
/// kernel does not have are dropped later with a warning, as runc does.
pub fn validate(c: &Capabilities) -> std::result::Result<(), String> {
    for (set, names) in sets(c) {
        for n in names.iter().flatten() {
            Capability::from_str(n).map_err(|_| format!("unknown capability {n:?} in the {set} set"))?;
        }
    }
    Ok(())
}

/// A capability outside the runtime's own bounding set can never be had by
/// a process it starts: the bounding set is inherited and only shrinks,
/// even into a new user namespace. Checked at create (runc's create fails
/// too, with "unable to apply caps: operation not permitted"), naming the
/// capabilities, instead of a bare EPERM from capset at start. Names the
/// kernel does not know are left to `to_set` (skipped with a warning).
pub fn check_attainable(c: &Capabilities) -> std::result::Result<(), String> {
    let bounding = caps::read(None, CapSet::Bounding).map_err(|e| format!("reading this runtime's bounding set: {e}"))?;
    let supported = caps::runtime::thread_all_supported();
    missing_from_bounding(c, &bounding, &supported)
}

fn missing_from_bounding(c: &Capabilities, bounding: &CapsHashSet, supported: &CapsHashSet) -> std::result::Result<(), String> {
    for (set, names) in sets(c) {
        if set == "bounding" {
            continue; // keeping a capability in the bounding set that is not there is a no-op
        }
        let mut missing: Vec<&str> = names
            .iter()
            .flatten()
            .filter(|n| Capability::from_str(n).is_ok_and(|cap| supported.contains(&cap) && !bounding.contains(&cap)))
            .map(|n| n.as_str())
            .collect();
        if !missing.is_empty() {
            missing.sort_unstable();
            return Err(format!(
                "{} in the {set} set: not in the bounding set of the runtime itself (CapBnd in /proc/self/status), so no process it starts can have it; \
                 the host or the runtime's caller withholds it: remove it from process.capabilities",
                missing.join(",")
            ));
        }
    }
    Ok(())
}

fn sets(c: &Capabilities) -> [(&'static str, &Option<Vec<String>>); 5] {
    [
        ("bounding", &c.bounding),
        ("effective", &c.effective),
        ("inheritable", &c.inheritable),
        ("permitted", &c.permitted),
        ("ambient", &c.ambient),
    ]
}

fn to_set(names: &Option<Vec<String>>, supported: &CapsHashSet) -> CapsHashSet {
    let mut out = CapsHashSet::new();
    for n in names.iter().flatten() {
        match Capability::from_str(n) {
            Ok(c) if supported.contains(&c) => {
                out.insert(c);
            }
            Ok(_) => tracing::warn!("capability {n} is not supported by the running kernel; skipped"),
            Err(_) => {}
        }
    }
    out
}

fn names(s: &CapsHashSet) -> String {
    let mut v: Vec<String> = s.iter().map(|c| c.to_string()).collect();
    v.sort();
    if v.is_empty() { "(none)".into() } else { v.join(",") }
}

/// Step 1, while still uid 0 with every capability: shrink the bounding
/// set (dropping from it needs CAP_SETPCAP, which may go later).
pub fn drop_bounding(c: &Capabilities) -> Result<()> {
    let supported = caps::runtime::thread_all_supported();
    let keep = to_set(&c.bounding, &supported);
    explain::step("init", format!("bounding set = {}", names(&keep)), "no later execve can ever gain a capability outside the bounding set");
    for cap in supported.iter() {
        if !keep.contains(cap) {
            caps::drop(None, CapSet::Bounding, *cap).map_err(|e| Error::Other(format!("dropping {cap} from the bounding set: {e}")))?;
        }
    }
    Ok(())
}

/// Step 2, after switching to the container user (with keep-caps): set
/// permitted, inheritable, effective and raise ambient.
pub fn apply(c: &Capabilities) -> Result<()> {
    let supported = caps::runtime::thread_all_supported();
    let permitted = to_set(&c.permitted, &supported);
    let effective = to_set(&c.effective, &supported);
    let inheritable = to_set(&c.inheritable, &supported);
    let ambient = to_set(&c.ambient, &supported);
    // Effective must stay a subset of permitted, so shrink in this order.
    let err = |set: &str, e: caps::errors::CapsError| Error::Other(format!("setting the {set} capability set: {e}"));
    explain::step("init", format!("effective = {}", names(&effective)), "capabilities checked by the kernel for this process right now");
    caps::set(None, CapSet::Effective, &effective).map_err(|e| err("effective", e))?;
    explain::step("init", format!("permitted = {}", names(&permitted)), "the most the process may ever put in its effective set");
    caps::set(None, CapSet::Permitted, &permitted).map_err(|e| err("permitted", e))?;
    explain::step("init", format!("inheritable = {}", names(&inheritable)), "capabilities that may pass through execve to programs with matching file capabilities");
    caps::set(None, CapSet::Inheritable, &inheritable).map_err(|e| err("inheritable", e))?;
    explain::step("init", format!("ambient = {}", names(&ambient)), "capabilities kept across execve even by programs without file capabilities (non-root users)");
    caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient", e))?;
    for cap in ambient {
        // The kernel allows an ambient capability only if it is both permitted and inheritable.
        if !permitted.contains(&cap) || !inheritable.contains(&cap) {
            return Err(Error::Other(format!("ambient capability {cap} must also be in the permitted and inheritable sets")));
        }
        caps::raise(None, CapSet::Ambient, cap).map_err(|e| err("ambient", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_outside_the_runtimes_bounding_set_are_named() {
        let supported: CapsHashSet = [Capability::CAP_CHOWN, Capability::CAP_SYS_RESOURCE, Capability::CAP_NET_RAW].into_iter().collect();
        let bounding: CapsHashSet = [Capability::CAP_CHOWN, Capability::CAP_NET_RAW].into_iter().collect();
        let wants = |set: Vec<&str>| Capabilities {
            bounding: Some(vec!["CAP_CHOWN".into(), "CAP_SYS_RESOURCE".into()]),
            permitted: Some(set.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        // In the bounding list only: fine (nothing to keep).
        assert!(missing_from_bounding(&wants(vec!["CAP_CHOWN"]), &bounding, &supported).is_ok());
        let err = missing_from_bounding(&wants(vec!["CAP_SYS_RESOURCE", "CAP_CHOWN"]), &bounding, &supported).unwrap_err();
        assert!(err.starts_with("CAP_SYS_RESOURCE in the permitted set: not in the bounding set of the runtime itself"), "{err}");
        // A capability the kernel does not have is skipped later with a warning, not refused here.
        assert!(missing_from_bounding(&wants(vec!["CAP_BPF"]), &bounding, &supported).is_ok());
    }

    #[test]
    fn validation() {
        let ok = Capabilities { bounding: Some(vec!["CAP_CHOWN".into(), "CAP_NET_RAW".into()]), ..Default::default() };
        validate(&ok).unwrap();
        let bad = Capabilities { effective: Some(vec!["CAP_FLY".into()]), ..Default::default() };
        let e = validate(&bad).unwrap_err();
        assert!(e.contains("CAP_FLY") && e.contains("effective"), "{e}");
    }
}
