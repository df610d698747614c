/**
 * Process-level options: defaults off, QMP, pidfile, seccomp, no reboot. QEMU is not asked to
 * `-daemonize`: its fork would be refused by `spawn=deny`; the plugin starts it in a new session instead.
 *
 * @module
 */
import { LISTEN_FD, listenChardev, optValue, type QemuArgsInput } from "./types.ts";
import { debugConsoleSocket } from "./console.ts";

/** QEMU's seccomp filter, with everything a VM needs no more of denied. */
const SANDBOX_ARG = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny";

/** The second QMP monitor's socket (../fd_pass.ts), in the VM's state directory. Pure. */
export function fdPassSocket(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/fdpass.sock`;
}

/** An inert QEMU object naming the VM's state directory in its argv (what `attach` checks). Pure. */
export function vmDirMarker(stateDir: string): string {
  return `secret,id=cocoon-vm-dir,data=${optValue(stateDir.replace(/\/+$/, ""))}`;
}

/** The sockets the launcher binds for a QEMU that runs as a uid of its own, with their descriptors. */
export function listenSockets(input: QemuArgsInput): { fd: number; path: string }[] {
  const out: { fd: number; path: string }[] = [
    { fd: LISTEN_FD.qmp, path: input.paths.qmpSocket },
    { fd: LISTEN_FD.fdPass, path: fdPassSocket(input.vm.stateDir) },
  ];
  if (input.vm.agentChannel !== "vsock") out.push({ fd: LISTEN_FD.agent, path: input.paths.agentSocket });
  if (input.vm.debugConsole === true) {
    out.push({ fd: LISTEN_FD.debug, path: debugConsoleSocket(input.vm.stateDir) });
  }
  return out;
}

export function miscArgs(input: QemuArgsInput): string[] {
  const args = [
    "-name",
    `cocoon-${input.vm.id},debug-threads=on`,
    "-nodefaults",
    "-no-user-config",
    "-no-reboot",
  ];
  if (input.ownUid === true) {
    // its sockets are bound by the launcher (it may make no file in its state directory); a second
    // monitor is for the host to pass open files on (../fd_pass.ts), which QEMU cannot open itself;
    // no pidfile (the spawned pid is QEMU's)
    args.push(
      "-chardev",
      listenChardev(input, "qmp0", LISTEN_FD.qmp, input.paths.qmpSocket),
      "-mon",
      "chardev=qmp0,mode=control",
      "-chardev",
      listenChardev(input, "qmp1", LISTEN_FD.fdPass, fdPassSocket(input.vm.stateDir)),
      "-mon",
      "chardev=qmp1,mode=control",
      "-object",
      vmDirMarker(input.vm.stateDir),
    );
  } else {
    args.push(
      "-qmp",
      `unix:${optValue(input.paths.qmpSocket)},server=on,wait=off`,
      "-pidfile",
      input.paths.pidFile,
    );
  }
  if (input.qemu.seccomp) args.push("-sandbox", SANDBOX_ARG);
  // a clone waits for `migrate-incoming` (its device state comes from the template, see ../template.ts)
  if (input.vm.memoryTemplate?.kind === "clone") args.push("-incoming", "defer");
  return args;
}
