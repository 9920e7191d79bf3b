//! berthd and berth against the fixture registries: pull every kind of
//! image, unpack exactly as umoci does, auth, platforms, removal with
//! reference counts, and a daemon killed mid-pull.

use std::process::{Command, Stdio};

use berth_integration_tests::daemon::*;
use serde_json::Value;

/// Tree listing lines (ocibuild.py's format) with directory mtimes dropped:
/// umoci and berth may leave those differently and they carry no content.
fn tree_lines(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(' ').collect();
            if f.get(1) == Some(&"dir") {
                f.retain(|x| !x.starts_with("mtime="));
            }
            f.join(" ")
        })
        .collect()
}

fn tree_of(dir: &std::path::Path, out: &std::path::Path) -> String {
    let tool = fixtures_tool();
    let st = Command::new("python3").arg(tool).arg("tree").arg(dir).arg(out).stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
    assert!(st.success(), "ocibuild.py tree {}", dir.display());
    std::fs::read_to_string(out).unwrap()
}

fn fixtures_tool() -> std::path::PathBuf {
    let dir = std::env::var("BERTH_FIXTURE_SCRIPTS").ok().filter(|d| !d.is_empty()).unwrap_or_else(|| {
        let next_to_checkout = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures");
        if std::path::Path::new(next_to_checkout).exists() { next_to_checkout.into() } else { "/work/shared/fixtures".into() }
    });
    let p = std::path::PathBuf::from(dir).join("ocibuild.py");
    assert!(p.exists(), "{} missing (BERTH_FIXTURE_SCRIPTS)", p.display());
    p
}

/// Checks the merged overlay of an image against `expected/<name>.tree`.
fn assert_tree(d: &Daemon, reference: &str, name: &str) {
    let img = d.inspect(reference);
    let lower = img["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap().to_string();
    let mnt = d.dir.join(format!("mnt-{name}"));
    let got = {
        let _m = Mount::overlay(&lower, &mnt);
        tree_of(&mnt, &d.dir.join(format!("{name}.tree")))
    };
    let want = std::fs::read_to_string(fixtures().join("expected").join(format!("{name}.tree"))).unwrap();
    let (got, want) = (tree_lines(&got), tree_lines(&want));
    if got != want {
        let missing: Vec<_> = want.iter().filter(|l| !got.contains(l)).take(10).collect();
        let extra: Vec<_> = got.iter().filter(|l| !want.contains(l)).take(10).collect();
        panic!("{reference}: tree differs from expected/{name}.tree\nmissing: {missing:#?}\nunexpected: {extra:#?}");
    }
}

/// Every blob is what its name says and no temporary name is visible.
fn assert_store_consistent(d: &Daemon) {
    let (blobs, layers) = d.store_entries();
    for b in &blobs {
        assert!(!b.starts_with(".tmp-"), "temporary blob {b} visible");
        let data = std::fs::read(d.data_root.join("blobs/sha256").join(b)).unwrap();
        let out = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&data)?;
            c.wait_with_output()
        });
        let sum = String::from_utf8(out.unwrap().stdout).unwrap();
        assert_eq!(sum.split_whitespace().next().unwrap(), b, "blob content does not match its digest");
    }
    for l in &layers {
        assert!(!l.starts_with(".tmp-"), "staging layer {l} visible");
    }
}

