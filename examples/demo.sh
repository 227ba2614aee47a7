#!/bin/sh
# make demo: run the example agent (examples/ai_agent.py) under ai-strict and show what it could
# see and reach, and what landed on the host.
#
# The agent and its task reach the sandbox through examples/ai-demo.lua (ai-strict + examples/
# read-only at /task); its /output is a fresh directory on the host ($PURPLE_OUTPUT). A service
# listens on the host's loopback during the run, so the report shows whether the agent reached it.
set -u
cd "$(dirname "$0")/.." || exit 125
PURPLE=${PURPLE:-./bin/purple}

work=$(mktemp -d /tmp/purple-demo.XXXXXX) || exit 125
chmod 755 "$work"
export PURPLE_OUTPUT="$work/output"

# A TCP service on the host's 127.0.0.1 (the port is written to $work/port once it listens).
python3 -c '
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept()
    c.sendall(b"host secret service\n")
    c.close()
' "$work/port" &
server=$!
i=0
while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(cat "$work/port" 2>/dev/null || echo 9)

echo "== purple run --profile examples/ai-demo.lua -- python3 /task/ai_agent.py --probe-port $port"
echo "   (ai-strict: no network, read-only system, /output -> $PURPLE_OUTPUT, private /tmp)"
echo
"$PURPLE" run --profile examples/ai-demo.lua -- python3 /task/ai_agent.py --probe-port "$port"
status=$?
kill "$server" 2>/dev/null
wait "$server" 2>/dev/null

echo
echo "== exit status: $status"
echo "== what landed on the host, in $PURPLE_OUTPUT:"
ls -ln "$PURPLE_OUTPUT" 2>/dev/null
echo
echo "== $PURPLE_OUTPUT/result.txt:"
cat "$PURPLE_OUTPUT/result.txt" 2>/dev/null
echo
echo "(the demo's files stay in $work; remove them with: rm -rf $work)"
exit $status
