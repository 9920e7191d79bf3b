//! Platforms and the choice of one manifest from an index, following the
//! image spec's platform rules as containerd applies them: architecture and
//! variant are normalised first (`aarch64` is `arm64`, `arm64` means `v8`,
//! `arm` means `v7`), and an ARM host also runs older ARM variants.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::manifest::{Descriptor, Index};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, rename = "os.features", skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
}

/// A 32-bit ARM build's variant: what the CPU says it is (`CPU
/// architecture: 7` in /proc/cpuinfo, as containerd reads it; an ARMv8 CPU
/// running 32-bit code is `v8`, which still takes v7 images), else what the
/// binary was built for (`armv7-…` is v7, other `arm…` triples v6).
fn arm_variant(target: &str, cpuinfo: &str) -> &'static str {
    let cpu = cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim().eq_ignore_ascii_case("CPU architecture")).then(|| v.trim().to_string())
    });
    match cpu.as_deref() {
        Some("8") => "v8",
        Some("7") => "v7",
        Some("6") | Some("5TEJ") => "v6",
        _ if target.starts_with("armv7") || target.starts_with("thumbv7") => "v7",
        _ => "v6",
    }
}

impl Platform {
    pub fn new(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform { os: os.into(), architecture: arch.into(), variant: variant.map(Into::into), ..Default::default() }
    }

    /// `linux/arm64`, `linux/arm/v7`, `arm64` (os defaults to linux).
    pub fn parse(s: &str) -> Result<Platform> {
        let bad = |reason| Error::InvalidPlatform { platform: s.to_string(), reason };
        let parts: Vec<&str> = s.split('/').collect();
        if parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')) {
            return Err(bad("expected os/arch[/variant]"));
        }
        let p = match parts.as_slice() {
            [arch] if is_known_os(arch) => return Err(bad("architecture missing")),
            [arch] => Platform::new("linux", arch, None),
            [os, arch] => Platform::new(os, arch, None),
            [os, arch, variant] => Platform::new(os, arch, Some(variant)),
            _ => return Err(bad("expected os/arch[/variant]")),
        };
        if !is_known_os(&p.os.to_lowercase()) {
            return Err(bad("unknown operating system"));
        }
        Ok(p.normalized())
    }

    /// The platform this binary runs on.
    pub fn host() -> Platform {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some(arm_variant(env!("OCI_IMAGE_TARGET"), &std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()))),
            "x86" => ("386", None),
            "riscv64" => ("riscv64", None),
            "powerpc64" => ("ppc64le", None),
            "s390x" => ("s390x", None),
            other => (other, None),
        };
        Platform::new("linux", arch, variant)
    }

    /// The canonical spellings, so that comparison is plain equality.
    pub fn normalized(&self) -> Platform {
        let os = self.os.to_lowercase();
        let arch = self.architecture.to_lowercase();
        let variant = self.variant.as_ref().map(|v| v.to_lowercase()).filter(|v| !v.is_empty());
        let (arch, variant) = match (arch.as_str(), variant.as_deref()) {
            ("i386", _) => ("386".to_string(), None),
            ("x86_64" | "x86-64" | "amd64", v) => ("amd64".to_string(), v.filter(|v| *v != "v1").map(String::from)),
            ("aarch64" | "arm64", None | Some("8") | Some("v8")) => ("arm64".to_string(), Some("v8".to_string())),
            ("aarch64" | "arm64", Some(v)) => ("arm64".to_string(), Some(v.to_string())),
            ("armhf", _) => ("arm".to_string(), Some("v7".to_string())),
            ("armel", _) => ("arm".to_string(), Some("v6".to_string())),
            ("arm", None | Some("7") | Some("v7")) => ("arm".to_string(), Some("v7".to_string())),
            ("arm", Some(v)) => ("arm".to_string(), Some(if v.starts_with('v') { v.to_string() } else { format!("v{v}") })),
            (a, v) => (a.to_string(), v.map(String::from)),
        };
        Platform { os, architecture: arch, variant, os_version: self.os_version.clone(), os_features: self.os_features.clone() }
    }

    /// How well an image for `candidate` runs here: `Some(0)` is an exact
    /// match, larger is worse, `None` does not run.
    fn rank(&self, candidate: &Platform) -> Option<u32> {
        let want = self.normalized();
        let c = candidate.normalized();
        if want.os != c.os || want.architecture != c.architecture {
            return None;
        }
        if want.variant == c.variant {
            return Some(0);
        }
        // An ARMv7 host runs v6 and v5 images; prefer the newest.
        if want.architecture == "arm" {
            let n = |v: &Option<String>| v.as_deref().and_then(|v| v.strip_prefix('v')).and_then(|v| v.parse::<u32>().ok());
            if let (Some(w), Some(cv)) = (n(&want.variant), n(&c.variant)) {
                if cv < w {
                    return Some(w - cv);
                }
            }
        }
        None
    }

    fn is_attestation(d: &Descriptor) -> bool {
        d.annotations.get("vnd.docker.reference.type").map(String::as_str) == Some("attestation-manifest")
            || d.platform.as_ref().is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
    }

    /// The best manifest of `index` for this platform; attestation manifests
    /// are never chosen. The error lists what the index offers.
    pub fn select<'a>(&self, index: &'a Index) -> Result<&'a Descriptor> {
        let mut best: Option<(u32, &Descriptor)> = None;
        for d in &index.manifests {
            if Platform::is_attestation(d) {
                continue;
            }
            let Some(p) = &d.platform else { continue };
            if let Some(r) = self.rank(p) {
                if best.is_none_or(|(b, _)| r < b) {
                    best = Some((r, d));
                }
            }
        }
        best.map(|(_, d)| d).ok_or_else(|| Error::NoMatchingPlatform {
            wanted: self.to_string(),
            available: index.manifests.iter().filter(|d| !Platform::is_attestation(d)).filter_map(|d| d.platform.as_ref()).map(|p| p.to_string()).collect(),
        })
    }
}