#[test]
fn pull_busybox_every_encoding() {
    let reg = registry();
    let d = Daemon::start("busybox");
    let out = d.ok(&["pull", &format!("{reg}/busybox")]);
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains("Status: Downloaded newer image for"), "{out}");
    assert!(out.trim_end().ends_with(&format!("{reg}/busybox:latest")), "{out}");
    let id = d.inspect(&format!("{reg}/busybox"))["Id"].as_str().unwrap().to_string();
    // zstd, uncompressed and Docker schema 2 carry the same config: one image.
    for tag in ["zstd", "uncompressed", "docker"] {
        let q = d.ok(&["pull", "-q", &format!("{reg}/busybox:{tag}")]);
        assert_eq!(q.trim(), format!("{reg}/busybox:{tag}"));
        assert_eq!(d.inspect(&format!("{reg}/busybox:{tag}"))["Id"], id.as_str());
    }
    let again = d.ok(&["pull", &format!("{reg}/busybox")]);
    assert!(again.contains("Already exists") && again.contains("Image is up to date"), "{again}");
    assert_tree(&d, &format!("{reg}/busybox:zstd"), "busybox");

    let table = d.ok(&["images"]);
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("REPOSITORY") && header.contains("TAG") && header.contains("IMAGE ID") && header.contains("CREATED") && header.contains("SIZE"), "{table}");
    assert_eq!(table.lines().count(), 5, "{table}");
    assert!(table.contains(&id[7..19]), "{table}");
    assert_eq!(d.ok(&["images", "-q"]).trim(), &id[7..19]);
    assert!(d.ok(&["images", "--no-trunc", "-q"]).contains(&id));
    let f = d.ok(&["images", "--format", "{{.Repository}} {{.Tag}} {{.ID}} {{.Size}}", &format!("{reg}/busybox:zstd")]);
    assert_eq!(f.trim(), format!("{reg}/busybox zstd {} 1.98MB", &id[7..19]));
    let j: Value = serde_json::from_str(d.ok(&["images", "--format", "json"]).lines().next().unwrap()).unwrap();
    assert_eq!(j["Repository"], format!("{reg}/busybox").as_str());
    assert!(d.fails(&["images", "--bogus"]).contains("--bogus"));
    assert!(d.fails(&["pull"]).contains("requires exactly 1 argument"));

    let img = d.inspect(&id[7..19]);
    assert_eq!(img["Config"]["Cmd"][0], "sh");
    assert_eq!(img["Architecture"], "amd64");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert!(d.fails(&["image", "inspect", "no-such-image"]).contains("No such image: no-such-image"));
    assert_store_consistent(&d);
}

/// `pull -a` pulls every tag the registry lists, in one stream; the last
/// status names the repository, as docker's does.
#[test]
fn pull_all_tags() {
    let reg = registry();
    let d = Daemon::start("alltags");
    let out = d.ok(&["pull", "-a", &format!("{reg}/busybox")]);
    for tag in ["latest", "zstd", "uncompressed", "docker"] {
        assert!(out.contains(&format!("{tag}: Pulling from busybox")), "{tag}: {out}");
        assert_eq!(d.ok(&["images", "-q", &format!("{reg}/busybox:{tag}")]).trim().len(), 12, "{tag} is listed");
    }
    assert!(out.contains(&format!("Status: Downloaded newer image for {reg}/busybox\n")), "{out}");
    assert_eq!(out.lines().last(), Some(format!("{reg}/busybox").as_str()), "{out}");
    // One image under four names.
    assert_eq!(d.ok(&["images", "-q"]).trim().lines().count(), 1);
    let again = d.ok(&["pull", "--all-tags", &format!("{reg}/busybox")]);
    assert!(again.contains(&format!("Status: Image is up to date for {reg}/busybox\n")), "{again}");
    assert!(d.fails(&["pull", "-a", &format!("{reg}/busybox:latest")]).contains("tag can't be used with --all-tags/-a"));
    assert!(d.fails(&["pull", "-a", &format!("{reg}/no-such-repo")]).contains("not found"));
    assert_store_consistent(&d);
}

