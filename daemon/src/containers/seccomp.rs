//! `--security-opt seccomp=profile.json`: docker's profile format (the one
//! of ../shared/reference's default profile: `archMap`, rules with
//! `includes`/`excludes` by capability, architecture and kernel) turned into
//! the OCI `linux.seccomp` the runtime takes. A profile already in OCI form
//! (`architectures`, plain rules) passes through the same code unchanged.

use serde_json::{json, Value};

use crate::error::{Error, Result};

fn bad(m: impl Into<String>) -> Error {
    Error::BadParameter(format!("seccomp profile: {}", m.into()))
}

/// This machine's ABI as seccomp names it, and as Go's GOARCH (which
/// docker's `includes.arches` uses) names it.
fn native() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("SCMP_ARCH_X86_64", "amd64"),
        "aarch64" => ("SCMP_ARCH_AARCH64", "arm64"),
        "arm" => ("SCMP_ARCH_ARM", "arm"),
        "x86" => ("SCMP_ARCH_X86", "386"),
        "riscv64" => ("SCMP_ARCH_RISCV64", "riscv64"),
        "s390x" => ("SCMP_ARCH_S390X", "s390x"),
        "powerpc64" => ("SCMP_ARCH_PPC64LE", "ppc64le"),
        other => (other, other),
    }
}

/// "6.1.0-18-amd64" → (6, 1).
fn kernel_version(release: &str) -> (u32, u32) {
    let mut it = release.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// Whether a rule applies to a container holding `caps` on this machine.
fn applies(rule: &Value, caps: &[String], goarch: &str, kernel: (u32, u32)) -> Result<bool> {
    let inc = &rule["includes"];
    if !strings(&inc["caps"]).iter().all(|c| caps.iter().any(|x| x == c)) {
        return Ok(false);
    }
    let arches = strings(&inc["arches"]);
    if !arches.is_empty() && !arches.contains(&goarch) {
        return Ok(false);
    }
    if let Some(k) = inc["minKernel"].as_str() {
        let want = kernel_version(k);
        if want == (0, 0) {
            return Err(bad(format!("invalid minKernel {k:?}")));
        }
        if kernel < want {
            return Ok(false);
        }
    }
    let exc = &rule["excludes"];
    if strings(&exc["caps"]).iter().any(|c| caps.iter().any(|x| x == c)) || strings(&exc["arches"]).contains(&goarch) {
        return Ok(false);
    }
    Ok(true)
}

/// Converts a docker (or OCI) seccomp profile for a container whose
/// bounding set is `caps`.
pub fn convert(p: &Value, caps: &[String]) -> Result<Value> {
    let obj = p.as_object().ok_or_else(|| bad("not a JSON object"))?;
    let default = obj.get("defaultAction").and_then(Value::as_str).filter(|s| s.starts_with("SCMP_ACT_")).ok_or_else(|| bad("defaultAction is missing or not an SCMP_ACT_ action"))?;
    let (arch, goarch) = native();
    let mut arches: Vec<String> = strings(&p["architectures"]).into_iter().map(str::to_string).collect();
    if let Some(map) = p["archMap"].as_array() {
        if !arches.is_empty() {
            return Err(bad("both architectures and archMap are given"));
        }
        for a in map {
            if a["architecture"] == arch {
                arches.push(arch.to_string());
                arches.extend(strings(&a["subArchitectures"]).into_iter().map(str::to_string));
            }
        }
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let kernel = kernel_version(release.trim());
    let mut rules = Vec::new();
    for (i, r) in p["syscalls"].as_array().map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
        let mut names: Vec<&str> = strings(&r["names"]);
        if let Some(n) = r["name"].as_str() {
            names.push(n);
        }
        let action = r["action"].as_str().filter(|s| s.starts_with("SCMP_ACT_")).ok_or_else(|| bad(format!("syscalls[{i}].action is missing or not an SCMP_ACT_ action")))?;
        if names.is_empty() {
            return Err(bad(format!("syscalls[{i}] names no system call")));
        }
        if !applies(r, caps, goarch, kernel)? {
            continue;
        }
        let mut rule = json!({"names": names, "action": action});
        if let Some(e) = r.get("errnoRet").filter(|v| !v.is_null()) {
            rule["errnoRet"] = e.clone();
        }
        if let Some(a) = r["args"].as_array().filter(|a| !a.is_empty()) {
            rule["args"] = Value::Array(a.clone());
        }
        rules.push(rule);
    }
    let mut out = json!({"defaultAction": default, "architectures": arches, "syscalls": rules});
    for k in ["defaultErrnoRet", "flags", "listenerPath", "listenerMetadata"] {
        if let Some(v) = obj.get(k).filter(|v| !v.is_null()) {
            out[k] = v.clone();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_format_is_resolved_for_this_container() {
        let (arch, goarch) = native();
        let p = json!({
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [{"architecture": arch, "subArchitectures": ["SUB"]}, {"architecture": "OTHER", "subArchitectures": ["X"]}],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_PTRACE"]}},
                {"names": ["archonly"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": [goarch]}},
                {"names": ["future"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
                {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}
            ]
        });
        let o = convert(&p, &[]).unwrap();
        assert_eq!(o["architectures"], json!([arch, "SUB"]));
        let names: Vec<String> = o["syscalls"].as_array().unwrap().iter().map(|r| r["names"][0].as_str().unwrap().to_string()).collect();
        assert_eq!(names, ["read", "ptrace", "archonly", "mkdir"]);
        assert_eq!(o["syscalls"][3]["errnoRet"], 13);
        assert_eq!(o["defaultErrnoRet"], 1);
        let o = convert(&p, &["CAP_SYS_ADMIN".into(), "CAP_SYS_PTRACE".into()]).unwrap();
        let names: Vec<&str> = o["syscalls"].as_array().unwrap().iter().map(|r| r["names"][0].as_str().unwrap()).collect();
        assert_eq!(names, ["read", "mount", "archonly", "mkdir"]);
    }

    #[test]
    fn bad_profiles_are_named() {
        assert!(convert(&json!([]), &[]).is_err());
        assert!(convert(&json!({"defaultAction": "ALLOW"}), &[]).unwrap_err().to_string().contains("defaultAction"));
        assert!(convert(&json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"]}]}), &[]).unwrap_err().to_string().contains("syscalls[0].action"));
        assert_eq!(kernel_version("6.1.0-18-amd64"), (6, 1));
    }
}
