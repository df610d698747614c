#!/usr/bin/env bash
# Cocoon developer entry point. On a fresh Debian 12 root machine:
#   bash dev.sh demo   # install everything, build the guest image, run a container in a microVM
#   bash dev.sh test   # install everything, then run the whole test suite (gates + deno test)
# Other verbs: setup (install only), bench (deno task bench).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export PATH="$ROOT/node_modules/.bin:$PATH"
export DENO_NO_UPDATE_CHECK=1

APT_PACKAGES=(qemu-system-x86 qemu-utils containerd runc crun podman busybox-static iproute2 kmod cpio
  erofs-utils socat ca-certificates containernetworking-plugins netavark aardvark-dns iptables uidmap
  slirp4netns fuse-overlayfs catatonit e2fsprogs curl util-linux python3 python3-grpcio python3-grpc-tools
  chromium docker.io tmux make gcc bison flex bc libelf-dev xz-utils runsc)

say() { printf '[dev.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

setup_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  command -v npm >/dev/null || missing+=(nodejs npm)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

setup_npm() {
  if [ ! -x node_modules/.bin/deno ] || [ package.json -nt node_modules/.package-lock.json ]; then
    say "installing the pinned toolchain and dependencies with npm"
    npm ci --no-audit --no-fund --loglevel=error >&2
  fi
}

# The guest image: `auto` boots the tuned kernel once it is built, else Debian's (so the demo on a
# fresh machine does not wait for a kernel build); the test suite builds the tuned one first
# (cached by content hash) and runs on it.
setup_guest() {
  if [ -f runtime/guest/mod.ts ]; then
    say "building the guest image (cached; a no-op when inputs are unchanged)"
    deno run --allow-all main.ts guest build --kernel "${1:-auto}" >&2
  fi
}

# Debian 12 has no virtiofsd: Debian 13's runs here through its own loader, installed privately
# (cached). Then shared_fs = "auto" picks virtio-fs; without it, virtio-9p (slower, still works).
setup_virtiofsd() {
  say "installing virtiofsd for shared_fs = auto (cached)"
  deno run --allow-all runtime/cli/install_virtiofsd.ts >&2 ||
    say "virtiofsd could not be installed: shared_fs = auto falls back to virtio-9p"
}

setup() { setup_apt; setup_npm; setup_virtiofsd; setup_guest "${1:-auto}"; }

# Runs one gate; counts it as a passed or failed check.
GATES_PASSED=0
GATES_FAILED=0
gate() {
  local name=$1 out rc=0; shift
  say "gate: $name"
  out=$(mktemp)
  "$@" >"$out" 2>&1 || rc=$?
  cat "$out" >&2
  if [ "$rc" = 0 ]; then GATES_PASSED=$((GATES_PASSED + 1)); else
    GATES_FAILED=$((GATES_FAILED + 1)); say "gate failed: $name"; failure "gate: $name"
    sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -v '^ *$' | head -n 20 | cut -c1-300 | sed 's/^/      | /' |
      while IFS= read -r t; do failure "$t"; done
  fi
  rm -f "$out"
}

# Records one failure for the list printed just before the summary (CI shows the end of the log).
FAILURES=""
failure() { [ -n "$FAILURES" ] && echo "$*" >>"$FAILURES"; true; }

# The failing tests of a deno test log, one "file: test name" a line (its FAILURES section).
failed_tests_of() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '/^ *(ERRORS|FAILURES) *$/ {f=1; next} f && / => .*:[0-9]+:[0-9]+$/ {print}' | sort -u
}

# The start of a deno test log's ERRORS section (the messages and their first stack lines), indented:
# CI keeps only the end of the log, and the failure list printed there is all that survives.
errors_of() {
  sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '/^ *ERRORS *$/ {f=1; next} /^ *FAILURES *$/ {f=0} f && NF' |
    grep -v '^ *at ext:' | head -n "${2:-30}" | cut -c1-300 | sed 's/^/      | /'
}

