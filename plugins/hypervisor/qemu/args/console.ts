/**
 * The serial console, appended to the sandbox's console log; no display.
 *
 * @module
 */
import { optValue, type QemuArgsInput } from "./types.ts";

export function consoleArgs(input: QemuArgsInput): string[] {
  return [
    "-display",
    "none",
    "-chardev",
    `file,id=console0,path=${optValue(input.paths.consoleLog)},append=on`,
    "-serial",
    "chardev:console0",
  ];
}