fn is_known_os(s: &str) -> bool {
    matches!(s, "linux" | "windows" | "darwin" | "freebsd" | "netbsd" | "openbsd" | "solaris" | "illumos" | "aix" | "android" | "ios" | "plan9" | "js" | "wasip1" | "dragonfly")
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    #[test]
    fn arm_variant_from_the_cpu_then_the_build() {
        let pi3 = "processor\t: 0\nmodel name\t: ARMv7 Processor rev 4 (v7l)\nCPU architecture: 7\n";
        assert_eq!(arm_variant("arm-unknown-linux-gnueabihf", pi3), "v7");
        assert_eq!(arm_variant("armv7-unknown-linux-gnueabihf", "CPU architecture: 8\n"), "v8");
        assert_eq!(arm_variant("armv7-unknown-linux-gnueabihf", "flags : fpu sse\n"), "v7");
        assert_eq!(arm_variant("arm-unknown-linux-gnueabi", ""), "v6");
        // A v8 CPU running 32-bit code still takes v7 images.
        let host = Platform::new("linux", "arm", Some("v8"));
        assert!(host.rank(&Platform::new("linux", "arm", Some("v7"))).is_some());
    }

    fn desc(n: u8, p: Option<Platform>, attest: bool) -> Descriptor {
        let mut annotations = std::collections::BTreeMap::new();
        if attest {
            annotations.insert("vnd.docker.reference.type".into(), "attestation-manifest".into());
        }
        Descriptor {
            media_type: crate::manifest::OCI_MANIFEST.into(),
            digest: Digest::of(&[n]),
            size: 1,
            urls: vec![],
            annotations,
            platform: p,
        }
    }

    fn index() -> Index {
        Index {
            schema_version: 2,
            media_type: None,
            annotations: Default::default(),
            manifests: vec![
                desc(9, Some(Platform::new("unknown", "unknown", None)), true),
                desc(1, Some(Platform::new("linux", "amd64", None)), false),
                desc(2, Some(Platform::new("linux", "arm64", Some("v8"))), false),
                desc(3, Some(Platform::new("linux", "arm", Some("v7"))), false),
                desc(4, Some(Platform::new("linux", "arm", Some("v6"))), false),
            ],
        }
    }

    #[test]
    fn parse_and_normalise() {
        assert_eq!(Platform::parse("linux/arm64").unwrap().to_string(), "linux/arm64/v8");
        assert_eq!(Platform::parse("linux/aarch64").unwrap().to_string(), "linux/arm64/v8");
        assert_eq!(Platform::parse("linux/arm").unwrap().to_string(), "linux/arm/v7");
        assert_eq!(Platform::parse("linux/x86_64").unwrap().to_string(), "linux/amd64");
        assert_eq!(Platform::parse("arm64").unwrap().to_string(), "linux/arm64/v8");
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux/").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        assert!(Platform::parse("beos/amd64").is_err());
    }

    #[test]
    fn select_skips_attestations_and_matches_variants() {
        let i = index();
        let pick = |s: &str| Platform::parse(s).unwrap().select(&i).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64").unwrap(), Digest::of(&[1]));
        assert_eq!(pick("linux/arm64").unwrap(), Digest::of(&[2]));
        assert_eq!(pick("linux/arm64/v8").unwrap(), Digest::of(&[2]));
        assert_eq!(pick("linux/arm").unwrap(), Digest::of(&[3]));
        assert_eq!(pick("linux/arm/v6").unwrap(), Digest::of(&[4]));
        // A v8 32-bit ARM host would run the v7 image, the newest it can.
        assert_eq!(pick("linux/arm/v8").unwrap(), Digest::of(&[3]));
        let err = pick("linux/riscv64").unwrap_err().to_string();
        assert!(err.contains("linux/riscv64"), "{err}");
        assert!(err.contains("linux/amd64, linux/arm64/v8, linux/arm/v7, linux/arm/v6"), "{err}");
        assert!(!err.contains("unknown"), "{err}");
    }

    #[test]
    fn only_attestations_is_no_match() {
        let i = Index { schema_version: 2, media_type: None, annotations: Default::default(), manifests: vec![desc(9, Some(Platform::new("unknown", "unknown", None)), true)] };
        assert!(Platform::new("unknown", "unknown", None).select(&i).is_err());
    }

    #[test]
    fn host_is_normalised() {
        let h = Platform::host();
        assert_eq!(h, h.normalized());
    }
}
