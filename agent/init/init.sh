#!/bin/busybox sh
# Cocoon guest /init (busybox sh). Installed as /init in the initrd by runtime/guest.
#
# Stage 1 (PID 1 on the initramfs): mounts, modules, then, when the userland comes from a disk
# image, moves everything to a tmpfs root with switch_root so containers can pivot_root (the
# initramfs root cannot be pivoted away). Stage 2 (or stage 1 in initrd-only mode): userland,
# cgroups, hostname, lo, RNG seed, then `exec busybox init`, which stays PID 1 and reaps every
# orphan; busybox init starts /bin/cocoon-agent-run once, which runs the agent and powers off
# when it exits.
#
# Kernel parameters read here (see docs in runtime/guest/README.md):
#   agent.log=<level>            -> COCOON_AGENT_LOG            (debug|info|warn|error)
#   agent.channel=serial|vsock   -> COCOON_AGENT_CHANNEL
#   agent.debug_console          -> COCOON_AGENT_DEBUG_CONSOLE=1, plus a root shell on the console
#   agent.<key>[=<value>]        -> COCOON_AGENT_<KEY> (any other agent.* key, value 1 if none)
#   cocoon.hostname=<name>       hostname (also accepted: hostname=<name>)
#   cocoon.userland=<dev>        block/pmem device holding the userland image (default: the
#                                virtio disk whose serial is "cocoon-userland", else /dev/vda)
#   cocoon.userland_opts=<opts>  extra mount options for it, comma separated (e.g. dax=always)
#   cocoon.modules=a,b,c         extra modules to load
#   cocoon.seed=<hex>            bytes mixed into the kernel RNG (not credited)
#   cocoon.stop=init|modules|userland   print the marker and power off at that stage (timings)
#   cocoon.respawn               restart the agent when it exits instead of powering off

PATH=/cocoon/bin:/bin:/sbin:/usr/bin:/usr/sbin
export PATH

log() { echo "cocoon-init: $*"; }
uptime_s() { read -r up _ </proc/uptime; echo "$up"; }
mark() { log "stage $1 at $(uptime_s)s"; }
die() {
  log "fatal: $*"
  sleep 1
  poweroff -f
}
stop_at() {
  if [ "$STOP" = "$1" ]; then
    log "stop requested at stage $1"
    poweroff -f
  fi
}

if [ "$COCOON_STAGE" != "2" ]; then
  /bin/busybox --install -s /bin
  mkdir -p /proc /sys /dev /run /tmp
  mount -t proc -o nosuid,nodev,noexec proc /proc
  mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
  mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
fi

