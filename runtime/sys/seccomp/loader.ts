/**
 * The confinement loader: a Perl program (`perl-base` is Essential in Debian) that runs as root
 * between Cocoon and a host helper (QEMU, virtiofsd), sets up what the helper may reach, and execs
 * it in place (the spawned pid stays the helper's). In order:
 *
 * 0. `--listen FD:PATH` (QEMU): binds a listening unix socket at PATH and leaves it on descriptor FD
 *    (libvirt's way): the helper makes no file where the host connects.
 * 1. `--tap NAME` (QEMU): hands the existing tap NAME to the helper's uid (`TUNSETIFF` to attach,
 *    `TUNSETOWNER`/`TUNSETGROUP`, close), so the helper opens it by name without CAP_NET_ADMIN. It
 *    runs in the pod's network namespace (nsenter comes first).
 * 2. `--rw PATH` (one or more): a new mount namespace (its mounts slaves of the host's, so host
 *    unmounts still reach it) whose root is a tmpfs on `--root DIR`, pivoted into, holding only the
 *    `--share` trees (recursively), the `--see` paths (not already inside one) and the `--rw` paths,
 *    each bound at its host path, like the Firecracker jailer's chroot. Then every mount is made read-only and nosuid
 *    (`mount_setattr`, recursive) except the `--rw` paths and the mounts below a `--share` that were
 *    read-write (the virtio-9p export's writable binds; binds the host adds later arrive with the
 *    host's flags).
 * 3. `--cwd DIR`: the helper's working directory (QEMU names its own files relative to it, so no
 *    directory above it has to be searchable by the helper's uid).
 * 4. `--user UID:GID[:GROUPS]`: every capability not in `--caps` leaves the bounding set, then
 *    setgroups/setresgid/setresuid; the `--caps` ones (virtio-9p needs CAP_CHOWN, CAP_DAC_OVERRIDE
 *    and CAP_FOWNER to serve root-owned files) stay as ambient capabilities.
 * 5. Always: `PR_SET_NO_NEW_PRIVS` and the seccomp filter read from the first argument.
 *
 * System call numbers are x86_64's (the filter is x86_64-only too).
 *
 * @module
 */

/** What the loader sets up besides the seccomp filter. Absent parts are skipped. */
export interface Jail {
  /** Run as this uid/gid (no supplementary groups but `groups`). */
  readonly user?: { readonly uid: number; readonly gid: number; readonly groups: readonly number[] };
  /** Capability numbers kept as ambient capabilities (needs `user`). */
  readonly caps?: readonly number[];
  /**
   * Paths that stay writable in the helper's mount namespace; none = no namespace. With them the
   * helper gets a new root (a tmpfs on `root`, pivoted into) holding only these, `visible` (read-only)
   * and `shares`, each at its host path.
   */
  readonly writable?: readonly string[];
  /** An empty directory the new root is mounted on (in the helper's namespace only). */
  readonly root?: string;
  /** Host paths the helper sees read-only (missing ones are skipped; links are copied). */
  readonly visible?: readonly string[];
  /** Prefixes below which read-write mounts stay read-write. */
  readonly shares?: readonly string[];
  /** Working directory of the helper. */
  readonly cwd?: string;
  /** Existing taps (in the helper's netns) handed to `user`. */
  readonly taps?: readonly string[];
  /** Unix sockets bound and listening (as root, at host paths) on these descriptors of the helper. */
  readonly listen?: readonly { readonly fd: number; readonly path: string }[];
}

/** What every jailed helper sees of the host: programs, libraries, /proc, /sys and a few devices. */
export const JAIL_SYSTEM: readonly string[] = [
  "/usr",
  "/bin",
  "/sbin",
  "/lib",
  "/lib32",
  "/lib64",
  "/libx32",
  "/etc/ld.so.cache",
  "/etc/localtime",
  "/proc",
  "/sys",
  "/dev/null",
  "/dev/zero",
  "/dev/full",
  "/dev/random",
  "/dev/urandom",
  "/dev/kvm",
  "/dev/net/tun",
  "/dev/vhost-net",
  "/dev/vhost-vsock",
];

/** CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER. */
export const NINE_P_CAPS: readonly number[] = [0, 1, 3];

