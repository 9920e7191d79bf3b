//! `berth import`: an image from a rootfs tarball (the host's busybox-static,
//! so no registry is needed), `--change` applied, runnable, re-import shares
//! the layer, and broken or hostile tarballs are refused leaving nothing.

use std::io::Write;
use std::process::{Command, Stdio};

use berth_integration_tests::daemon::*;

/// A busybox rootfs tarball (gzip) made from the host's static busybox.
fn busybox_tarball(dir: &std::path::Path) -> std::path::PathBuf {
    let bb = ["/bin/busybox", "/usr/bin/busybox"].into_iter().find(|p| std::path::Path::new(p).exists()).expect("busybox-static is installed (make setup)");
    let r = dir.join("rootfs");
    std::fs::create_dir_all(r.join("bin")).unwrap();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::create_dir_all(r.join("tmp")).unwrap();
    std::fs::copy(bb, r.join("bin/busybox")).unwrap();
    for a in ["sh", "echo", "cat", "ls", "id", "pwd"] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(a)).unwrap();
    }
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n").unwrap();
    let out = dir.join("rootfs.tgz");
    let st = Command::new("tar").arg("-C").arg(&r).arg("-czf").arg(&out).arg(".").status().unwrap();
    assert!(st.success());
    out
}

/// A tar whose one entry climbs out of its directory.
fn hostile_tarball(path: &std::path::Path) {
    let py = r#"
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for name in ["ok", "../../escaped-by-import", "/abs-escaped-by-import"]:
        data = b"x"
        i = tarfile.TarInfo(name); i.size = len(data)
        t.addfile(i, io.BytesIO(data))
"#;
    let st = Command::new("python3").arg("-c").arg(py).arg(path).status().unwrap();
    assert!(st.success());
}

#[test]
fn import_changes_run_reimport_and_refusals() {
    let d = Daemon::start("import");
    let work = tempdir("import");
    let tgz = busybox_tarball(&work);
    let tgz_s = tgz.to_str().unwrap();

    let id = d.ok(&["import", "-c", "CMD [\"sh\", \"-c\", \"echo $GREETING from $(pwd) as $(id -u)\"]", "-c", "ENV GREETING=hi", "-c", "WORKDIR /tmp", "-c", "USER nobody", "-c", "EXPOSE 8080", "-m", "from busybox-static", tgz_s, "local/bb:imported"]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "import prints the image id: {id:?}");
    let v = d.inspect("local/bb:imported");
    assert_eq!(v["Id"], id);
    assert_eq!(v["RepoDigests"], serde_json::json!([]), "an imported image has no repo digest, as docker");
    assert_eq!(v["Comment"], "from busybox-static");
    assert_eq!(v["Config"]["Env"], serde_json::json!(["GREETING=hi"]));
    assert_eq!(v["Config"]["WorkingDir"], "/tmp");
    assert_eq!(v["Config"]["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(v["RootFS"]["Layers"].as_array().unwrap().len(), 1);

    // The image runs, with its CMD, ENV, WORKDIR and USER.
    let out = d.ok(&["run", "--rm", "--network", "none", "local/bb:imported"]);
    assert_eq!(out.trim(), "hi from /tmp as 65534");

    // The same tarball from stdin: one layer and one blob in the store, shared.
    let (blobs_before, layers_before) = d.store_entries();
    let mut c = d.berth_cmd().args(["import", "-", "local/bb:again"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    c.stdin.take().unwrap().write_all(&std::fs::read(&tgz).unwrap()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success(), "import from stdin: {}", d.log());
    let (blobs_after, layers_after) = d.store_entries();
    assert_eq!(layers_before, layers_after, "re-import unpacks no second copy of the layer");
    assert_eq!(blobs_after.len(), blobs_before.len() + 2, "only a new config and manifest: {blobs_before:?} -> {blobs_after:?}");
    let list = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}"]);
    assert!(list.lines().all(|l| !l.ends_with(" 0B")), "both images have the layer's size: {list}");

    // Refused: garbage, an empty body, a URL, an unknown change; nothing is left behind.
    std::fs::write(work.join("garbage.tar"), vec![b'z'; 1000]).unwrap();
    let e = d.fails(&["import", work.join("garbage.tar").to_str().unwrap(), "bad:1"]);
    assert!(e.contains("importing the tarball"), "{e}");
    std::fs::write(work.join("empty.tar"), b"").unwrap();
    let e = d.fails(&["import", work.join("empty.tar").to_str().unwrap()]);
    assert!(e.contains("empty"), "{e}");
    let e = d.fails(&["import", "http://127.0.0.1:1/x.tar"]);
    assert!(e.contains("URL"), "{e}");
    let e = d.fails(&["import", "-c", "RUN rm -rf /", tgz_s]);
    assert!(e.contains("not a valid change command"), "{e}");
    let (blobs_now, layers_now) = d.store_entries();
    assert_eq!((blobs_now.clone(), layers_now.clone()), (blobs_after.clone(), layers_after.clone()), "failed imports leave no blob, layer or temp file");

    // Hostile: entries outside the layer are refused or contained; nothing appears outside.
    let hostile = work.join("hostile.tar");
    hostile_tarball(&hostile);
    let o = d.berth(&["import", hostile.to_str().unwrap(), "hostile:1"]);
    for p in ["/escaped-by-import", "/abs-escaped-by-import", "/tmp/escaped-by-import"] {
        assert!(!std::path::Path::new(p).exists(), "{p} was written outside the store");
    }
    let root = d.data_root.parent().unwrap();
    assert!(!root.join("escaped-by-import").exists() && !d.data_root.join("escaped-by-import").exists());
    if o.status.success() {
        let lower = d.inspect("hostile:1")["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap().to_string();
        let names: Vec<String> = std::fs::read_dir(&lower).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert!(names.iter().all(|n| n == "ok" || n.contains("escaped-by-import")), "contained in the layer: {names:?}");
        d.ok(&["rmi", "hostile:1"]);
    }

    // Removing both names deletes the image, its layer and blobs.
    d.ok(&["rmi", "local/bb:imported", "local/bb:again"]);
    let (b, l) = d.store_entries();
    assert!(l.is_empty() && b.is_empty(), "store empty after rmi: {b:?} {l:?}");
    let _ = std::fs::remove_dir_all(&work);
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("berth-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}
