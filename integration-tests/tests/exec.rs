//! `berth exec` into a running container: output, exit codes, -e/-u/-w,
//! -i stdin, -t through a PTY, -d, refusal on a stopped container, and an
//! exec surviving a SIGKILLed berthd.

use std::io::Write;
use std::process::{Command, Stdio};

use berth_integration_tests::daemon::*;

fn code(d: &Daemon, args: &[&str]) -> (i32, String) {
    let o = d.berth(args);
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn exec_output_codes_flags_stdin_tty_detach_and_restart() {
    let reg = registry();
    let mut d = Daemon::start("exec");
    d.ok(&["pull", "-q", &format!("{reg}/busybox")]);
    let id = d.ok(&["run", "-d", "--name", "ex1", "--network", "none", &format!("{reg}/busybox"), "sleep", "1000"]).trim().to_string();

    assert_eq!(code(&d, &["exec", "ex1", "echo", "hi"]), (0, "hi\n".into()));
    assert_eq!(code(&d, &["exec", "ex1", "sh", "-c", "exit 3"]).0, 3);
    assert_eq!(code(&d, &["exec", "ex1", "/no/such/binary"]).0, 127);
    assert_eq!(code(&d, &["exec", "-e", "A=b", "-w", "/tmp", "-u", "1000:1000", "ex1", "sh", "-c", "echo $A $(pwd) $(id -u):$(id -g)"]), (0, "b /tmp 1000:1000\n".into()));

    let mut c = d.berth_cmd().args(["exec", "-i", "ex1", "cat"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    c.stdin.take().unwrap().write_all(b"hello through stdin\n").unwrap();
    let o = c.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello through stdin\n");

    // -t: the process's stdin is a PTY (script(1) gives berth a terminal).
    let cmdline = format!("{} exec -t ex1 tty", berth_bin().display());
    let o = Command::new("script").args(["-qec", &cmdline, "/dev/null"]).env("BERTH_HOST", format!("unix://{}", d.socket.display())).output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("/dev/pts/"), "{}", String::from_utf8_lossy(&o.stdout));

    // -d: the process runs on after berth exec returned, and survives berthd's SIGKILL.
    assert_eq!(code(&d, &["exec", "-d", "ex1", "sleep", "777"]).0, 0);
    d.kill9();
    d.start_again();
    let ps = d.ok(&["exec", "ex1", "ps"]);
    assert!(ps.contains("sleep 777"), "{ps}");

    d.ok(&["rm", "-f", "ex1"]);
    let e = d.fails(&["exec", "ex1", "true"]);
    assert!(e.contains("No such container"), "{e}");
    d.ok(&["run", "-d", "--name", "ex2", "--network", "none", &format!("{reg}/busybox"), "true"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let e = d.fails(&["exec", "ex2", "true"]);
    assert!(e.contains("not running"), "{e}");
    d.ok(&["rm", "-f", "ex2"]);
    // Nothing of the execs is left: no shim of the container, no exec directory.
    let left = std::fs::read_to_string("/proc/mounts").unwrap_or_default().lines().filter(|l| l.contains(&id)).count();
    assert_eq!(left, 0);
    let shims = Command::new("pgrep").args(["-f", &format!("berth-shim.*{id}")]).output().unwrap();
    assert!(shims.stdout.is_empty(), "exec shims left: {}", String::from_utf8_lossy(&shims.stdout));
}
