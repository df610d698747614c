/**
 * Cocoon guest agent entry. Started by the guest's /init (PID 1 duties fall to the agent once /init
 * execs it): reads `agent.*` from /proc/cmdline, becomes a child subreaper, and serves the agent
 * API over ttRPC on the virtio-serial port (default) or vsock, logging JSON lines to stderr (the
 * console, captured per sandbox by the host).
 *
 * Run by hand (for a test guest): `deno run --allow-all agent/main.ts`.
 *
 * @module
 */
import { createLogger, setRootLog } from "../runtime/log/logger.ts";
import { TtrpcServer } from "../runtime/protocol/ttrpc/server.ts";
import { serveSerial, serveVsock } from "./channel.ts";
import { parseAgentCmdline } from "./cmdline.ts";
import { serveDebugConsole } from "./debug_console.ts";
import { AGENT_VERSION, createAgentCore } from "./core.ts";
import { setChildSubreaper, setTimeOfDay } from "./sys/libc.ts";
import { detectRuntime, linuxContainerEnv } from "./sys/linux.ts";
import { uptimeSeconds } from "./sys/uptime.ts";
import { registerAgentServices } from "./rpc/services.ts";

const RUN_DIR = "/run/cocoon";

async function main(): Promise<void> {
  const opts = parseAgentCmdline(await Deno.readTextFile("/proc/cmdline").catch(() => ""));
  const log = createLogger({ level: opts.logLevel, fields: { subsystem: "agent" } });
  setRootLog(log);
  log.info("agent starting", {
    version: AGENT_VERSION,
    pid: Deno.pid,
    channel: opts.channel.kind,
    uptime: uptimeSeconds(),
  });
  if (opts.unknown.length > 0) log.warn("unknown agent options", { keys: opts.unknown });
  setChildSubreaper();
  for (const d of ["state", "containers", "runtime"]) {
    await Deno.mkdir(`${RUN_DIR}/${d}`, { recursive: true });
  }
  const detected = detectRuntime(`${RUN_DIR}/runtime`);
  const runtime = opts.runtime === "auto"
    ? detected
    : { ...detected, kind: opts.runtime, argv: [opts.runtime] };
  using env = linuxContainerEnv({
    runtime,
    stateDir: `${RUN_DIR}/state`,
    log: log.child({ subsystem: "container" }),
    // As a subreaper the agent also inherits orphans nobody tracks; every child Deno spawns here
    // goes through the command runner, so sweeping the rest is safe.
    reapOrphans: true,
  });
  using core = createAgentCore({
    env,
    bundleRoot: `${RUN_DIR}/containers`,
    shutdown: () => {
      log.info("agent exiting");
      Deno.exit(0);
    },
    setTime: (d) => {
      const ms = BigInt(d.getTime());
      setTimeOfDay(ms / 1000n, (ms % 1000n) * 1000n);
    },
  });
  const server = new TtrpcServer({ log: log.child({ subsystem: "ttrpc" }) });
  registerAgentServices(server, core);
  log.info("agent ready", { runtime: runtime.kind, runtimePath: runtime.argv[0], uptime: uptimeSeconds() });
  // The shell itself is started by /init (busybox init respawns it on the console).
  if (opts.debugConsole) log.warn("debug console enabled: a root shell runs on the guest console");
  if (opts.debugConsole) {
    void serveDebugConsole({
      log: log.child({ subsystem: "debug-console" }),
      runner: env.runner,
      kill: env.signal,
    });
  }
  if (opts.channel.kind === "vsock") await serveVsock(server, opts.channel.port, { log });
  else await serveSerial(server, opts.channel.name, { log });
}

if (import.meta.main) {
  await main().catch((e) => {
    createLogger().error("agent failed", { error: e });
    Deno.exit(1);
  });
}