# Parses a deno test log: prints "<passed> <failed>" from its summary line ("0 1" when it has none).
summary_of() {
  local line
  line=$({ sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -E '^(ok|FAILED) \| [0-9]+ passed' || true; } | tail -1)
  if [ -z "$line" ]; then echo "0 1"; return; fi
  echo "$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$line") $(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$line")"
}

# Runs `deno test` on the given paths, prints "<passed> <failed>". No retries: a file that fails
# fails the run (a flaky test is a bug to find).
run_suite() {
  local log p f
  log=$(mktemp)
  deno test --allow-all --parallel --no-prompt "$@" 2>&1 | tee "$log" >&2 || true
  read -r p f < <(summary_of "$log")
  if [ "$f" != 0 ]; then
    failed_tests_of "$log" | while read -r t; do failure "unit: $t"; done
    errors_of "$log" 40 | while IFS= read -r t; do failure "$t"; done
  fi
  rm -f "$log"
  echo "$p $f"
}

# What an e2e file may leave behind, one item a line: VMM, file server, Cocoon, containerd, docker
# and conmon processes; mounts; network links and namespaces; Cocoon state directories; /tmp entries;
# per-VM uid claims; Cocoon's host cgroups.
host_snapshot() {
  local pid comm
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
    case "$comm" in
      qemu-system-*|virtiofsd|ld-linux-x86-*|containerd|containerd-shim*|dockerd|conmon|deno)
        [ "$pid" = "$$" ] || echo "process $pid $comm $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)" ;;
    esac
  done
  awk '{print "mount " $5}' /proc/self/mountinfo
  ip -o link show 2>/dev/null | awk -F': ' '{print "link " $2}' | sed 's/@.*//'
  ip netns list 2>/dev/null | awk '{print "netns " $1}'
  for d in /run/cocoon/sandboxes /run/cocoon/oci /var/lib/cocoon/sandboxes; do
    [ -d "$d" ] && ls -1 "$d" | sed "s|^|state $d/|"
  done
  ls -1A /tmp | sed 's|^|tmp /tmp/|'
  [ -d /run/cocoon-vm-users ] && ls -1 /run/cocoon-vm-users | sed 's|^|vmuid /run/cocoon-vm-users/|'
  find /sys/fs/cgroup -mindepth 2 -maxdepth 8 -type d \( -name 'cocoon-*' -o -path '*/cocoon/*' \) 2>/dev/null |
    sed 's|^|cgroup |'
}

# Removes what a leak report names (so the next file starts clean).
clean_leaks() {
  local kind a b
  while read -r kind a b; do
    case "$kind" in
      process) kill -9 "$a" 2>/dev/null || true ;;
      mount) umount -l "$a" 2>/dev/null || true ;;
      link) ip link del "$a" 2>/dev/null || true ;;
      netns) ip netns del "$a" 2>/dev/null || true ;;
      vmuid) rm -f "$a" ;;
      cgroup) rmdir "$a" 2>/dev/null || true ;;
    esac
  done
}

