//! A create's mounts: `-v` (HostConfig.Binds), `--mount` (HostConfig.Mounts),
//! `--volumes-from`, and the anonymous volumes of `Config.Volumes` and the
//! image's VOLUMEs, resolved into one list of mount points with one owner
//! per destination, as docker resolves them.

use std::path::{Component, Path};

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

fn bad(m: impl Into<String>) -> Error {
    Error::BadParameter(m.into())
}

/// One mount of a container, as stored (`container_mounts`) and inspected.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MountPoint {
    /// "bind" or "volume".
    pub typ: String,
    /// The volume's name ("" for a bind, and for an anonymous volume until
    /// create names it).
    pub name: String,
    /// The host path of a bind ("" for a volume: its mountpoint is the store's).
    pub source: String,
    pub destination: String,
    pub rw: bool,
    /// "" (rprivate) or one of docker's propagation modes.
    pub propagation: String,
    /// `nocopy`: an empty volume is not filled from the image.
    pub nocopy: bool,
    /// The mode string as the client gave it (inspect's Mode).
    pub mode: String,
    /// A bind whose source is created if missing (`-v`), not refused (`--mount`).
    pub create_source: bool,
    /// `--mount volume-label=...`: labels of a volume this create makes.
    pub labels: Map<String, Value>,
}

impl MountPoint {
    /// Docker's inspect `Mounts` entry; `volume_dir` maps a name to its data.
    pub fn to_json(&self, volume_dir: impl Fn(&str) -> std::path::PathBuf) -> Value {
        if self.typ == "volume" {
            json!({"Type": "volume", "Name": self.name, "Source": volume_dir(&self.name), "Destination": self.destination, "Driver": "local", "Mode": self.mode, "RW": self.rw, "Propagation": ""})
        } else {
            json!({"Type": "bind", "Source": self.source, "Destination": self.destination, "Mode": self.mode, "RW": self.rw, "Propagation": if self.propagation.is_empty() { "rprivate" } else { &self.propagation }})
        }
    }
}

const PROPAGATIONS: &[&str] = &["shared", "rshared", "slave", "rslave", "private", "rprivate"];

/// An absolute, clean container path other than `/`.
fn check_destination(d: &str) -> Result<String> {
    let p = Path::new(d);
    if !p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(bad(format!("invalid mount config: invalid mount path: '{d}' mount path must be absolute")));
    }
    let clean: std::path::PathBuf = p.components().collect();
    if clean == Path::new("/") {
        return Err(bad("invalid specification: destination can't be '/'"));
    }
    Ok(clean.to_string_lossy().into_owned())
}

fn is_volume_name(s: &str) -> bool {
    crate::volumes::valid_name(s)
}

/// `-v SRC:DST[:MODE]` or `-v DST`; SRC an absolute host path or a volume name.
pub fn parse_bind(spec: &str) -> Result<MountPoint> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(bad(format!("invalid volume specification: '{spec}'"))),
    };
    let mut m = MountPoint { destination: check_destination(dst)?, rw: true, mode: mode.to_string(), ..Default::default() };
    for o in mode.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => m.rw = false,
            "rw" => m.rw = true,
            "nocopy" => m.nocopy = true,
            // SELinux relabelling: nothing to relabel on a host without SELinux.
            "z" | "Z" if !berth_runtime::security::selinux_enabled() => {}
            "z" | "Z" => return Err(bad(format!("invalid volume specification: '{spec}': SELinux relabelling is not supported by berth"))),
            p if PROPAGATIONS.contains(&p) => m.propagation = p.to_string(),
            _ => return Err(bad(format!("invalid mode: {o} (in volume specification '{spec}')"))),
        }
    }
    if src.is_empty() {
        m.typ = "volume".into();
    } else if src.starts_with('/') {
        m.typ = "bind".into();
        m.source = Path::new(src).components().collect::<std::path::PathBuf>().to_string_lossy().into_owned();
        m.create_source = true;
        if m.nocopy {
            return Err(bad(format!("invalid volume specification: '{spec}': nocopy is for volumes, not bind mounts")));
        }
    } else if is_volume_name(src) {
        m.typ = "volume".into();
        m.name = src.to_string();
    } else {
        return Err(bad(format!("create {src}: \"{src}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")));
    }
    if m.typ == "volume" && !m.propagation.is_empty() {
        return Err(bad(format!("invalid volume specification: '{spec}': propagation is for bind mounts")));
    }
    Ok(m)
}

