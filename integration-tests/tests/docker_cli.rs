//! The docker CLI itself against berthd: containers (run --rm, run -i,
//! run -d, ps, logs, exec -it, stop, rm, volumes) and images (save, load,
//! login, push, logout, the image filters and prune) behave as the docker
//! CLI expects of dockerd (request shapes, streamed answers, status codes).

use std::process::{Command, Output, Stdio};

use berth_integration_tests::daemon::*;

fn docker_bin() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join("docker")).find(|p| p.is_file()))
}

struct Docker<'a> {
    bin: std::path::PathBuf,
    d: &'a Daemon,
    config: std::path::PathBuf,
}

impl Docker<'_> {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        // A bound on each command: on a 401 the docker CLI prompts for
        // credentials and would wait for ever.
        let mut c = Command::new("timeout")
            .arg("120")
            .arg(&self.bin)
            .env("DOCKER_HOST", format!("unix://{}", self.d.socket.display()))
            .env("DOCKER_CONFIG", &self.config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut i = c.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
        // Closed stdin: docker must never wait for an interactive login.
        drop(i);
        c.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args, None);
        assert!(o.status.success(), "docker {args:?}: {}\n{}", String::from_utf8_lossy(&o.stderr), self.d.log());
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

#[test]
fn docker_cli_save_load_push_login_prune() {
    let bin = docker_bin().expect("the docker CLI (make setup installs docker.io when no docker is on PATH)");
    let (reg, auth) = (registry(), auth_registry());
    let d = Daemon::start("dockercli");
    let docker = Docker { bin, d: &d, config: d.dir.join("docker-config") };
    let bb = format!("{reg}/busybox:latest");
    docker.ok(&["pull", "-q", &bb]);
    let id = d.inspect(&bb)["Id"].as_str().unwrap().to_string();
    // pull -a asks for the repository without a tag; search and system df.
    let all = docker.ok(&["pull", "-a", &format!("{reg}/busybox")]);
    assert!(all.contains(&format!("Status: Downloaded newer image for {reg}/busybox\n")) && all.contains("zstd: Pulling from busybox"), "{all}");
    let found = docker.ok(&["search", "--limit", "5", &format!("{reg}/busy")]);
    assert!(found.lines().nth(1).is_some_and(|l| l.starts_with(&format!("{reg}/busybox "))), "{found}");
    let df = docker.ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Size}}"]);
    assert_eq!(df.lines().next(), Some("Images 1 1.983MB"), "{df}");
    for tag in ["zstd", "uncompressed", "docker"] {
        docker.ok(&["rmi", &format!("{reg}/busybox:{tag}")]);
    }

    docker.ok(&["tag", &bb, "local/docker-cli:1"]);
    let tar = d.dir.join("bb.tar");
    // Two names: the CLI asks GET /images/get?names=...&names=...
    docker.ok(&["save", "-o", tar.to_str().unwrap(), &bb, "local/docker-cli:1"]);
    docker.ok(&["rmi", &bb, "local/docker-cli:1"]);
    let out = docker.ok(&["load", "-i", tar.to_str().unwrap()]);
    assert!(out.contains(&format!("Loaded image: {bb}")) && out.contains("Loaded image: local/docker-cli:1"), "{out}");
    docker.ok(&["rmi", "local/docker-cli:1"]);
    assert_eq!(docker.ok(&["image", "inspect", "-f", "{{.Id}}", &bb]).trim(), id);

    let o = docker.run(&["login", "-u", "fixture", "--password-stdin", &auth], Some("fixture-pass\n"));
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Login Succeeded"), "{}", String::from_utf8_lossy(&o.stderr));
    let target = format!("{auth}/private/docker-cli-{}:v1", std::process::id());
    docker.ok(&["tag", &bb, &target]);
    let out = docker.ok(&["push", &target]);
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    let digest = out.lines().find_map(|l| l.strip_prefix("v1: digest: ")).unwrap().split_whitespace().next().unwrap().to_string();
    let _ = Command::new("curl").args(["-s", "-o", "/dev/null", "-X", "DELETE", "-u", "fixture:fixture-pass"]).arg(format!("http://{auth}/v2/private/docker-cli-{}/manifests/{digest}", std::process::id())).status();
    // (Not pushed again after logout: on a 401 the docker CLI asks for
    // credentials and waits, even with stdin closed.)
    docker.ok(&["logout", &auth]);
    let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(docker.config.join("config.json")).unwrap()).unwrap();
    assert!(cfg["auths"].get(&auth).is_none(), "{cfg}");

    // Pushed: the repo digest shows; loaded: none (as after docker load).
    let table = docker.ok(&["images", "--digests", "--filter", "dangling=false", "--filter", &format!("reference={auth}/private/*")]);
    assert!(table.lines().nth(1).is_some_and(|l| l.starts_with(&format!("{auth}/private/docker-cli-")) && l.contains(&digest)), "{table}");
    let table = docker.ok(&["images", "--digests", "--filter", &format!("reference={reg}/*")]);
    assert!(table.lines().nth(1).is_some_and(|l| l.starts_with(&format!("{reg}/busybox")) && l.contains("<none>")), "{table}");
    docker.ok(&["rmi", &target]);
    let out = docker.ok(&["image", "prune", "-a", "-f"]);
    assert!(out.contains(&format!("deleted: {id}")), "{out}");
    assert!(docker.ok(&["images", "-q"]).trim().is_empty());
}

