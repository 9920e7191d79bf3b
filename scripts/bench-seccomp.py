#!/usr/bin/env python3
"""make bench-seccomp: what berth's seccomp filter costs.

  1. in-process (runtime/examples/seccomp_bench.rs): parse + compile the
     default profile, install it, getpid with and without it;
  2. `berth-runtime run` of /bin/true, with and without the default
     profile (median wall time of N interleaved runs);
  3. the probe's getpid loop inside a container, with and without it.
"""
import json, os, shutil, statistics, subprocess, sys, time

N = int(os.environ.get("BENCH_N", "30"))
runtime, probe, example = sys.argv[1], sys.argv[2], sys.argv[3]
work = "/tmp/berth-bench-seccomp"
root = os.path.join(work, "state")


def bundle(name, profile, args):
    path = os.path.join(work, name)
    rootfs = os.path.join(path, "rootfs")
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"]:
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin/busybox"))
    shutil.copy(probe, os.path.join(rootfs, "bin/berth-probe"))
    for a in ["true", "sh"]:
        if not os.path.lexists(os.path.join(rootfs, "bin", a)):
            os.symlink("busybox", os.path.join(rootfs, "bin", a))
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    cfg = {
        "ociVersion": "1.2.0",
        "process": {"user": {"uid": 0, "gid": 0}, "args": args, "env": ["PATH=/bin"], "cwd": "/",
                    "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}, "noNewPrivileges": True},
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": t} for t in ["pid", "ipc", "uts", "mount", "network"]]},
    }
    if profile:
        cfg["linux"]["seccomp"] = profile
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)
    return path


def run(path, cid):
    t = time.perf_counter()
    out = subprocess.run([runtime, "--root", root, "run", "--bundle", path, cid], check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t, out


def main():
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        print(subprocess.run([example], check=True, capture_output=True, text=True).stdout.rstrip())
        profile = json.loads(subprocess.run([example, "--print-default-profile"], check=True, capture_output=True, text=True).stdout)
        plain, filtered = bundle("plain", None, ["/bin/true"]), bundle("filtered", profile, ["/bin/true"])
        times = {"without": [], "with": []}
        for i in range(N):
            times["without"].append(run(plain, f"bench-sc-{os.getpid()}-p{i}")[0])
            times["with"].append(run(filtered, f"bench-sc-{os.getpid()}-f{i}")[0])
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(f"run /bin/true (median of {N}): {med['without']:.2f} ms without seccomp, {med['with']:.2f} ms with the default profile (+{med['with'] - med['without']:.2f} ms)")
        loop = ["/bin/berth-probe", "getpid-loop", "5000000"]
        ns = {}
        for name, prof in [("without", None), ("with", profile)]:
            b = bundle("loop-" + name, prof, loop)
            ns[name] = min(json.loads(run(b, f"bench-sc-{os.getpid()}-l{name}{i}")[1].strip().splitlines()[-1])["ns_per_call"] for i in range(5))
        print(f"getpid in a container (best of 5): {ns['without']:.1f} ns/call without seccomp, {ns['with']:.1f} ns/call with the default profile (+{ns['with'] - ns['without']:.1f} ns)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
