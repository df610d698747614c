/**
 * Hands an open file to a running QEMU that cannot open it itself (it runs as a uid of its own):
 * the host opens the file and passes the descriptor over QMP with SCM_RIGHTS (`add-fd`), and QEMU
 * then opens `/dev/fdset/<id>`, which dups it. Deno cannot send SCM_RIGHTS, so a short Perl program
 * (`perl-base`, Essential in Debian) does it over QEMU's second QMP monitor (`fdpass.sock`, the main
 * one is Cocoon's connection). `sendmsg` is system call 46 on x86_64.
 *
 * @module
 */
import { HypervisorError } from "../../../runtime/errors.ts";
import { fdPassSocket } from "./args/misc.ts";
import { netnsPath } from "./launch.ts";
import { TAP_OWNER } from "../../../runtime/sys/seccomp/loader.ts";

const SCRIPT = String.raw`
use strict; use Socket; my ($path, $file, $mode, $opaque) = @ARGV;
socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die "socket: $!\n";
connect($s, pack_sockaddr_un($path)) or die "connect $path: $!\n";
sub reply { while (my $l = <$s>) { return $l if $l =~ /"(return|error)"/ } die "QMP closed\n" }
<$s>; syswrite($s, '{"execute":"qmp_capabilities"}'); reply();
open(my $f, $mode eq "ro" ? "<" : "+<", $file) or die "open $file: $!\n";
$opaque =~ s/["\\]/_/g;
my $cmd = '{"execute":"add-fd","arguments":{"opaque":"' . $opaque . '"}}';
my $iov = pack("P Q", $cmd, length($cmd));
my $cmsg = pack("Q i i i x4", 20, 1, 1, fileno($f));
my $msg = pack("Q L x4 P Q P Q i x4", 0, 0, $iov, 1, $cmsg, 24, 0);
syscall(46, fileno($s), $msg, 0) == length($cmd) or die "sendmsg: $!\n";
my $r = reply(); $r =~ /"fdset-id":\s*(\d+)/ or die "add-fd: $r";
print "$1\n";
`;

/** Opens `path` (read-only or read-write) and adds it to a new fdset of QEMU; returns `/dev/fdset/<id>`. */
export async function passFile(
  stateDir: string,
  path: string,
  readOnly: boolean,
  opaque: string,
): Promise<string> {
  const out = await new Deno.Command("perl", {
    args: ["-e", SCRIPT.trim(), "--", fdPassSocket(stateDir), path, readOnly ? "ro" : "rw", opaque],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const id = new TextDecoder().decode(out.stdout).trim();
  if (!out.success || !/^\d+$/.test(id)) {
    throw new HypervisorError(
      "Internal",
      `Cannot hand "${path}" to the VM in "${stateDir}": ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return `/dev/fdset/${id}`;
}

/** Hands the existing tap `tap` (in `netns`, else this process's) to `uid` (TUNSETOWNER/TUNSETGROUP). */
export async function handTap(tap: string, uid: number, netns?: string): Promise<void> {
  const argv = ["perl", "-e", TAP_OWNER, "--", tap, String(uid)];
  const full = netns !== undefined ? ["nsenter", `--net=${netnsPath(netns)}`, "--", ...argv] : argv;
  const out = await new Deno.Command(full[0] ?? "perl", {
    args: full.slice(1),
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new HypervisorError(
      "Internal",
      `Cannot hand tap "${tap}" to the VM's uid ${uid}: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}