const SCRIPT = String.raw`
use strict; use Socket; my $file = shift @ARGV; my (%o, @rw, @share, @tap, @see, @listen);
while (@ARGV && $ARGV[0] ne "--") {
  my $k = shift @ARGV; my $v = shift @ARGV; defined $v or die "cocoon confine: $k needs a value\n";
  if ($k eq "--rw") { push @rw, $v } elsif ($k eq "--share") { push @share, $v } elsif ($k eq "--see") { push @see, $v }
  elsif ($k eq "--listen") { push @listen, $v }
  elsif ($k eq "--tap") { push @tap, $v } else { $o{$k} = $v }
}
shift @ARGV; @ARGV or die "cocoon confine: no program\n";
open(my $f, "<:raw", $file) or die "cocoon confine: cannot read $file: $!\n";
my $bpf = do { local $/; <$f> }; close $f;
my ($uid, $gid, @groups);
if (defined $o{"--user"}) { my ($u, $g, $gs) = split /:/, $o{"--user"}; $uid = 0 + $u; $gid = 0 + $g;
  @groups = map { 0 + $_ } grep { length } split /,/, ($gs // ""); }
for my $l (@listen) { my ($n, $p) = split /:/, $l, 2; unlink $p;
  socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die "cocoon confine: socket: $!\n";
  bind($s, pack_sockaddr_un($p)) or die "cocoon confine: bind $p: $!\n"; listen($s, 16) or die "cocoon confine: listen $p: $!\n";
  syscall(33, fileno($s), 0 + $n) == $n or die "cocoon confine: dup2 to $n: $!\n" }
for my $t (@tap) {
  open(my $tun, "+<", "/dev/net/tun") or die "cocoon confine: /dev/net/tun: $!\n";
  ioctl($tun, 0x400454ca, pack("Z16 s x22", $t, 0x1002)) or die "cocoon confine: attach tap $t: $!\n";
  ioctl($tun, 0x400454cc, 0 + $uid) or die "cocoon confine: tap $t owner: $!\n";
  ioctl($tun, 0x400454ce, 0 + $gid) or die "cocoon confine: tap $t group: $!\n"; close $tun;
}
if (@rw) {
  my $nr = $o{"--root"}; defined $nr or die "cocoon confine: --rw needs --root\n";
  syscall(272, 0x20000) == 0 or die "cocoon confine: unshare(CLONE_NEWNS): $!\n";
  my ($none, $root, $tmpfs, $mode, $dot) = ("none", "/", "tmpfs", "mode=0755", "."); # syscall(2) wants writable scalars
  syscall(165, $none, $root, 0, 0x84000, 0) == 0 or die "cocoon confine: make / rslave: $!\n";
  -d $nr or mkdir $nr, 0700 or die "cocoon confine: mkdir $nr: $!\n";
  syscall(165, $tmpfs, $nr, $tmpfs, 0x6, $mode) == 0 or die "cocoon confine: tmpfs on $nr: $!\n";
  my $place = sub { my ($p, $flags) = @_; my $t = "$nr$p"; my @c = split m{/}, $p; my $d = $nr;
    for my $x (@c[1 .. $#c - 1]) { $d .= "/$x"; mkdir $d, 0755 unless -e $d }
    if (-l $p) { symlink(readlink($p), $t) or die "cocoon confine: link $p: $!\n" unless -l $t; return }
    return unless -e $p;
    if (!-e $t) { if (-d $p) { mkdir $t, 0755 or die "cocoon confine: mkdir $t: $!\n" }
      else { open(my $h, ">", $t) or die "cocoon confine: $t: $!\n"; close $h } }
    elsif (!$flags) { return }
    my $s = $p; syscall(165, $s, $t, 0, 0x1000 | ($flags & 0x4000), 0) == 0 or die "cocoon confine: bind $p: $!\n" };
  $place->($_, 0x4001) for @share;
  $place->($_, 0) for sort { length($a) <=> length($b) } @see;
  $place->($_, 1) for @rw;
  chdir $nr or die "cocoon confine: cd $nr: $!\n";
  syscall(155, $dot, $dot) == 0 or die "cocoon confine: pivot_root: $!\n";
  syscall(166, $dot, 2) == 0 or die "cocoon confine: detach the host's tree: $!\n";
  chdir "/" or die "cocoon confine: cd /: $!\n";
  my @keep; open(my $mi, "<", "/proc/self/mountinfo") or die "cocoon confine: mountinfo: $!\n";
  while (my $l = <$mi>) { my @x = split / /, $l; my $mp = $x[4]; $mp =~ s/\\([0-7]{3})/chr(oct($1))/ge;
    next unless (",$x[5],") =~ /,rw,/;
    for my $s (@share) { push @keep, $mp if $mp eq $s || index($mp, "$s/") == 0 } }
  close $mi;
  my $ro = pack("QQQQ", 3, 0, 0, 0); my $rw = pack("QQQQ", 0, 1, 0, 0);
  syscall(442, -100, $root, 0x8000, $ro, 32) == 0 or die "cocoon confine: read-only mounts: $!\n";
  for my $p (@rw) { syscall(442, -100, $p, 0, $rw, 32) == 0 or die "cocoon confine: writable $p: $!\n" }
  for my $p (@keep) { syscall(442, -100, $p, 0, $rw, 32) == 0 or $!{EINVAL}
    or die "cocoon confine: writable $p: $!\n" } # EINVAL: a bind covered by a later one
}
if (defined $o{"--cwd"}) { chdir $o{"--cwd"} or die "cocoon confine: cd $o{'--cwd'}: $!\n" }
if (defined $uid) {
  my @caps = map { 0 + $_ } grep { length } split /,/, ($o{"--caps"} // ""); my %k = map { $_ => 1 } @caps;
  for my $c (0 .. 63) { syscall(157, 24, $c, 0, 0, 0) unless $k{$c} }
  if (@caps) { syscall(157, 8, 1, 0, 0, 0) == 0 or die "cocoon confine: keepcaps: $!\n" }
  my $gl = pack("L*", @groups) . "\0\0\0\0";
  syscall(116, scalar(@groups), $gl) == 0 or die "cocoon confine: setgroups: $!\n";
  syscall(119, $gid, $gid, $gid) == 0 or die "cocoon confine: setresgid($gid): $!\n";
  syscall(117, $uid, $uid, $uid) == 0 or die "cocoon confine: setresuid($uid): $!\n";
  if (@caps) { my $m = 0; $m |= 1 << $_ for @caps;
    my ($h, $d) = (pack("LL", 0x20080522, 0), pack("L6", $m, $m, $m, 0, 0, 0));
    syscall(126, $h, $d) == 0 or die "cocoon confine: capset: $!\n";
    for my $c (@caps) { syscall(157, 47, 2, $c, 0, 0) == 0 or die "cocoon confine: ambient cap $c: $!\n" } }
}
syscall(157, 38, 1, 0, 0, 0) == 0 or die "cocoon confine: prctl(PR_SET_NO_NEW_PRIVS): $!\n";
my $prog = pack("S x6 P", length($bpf) / 8, $bpf);
syscall(317, 1, 0, $prog) == 0 or die "cocoon confine: seccomp(SECCOMP_SET_MODE_FILTER): $!\n";
exec { $ARGV[0] } @ARGV or die "cocoon confine: cannot run $ARGV[0]: $!\n";
`;

