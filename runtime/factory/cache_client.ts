/**
 * Taking a VM from the VM cache (see cache_server.ts): one HTTP request over the cache's unix
 * socket, then the VM's directory is moved into place as the sandbox directory and its state
 * rewritten for the new paths (QEMU keeps its open files, listening sockets and 9p export across
 * the rename; its argv still names the old QMP socket, recorded as `launchedQmpSocket`).
 *
 * @module
 */
import type { VmState } from "../../plugins/types.ts";
import type { ResolvedConfig } from "../config/schema.ts";
import { RuntimeError } from "../errors.ts";
import type { CachedVm, CacheStatus } from "./cache_server.ts";

/** One HTTP/1.1 request over a unix socket; returns status and body text. */
export async function unixRequest(
  path: string,
  method: "GET" | "POST",
  target: string,
  body?: unknown,
  opts: { timeoutMs?: number } = {},
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ transport: "unix", path });
  const timer = setTimeout(() => conn.close(), opts.timeoutMs ?? 10_000);
  try {
    const payload = body === undefined ? "" : JSON.stringify(body);
    const head = `${method} ${target} HTTP/1.1\r\nHost: cocoon-cache\r\nConnection: close\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${new TextEncoder().encode(payload).length}\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head + payload));
    const raw = new Uint8Array(await new Response(conn.readable).arrayBuffer());
    const text = new TextDecoder().decode(raw);
    const split = text.indexOf("\r\n\r\n");
    if (split < 0) throw new RuntimeError("Unavailable", `Cannot read the answer of "${path}"`);
    const headers = text.slice(0, split).toLowerCase();
    const status = Number(/^http\/1\.1 (\d{3})/.exec(headers)?.[1] ?? 0);
    let rest = text.slice(split + 4);
    if (headers.includes("transfer-encoding: chunked")) rest = dechunk(rest);
    return { status, body: rest };
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer or the peer
    }
  }
}

function dechunk(s: string): string {
  let out = "";
  let i = 0;
  while (i < s.length) {
    const eol = s.indexOf("\r\n", i);
    if (eol < 0) break;
    const n = parseInt(s.slice(i, eol), 16);
    if (!Number.isFinite(n) || n === 0) break;
    out += s.slice(eol + 2, eol + 2 + n);
    i = eol + 2 + n + 2;
  }
  return out;
}

function isCachedVm(v: unknown): v is CachedVm {
  if (typeof v !== "object" || v === null) return false;
  if (!("dir" in v) || typeof v.dir !== "string" || !("key" in v) || typeof v.key !== "string") return false;
  if (!("state" in v) || typeof v.state !== "object" || v.state === null) return false;
  const s = v.state;
  return "pid" in s && typeof s.pid === "number" && "stateDir" in s && typeof s.stateDir === "string" &&
    "agent" in s && typeof s.agent === "object" && s.agent !== null && "id" in s &&
    typeof s.id === "string" &&
    "hypervisor" in s && typeof s.hypervisor === "string";
}

/** A VM from the cache, or undefined when it is not running or has none ready. */
export async function takeCachedVm(cfg: ResolvedConfig): Promise<CachedVm | undefined> {
  let r: { status: number; body: string };
  try {
    r = await unixRequest(cfg.factory.vmCacheEndpoint, "POST", "/take", { key: "*" });
  } catch {
    return undefined; // no cache running
  }
  if (r.status !== 200) return undefined;
  const v: unknown = JSON.parse(r.body);
  if (!isCachedVm(v)) {
    throw new RuntimeError("Internal", "Cannot use the cached VM: the cache sent a malformed one");
  }
  return v;
}

/** The cache's status, or undefined when it is not running. */
export async function cacheStatus(cfg: ResolvedConfig): Promise<CacheStatus | undefined> {
  try {
    const r = await unixRequest(cfg.factory.vmCacheEndpoint, "GET", "/status");
    const v: unknown = JSON.parse(r.body);
    if (typeof v !== "object" || v === null || !("ready" in v) || typeof v.ready !== "number") {
      return undefined;
    }
    const o: Record<string, unknown> = { ...v };
    const n = (k: string) => (typeof o[k] === "number" ? Number(o[k]) : 0);
    return {
      wanted: n("wanted"),
      ready: n("ready"),
      filling: n("filling"),
      failures: n("failures"),
      origin: "origin" in v && typeof v.origin === "string" ? v.origin : "unknown",
    };
  } catch {
    return undefined;
  }
}

/** Asks the cache to stop (its unused VMs with it); false when none was running. */
export async function stopCache(cfg: ResolvedConfig): Promise<boolean> {
  try {
    // answered once the cache has stopped its unused VMs (a VM being booted is waited for)
    await unixRequest(cfg.factory.vmCacheEndpoint, "POST", "/shutdown", {}, { timeoutMs: 180_000 });
  } catch {
    return false;
  }
  // the cache stops its unused VMs, then removes its socket
  for (let i = 0; i < 600; i++) {
    if (!(await Deno.stat(cfg.factory.vmCacheEndpoint).then(() => true, () => false))) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** The state of a cached VM after its directory moved from `vm.dir` to `dir`. Pure. */
export function movedState(vm: CachedVm, dir: string): VmState {
  const from = vm.dir.replace(/\/+$/, "");
  const to = dir.replace(/\/+$/, "");
  const move = (p: string) => (p === from || p.startsWith(`${from}/`) ? to + p.slice(from.length) : p);
  const s = vm.state;
  const extra: Record<string, unknown> = { ...(s.extra ?? {}) };
  const consoleLog = extra["consoleLog"];
  if (typeof consoleLog === "string") extra["consoleLog"] = move(consoleLog);
  if (s.qmpSocket !== undefined) extra["launchedQmpSocket"] = s.qmpSocket;
  return {
    ...s,
    stateDir: move(s.stateDir),
    ...(s.qmpSocket !== undefined ? { qmpSocket: move(s.qmpSocket) } : {}),
    agent: s.agent.kind === "unix" ? { kind: "unix", path: move(s.agent.path) } : s.agent,
    extra,
  };
}
