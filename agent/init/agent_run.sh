#!/bin/sh
# Started once by busybox init (PID 1, which reaps orphans). Runs the Cocoon agent with the
# environment /init derived from the kernel command line, then powers the VM off when the agent
# exits (or restarts it when cocoon.respawn is set). The agent should make itself a child
# subreaper (prctl PR_SET_CHILD_SUBREAPER) to collect its containers' exit statuses.
set -a
. /run/cocoon/agent.env
set +a
unset COCOON_STAGE
HOME=/root
PATH=/cocoon/bin:/bin:/sbin:/usr/bin:/usr/sbin
DENO_DIR=/run/cocoon/deno
DENO_NO_UPDATE_CHECK=1
DENO_NO_PROMPT=1
NO_COLOR=1
export HOME PATH DENO_DIR DENO_NO_UPDATE_CHECK DENO_NO_PROMPT NO_COLOR
cd /
# The agent's V8 code cache, made at image build time for /cocoon/agent.js (deno wants DENO_DIR
# writable, so it is copied to the tmpfs once).
if [ -d /cocoon/deno-cache ] && [ ! -e "$DENO_DIR" ]; then
  mkdir -p /run/cocoon && cp -a /cocoon/deno-cache "$DENO_DIR"
fi
while :; do
  read -r up _ </proc/uptime
  echo "cocoon-init: agent starting at ${up}s"
  if [ -x /cocoon/bin/cocoon-agent ]; then
    /cocoon/bin/cocoon-agent
  else
    /cocoon/bin/deno run -A --no-config --no-lock --cached-only --unstable-net --unstable-ffi /cocoon/agent.js
  fi
  rc=$?
  echo "cocoon-init: agent exited with code $rc"
  [ "$COCOON_RESPAWN" = "1" ] || break
  sleep 1
done
poweroff -f
