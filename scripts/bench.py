#!/usr/bin/env python3
"""make bench: berth-runtime side by side with runc and crun, in one run.

Measures, per runtime, over N interleaved iterations:
  run        `RUNTIME run ID` of /bin/true from a busybox bundle (wall time)
  lifecycle  create + start + delete -f (wall time)
  peak RSS   of the runtime process during `run` (wait4's ru_maxrss)
and prints medians and ratios against crun, plus binary sizes, and
  min memory the smallest linux.resources.memory.limit (memory+swap the
             same) with which `run` of /bin/true still succeeds, found by
             bisection to 16 KiB

crun refuses this hybrid-cgroup host, so the comparison runs in a private
mount namespace where /sys/fs/cgroup/unified is unmounted (the host's
mounts are untouched); berth-runtime is also measured on the host as is.
"""
import json, os, shutil, statistics, subprocess, sys, time

N = int(os.environ.get("BENCH_N", "30"))
ROOT_BASE = "/run/berth-bench"


def make_bundle(path):
    shutil.rmtree(path, ignore_errors=True)
    rootfs = os.path.join(path, "rootfs")
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"]:
        os.makedirs(os.path.join(rootfs, d))
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
    os.symlink("busybox", os.path.join(rootfs, "bin/true"))
    os.symlink("busybox", os.path.join(rootfs, "bin/sh"))
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    cfg = {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["/bin/true"],
                    "env": ["PATH=/bin"], "cwd": "/",
                    "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                    "noNewPrivileges": True},
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "bench",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ["pid", "network", "ipc", "uts", "mount"]],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)


RSS_FILE = "/tmp/berth-bench-rss"


def timed(argv, rss=False):
    """Runs argv; returns (seconds, max RSS in KiB or 0).

    Peak RSS comes from GNU time (%M, the runtime's own high-water mark):
    measuring with wait4 from Python would count Python's pages, which a
    vfork'd child carries until it execs.
    """
    if rss:
        argv = ["/usr/bin/time", "-f", "%M", "-o", RSS_FILE] + argv
    t = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)])
    _, status, _ = os.wait4(pid, 0)
    dt = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} failed with {status}")
    kib = int(open(RSS_FILE).read().split()[-1]) if rss else 0
    return dt, kib