/// One HostConfig.Mounts entry (`--mount`). A tmpfs goes to `tmpfs` (the
/// Tmpfs map) instead, as `dest → options`.
pub fn parse_mount(v: &Value, tmpfs: &mut Map<String, Value>) -> Result<Option<MountPoint>> {
    let typ = v["Type"].as_str().unwrap_or("volume");
    let target = v["Target"].as_str().unwrap_or_default();
    if target.is_empty() {
        return Err(bad("invalid mount config: Target must not be empty"));
    }
    let dest = check_destination(target)?;
    let source = v["Source"].as_str().unwrap_or_default();
    let ro = v["ReadOnly"].as_bool().unwrap_or(false);
    if let Some(c) = v["Consistency"].as_str().filter(|c| !c.is_empty() && *c != "default" && *c != "consistent") {
        return Err(bad(format!("invalid mount config: consistency {c:?} is not supported on Linux")));
    }
    let forbid = |k: &str, what: &str| -> Result<()> {
        if !v[k].is_null() && v[k] != json!({}) {
            return Err(bad(format!("invalid mount config for type \"{typ}\": field {k} must not be specified ({what})")));
        }
        Ok(())
    };
    match typ {
        "bind" => {
            forbid("VolumeOptions", "it is for volumes")?;
            forbid("TmpfsOptions", "it is for tmpfs")?;
            if !source.starts_with('/') {
                return Err(bad(format!("invalid mount config for type \"bind\": invalid mount path: '{source}' mount path must be absolute")));
            }
            if !Path::new(source).exists() {
                return Err(bad(format!("invalid mount config for type \"bind\": bind source path does not exist: {source}")));
            }
            let prop = v["BindOptions"]["Propagation"].as_str().unwrap_or("");
            if !prop.is_empty() && !PROPAGATIONS.contains(&prop) {
                return Err(bad(format!("invalid mount config: invalid propagation mode: {prop}")));
            }
            for k in ["NonRecursive", "ReadOnlyNonRecursive", "ReadOnlyForceRecursive", "CreateMountpoint"] {
                if v["BindOptions"][k].as_bool() == Some(true) {
                    return Err(bad(format!("invalid mount config: BindOptions.{k} is not implemented")));
                }
            }
            Ok(Some(MountPoint { typ: "bind".into(), source: source.to_string(), destination: dest, rw: !ro, propagation: prop.to_string(), mode: String::new(), ..Default::default() }))
        }
        "volume" => {
            forbid("BindOptions", "it is for bind mounts")?;
            forbid("TmpfsOptions", "it is for tmpfs")?;
            if !source.is_empty() && !is_volume_name(source) {
                return Err(bad(format!("invalid mount config for type \"volume\": invalid volume name {source:?}")));
            }
            let vo = &v["VolumeOptions"];
            if let Some(d) = vo["DriverConfig"]["Name"].as_str().filter(|d| !d.is_empty() && *d != "local") {
                return Err(bad(format!("volume driver {d:?} is not implemented: only local is")));
            }
            if vo["DriverConfig"]["Options"].as_object().is_some_and(|o| !o.is_empty()) {
                return Err(bad("volume driver options (volume-opt) are not implemented"));
            }
            if vo["Subpath"].as_str().is_some_and(|s| !s.is_empty()) {
                return Err(bad("volume-subpath is not implemented"));
            }
            let labels = vo["Labels"].as_object().cloned().unwrap_or_default();
            if labels.values().any(|v| !v.is_string()) {
                return Err(bad("invalid mount config: VolumeOptions.Labels must map names to strings"));
            }
            Ok(Some(MountPoint { typ: "volume".into(), name: source.to_string(), destination: dest, rw: !ro, nocopy: vo["NoCopy"].as_bool().unwrap_or(false), labels, ..Default::default() }))
        }
        "tmpfs" => {
            forbid("BindOptions", "it is for bind mounts")?;
            forbid("VolumeOptions", "it is for volumes")?;
            if !source.is_empty() {
                return Err(bad("invalid mount config for type \"tmpfs\": field Source must not be specified"));
            }
            let mut opts = Vec::new();
            if let Some(n) = v["TmpfsOptions"]["SizeBytes"].as_i64().filter(|n| *n > 0) {
                opts.push(format!("size={}k", (n + 1023) / 1024));
            }
            if let Some(m) = v["TmpfsOptions"]["Mode"].as_u64().filter(|m| *m > 0) {
                opts.push(format!("mode={m:o}"));
            }
            if ro {
                opts.push("ro".into());
            }
            if tmpfs.insert(dest.clone(), json!(opts.join(","))).is_some() {
                return Err(bad(format!("Duplicate mount point: {dest}")));
            }
            Ok(None)
        }
        other => Err(bad(format!("invalid mount config: mount type {other:?} is not implemented (bind, volume and tmpfs are)"))),
    }
}

