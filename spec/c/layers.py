#!/usr/bin/env python3
"""The layer rule of issue 13 on the built objects (make check-c): which object calls which, from
nm. Fails when a core object (build/*.o) calls into a binding (build/lua/*.o) or when the calls
between objects form a circle. Usage: layers.py CORE_OBJECTS... -- BINDING_OBJECTS..."""
import subprocess
import sys

args = sys.argv[1:]
split = args.index("--")
core, binding = args[:split], args[split + 1:]
defined, undefined = {}, {}
for obj in core + binding:
    for line in subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "TDBR":
            defined[f[2]] = obj
        elif len(f) == 2 and f[0] == "U":
            undefined.setdefault(obj, set()).add(f[1])
calls = {obj: {defined[s] for s in undefined.get(obj, ()) if s in defined and defined[s] != obj}
         for obj in core + binding}
bad = [f"{a} calls up into {b}" for a in core for b in sorted(calls[a]) if b in binding]
state, path = {}, []


def visit(obj):
    state[obj] = 1
    path.append(obj)
    for nxt in sorted(calls[obj]):
        if state.get(nxt) == 1:
            bad.append("circle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
        elif nxt not in state:
            visit(nxt)
    path.pop()
    state[obj] = 2


for obj in core + binding:
    if obj not in state:
        visit(obj)
for b in bad:
    print("FAIL", b)
print(f"layers: {len(core)} core and {len(binding)} binding objects, {len(bad)} violations")
sys.exit(1 if bad else 0)