# Kernel command line.
STOP=""
HOST="cocoon"
USERLAND=""
USERLAND_OPTS=""
EXTRA_MODULES=""
SEED=""
RESPAWN=0
DEBUG_CONSOLE=0
: >/tmp/agent.env
for arg in $(cat /proc/cmdline); do
  case "$arg" in
  cocoon.stop=*) STOP="${arg#*=}" ;;
  cocoon.hostname=* | hostname=*) HOST="${arg#*=}" ;;
  cocoon.userland=*) USERLAND="${arg#*=}" ;;
  cocoon.userland_opts=*) USERLAND_OPTS="${arg#*=}" ;;
  cocoon.modules=*) EXTRA_MODULES="$(echo "${arg#*=}" | tr ',' ' ')" ;;
  cocoon.seed=*) SEED="${arg#*=}" ;;
  cocoon.respawn) RESPAWN=1 ;;
  agent.*=*)
    key="${arg%%=*}"
    key="$(echo "${key#agent.}" | tr 'a-z.-' 'A-Z__' | tr -cd 'A-Z0-9_')"
    echo "COCOON_AGENT_${key}='$(echo "${arg#*=}" | sed "s/'/'\\\\''/g")'" >>/tmp/agent.env
    [ "$key" = "DEBUG_CONSOLE" ] && DEBUG_CONSOLE=1
    ;;
  agent.*)
    key="$(echo "${arg#agent.}" | tr 'a-z.-' 'A-Z__' | tr -cd 'A-Z0-9_')"
    echo "COCOON_AGENT_${key}=1" >>/tmp/agent.env
    [ "$key" = "DEBUG_CONSOLE" ] && DEBUG_CONSOLE=1
    ;;
  esac
done

if [ "$COCOON_STAGE" != "2" ]; then
  mark init
  stop_at init

  # Modules listed by the builder (dependencies come from modules.dep), then any extra ones.
  # (none with the tuned kernel: everything it needs is built in)
  MODULES=$(cat /etc/cocoon/modules 2>/dev/null)
  if [ -n "$MODULES" ]; then
    # shellcheck disable=SC2086
    modprobe -a $MODULES || log "some modules failed to load"
  fi
  if [ -n "$EXTRA_MODULES" ]; then
    # shellcheck disable=SC2086
    modprobe -a $EXTRA_MODULES || log "some extra modules failed to load: $EXTRA_MODULES"
  fi
  mark modules
  stop_at modules

  if [ "$(cat /etc/cocoon/mode 2>/dev/null)" = "erofs" ]; then
    # Userland on a disk image: move to a tmpfs root first (small: busybox, init, modules).
    mkdir -p /newroot
    mount -t tmpfs -o mode=0755 rootfs /newroot || die "cannot mount tmpfs root"
    cp -a /bin /etc /lib /init /newroot/ || die "cannot copy the init files"
    mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/run /newroot/tmp /newroot/cocoon
    mount --move /proc /newroot/proc
    mount --move /sys /newroot/sys
    mount --move /dev /newroot/dev
    COCOON_STAGE=2
    export COCOON_STAGE
    exec switch_root /newroot /init
  fi
fi

ROOTFS_KIND=initramfs
if [ "$COCOON_STAGE" = "2" ]; then
  ROOTFS_KIND=tmpfs
  if [ -z "$USERLAND" ]; then
    for b in /sys/block/vd*; do
      [ -e "$b/serial" ] || continue
      if [ "$(cat "$b/serial")" = "cocoon-userland" ]; then
        USERLAND="/dev/${b##*/}"
        break
      fi
    done
  fi
  [ -n "$USERLAND" ] || USERLAND=/dev/vda
  # Drivers may probe asynchronously (libnvdimm creates /dev/pmem0 after modprobe returns).
  i=0
  while [ ! -b "$USERLAND" ] && [ "$i" -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
  done
  opts=ro
  [ -n "$USERLAND_OPTS" ] && opts="ro,$USERLAND_OPTS"
  if ! mount -t erofs -o "$opts" "$USERLAND" /cocoon; then
    # a kernel without DAX for erofs still reads the image through its page cache
    [ "$opts" != ro ] && log "cannot mount $USERLAND with $opts: mounting it without them"
    mount -t erofs -o ro "$USERLAND" /cocoon || die "cannot mount the userland image $USERLAND"
  fi
fi
# The dynamic loader and libraries live in the userland; programs expect them at the usual paths.
mkdir -p /lib /usr
[ -e /lib64 ] || ln -s /cocoon/lib64 /lib64
[ -e /lib/x86_64-linux-gnu ] || ln -s /cocoon/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu
[ -e /usr/bin ] || ln -s /bin /usr/bin
[ -e /usr/sbin ] || ln -s /bin /usr/sbin
[ -e /sbin ] || ln -s /bin /sbin
mark userland
stop_at userland

mkdir -p /dev/pts /dev/shm /dev/mqueue /run /tmp /sys/fs/cgroup /root /etc
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=1777 shm /dev/shm
mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue 2>/dev/null
mount -t tmpfs -o nosuid,nodev,mode=0755 run /run
mount -t cgroup2 -o nosuid,nodev,noexec,relatime,nsdelegate cgroup2 /sys/fs/cgroup ||
  log "cannot mount cgroup2"
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
echo 1 >/proc/sys/net/ipv4/ip_forward 2>/dev/null
# The kernel loads what a container asks for (a bridge, veth, nftables...) through modprobe, which
# busybox installed in /bin: the on-demand modules of the image (runtime/guest/modules.ts).
echo /bin/modprobe >/proc/sys/kernel/modprobe 2>/dev/null
# Every mount shared, as systemd leaves a host: a container's "rshared"/"shared" mount propagation
# (and crun's own rootfs propagation steps) expect shared parents.
mount --make-rshared / 2>/dev/null || log "cannot make / rshared"

hostname "$HOST"
echo "$HOST" >/etc/hostname
echo "127.0.0.1 localhost $HOST" >/etc/hosts
[ -e /etc/passwd ] || echo "root:x:0:0:root:/root:/bin/sh" >/etc/passwd
[ -e /etc/group ] || echo "root:x:0:" >/etc/group
ip link set lo up

# Mixed into the pool, not credited: virtio-rng (loaded above) is the entropy source.
[ -n "$SEED" ] && echo "$SEED" >/dev/urandom

mkdir -p /run/cocoon
{
  cat /tmp/agent.env
  echo "COCOON_ROOTFS=$ROOTFS_KIND"
  echo "COCOON_RESPAWN=$RESPAWN"
} >/run/cocoon/agent.env
rm -f /tmp/agent.env

{
  echo "::once:/bin/cocoon-agent-run"
  [ "$DEBUG_CONSOLE" = "1" ] && echo "::respawn:-/bin/sh"
  echo "::ctrlaltdel:/bin/poweroff -f"
} >/etc/inittab
mark agent-exec
exec /bin/init
