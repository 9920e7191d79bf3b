//! `features`: what this runtime supports, per the runtime spec's features schema.

use serde_json::{json, Value};

pub fn features() -> Value {
    json!({
        "ociVersionMin": crate::spec::OCI_VERSION_MIN,
        "ociVersionMax": "1.3.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": crate::rootfs::mounts::known_options(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<std::collections::BTreeSet<_>>(),
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true },
            "seccomp": seccomp_features(),
            "apparmor": { "enabled": true },
            "selinux": { "enabled": true },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": true } }
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features.hooks": "true",
            "io.github.berth.runtime.version": env!("CARGO_PKG_VERSION")
        }
    })
}

/// What the seccomp compiler knows, and which filter flags this kernel takes.
fn seccomp_features() -> Value {
    use crate::seccomp::{load, Action, Arch, Flag, Op};
    let names = |v: &[&'static str]| v.to_vec();
    json!({
        "enabled": true,
        "actions": names(&Action::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>()),
        "operators": names(&Op::ALL.iter().map(|o| o.as_str()).collect::<Vec<_>>()),
        "archs": Arch::SUPPORTED.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "knownFlags": Flag::ALL.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
        "supportedFlags": Flag::ALL.iter().filter(|f| load::flag_supported(f.bit())).map(|f| f.as_str()).collect::<Vec<_>>(),
    })
}
