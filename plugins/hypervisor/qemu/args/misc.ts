/**
 * Process-level options: defaults off, QMP, pidfile, seccomp, no reboot. QEMU is not asked to
 * `-daemonize`: its fork would be refused by `spawn=deny`; the plugin starts it in a new session instead.
 *
 * @module
 */
import { optValue, type QemuArgsInput, seenByQemu } from "./types.ts";

/** QEMU's seccomp filter, with everything a VM needs no more of denied. */
export const SANDBOX_ARG = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

/** The second QMP monitor's socket, in the state directory (QEMU's cwd). */
export const FD_PASS_SOCKET = "fdpass.sock";

/** An inert QEMU object naming the VM's state directory. Pure. */
export function vmDirMarker(stateDir: string): string {
  return `secret,id=cocoon-vm-dir,data=${optValue(stateDir.replace(/\/+$/, ""))}`;
}

export function miscArgs(input: QemuArgsInput): string[] {
  const args = [
    "-name",
    `cocoon-${input.vm.id},debug-threads=on`,
    "-nodefaults",
    "-no-user-config",
    "-no-reboot",
    "-qmp",
    `unix:${optValue(seenByQemu(input, input.paths.qmpSocket))},server=on,wait=off`,
  ];
  // QEMU resolves the pidfile's real path from / (its uid may not search the directories above its
  // cwd); the plugin's spawn execs QEMU in place, so the child's pid is QEMU's anyway
  if (input.cwd === undefined) args.push("-pidfile", input.paths.pidFile);
  if (input.qemu.seccomp) args.push("-sandbox", SANDBOX_ARG);
  // names the VM's directory in argv (what `attach` checks) when QEMU's own paths are relative
  if (input.cwd !== undefined) {
    // a second monitor, for the host to pass open files on (../fd_pass.ts): QEMU cannot open them
    args.push("-object", vmDirMarker(input.cwd), "-qmp", `unix:${FD_PASS_SOCKET},server=on,wait=off`);
  }
  // a clone waits for `migrate-incoming` (its device state comes from the template, see ../template.ts)
  if (input.vm.memoryTemplate?.kind === "clone") args.push("-incoming", "defer");
  return args;
}
