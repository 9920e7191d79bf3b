//! Manifests, indexes and image configs, in their OCI and Docker schema 2
//! spellings (the JSON shapes are the same; only media types differ).
//! Unknown fields are kept where the daemon shows them back (the config's
//! `config` object goes to `image inspect` as it came).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::platform::Platform;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_LAYER_NONDIST_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_FOREIGN: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// What a registry is asked to serve, best first. Schema 1 is not listed: a
/// registry then converts schema 2 on the fly, which changes the digest.
pub const MANIFEST_ACCEPT: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// Hard cap on a manifest or config read into memory (the distribution spec
/// suggests registries accept manifests of at least 4 MiB).
pub const MAX_MANIFEST_SIZE: u64 = 8 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per pull, never in a collection
pub enum ManifestKind {
    Manifest(Manifest),
    Index(Index),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<u32>,
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
    config: Option<serde_json::Value>,
}

impl ManifestKind {
    /// Decides between manifest and index from the body's `mediaType`, then
    /// the `Content-Type` the registry sent, then the shape (OCI makes
    /// `mediaType` optional).
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<ManifestKind> {
        let probe: Probe = serde_json::from_slice(body).map_err(|source| Error::Json { what: "manifest", source })?;
        let ct = content_type.map(|c| c.split(';').next().unwrap_or("").trim());
        let mt = probe.media_type.as_deref().or(ct.filter(|c| !c.is_empty() && *c != "application/json"));
        if probe.schema_version == Some(1) || mt == Some(DOCKER_SCHEMA1) || mt == Some("application/vnd.docker.distribution.manifest.v1+json") {
            return Err(Error::UnsupportedMediaType("docker schema 1 manifest (deprecated; push the image again with a current client)".into()));
        }
        if probe.schema_version != Some(2) {
            return Err(Error::UnsupportedMediaType(format!("manifest schemaVersion {:?}", probe.schema_version)));
        }
        let kind = match mt {
            Some(OCI_INDEX) | Some(DOCKER_LIST) => "index",
            Some(OCI_MANIFEST) | Some(DOCKER_MANIFEST) => "manifest",
            Some(other) if probe.manifests.is_none() && probe.config.is_none() => return Err(Error::UnsupportedMediaType(other.to_string())),
            _ if probe.manifests.is_some() => "index",
            _ if probe.config.is_some() => "manifest",
            _ => return Err(Error::UnsupportedMediaType(mt.unwrap_or("unknown").to_string())),
        };
        if kind == "index" {
            let i: Index = serde_json::from_slice(body).map_err(|source| Error::Json { what: "image index", source })?;
            Ok(ManifestKind::Index(i))
        } else {
            let m: Manifest = serde_json::from_slice(body).map_err(|source| Error::Json { what: "image manifest", source })?;
            for l in &m.layers {
                Compression::from_media_type(&l.media_type)?;
            }
            Ok(ManifestKind::Manifest(m))
        }
    }
}

/// How a layer blob is compressed, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn from_media_type(mt: &str) -> Result<Compression> {
        Ok(match mt {
            OCI_LAYER | "application/vnd.oci.image.layer.nondistributable.v1.tar" | "application/vnd.docker.image.rootfs.diff.tar" => Compression::None,
            OCI_LAYER_GZIP | OCI_LAYER_NONDIST_GZIP | DOCKER_LAYER_GZIP | DOCKER_LAYER_FOREIGN => Compression::Gzip,
            OCI_LAYER_ZSTD | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => Compression::Zstd,
            other => return Err(Error::UnsupportedMediaType(other.to_string())),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The image configuration (OCI `config.v1` / Docker `container.image.v1`).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "os.version")]
    pub os_version: Option<String>,
    /// Env, Cmd, Entrypoint, Labels, ...: kept as JSON, shown as it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
}

impl ImageConfig {
    pub fn parse(body: &[u8]) -> Result<ImageConfig> {
        let c: ImageConfig = serde_json::from_slice(body).map_err(|source| Error::Json { what: "image config", source })?;
        if c.rootfs.kind != "layers" {
            return Err(Error::UnsupportedMediaType(format!("image config rootfs type {:?}", c.rootfs.kind)));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_or_index() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","size":3},"layers":[]}"#;
        assert!(matches!(ManifestKind::parse(None, m).unwrap(), ManifestKind::Manifest(_)));
        let i = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#;
        assert!(matches!(ManifestKind::parse(None, i).unwrap(), ManifestKind::Index(_)));
        assert!(ManifestKind::parse(None, br#"{"schemaVersion":1,"fsLayers":[]}"#).is_err());
        assert!(ManifestKind::parse(None, b"{not json").is_err());
        let bad_layer = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","size":3},"layers":[{"mediaType":"application/x-rar","digest":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","size":3}]}"#;
        assert!(matches!(ManifestKind::parse(None, bad_layer), Err(Error::UnsupportedMediaType(_))));
    }
}
