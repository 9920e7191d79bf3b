//! `berth save` / `berth load`: a round trip through an archive keeps image
//! ids, names and contents; the archive is what Docker 25+ writes (a
//! docker-archive and an OCI layout at once); OCI layouts, skopeo's
//! docker-archives and gzip-compressed archives load; broken or hostile
//! archives are refused, leaving the store as it was.

use std::process::{Command, Stdio};

use berth_integration_tests::daemon::*;
use serde_json::Value;

fn sha256_file(p: &std::path::Path) -> String {
    let o = Command::new("sha256sum").arg(p).output().unwrap();
    String::from_utf8(o.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// Unpacks `tar` into `dir` with the system tar (a reader other than ours).
fn untar(tar: &std::path::Path, dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    let st = Command::new("tar").arg("-xf").arg(tar).arg("-C").arg(dir).status().unwrap();
    assert!(st.success(), "tar -xf {}", tar.display());
}

fn id_of(d: &Daemon, name: &str) -> String {
    d.inspect(name)["Id"].as_str().unwrap().to_string()
}

#[test]
fn save_rmi_load_round_trip() {
    let reg = registry();
    let d = Daemon::start("saveload");
    let (bb, layers) = (format!("{reg}/busybox:latest"), format!("{reg}/layers:latest"));
    d.ok(&["pull", "-q", &bb]);
    d.ok(&["pull", "-q", &layers]);
    d.ok(&["tag", &bb, "local/bb:v1"]);
    let (bb_id, layers_id) = (id_of(&d, &bb), id_of(&d, &layers));
    let before_bb = d.inspect(&bb);
    let before_layers = d.inspect(&layers);

    // One archive for both images; busybox under both of its names.
    let tar = d.dir.join("images.tar");
    d.ok(&["save", "-o", tar.to_str().unwrap(), &format!("{reg}/busybox"), "local/bb:v1", &layers]);
    let x = d.dir.join("x");
    untar(&tar, &x);
    assert_eq!(std::fs::read_to_string(x.join("oci-layout")).unwrap(), r#"{"imageLayoutVersion":"1.0.0"}"#);
    let manifest: Value = serde_json::from_slice(&std::fs::read(x.join("manifest.json")).unwrap()).unwrap();
    let entries = manifest.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{manifest}");
    let e_bb = entries.iter().find(|e| e["Config"] == format!("blobs/sha256/{}", &bb_id[7..]).as_str()).expect("busybox entry");
    let mut tags: Vec<&str> = e_bb["RepoTags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    tags.sort();
    assert_eq!(tags, vec![bb.as_str(), "local/bb:v1"]);
    // Layers are uncompressed tars named by their diff_ids, in config order.
    let want: Vec<String> = before_layers["RootFS"]["Layers"].as_array().unwrap().iter().map(|l| format!("blobs/sha256/{}", &l.as_str().unwrap()[7..])).collect();
    let e_layers = entries.iter().find(|e| e["Config"] == format!("blobs/sha256/{}", &layers_id[7..]).as_str()).unwrap();
    assert_eq!(e_layers["Layers"], serde_json::json!(want));
    // Every blob is what its name says (the busybox layer is stored once).
    let blobs: Vec<_> = std::fs::read_dir(x.join("blobs/sha256")).unwrap().flatten().collect();
    for b in &blobs {
        assert_eq!(sha256_file(&b.path()), b.file_name().to_string_lossy(), "blob does not match its name");
    }
    // config x2 + 4 layers + 2 manifests
    assert_eq!(blobs.len(), 8, "{blobs:?}");
    let index: Value = serde_json::from_slice(&std::fs::read(x.join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"].as_array().unwrap().iter().filter_map(|m| m["annotations"]["io.containerd.image.name"].as_str()).collect();
    assert!(names.contains(&"docker.io/local/bb:v1") && names.contains(&bb.as_str()), "{index}");
    for m in index["manifests"].as_array().unwrap() {
        let body = std::fs::read(x.join("blobs/sha256").join(&m["digest"].as_str().unwrap()[7..])).unwrap();
        let mf: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(mf["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar");
    }

    let layers_before = d.dir.join("layers-before.tar");
    d.ok(&["save", "-o", layers_before.to_str().unwrap(), &layers]);

    // Another reader of both layouts: skopeo sees the same config (the id).
    if Command::new("skopeo").arg("--version").output().is_ok_and(|o| o.status.success()) {
        for transport in ["docker-archive", "oci-archive"] {
            let o = Command::new("skopeo").args(["inspect", "--raw", "--config"]).arg(format!("{transport}:{}", layers_before.display())).output().unwrap();
            assert!(o.status.success(), "skopeo {transport}: {}", String::from_utf8_lossy(&o.stderr));
            let raw = d.dir.join(format!("config-{transport}.json"));
            std::fs::write(&raw, &o.stdout).unwrap();
            assert_eq!(format!("sha256:{}", sha256_file(&raw)), layers_id, "{transport}");
        }
    }

    // Removed, then loaded back: the same ids, names, config and contents.
    d.ok(&["rmi", "-f", &bb_id]);
    d.ok(&["rmi", &layers]);
    assert_eq!(d.store_entries(), (vec![], vec![]), "store empty after rmi");
    let t = std::time::Instant::now();
    let out = d.ok(&["load", "-i", tar.to_str().unwrap()]);
    eprintln!("load of busybox+layers: {:?}", t.elapsed());
    assert!(out.contains(&format!("Loaded image: {bb}\n")) && out.contains("Loaded image: local/bb:v1\n") && out.contains(&format!("Loaded image: {layers}\n")), "{out}");
    assert_eq!(id_of(&d, &bb), bb_id);
    assert_eq!(id_of(&d, "local/bb:v1"), bb_id);
    assert_eq!(id_of(&d, &layers), layers_id);
    let after = d.inspect(&layers);
    for k in ["Config", "RootFS", "Architecture", "Os", "Size", "Created"] {
        assert_eq!(after[k], before_layers[k], "{k} differs after the round trip");
    }
    assert_eq!(d.inspect(&bb)["Config"], before_bb["Config"]);
    let run = d.ok(&["run", "--rm", "--network", "none", "local/bb:v1", "sh", "-c", "cat /etc/layers-release 2>/dev/null; echo ok"]);
    assert_eq!(run.trim(), "ok");
    let run = d.ok(&["run", "--rm", "--network", "none", &layers, "cat", "/etc/layers-release"]);
    assert_eq!(run.trim(), "layer=4");

    // Saved again after the round trip (the store now keeps the layers
    // uncompressed), the archive is the same, byte for byte.
    let tar2 = d.dir.join("again.tar");
    d.ok(&["image", "save", "-o", tar2.to_str().unwrap(), &layers]);
    assert!(std::fs::read(&tar2).unwrap() == std::fs::read(&layers_before).unwrap(), "save is not reproducible");

    // gzip-compressed, from stdin, quiet: only the "Loaded image" lines.
    d.ok(&["rmi", "-f", &bb_id]);
    let gz = d.dir.join("images.tar.gz");
    let st = Command::new("sh").arg("-c").arg(format!("gzip -c {} > {}", tar.display(), gz.display())).status().unwrap();
    assert!(st.success());
    let o = d.berth_cmd().args(["image", "load", "-q"]).stdin(std::fs::File::open(&gz).unwrap()).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.lines().all(|l| l.starts_with("Loaded image")), "{out}");
    assert_eq!(id_of(&d, "local/bb:v1"), bb_id);

    // `save` to stdout is the same archive.
    let o = d.berth_cmd().args(["save", &layers]).stdout(Stdio::piped()).output().unwrap();
    assert!(o.status.success());
    assert!(o.stdout.len() > 40 << 20, "{} bytes", o.stdout.len());
    // On a terminal (script gives berth a pty): refused, as docker does.
    if std::path::Path::new("/usr/bin/script").exists() {
        let berth = berth_bin();
        for (cmd, says) in [(format!("{} save {layers}", berth.display()), "cowardly refusing to save to a terminal"), (format!("{} load", berth.display()), "requested load from stdin, but stdin is empty")] {
            let o = d.berth_cmd();
            let envs: Vec<(std::ffi::OsString, std::ffi::OsString)> = o.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))).collect();
            let o = Command::new("script").args(["-qec", &cmd, "/dev/null"]).envs(envs).stdin(Stdio::null()).output().unwrap();
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(!o.status.success() && text.contains(says), "{cmd}: {text}");
        }
    }
    assert!(d.fails(&["save", "no-such-image:1"]).contains("No such image"));
    assert!(d.fails(&["save"]).contains("requires at least 1 argument"));
    assert!(d.fails(&["load", "extra-arg"]).contains("accepts no arguments"));
}

/// An OCI layout made by other tools (the fixtures' skopeo/ocibuild output)
/// and skopeo's docker-archive both load, with the ids a pull gives.
#[test]
fn load_oci_layout_and_skopeo_archive() {
    let reg = registry();
    let d = Daemon::start("loadoci");
    d.ok(&["pull", "-q", &format!("{reg}/webapp")]);
    let webapp_id = id_of(&d, &format!("{reg}/webapp"));
    d.ok(&["rmi", &format!("{reg}/webapp")]);
    let layout = d.dir.join("webapp-oci.tar");
    let st = Command::new("tar").arg("-C").arg(fixtures().join("oci/webapp")).arg("-cf").arg(&layout).arg(".").status().unwrap();
    assert!(st.success());
    let out = d.ok(&["load", "-i", layout.to_str().unwrap()]);
    assert!(out.contains(&webapp_id[7..]) || out.contains("Loaded image"), "{out}");
    assert_eq!(d.ok(&["images", "-q", "--no-trunc"]).trim(), webapp_id, "{out}");
    let c = &d.inspect(&webapp_id)["Config"];
    assert_eq!(c["User"], "app");
    // skopeo's docker-archive: `<hex>.tar` layers, `<hex>.json` config and
    // legacy `<id>/layer.tar` symlinks; whiteouts and all.
    let fx: Value = serde_json::from_slice(&std::fs::read(fixtures().join("fixtures.json")).unwrap()).unwrap();
    for name in ["busybox", "layers"] {
        let archive = fixtures().join(format!("docker-archive/{name}.tar"));
        let out = d.ok(&["load", "-i", archive.to_str().unwrap()]);
        assert_eq!(out, format!("Loaded image: {name}:latest\n"));
        assert_eq!(d.inspect(&format!("{name}:latest"))["Id"], fx[format!("{name}:latest")]["config"], "{name}");
    }
    let run = d.ok(&["run", "--rm", "--network", "none", "layers", "cat", "/etc/layers-release"]);
    assert_eq!(run.trim(), "layer=4");

    // --platform: an index in the archive gives that platform's image; an
    // archive without it is refused; save checks the images it writes.
    let multi = d.dir.join("multiarch-oci.tar");
    assert!(Command::new("tar").arg("-C").arg(fixtures().join("oci/multiarch")).arg("-cf").arg(&multi).arg(".").status().unwrap().success());
    let out = d.ok(&["load", "--platform", "linux/arm64", "-i", multi.to_str().unwrap()]);
    let arm = out.trim().strip_prefix("Loaded image ID: ").unwrap_or_else(|| panic!("{out}")).to_string();
    assert_eq!(d.inspect(&arm)["Architecture"], "arm64");
    let out = d.ok(&["load", "-i", multi.to_str().unwrap()]);
    let host = out.trim().strip_prefix("Loaded image ID: ").unwrap().to_string();
    assert_eq!(d.inspect(&host)["Architecture"], "amd64");
    let archive = fixtures().join("docker-archive/busybox.tar");
    let err = d.fails(&["load", "--platform", "linux/arm/v7", "-i", archive.to_str().unwrap()]);
    assert!(err.contains("not the specified platform linux/arm/v7"), "{err}");
    d.ok(&["tag", &arm, "local/arm:1"]);
    let o = d.berth_cmd().args(["save", "--platform", "linux/arm64/v8", "local/arm:1"]).output().unwrap();
    assert!(o.status.success() && o.stdout.len() > 1 << 20);
    let err = d.fails(&["save", "--platform", "linux/amd64", "-o", d.dir.join("no.tar").to_str().unwrap(), "local/arm:1"]);
    assert!(err.contains("does not provide the specified platform (linux/amd64)"), "{err}");
    assert!(d.fails(&["save", "--platform", "linux", "local/arm:1"]).contains("invalid platform"));
}

/// Builds broken variants of a saved archive with Python's tarfile.
fn variant(src: &std::path::Path, dst: &std::path::Path, kind: &str) {
    let py = r#"
import hashlib, io, json, sys, tarfile
src, dst, kind = sys.argv[1:4]
files = {}
with tarfile.open(src) as t:
    for m in t.getmembers():
        if m.isfile():
            files[m.name] = t.extractfile(m).read()
man = json.loads(files["manifest.json"])
layer = man[0]["Layers"][0]
extra = []
if kind == "wrong-diff-id":
    cfg = json.loads(files[man[0]["Config"]])
    cfg["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64
    body = json.dumps(cfg).encode()
    name = "blobs/sha256/" + hashlib.sha256(body).hexdigest()
    files[name] = body
    man[0]["Config"] = name
    files["manifest.json"] = json.dumps(man).encode()
elif kind == "missing-layer":
    del files[layer]
elif kind == "flipped-byte":
    b = bytearray(files[layer]); b[len(b) // 2] ^= 0xff; files[layer] = bytes(b)
elif kind == "hostile-path":
    files["../../escaped-by-load"] = b"x"
elif kind == "absolute-path":
    files["/tmp/escaped-by-load-abs"] = b"x"
elif kind == "escaping-symlink":
    # The layer named in manifest.json is a link out of the archive.
    del files[layer]
    i = tarfile.TarInfo(layer); i.type = tarfile.SYMTYPE; i.linkname = "../../../../../etc/passwd"
    extra.append(i)
elif kind == "hardlinked-layer":
    # The layer stored once elsewhere, its blob name a hard link to it.
    files["extra/layer.tar"] = files.pop(layer)
    i = tarfile.TarInfo(layer); i.type = tarfile.LNKTYPE; i.linkname = "extra/layer.tar"
    extra.append(i)
elif kind == "escaping-hardlink":
    del files[layer]
    i = tarfile.TarInfo(layer); i.type = tarfile.LNKTYPE; i.linkname = "../../etc/passwd"
    extra.append(i)
elif kind == "mislinked-blob":
    # A blob name that links to other content.
    i = tarfile.TarInfo("blobs/sha256/" + "ab" * 32); i.type = tarfile.SYMTYPE; i.linkname = "../../manifest.json"
    extra.append(i)
elif kind == "no-manifest":
    del files["manifest.json"]; del files["index.json"]
with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as t:
    for n, data in files.items():
        i = tarfile.TarInfo(n); i.size = len(data)
        t.addfile(i, io.BytesIO(data))
    for i in extra:
        t.addfile(i)
"#;
    let st = Command::new("python3").arg("-c").arg(py).arg(src).arg(dst).arg(kind).status().unwrap();
    assert!(st.success(), "making variant {kind}");
}

#[test]
fn load_refuses_corrupt_archives_leaving_store_unchanged() {
    let reg = registry();
    let d = Daemon::start("loadbad");
    let bb = format!("{reg}/busybox:latest");
    d.ok(&["pull", "-q", &bb]);
    let good = d.dir.join("good.tar");
    d.ok(&["save", "-o", good.to_str().unwrap(), &bb]);
    d.ok(&["rmi", &bb]);
    assert_eq!(d.store_entries(), (vec![], vec![]));
    for (kind, says) in [
        ("wrong-diff-id", "diff_id"),
        ("missing-layer", "is missing"),
        ("flipped-byte", "does not match its digest"),
        ("hostile-path", "outside the archive"),
        ("absolute-path", "absolute path"),
        ("escaping-symlink", "outside the archive"),
        ("escaping-hardlink", "outside the archive"),
        ("mislinked-blob", "does not match its digest"),
        ("no-manifest", "neither manifest.json"),
    ] {
        let bad = d.dir.join(format!("{kind}.tar"));
        variant(&good, &bad, kind);
        let err = d.fails(&["load", "-i", bad.to_str().unwrap()]);
        assert!(err.contains("invalid archive") && err.contains(says), "{kind}: {err}");
        assert_eq!(d.store_entries(), (vec![], vec![]), "{kind}: the store changed");
        assert!(d.ok(&["images", "-q"]).trim().is_empty(), "{kind}: an image was recorded");
    }
    for p in ["/escaped-by-load", "/tmp/escaped-by-load-abs", "/tmp/escaped-by-load"] {
        assert!(!std::path::Path::new(p).exists(), "{p} written outside the store");
    }
    std::fs::write(d.dir.join("garbage.tar"), vec![b'z'; 4096]).unwrap();
    let err = d.fails(&["load", "-i", d.dir.join("garbage.tar").to_str().unwrap()]);
    assert!(err.contains("invalid archive"), "{err}");
    assert_eq!(d.store_entries(), (vec![], vec![]));
    // A hard link inside the archive is fine.
    let linked = d.dir.join("hardlinked.tar");
    variant(&good, &linked, "hardlinked-layer");
    assert_eq!(d.ok(&["load", "-i", linked.to_str().unwrap()]), format!("Loaded image: {bb}\n"));
    d.ok(&["rmi", &bb]);
    assert_eq!(d.store_entries(), (vec![], vec![]));

    // The good archive still loads after all that.
    let out = d.ok(&["load", "-i", good.to_str().unwrap()]);
    assert_eq!(out, format!("Loaded image: {bb}\n"));

    // A store blob that went bad under the daemon: the save stops part-way
    // and the connection is cut, so the CLI fails and leaves no archive.
    d.ok(&["rmi", &bb]);
    d.ok(&["pull", "-q", &bb]);
    let fx: Value = serde_json::from_slice(&std::fs::read(fixtures().join("fixtures.json")).unwrap()).unwrap();
    let layer = fx["busybox:latest"]["layers"][0]["digest"].as_str().unwrap()[7..].to_string();
    let blob = d.data_root.join("blobs/sha256").join(&layer);
    let mut data = std::fs::read(&blob).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&blob, &data).unwrap();
    let out_dir = d.dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let err = d.fails(&["save", "-o", out_dir.join("bad.tar").to_str().unwrap(), &bb]);
    assert!(err.contains("failed to save image"), "{err}");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0, "no archive, no temporary file");
    assert!(d.log().contains("save failed"), "{}", d.log());
}

/// The realistic image, when the fixtures have it: prints save and load times.
#[test]
fn debian_save_load_timing() {
    let fx: Value = serde_json::from_slice(&std::fs::read(fixtures().join("fixtures.json")).unwrap()).unwrap();
    if fx.get("debian:bookworm").is_none() {
        eprintln!("debian fixture not built: skipped");
        return;
    }
    let reg = registry();
    let d = Daemon::start("debiansave");
    let img = format!("{reg}/debian:bookworm");
    d.ok(&["pull", "-q", &img]);
    let id = id_of(&d, &img);
    let tar = d.dir.join("debian.tar");
    let t = std::time::Instant::now();
    d.ok(&["save", "-o", tar.to_str().unwrap(), &img]);
    let save = t.elapsed();
    let size = std::fs::metadata(&tar).unwrap().len();
    d.ok(&["rmi", &img]);
    let t = std::time::Instant::now();
    d.ok(&["load", "-q", "-i", tar.to_str().unwrap()]);
    let load = t.elapsed();
    eprintln!("debian: save {save:?} ({} MB archive), load {load:?}", size >> 20);
    assert_eq!(id_of(&d, &img), id);
}

/// An OCI layout whose gzip layer does not decompress to the config's
/// diff_id: caught while unpacking, nothing kept.
#[test]
fn load_refuses_compressed_layer_with_wrong_diff_id() {
    let d = Daemon::start("loadbaddiff");
    let bad = d.dir.join("bad-oci.tar");
    let py = r#"
import hashlib, io, json, os, sys, tarfile
src, dst, mode = sys.argv[1:4]
blob = lambda d: open(os.path.join(src, "blobs/sha256", d.split(":")[1]), "rb").read()
files = {}
index = json.load(open(os.path.join(src, "index.json")))
m = json.loads(blob(index["manifests"][0]["digest"]))
cfg = json.loads(blob(m["config"]["digest"]))
bogus = "sha256:" + hashlib.sha256(b"not the layer").hexdigest()
if mode == "twice":
    # The same blob listed again, claimed to be another layer.
    m["layers"].append(m["layers"][0])
    cfg["rootfs"]["diff_ids"].append(bogus)
else:
    cfg["rootfs"]["diff_ids"][0] = bogus
def put(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    files["blobs/sha256/" + d[7:]] = data
    return d
c = json.dumps(cfg).encode()
m["config"]["digest"] = put(c); m["config"]["size"] = len(c)
for l in m["layers"]:
    put(blob(l["digest"]))
mb = json.dumps(m).encode()
index["manifests"] = [{"mediaType": m["mediaType"], "digest": put(mb), "size": len(mb), "annotations": {"io.containerd.image.name": "local/bad:1"}}]
files["index.json"] = json.dumps(index).encode()
files["oci-layout"] = b'{"imageLayoutVersion":"1.0.0"}'
with tarfile.open(dst, "w") as t:
    for n, data in files.items():
        i = tarfile.TarInfo(n); i.size = len(data)
        t.addfile(i, io.BytesIO(data))
"#;
    for mode in ["wrong", "twice"] {
        let st = Command::new("python3").arg("-c").arg(py).arg(fixtures().join("oci/busybox")).arg(&bad).arg(mode).status().unwrap();
        assert!(st.success());
        let err = d.fails(&["load", "-i", bad.to_str().unwrap()]);
        assert!(err.contains("invalid archive") && err.contains("diff_id"), "{mode}: {err}");
        assert_eq!(d.store_entries(), (vec![], vec![]), "{mode}: nothing kept");
        assert!(d.ok(&["images", "-q"]).trim().is_empty());
    }
}

/// berthd killed while it spools or unpacks an archive: the next start
/// sweeps what was half-done, lists nothing, and the load then succeeds.
#[test]
fn killed_mid_load_restarts_clean() {
    let reg = registry();
    let mut d = Daemon::start("killload");
    let layers = format!("{reg}/layers:latest");
    d.ok(&["pull", "-q", &layers]);
    let tar = d.dir.join("layers.tar");
    d.ok(&["save", "-o", tar.to_str().unwrap(), &layers]);
    d.ok(&["rmi", &layers]);
    assert_eq!(d.store_entries(), (vec![], vec![]));
    let mut load = d.berth_cmd().args(["load", "-i", tar.to_str().unwrap()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = std::time::Instant::now();
    let mid = loop {
        let (b, l) = d.store_entries();
        if b.iter().chain(&l).any(|n| n.starts_with(".tmp-")) {
            break true;
        }
        if start.elapsed() > std::time::Duration::from_secs(20) || load.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    };
    d.kill9();
    let _ = load.wait();
    assert!(mid, "never saw the load half-way");
    d.start_again();
    assert!(d.log().contains("removed leftover"), "{}", d.log());
    let (b, l) = d.store_entries();
    assert!(b.iter().chain(&l).all(|n| !n.starts_with(".tmp-")), "{b:?} {l:?}");
    assert!(d.ok(&["images", "-q"]).trim().is_empty(), "nothing half-loaded is listed");
    assert_eq!(d.ok(&["load", "-q", "-i", tar.to_str().unwrap()]), format!("Loaded image: {layers}\n"));
    let run = d.ok(&["run", "--rm", "--network", "none", &layers, "cat", "/etc/layers-release"]);
    assert_eq!(run.trim(), "layer=4");
}