/// On a terminal, each layer's line carries a bar rewritten in place
/// (escape sequences move the cursor); piped, there are no bars at all.
#[test]
fn pull_progress_bars_on_a_terminal() {
    let reg = registry();
    let d = Daemon::start("bars");
    let mut pty = berth_integration_tests::pty::Pty::spawn({
        let mut c = d.berth_cmd();
        c.args(["pull", &format!("{reg}/layers")]);
        c
    });
    assert_eq!(pty.wait(std::time::Duration::from_secs(120)), Some(0), "{}", pty.text());
    let shown = pty.text();
    assert!(shown.contains("Downloading [") && shown.contains("=>") && shown.contains("Pull complete"), "{shown}");
    assert!(shown.contains("\x1b[2K") && shown.contains("A\x1b[2K\r"), "lines rewritten in place: {shown:?}");
    d.ok(&["rmi", &format!("{reg}/layers")]);
    let piped = d.ok(&["pull", &format!("{reg}/layers")]);
    assert!(!piped.contains("Downloading [") && !piped.contains('\x1b') && piped.contains(": Pull complete"), "{piped}");
}

#[test]
fn layers_unpack_like_umoci() {
    let reg = registry();
    let d = Daemon::start("layers");
    d.ok(&["pull", &format!("{reg}/layers")]);
    assert_tree(&d, &format!("{reg}/layers"), "layers");
    // The escaping symlink is only a symlink: nothing of it was followed.
    let img = d.inspect(&format!("{reg}/layers"));
    assert_eq!(img["Config"]["WorkingDir"], "/data");
    assert_store_consistent(&d);
}

