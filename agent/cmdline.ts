/**
 * `agent.*` options from the kernel command line (/proc/cmdline), validated.
 *
 * | option | meaning | default |
 * | --- | --- | --- |
 * | `agent.log=debug\|info\|warn\|error` | log level | info |
 * | `agent.channel=serial\|vsock` | where the host reaches the agent | serial |
 * | `agent.port=<name or n>` | virtio-serial port name / vsock port | cocoon.agent / 1024 |
 * | `agent.runtime=crun\|runc` | OCI runtime to drive | crun if present |
 * | `agent.debug_console` | start a shell on the console too | off |
 *
 * @module
 */
import { RuntimeError } from "../runtime/errors.ts";
import type { LogLevel } from "../runtime/log/logger.ts";

export interface AgentOptions {
  readonly logLevel: LogLevel;
  readonly channel: { readonly kind: "serial"; readonly name: string } | {
    readonly kind: "vsock";
    readonly port: number;
  };
  readonly runtime: "crun" | "runc" | "auto";
  readonly debugConsole: boolean;
}

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Parses a kernel command line. Unknown `agent.*` keys are ignored (logged by the caller). Pure. */
export function parseAgentCmdline(cmdline: string): AgentOptions & { readonly unknown: readonly string[] } {
  const kv = new Map<string, string | true>();
  const unknown: string[] = [];
  for (const word of cmdline.trim().split(/\s+/)) {
    if (!word.startsWith("agent.")) continue;
    const eq = word.indexOf("=");
    const key = eq < 0 ? word.slice(6) : word.slice(6, eq);
    kv.set(key, eq < 0 ? true : word.slice(eq + 1));
    if (!["log", "channel", "port", "runtime", "debug_console"].includes(key)) unknown.push(key);
  }
  const str = (k: string): string | undefined => {
    const v = kv.get(k);
    return typeof v === "string" ? v : undefined;
  };
  const log = str("log") ?? "info";
  const logLevel = LEVELS.find((l) => l === log);
  if (!logLevel) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid agent.log "${log}": expected debug, info, warn or error`,
    );
  }
  const ch = str("channel") ?? "serial";
  const port = str("port");
  let channel: AgentOptions["channel"];
  if (ch === "serial") {
    channel = { kind: "serial", name: port ?? "cocoon.agent" };
  } else if (ch === "vsock") {
    const n = Number(port ?? "1024");
    if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) {
      throw new RuntimeError("InvalidArgument", `Invalid agent.port "${port}"`);
    }
    channel = { kind: "vsock", port: n };
  } else {
    throw new RuntimeError("InvalidArgument", `Invalid agent.channel "${ch}": expected serial or vsock`);
  }
  const rt = str("runtime") ?? "auto";
  const runtime = rt === "crun" || rt === "runc" || rt === "auto" ? rt : undefined;
  if (!runtime) {
    throw new RuntimeError("InvalidArgument", `Invalid agent.runtime "${rt}": expected crun or runc`);
  }
  const dc = kv.get("debug_console");
  return { logLevel, channel, runtime, debugConsole: dc === true || dc === "1" || dc === "on", unknown };
}