def bench(runtimes, bundle, label):
    res = {name: {"run": [], "life": [], "rss": []} for name in runtimes}
    for i in range(N):
        for name, binary in runtimes.items():
            root = f"{ROOT_BASE}/{label}-{name}"
            cid = f"bench-{os.getpid()}-{i}"
            dt, _ = timed([binary, "--root", root, "run", "--bundle", bundle, cid])
            res[name]["run"].append(dt)
            _, rss = timed([binary, "--root", root, "run", "--bundle", bundle, cid + "-m"], rss=True)
            res[name]["rss"].append(rss)
            cid2 = cid + "-l"
            t = time.perf_counter()
            for step in (["create", "--bundle", bundle, cid2], ["start", cid2], ["delete", "-f", cid2]):
                timed([binary, "--root", root] + step)
            res[name]["life"].append(time.perf_counter() - t)
            # runc/crun leave a stopped container after `run` only on failure; clean anyway.
            subprocess.run([binary, "--root", root, "delete", "-f", cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return res


def try_memory(binary, root, bundle, limit, cid):
    cfg_path = os.path.join(bundle, "config.json")
    cfg = json.load(open(cfg_path))
    cfg["linux"]["resources"] = {"memory": {"limit": limit, "swap": limit}}
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    try:
        r = subprocess.run([binary, "--root", root, "run", "--bundle", bundle, cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5)
        ok = r.returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    subprocess.run([binary, "--root", root, "delete", "-f", cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return ok


def min_memory(runtimes, label):
    """Bisects the smallest memory limit each runtime can start /bin/true under."""
    out = {}
    for name, binary in runtimes.items():
        bundle = f"/tmp/berth-bench-mem-{name}"
        make_bundle(bundle)
        root = f"{ROOT_BASE}/{label}-mem-{name}"
        lo, hi = 0, 64 << 20
        if not try_memory(binary, root, bundle, hi, f"mem-{os.getpid()}-hi"):
            out[name] = None
            continue
        i = 0
        while hi - lo > 16 << 10:
            mid = (lo + hi) // 2 // 4096 * 4096
            i += 1
            if try_memory(binary, root, bundle, mid, f"mem-{os.getpid()}-{i}"):
                hi = mid
            else:
                lo = mid
        out[name] = hi
        shutil.rmtree(bundle, ignore_errors=True)
    print(f"\n== smallest memory limit for `run /bin/true` ({label})")
    for name, v in out.items():
        print(f"{name:<16} {'failed at 64 MiB' if v is None else f'{v / 1024:8.0f} KiB'}")
    return out


def report(res, label, base="crun"):
    print(f"\n== {label} (N={N}, medians)")
    print(f"{'runtime':<16} {'run ms':>8} {'ratio':>6} {'lifecycle ms':>13} {'ratio':>6} {'peak RSS MiB':>13} {'ratio':>6}")
    b = res.get(base)
    for name, r in res.items():
        run = statistics.median(r["run"]) * 1000
        life = statistics.median(r["life"]) * 1000
        rss = statistics.median(r["rss"]) / 1024
        def ratio(v, key, scale):
            if not b:
                return "-"
            return f"{v / (statistics.median(b[key]) * scale):.2f}"
        print(f"{name:<16} {run:8.1f} {ratio(run, 'run', 1000):>6} {life:13.1f} {ratio(life, 'life', 1000):>6} {rss:13.2f} {ratio(rss, 'rss', 1/1024):>6}")


def main():
    berth = os.path.abspath(sys.argv[sys.argv.index("--berth") + 1])
    if "--inner" not in sys.argv:
        for tool, pkg in (("runc", "runc"), ("crun", "crun"), ("/usr/bin/time", "time")):
            if not shutil.which(tool):
                subprocess.run(["apt-get", "install", "-y", "-qq", pkg], check=True)
        bundle = "/tmp/berth-bench-bundle"
        make_bundle(bundle)
        print("binary sizes (bytes):")
        sizes = {"berth-runtime": berth, "runc": shutil.which("runc"), "crun": shutil.which("crun")}
        static = os.path.join(os.path.dirname(berth), "../x86_64-unknown-linux-musl/release/berth-runtime")
        if os.path.exists(static):
            sizes["berth-runtime (static musl)"] = os.path.normpath(static)
        for k, v in sizes.items():
            print(f"  {k:<30} {os.path.getsize(v):>10}  {v}")
        # berth on the host as is (hybrid cgroups).
        report(bench({"berth-runtime": berth}, bundle, "host"), "berth-runtime on the host (hybrid cgroups)", base=None)
        min_memory({"berth-runtime": berth}, "host, hybrid: memory through v1")
        # All three in a mount namespace without the cgroup2 mount, where crun works.
        # cgroup v2: in the pure-cgroup2 VM (../shared/vm), where runc and crun
        # are not available; berth-runtime alone.
        vm = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/vm/run-in-vm.sh")
        if os.path.exists(vm):
            repo = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
            vb = os.path.join(repo, "target/bench-mem-bundle")
            make_bundle(vb)
            cfg = json.load(open(os.path.join(vb, "config.json")))
            cfg["linux"]["resources"] = {"memory": {"limit": "LIMIT", "swap": "LIMIT"}}
            json.dump(cfg, open(os.path.join(vb, "config.json"), "w"))
            r = subprocess.run([vm, "--share", repo, "--", os.path.join(repo, "scripts/bench-mem-v2.sh"), berth, vb], capture_output=True, text=True)
            print(f"\n== smallest memory limit for `run /bin/true` (cgroup v2 VM)\n{'berth-runtime':<16} {r.stdout.strip() or r.stderr.strip()[-200:]}")
            shutil.rmtree(vb, ignore_errors=True)
        inner = f"umount /sys/fs/cgroup/unified 2>/dev/null; exec python3 {os.path.abspath(__file__)} --inner --berth {berth}"
        subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", inner], check=True)
        shutil.rmtree(ROOT_BASE, ignore_errors=True)
        return
    bundle = "/tmp/berth-bench-bundle"
    rts = {"crun": shutil.which("crun"), "runc": shutil.which("runc"), "berth-runtime": berth}
    report(bench(rts, bundle, "ns"), "side by side, /sys/fs/cgroup/unified unmounted in a private mount namespace")
    min_memory(rts, "side by side, cgroup v1")


if __name__ == "__main__":
    main()