/// Everything a create mounts. `from` gives the mount points of a
/// `--volumes-from` container by name; `image_volumes` is the image
/// config's Volumes. Tmpfs mounts of `--mount` are added to `tmpfs`.
pub fn resolve(host: &Map<String, Value>, config_volumes: &Value, image_volumes: &Value, tmpfs: &mut Map<String, Value>, from: impl Fn(&str) -> Result<Vec<MountPoint>>) -> Result<Vec<MountPoint>> {
    let mut out: Vec<MountPoint> = Vec::new();
    let add = |m: MountPoint, out: &mut Vec<MountPoint>| -> Result<()> {
        if out.iter().any(|x| x.destination == m.destination) {
            return Err(bad(format!("Duplicate mount point: {}", m.destination)));
        }
        out.push(m);
        Ok(())
    };
    let list = |k: &str| -> Result<Vec<Value>> {
        match host.get(k) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err(bad(format!("HostConfig.{k} must be a list"))),
        }
    };
    for b in list("Binds")? {
        let s = b.as_str().ok_or_else(|| bad("HostConfig.Binds must be a list of strings"))?;
        add(parse_bind(s)?, &mut out)?;
    }
    for m in list("Mounts")? {
        if let Some(mp) = parse_mount(&m, tmpfs)? {
            add(mp, &mut out)?;
        }
    }
    if let Some(t) = tmpfs.keys().find(|t| out.iter().any(|m| &m.destination == *t)) {
        return Err(bad(format!("Duplicate mount point: {t}")));
    }
    // --volumes-from: the other container's mounts where nothing of ours is.
    for f in list("VolumesFrom")? {
        let s = f.as_str().ok_or_else(|| bad("HostConfig.VolumesFrom must be a list of strings"))?;
        let (name, mode) = match s.rsplit_once(':') {
            Some((n, m)) if m == "ro" || m == "rw" => (n, Some(m)),
            Some(_) => return Err(bad(format!("invalid --volumes-from {s:?}: the mode must be ro or rw"))),
            None => (s, None),
        };
        for mut m in from(name)? {
            if out.iter().any(|x| x.destination == m.destination) || tmpfs.contains_key(&m.destination) {
                continue;
            }
            if let Some(mode) = mode {
                m.rw = mode == "rw";
                m.mode = mode.into();
            }
            m.create_source = false;
            out.push(m);
        }
    }
    // Anonymous volumes for the VOLUMEs nothing else covers.
    for vols in [config_volumes, image_volumes] {
        if let Some(o) = vols.as_object() {
            for d in o.keys() {
                let dest = check_destination(d)?;
                if !out.iter().any(|x| x.destination == dest) && !tmpfs.contains_key(&dest) {
                    out.push(MountPoint { typ: "volume".into(), destination: dest, rw: true, ..Default::default() });
                }
            }
        }
    }
    // Parents before children, so a mount inside another lands on top of it.
    out.sort_by_key(|m| Path::new(&m.destination).components().count());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_like_docker() {
        let m = parse_bind("/host/dir/:/data:ro,rshared").unwrap();
        assert_eq!((m.typ.as_str(), m.source.as_str(), m.destination.as_str(), m.rw, m.propagation.as_str()), ("bind", "/host/dir", "/data", false, "rshared"));
        let m = parse_bind("cache:/var/cache:nocopy").unwrap();
        assert_eq!((m.typ.as_str(), m.name.as_str(), m.nocopy), ("volume", "cache", true));
        let m = parse_bind("/anon").unwrap();
        assert_eq!((m.typ.as_str(), m.name.as_str()), ("volume", ""));
        assert!(parse_bind("rel/dir:/x").unwrap_err().to_string().contains("absolute path"));
        assert!(parse_bind("v:relative").is_err());
        assert!(parse_bind("v:/").is_err());
        assert!(parse_bind("v:/x:bogus").unwrap_err().to_string().contains("invalid mode"));
        assert!(parse_bind("v:/x:rshared").is_err());
        assert!(parse_bind("/a:/b/../c").is_err());
    }

    #[test]
    fn resolution_order_duplicates_and_volumes_from() {
        let host = json!({"Binds": ["/tmp:/a", "v1:/b"], "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576}}], "VolumesFrom": ["other:ro"]});
        let mut tmpfs = Map::new();
        let from = |n: &str| -> Result<Vec<MountPoint>> {
            assert_eq!(n, "other");
            Ok(vec![MountPoint { typ: "volume".into(), name: "shared".into(), destination: "/s".into(), rw: true, ..Default::default() }, MountPoint { typ: "bind".into(), source: "/x".into(), destination: "/a".into(), rw: true, ..Default::default() }])
        };
        let v = resolve(host.as_object().unwrap(), &json!({"/c/d": {}}), &json!({"/b": {}, "/img": {}}), &mut tmpfs, from).unwrap();
        let d: Vec<(&str, &str, bool)> = v.iter().map(|m| (m.destination.as_str(), m.typ.as_str(), m.rw)).collect();
        assert_eq!(d, [("/a", "bind", true), ("/b", "volume", true), ("/s", "volume", false), ("/img", "volume", true), ("/c/d", "volume", true)]);
        assert_eq!(tmpfs["/t"], "size=1024k");
        let dup = json!({"Binds": ["/tmp:/a", "vv:/a"]});
        assert!(resolve(dup.as_object().unwrap(), &Value::Null, &Value::Null, &mut Map::new(), |_| Ok(vec![])).unwrap_err().to_string().contains("Duplicate mount point"));
        let bad = json!({"Mounts": [{"Type": "bind", "Source": "/nonexistent-berth", "Target": "/x"}]});
        assert!(resolve(bad.as_object().unwrap(), &Value::Null, &Value::Null, &mut Map::new(), |_| Ok(vec![])).unwrap_err().to_string().contains("does not exist"));
        let bad = json!({"Mounts": [{"Type": "npipe", "Target": "/x"}]});
        assert!(resolve(bad.as_object().unwrap(), &Value::Null, &Value::Null, &mut Map::new(), |_| Ok(vec![])).is_err());
    }
}
