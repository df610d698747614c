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
  chromium)

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
    npm install --no-audit --no-fund --loglevel=error >&2
  fi
}

setup_guest() {
  if [ -f runtime/guest/mod.ts ]; then
    say "building the guest image (cached; a no-op when inputs are unchanged)"
    deno run --allow-all main.ts guest build >&2
  fi
}

# Debian 12 has no virtiofsd: Debian 13's runs here through its own loader, installed privately
# (cached). Then shared_fs = "auto" picks virtio-fs; without it, virtio-9p (slower, still works).
setup_virtiofsd() {
  say "installing virtiofsd for shared_fs = auto (cached)"
  deno run --allow-all runtime/cli/install_virtiofsd.ts >&2 ||
    say "virtiofsd could not be installed: shared_fs = auto falls back to virtio-9p"
}

setup() { setup_apt; setup_npm; setup_virtiofsd; setup_guest; }

# Runs one gate; counts it as a passed or failed check.
GATES_PASSED=0
GATES_FAILED=0
gate() {
  local name=$1; shift
  say "gate: $name"
  if "$@"; then GATES_PASSED=$((GATES_PASSED + 1)); else GATES_FAILED=$((GATES_FAILED + 1)); say "gate failed: $name"; fi
}

# Parses a deno test log: prints "<passed> <failed>" from its summary line ("0 1" when it has none).
summary_of() {
  local line
  line=$({ sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -E '^(ok|FAILED) \| [0-9]+ passed' || true; } | tail -1)
  if [ -z "$line" ]; then echo "0 1"; return; fi
  echo "$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$line") $(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$line")"
}

# Test files with a failing test in a deno test log.
failed_files() {
  { sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -E '^\./[^ ]+_test\.ts => .* \.\.\. FAILED' || true; } |
    sed -E 's/^\.\/([^ ]+_test\.ts) => .*/\1/' | sort -u
}

# Runs `deno test` on the given paths, prints "<passed> <failed>". A test file that fails is run once
# more on its own and its second result is the one counted (VM suites run under TCG on a shared
# 2-core machine); both runs stay in the output.
run_suite() {
  local log p f retry
  log=$(mktemp)
  deno test --allow-all --parallel --no-prompt "$@" 2>&1 | tee "$log" >&2 || true
  read -r p f < <(summary_of "$log")
  retry=$(failed_files "$log" || true)
  if [ -n "$retry" ] && [ "$f" -gt 0 ]; then
    local rlog rp rf fp ff
    rlog=$(mktemp)
    for file in $retry; do
      say "retrying $file alone"
      deno test --allow-all --no-prompt "$file" 2>&1 | tee "$rlog" >&2 || true
      read -r rp rf < <(summary_of "$rlog")
      fp=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -cE "^\./$file => .* \.\.\. ok" || true)
      ff=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -cE "^\./$file => .* \.\.\. FAILED" || true)
      p=$((p - fp + rp)); f=$((f - ff + rf))
    done
    rm -f "$rlog"
  fi
  rm -f "$log"
  echo "$p $f"
}

run_tests() {
  gate "deno fmt --check" deno fmt --check
  gate "deno lint" deno lint
  gate "deno check" deno check main.ts mod.ts $( [ -f agent/main.ts ] && echo agent/main.ts )
  if [ -f runtime/protocol/gen.sh ]; then gate "generated protobuf code is current" bash runtime/protocol/gen.sh --check; fi
  export RUNTIME_E2E=1
  local passed=0 failed=0 p f
  say "deno test: unit, integration, protocol, plugin and style suites"
  read -r p f < <(run_suite runtime plugins agent tests/integration tests/protocol tests/style tests/bench)
  passed=$((passed + p)); failed=$((failed + f))
  say "deno test: end-to-end suites in real microVMs (tests/e2e)"
  read -r p f < <(run_suite tests/e2e)
  passed=$((passed + p)); failed=$((failed + f))
  passed=$((passed + GATES_PASSED)); failed=$((failed + GATES_FAILED))
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# The demo: a real container (busybox) in a real microVM, through `cocoon run`.
demo() {
  deno run --allow-all main.ts check || true
  local rootfs=/var/lib/cocoon/demo/rootfs
  if [ ! -x "$rootfs/bin/busybox" ]; then
    mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $("$rootfs/bin/busybox" --list); do
      [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
    done
  fi
  say "cocoon run --rootfs $rootfs -- sh -c '...'   (boots a microVM, runs the container, exits with its status)"
  deno run --allow-all main.ts run --rootfs "$rootfs" -- /bin/sh -c \
    'echo "Hello from a container in a Cocoon microVM: guest kernel $(uname -r), $(nproc) vCPU, $(free -m | awk "/Mem/{print \$2}") MiB"'
}

case "${1:-}" in
  setup) setup ;;
  test) setup; run_tests ;;
  demo) setup; demo ;;
  bench) setup; deno task bench ;;
  *) sed -n '2,6p' "$0"; exit 2 ;;
esac