#[test]
fn webapp_config_in_inspect() {
    let reg = registry();
    let d = Daemon::start("webapp");
    for tag in ["latest", "docker"] {
        d.ok(&["pull", "-q", &format!("{reg}/webapp:{tag}")]);
        let c = &d.inspect(&format!("{reg}/webapp:{tag}"))["Config"];
        assert_eq!(c["User"], "app");
        assert_eq!(c["Entrypoint"][0], "/app/entrypoint.sh");
        assert!(c["Env"].as_array().unwrap().iter().any(|e| e == "EQUALS_IN_VALUE=a=b=c"), "{c}");
        assert!(c["ExposedPorts"].get("8080/tcp").is_some(), "{c}");
        assert_eq!(c["Healthcheck"]["Retries"], 3);
    }
    assert_tree(&d, &format!("{reg}/webapp"), "webapp");

    // history: newest first, the top named by the image id, one sized entry per layer.
    let img = format!("{reg}/webapp:latest");
    let out = d.ok(&["history", "--format", "json", "--no-trunc", "-H=false", &img]);
    let rows: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let h = &out;
    let inspect = d.inspect(&img);
    assert_eq!(rows[0]["ID"], inspect["Id"], "{h}");
    assert!(rows[1..].iter().all(|r| r["ID"] == "<missing>"), "{h}");
    let sized = rows.iter().filter(|r| r["Size"] != "0").count();
    assert_eq!(sized, inspect["RootFS"]["Layers"].as_array().unwrap().len(), "one sized entry per layer: {h}");
    let total: u64 = rows.iter().map(|r| r["Size"].as_str().unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(total, inspect["Size"].as_u64().unwrap(), "layer sizes add up to the image's: {h}");
    assert!(rows.iter().any(|r| r["CreatedBy"].as_str().unwrap().contains("USER app")), "{h}");
    assert!(d.fails(&["history", "no-such-image"]).contains("No such image"));
}

#[test]
fn auth_registry_with_and_without_credentials() {
    let reg = auth_registry();
    let d = Daemon::start("auth");
    let image = format!("{reg}/private/busybox");
    let none = d.fails(&["pull", &image]);
    assert!(none.contains("authentication required"), "{none}");
    let cfg = d.dir.join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let write = |user_pass: &str| {
        let b64 = Command::new("base64").arg("-w0").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(user_pass.as_bytes())?;
            c.wait_with_output()
        });
        let b64 = String::from_utf8(b64.unwrap().stdout).unwrap();
        std::fs::write(cfg.join("config.json"), format!(r#"{{"auths":{{"{reg}":{{"auth":"{b64}"}}}}}}"#)).unwrap();
    };
    write("fixture:wrong-password");
    let o = d.berth_cmd().env("DOCKER_CONFIG", &cfg).args(["pull", &image]).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("incorrect username or password"), "{err}");
    assert!(d.ok(&["images", "-q"]).trim().is_empty(), "nothing half-pulled is listed");
    write("fixture:fixture-pass");
    let o = d.berth_cmd().env("DOCKER_CONFIG", &cfg).args(["pull", "--platform", "linux/arm/v7", &format!("{reg}/private/multiarch")]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = d.berth_cmd().env("DOCKER_CONFIG", &cfg).args(["pull", &image]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(d.inspect(&format!("{reg}/private/multiarch"))["Architecture"], "arm");
    // The catalog needs the credentials too.
    assert!(d.fails(&["search", &format!("{reg}/")]).contains("authentication required"));
    let o = d.berth_cmd().env("DOCKER_CONFIG", &cfg).args(["search", "--format", "{{.Name}}", &format!("{reg}/private")]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names = String::from_utf8_lossy(&o.stdout);
    assert!(names.lines().any(|l| l == format!("{reg}/private/busybox")), "{names}");
}

/// `search` looks through the catalog of the registry the term names.
#[test]
fn search_the_catalog() {
    let reg = registry();
    let d = Daemon::start("search");
    let table = d.ok(&["search", &format!("{reg}/")]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("NAME") && header.contains("DESCRIPTION") && header.contains("STARS") && header.contains("OFFICIAL"), "{table}");
    let names: Vec<&str> = lines.filter_map(|l| l.split_whitespace().next()).collect();
    for repo in ["busybox", "layers", "multiarch", "webapp"] {
        assert!(names.contains(&format!("{reg}/{repo}").as_str()), "{repo}: {table}");
    }
    assert_eq!(d.ok(&["search", "--format", "{{.Name}}", &format!("{reg}/MULTI")]).trim(), format!("{reg}/multiarch"));
    assert_eq!(d.ok(&["search", "--limit", "2", "--format", "{{.Name}}", &format!("{reg}/")]).lines().count(), 2);
    let j: Value = serde_json::from_str(d.ok(&["search", "--format", "json", &format!("{reg}/webapp")]).trim()).unwrap();
    assert_eq!(j["Name"], format!("{reg}/webapp").as_str());
    assert_eq!(j["StarCount"], 0);
    // Nothing in a catalog is official or starred.
    assert!(d.ok(&["search", "--format", "{{.Name}}", "-f", "is-official=true", &format!("{reg}/")]).trim().is_empty());
    assert!(d.ok(&["search", "--format", "{{.Name}}", "--filter", "stars=1", &format!("{reg}/")]).trim().is_empty());
    assert!(d.fails(&["search", "-f", "nope=1", &format!("{reg}/")]).contains("invalid filter"));
    assert!(d.fails(&["search", "--limit", "101", &format!("{reg}/")]).contains("must be in range [1, 100]"));
    assert!(d.fails(&["search", "busybox"]).contains("searching Docker Hub is not supported"));
    assert!(d.fails(&["search"]).contains("requires exactly 1 argument"));
}

#[test]
fn multiarch_platforms() {
    let reg = registry();
    let d = Daemon::start("multiarch");
    for (platform, arch, variant) in [("linux/arm64", "arm64", Some("v8")), ("linux/arm/v7", "arm", Some("v7")), ("linux/amd64", "amd64", None)] {
        d.ok(&["pull", "-q", "--platform", platform, &format!("{reg}/multiarch")]);
        let img = d.inspect(&format!("{reg}/multiarch"));
        assert_eq!(img["Architecture"], arch, "{platform}");
        assert_eq!(img["Variant"].as_str(), variant, "{platform}");
    }
    // The attestation manifests (unknown/unknown) are never chosen.
    d.ok(&["pull", "-q", &format!("{reg}/multiarch:attest")]);
    assert_eq!(d.inspect(&format!("{reg}/multiarch:attest"))["Architecture"], "amd64");
    d.ok(&["pull", "-q", "--platform", "linux/arm64", &format!("{reg}/multiarch:docker")]);
    assert_eq!(d.inspect(&format!("{reg}/multiarch:docker"))["Architecture"], "arm64");
    let err = d.fails(&["pull", "--platform", "linux/riscv64", &format!("{reg}/multiarch:attest")]);
    assert!(err.contains("linux/amd64, linux/arm64/v8, linux/arm/v7") && !err.contains("unknown"), "{err}");
    assert!(d.fails(&["pull", "--platform", "linux", &format!("{reg}/multiarch")]).contains("invalid platform"));
    assert!(d.fails(&["pull", &format!("{reg}/does-not-exist")]).contains("not found"));
    assert!(d.fails(&["pull", "Busybox"]).contains("invalid reference format"));
}

#[test]
fn rmi_removes_what_nothing_references() {
    let reg = registry();
    let d = Daemon::start("rmi");
    d.ok(&["pull", "-q", &format!("{reg}/busybox")]);
    let (blobs_busybox, layers_busybox) = d.store_entries();
    d.ok(&["pull", "-q", &format!("{reg}/layers")]);
    d.ok(&["tag", &format!("{reg}/layers"), "local/layers:v1"]);
    let (_, layers_all) = d.store_entries();
    assert_eq!(layers_all.len(), 4, "busybox's layer is shared, not stored twice");

    // Two repositories name it: by id it needs -f; by tag it is only untagged.
    let id = d.inspect("local/layers:v1")["Id"].as_str().unwrap()[7..19].to_string();
    assert!(d.fails(&["rmi", &id]).contains("must be forced"));
    assert_eq!(d.ok(&["rmi", "local/layers:v1"]).trim(), "Untagged: local/layers:v1");
    assert_eq!(d.store_entries().1.len(), 4);
    let out = d.ok(&["rmi", &format!("{reg}/layers")]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert_eq!(d.store_entries(), (blobs_busybox, layers_busybox), "exactly busybox's blobs and layer remain");
    // Restart: the store and its metadata agree.
    let mut d = d;
    d.restart();
    assert_eq!(d.ok(&["images", "-q"]).lines().count(), 1);
    d.ok(&["rmi", "-f", &format!("{reg}/busybox")]);
    assert_eq!(d.store_entries(), (vec![], vec![]));
    assert!(d.fails(&["rmi", "nothing-here"]).contains("No such image"));
}

#[test]
fn killed_mid_pull_restarts_clean() {
    let reg = registry();
    let mut d = Daemon::start("kill9");
    let mut pull = d.berth_cmd().args(["pull", &format!("{reg}/layers")]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Kill the daemon while a layer is half-written: as soon as a staging
    // directory or temporary blob shows up.
    let start = std::time::Instant::now();
    let mid = loop {
        let (b, l) = d.store_entries();
        if b.iter().chain(&l).any(|n| n.starts_with(".tmp-")) {
            break true;
        }
        if start.elapsed() > std::time::Duration::from_secs(20) || pull.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    };
    d.kill9();
    let _ = pull.wait();
    assert!(mid, "never saw the pull half-way");
    assert!(d.store_entries().1.iter().any(|n| n.starts_with(".tmp-")) || d.store_entries().0.iter().any(|n| n.starts_with(".tmp-")));
    d.start_again();
    assert!(d.log().contains("removed leftover of an interrupted pull"), "{}", d.log());
    assert_store_consistent(&d);
    assert!(d.ok(&["images", "-q"]).trim().is_empty(), "no image is listed half-pulled");
    // The next pull completes, reusing what was verified.
    d.ok(&["pull", &format!("{reg}/layers")]);
    assert_tree(&d, &format!("{reg}/layers"), "layers");
    assert_store_consistent(&d);
}

#[test]
fn daemon_socket_flags_and_shutdown() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let mut d = Daemon::start("socket");
    let m = std::fs::metadata(&d.socket).unwrap();
    assert!(m.file_type().is_socket());
    assert_eq!(m.permissions().mode() & 0o777, 0o660);
    assert!(d.ok(&["version"]).contains("API version:"));
    assert!(d.ok(&["info"]).contains("Storage Driver: overlay2"));
    // A second daemon on the same socket is refused.
    let o = Command::new(berthd_bin()).arg("--data-root").arg(d.dir.join("other")).arg("-H").arg(format!("unix://{}", d.socket.display())).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("another daemon"));
    let o = Command::new(berthd_bin()).arg("--no-such-flag").output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("no-such-flag"));
    let o = Command::new(berthd_bin()).args(["-H", "tcp://0.0.0.0:2375"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("unix://"));
    // SIGTERM: exits and removes its socket.
    assert!(d.stop());
    assert!(!d.socket.exists());
    // SIGKILL leaves the socket behind; the next start replaces it.
    d.start_again();
    d.kill9();
    assert!(d.socket.exists());
    d.start_again();
    assert!(d.ok(&["version"]).contains("Server: berth"));
    let err = Command::new(berth_bin()).env("BERTH_HOST", format!("unix://{}", d.dir.join("nope.sock").display())).arg("images").output().unwrap();
    assert!(String::from_utf8_lossy(&err.stderr).contains("Is berthd running?"));
}

/// The realistic image (debian bookworm minbase, 48.6 MB, which
/// scripts/fixtures.sh builds): gzip, zstd and Docker schema 2 all pull, and
/// the unpacked tree equals GNU tar's extraction of the same layer.
#[test]
fn debian_unpacks_like_tar() {
    let fx: Value = serde_json::from_slice(&std::fs::read(fixtures().join("fixtures.json")).unwrap()).unwrap();
    assert!(fx.get("debian:bookworm").is_some(), "the debian fixture is missing: scripts/fixtures.sh up builds it unless SKIP_DEBIAN=1");
    let reg = registry();
    let d = Daemon::start("debian");
    for tag in ["bookworm", "bookworm-zstd", "bookworm-docker"] {
        d.ok(&["pull", "-q", &format!("{reg}/debian:{tag}")]);
    }
    // No umoci listing exists for debian: GNU tar extracting the same layer
    // tar as root, keeping owners, modes and xattrs, is the reference.
    let want_dir = d.dir.join("tar-x");
    std::fs::create_dir_all(&want_dir).unwrap();
    let st = Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf"])
        .arg(fixtures().join("work/debian.tar"))
        .arg("-C")
        .arg(&want_dir)
        .status()
        .unwrap();
    assert!(st.success());
    let want = tree_lines(&tree_of(&want_dir, &d.dir.join("want.tree")));
    let lower = d.inspect(&format!("{reg}/debian:bookworm-zstd"))["GraphDriver"]["Data"]["LowerDir"].as_str().unwrap().to_string();
    let got = tree_lines(&tree_of(std::path::Path::new(&lower), &d.dir.join("got.tree")));
    if got != want {
        let missing: Vec<_> = want.iter().filter(|l| !got.contains(l)).take(10).collect();
        let extra: Vec<_> = got.iter().filter(|l| !want.contains(l)).take(10).collect();
        panic!("debian tree differs from tar -x\nmissing: {missing:#?}\nunexpected: {extra:#?}");
    }
    assert!(got.len() > 6000, "{} entries", got.len());
    let img = d.inspect(&format!("{reg}/debian:bookworm"));
    assert_eq!(img["Config"]["Cmd"][0], "bash");
    assert_eq!(d.store_entries().1.len(), 1, "gzip and zstd share one unpacked layer");
    assert_store_consistent(&d);
}
