/**
 * The serial console, appended to the sandbox's console log; no display. With the debug console
 * (`vm.debugConsole`, from `[agent] debug_console_enabled`), also a virtio-serial port named
 * `cocoon.debug` on its own controller, whose host side is a unix socket QEMU listens on
 * (`<vm state dir>/debug.sock`): the guest agent runs a shell on it (agent/debug_console.ts) and
 * `cocoon exec-guest` connects to it.
 *
 * @module
 */
import { LISTEN_FD, listenChardev, optValue, type QemuArgsInput, virtioDriver } from "./types.ts";

/** Name of the virtio-serial port of the debug console (guest: /dev/virtio-ports/cocoon.debug). */
export const DEBUG_PORT_NAME = "cocoon.debug";

/** Host socket of the debug console of a VM whose state directory is `stateDir`. Pure. */
export function debugConsoleSocket(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, "")}/debug.sock`;
}

export function consoleArgs(input: QemuArgsInput): string[] {
  const args = [
    "-display",
    "none",
    "-chardev",
    `file,id=console0,path=${optValue(input.paths.consoleLog)},append=on`,
    "-serial",
    "chardev:console0",
  ];
  if (input.vm.debugConsole === true) {
    args.push(
      "-device",
      `${virtioDriver("virtio-serial", input.qemu)},id=vserialdbg`,
      "-chardev",
      listenChardev(input, "debugcon", LISTEN_FD.debug, debugConsoleSocket(input.vm.stateDir)),
      "-device",
      `virtserialport,bus=vserialdbg.0,chardev=debugcon,name=${DEBUG_PORT_NAME}`,
    );
  }
  return args;
}
