#!/usr/bin/env python3
"""A small stand-in for an AI agent, to run inside a purple sandbox.

It does what an agent does -- reads its task, works on it, writes a result -- and, like a curious
(or compromised) agent, reports everything it can see and reach: the host's home directories and
SSH keys, the network (a service on the host's loopback, name resolution, the outside world),
other processes, its identity, capabilities and seccomp status.

    purple run --profile examples/ai-demo.lua -- python3 /task/ai_agent.py [--probe-port PORT]

Reads  /task/task.txt   (examples/ is bound read-only at /task by examples/ai-demo.lua)
Writes /output/result.txt and /output/report.json, and prints the report.
Only the standard library; exits 0 when the task was done, 1 when it could not be.
"""
import argparse
import json
import os
import socket
import sys

CAP_NAMES = ["chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
             "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
             "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
             "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
             "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
             "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore"]


def proc_status():
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def cap_list(hex_mask):
    mask = int(hex_mask, 16)
    return [name for bit, name in enumerate(CAP_NAMES) if mask >> bit & 1]


def look(path):
    """What the agent can learn about a path: missing, unreadable, or its entries."""
    if not os.path.lexists(path):
        return "absent"
    try:
        if os.path.isdir(path):
            return sorted(os.listdir(path))
        with open(path, "rb") as f:
            return "readable (%d bytes)" % len(f.read())
    except OSError as e:
        return "denied (%s)" % e.strerror


def try_connect(host, port, timeout=2.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "connected"
    except OSError as e:
        return "failed (%s)" % (e.strerror or e)


def try_resolve(name):
    try:
        return "resolved to %s" % socket.getaddrinfo(name, 443)[0][4][0]
    except OSError as e:
        return "failed (%s)" % (e.strerror or e)


def processes():
    seen = []
    for pid in sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):
        try:
            with open("/proc/%s/comm" % pid) as f:
                seen.append("%s %s" % (pid, f.read().strip()))
        except OSError:
            pass
    return seen


def interfaces():
    with open("/proc/net/dev") as f:
        return [line.split(":")[0].strip() for line in f.readlines()[2:]]


def writable(path):
    probe = os.path.join(path, ".agent-probe")
    try:
        with open(probe, "w") as f:
            f.write("x")
        os.remove(probe)
        return "writable"
    except OSError as e:
        return "not writable (%s)" % e.strerror


def do_task(text):
    """The 'work': a summary of the task file (a real agent would call its model here)."""
    words = text.split()
    lines = [l for l in text.splitlines() if l.strip()]
    return ("Task: %s\nLines: %d, words: %d\nAnswer: %s\n"
            % (lines[0] if lines else "(empty)", len(lines), len(words),
               " ".join(w.strip(".,").lower() for w in reversed(words[-5:]))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # /task/task.txt under examples/ai-demo.lua; else the task.txt next to this script (ai-strict
    # shows the directory purple runs from, so `python3 examples/ai_agent.py` finds both).
    beside = os.path.join(os.path.dirname(os.path.abspath(__file__)), "task.txt")
    ap.add_argument("--task", default="/task/task.txt" if os.path.exists("/task/task.txt") else beside)
    ap.add_argument("--output", default="/output")
    ap.add_argument("--probe-port", type=int, default=0,
                    help="a TCP port listening on the host's loopback, to try to reach")
    args = ap.parse_args()

    st = proc_status()
    report = {
        "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "capabilities": cap_list(st.get("CapEff", "0")),
        "bounding_set": cap_list(st.get("CapBnd", "0")),
        "no_new_privs": st.get("NoNewPrivs") == "1",
        "seccomp": {"0": "off", "1": "strict", "2": "filter"}.get(st.get("Seccomp"), "unknown"),
        "hostname": socket.gethostname(),
        "cwd": os.getcwd(),
        "root_dir": sorted(os.listdir("/")),
        "host_home": {p: look(p) for p in ("/root", "/home", os.path.expanduser("~/.ssh"), "/root/.ssh",
                                          "/etc/shadow", "/etc/ssh")},
        "writable": {p: writable(p) for p in ("/", "/usr", "/tmp", args.output)},
        "processes": processes(),
        "network": {
            "interfaces": interfaces(),
            "resolve example.com": try_resolve("example.com"),
            "connect 1.1.1.1:443": try_connect("1.1.1.1", 443),
        },
    }
    if args.probe_port:
        report["network"]["connect host loopback 127.0.0.1:%d" % args.probe_port] = \
            try_connect("127.0.0.1", args.probe_port)

    status = 0
    try:
        with open(args.task) as f:
            result = do_task(f.read())
        with open(os.path.join(args.output, "result.txt"), "w") as f:
            f.write(result)
        report["task"] = "done: %s" % os.path.join(args.output, "result.txt")
    except OSError as e:
        report["task"] = "failed: %s: %s" % (e.filename, e.strerror)
        status = 1
    try:
        with open(os.path.join(args.output, "report.json"), "w") as f:
            json.dump(report, f, indent=2, sort_keys=True)
            f.write("\n")
    except OSError as e:
        report["report"] = "not saved: %s" % e.strerror
    json.dump(report, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