/** Hands tap `$ARGV[0]` of this netns to uid and gid `$ARGV[1]` (as the loader's `--tap` does). */
export const TAP_OWNER = [
  'open(my $t, "+<", "/dev/net/tun") or die "/dev/net/tun: $!\\n";',
  'ioctl($t, 0x400454ca, pack("Z16 s x22", $ARGV[0], 0x1002)) or die "attach: $!\\n";',
  'ioctl($t, 0x400454cc, 0 + $ARGV[1]) or die "owner: $!\\n"; ioctl($t, 0x400454ce, 0 + $ARGV[1]) or die "group: $!\\n";',
].join(" ");

/** The loader program (passed with `perl -e`). */
export const LOADER: string = SCRIPT.trim();

/** The loader's options for `jail`, in the order it reads them. Pure. */
export function jailOptions(jail: Jail | undefined): string[] {
  if (jail === undefined) return [];
  const out: string[] = [];
  if (jail.user !== undefined) {
    const { uid, gid, groups } = jail.user;
    for (const n of [uid, gid, ...groups]) {
      if (!Number.isSafeInteger(n) || n < 0 || n > 0xfffffffe) throw new RangeError(`invalid id ${n}`);
    }
    out.push("--user", `${uid}:${gid}:${groups.join(",")}`);
    if ((jail.caps ?? []).length > 0) out.push("--caps", (jail.caps ?? []).join(","));
  }
  for (const l of jail.listen ?? []) {
    if (!Number.isInteger(l.fd) || l.fd < 3 || l.fd > 1000) {
      throw new RangeError(`invalid descriptor ${l.fd}`);
    }
    out.push("--listen", `${l.fd}:${l.path}`);
  }
  for (const t of jail.taps ?? []) {
    if (jail.user === undefined) throw new RangeError("taps are handed to a user: set jail.user");
    out.push("--tap", t);
  }
  if ((jail.writable ?? []).length > 0 && jail.root === undefined) {
    throw new RangeError("a jail with writable paths needs a root");
  }
  if (jail.root !== undefined) out.push("--root", jail.root);
  for (const p of jail.visible ?? []) out.push("--see", p);
  for (const p of jail.writable ?? []) out.push("--rw", p);
  for (const p of jail.shares ?? []) out.push("--share", p);
  if (jail.cwd !== undefined) out.push("--cwd", jail.cwd);
  return out;
}
