/**
 * Process-level options: defaults off, QMP, pidfile, seccomp, no reboot. QEMU is not asked to
 * `-daemonize`: its fork would be refused by `spawn=deny`; the plugin starts it in a new session instead.
 *
 * @module
 */
import { optValue, type QemuArgsInput } from "./types.ts";

/** QEMU's seccomp filter, with everything a VM needs no more of denied. */
export const SANDBOX_ARG = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

/** The second QMP monitor's socket (../fd_pass.ts), in the VM's state directory. Pure. */
export function fdPassSocket(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/fdpass.sock`;
}

export function miscArgs(input: QemuArgsInput): string[] {
  const args = [
    "-name",
    `cocoon-${input.vm.id},debug-threads=on`,
    "-nodefaults",
    "-no-user-config",
    "-no-reboot",
    "-qmp",
    `unix:${optValue(input.paths.qmpSocket)},server=on,wait=off`,
    "-pidfile",
    input.paths.pidFile,
  ];
  if (input.qemu.seccomp) args.push("-sandbox", SANDBOX_ARG);
  if (input.ownUid === true) {
    // a second monitor, for the host to pass open files on (../fd_pass.ts): QEMU cannot open them
    args.push("-qmp", `unix:${optValue(fdPassSocket(input.vm.stateDir))},server=on,wait=off`);
  }
  // a clone waits for `migrate-incoming` (its device state comes from the template, see ../template.ts)
  if (input.vm.memoryTemplate?.kind === "clone") args.push("-incoming", "defer");
  return args;
}