#[test]
fn docker_cli_runs_containers() {
    let bin = docker_bin().expect("the docker CLI (make setup installs docker.io when no docker is on PATH)");
    let reg = registry();
    let d = Daemon::start("dockercli-ctr");
    let docker = Docker { bin, d: &d, config: d.dir.join("docker-config") };
    let bb = format!("{reg}/busybox:latest");
    // run pulls a missing image, attaches, waits (condition=removed with --rm) and passes the exit code on.
    let o = docker.run(&["run", "--rm", "--network", "none", &bb, "sh", "-c", "echo hi; echo err >&2; exit 3"], None);
    assert_eq!((String::from_utf8_lossy(&o.stdout).as_ref(), o.status.code()), ("hi\n", Some(3)), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("err"));
    assert_eq!(docker.run(&["run", "-i", "--rm", "--network", "none", &bb, "cat"], Some("piped\n")).stdout, b"piped\n");
    // Bridged by default, a volume, -d, ps, logs, exec, stop, rm.
    let id = docker.ok(&["run", "-d", "--name", "web", "-v", "dkvol:/data", &bb, "sh", "-c", "echo logged; echo kept > /data/f; sleep 100"]).trim().to_string();
    assert_eq!(id.len(), 64);
    let ps = docker.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("web Up"), "{ps}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(docker.ok(&["logs", "web"]), "logged\n");
    assert_eq!(docker.ok(&["exec", "web", "cat", "/data/f"]), "kept\n");
    // exec -it through a terminal (script(1) gives the CLI one).
    let cmdline = format!("{} exec -it web sh -c 'tty; echo in-exec'", docker.bin.display());
    let o = Command::new("timeout").args(["60", "script", "-qec", &cmdline, "/dev/null"]).env("DOCKER_HOST", format!("unix://{}", d.socket.display())).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("/dev/pts/") && out.contains("in-exec"), "{out}");
    assert!(docker.ok(&["volume", "ls", "-q"]).contains("dkvol"));
    docker.ok(&["stop", "-t", "1", "web"]);
    assert_eq!(docker.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "web"]).trim(), "exited 137");
    docker.ok(&["rm", "web"]);
    docker.ok(&["volume", "rm", "dkvol"]);
    // Networks: create, run on one with an alias, names through the embedded DNS, a port on 127.0.0.1, connect, rm.
    docker.ok(&["network", "create", "--subnet", "10.98.9.0/24", "dknet"]);
    docker.ok(&["network", "create", "--internal", "dknet2"]);
    assert!(docker.ok(&["network", "ls", "--format", "{{.Name}}"]).lines().any(|l| l == "dknet"));
    assert_eq!(docker.ok(&["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", "dknet"]).trim(), "10.98.9.0/24");
    docker.ok(&["run", "-d", "--name", "svc", "--network", "dknet", "--network-alias", "api", "-p", "127.0.0.1::80", "--expose", "7000", &bb, "sleep", "100"]);
    let o = docker.ok(&["run", "--rm", "--network", "dknet", &bb, "nslookup", "api", "127.0.0.11"]);
    assert!(o.contains("Address: 10.98.9."), "{o}");
    assert!(docker.ok(&["port", "svc"]).starts_with("80/tcp -> 127.0.0.1:"));
    assert!(docker.ok(&["inspect", "-f", "{{json .Config.ExposedPorts}}", "svc"]).contains("7000/tcp"));
    docker.ok(&["network", "connect", "dknet2", "svc"]);
    assert!(docker.ok(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", "svc"]).contains("dknet2"));
    docker.ok(&["network", "disconnect", "dknet2", "svc"]);
    docker.ok(&["rm", "-f", "svc"]);
    docker.ok(&["network", "rm", "dknet", "dknet2"]);
    assert!(docker.ok(&["ps", "-aq"]).trim().is_empty());
}