# Runs each e2e file alone, then checks that it left nothing (processes, mounts, links, netns, state
# directories, /tmp entries). A leak is one failed check of that file. Prints "<passed> <failed>".
run_e2e_files() {
  local passed=0 failed=0 file log p f before after leaks
  log=$(mktemp -p "$ROOT/.cache")
  for file in "$@"; do
    before=$(host_snapshot | sed -E 's/^(process [0-9]+) .*/\1/' | sort)
    say "e2e: $file"
    deno test --allow-all --no-prompt "$file" 2>&1 | tee "$log" >&2 || true
    read -r p f < <(summary_of "$log")
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" != 0 ]; then
      failure "e2e: $file ($f failed)"
      failed_tests_of "$log" | while read -r t; do failure "  $t"; done
      errors_of "$log" 30 | while IFS= read -r t; do failure "$t"; done
    fi
    # What is still there after a grace period (a VMM or shim may take a moment to exit) is a leak.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      sleep 1
      after=$(host_snapshot)
      leaks=$(comm -13 <(echo "$before") <(echo "$after" | sed -E 's/^(process [0-9]+) .*/\1/' | sort) |
        grep -v "^tmp $log" || true)
      [ -z "$leaks" ] && break
    done
    if [ -n "$leaks" ]; then
      say "LEAK after $file (counted as a failure):"
      while read -r item; do
        case "$item" in
          process*) echo "$after" | grep -m1 "^$item " || echo "$item" ;;
          *) echo "$item" ;;
        esac
      done <<<"$leaks" | sed 's/^/    /' >&2
      echo "$leaks" | clean_leaks
      failure "leak after $file: $(echo "$leaks" | head -3 | tr '\n' ';')"
      failed=$((failed + 1))
    fi
  done
  rm -f "$log"
  echo "$passed $failed"
}

# The installed program is what the program-level tests run (tests/utils/program.ts): compile.sh
# --install into a fresh prefix, exactly as a user installs it.
install_for_tests() {
  local prefix="$ROOT/.cache/test-prefix"
  rm -rf "$prefix"
  say "compile.sh --install $prefix (the program the tests run)"
  bash compile.sh --install "$prefix" >&2
  export COCOON_BIN="$prefix/bin/cocoon"
}

run_tests() {
  mkdir -p "$ROOT/.cache"
  FAILURES="$ROOT/.cache/failures.txt"
  : >"$FAILURES"
  gate "deno fmt --check" deno fmt --check
  gate "deno lint" deno lint
  gate "deno check" deno check main.ts mod.ts $( [ -f agent/main.ts ] && echo agent/main.ts )
  if [ -f runtime/protocol/gen.sh ]; then gate "generated protobuf code is current" bash runtime/protocol/gen.sh --check; fi
  install_for_tests
  export RUNTIME_E2E=1
  local passed=0 failed=0 p f
  say "deno test: unit, integration, protocol, plugin and style suites"
  read -r p f < <(run_suite runtime plugins agent tests/integration tests/protocol tests/style tests/bench)
  passed=$((passed + p)); failed=$((failed + f))
  say "deno test: end-to-end suites in real microVMs (tests/e2e), one file at a time, leak-checked"
  read -r p f < <(run_e2e_files tests/e2e/*_test.ts)
  passed=$((passed + p)); failed=$((failed + f))
  passed=$((passed + GATES_PASSED)); failed=$((failed + GATES_FAILED))
  if [ -s "$FAILURES" ]; then say "what failed:"; sed 's/^/    /' "$FAILURES" >&2; fi
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# The demo: a real container (busybox) in a real microVM, through the installed `cocoon run`
# (compile.sh --install puts cocoon and containerd-shim-cocoon-v2 in /usr/local/bin).
demo() {
  bash compile.sh --install >&2
  /usr/local/bin/cocoon check || true
  local rootfs=/var/lib/cocoon/demo/rootfs
  if [ ! -x "$rootfs/bin/busybox" ]; then
    mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $("$rootfs/bin/busybox" --list); do
      [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
  fi
  say "cocoon run --rootfs $rootfs -- sh -c '...'   (boots a microVM, runs the container, exits with its status)"
  /usr/local/bin/cocoon run --rootfs "$rootfs" -- /bin/sh -c \
    'echo "Hello from a container in a Cocoon microVM: guest kernel $(uname -r), $(nproc) vCPU, $(free -m | awk "/Mem/{print \$2}") MiB"'
}

case "${1:-}" in
  setup) setup ;;
  test) setup tuned; run_tests ;;
  demo) setup; demo ;;
  bench) setup tuned; install_for_tests; deno task bench ;;
  *) sed -n '2,6p' "$0"; exit 2 ;;
esac
