/**
 * Who holds a sandbox's VM. An OCI-CLI container's holder is found by its `holder.json` (pid and
 * start time must match). Any other holder is the process connected to the VM's QMP socket: `ss
 * -xpn` (sock_diag) gives the peer inode of QEMU's accepted QMP connection and the process that
 * has that peer open; its command line says whether it is `cocoon daemon`, `cocoon sandboxer` or
 * a program using mod.ts.
 *
 * @module
 */
import { holderAlive, readHolderInfo } from "../../holder/info.ts";
import { ociPaths } from "../../holder/paths.ts";
import { containerId } from "../../ids.ts";
import type { SandboxRecord } from "../../sandbox/records.ts";
import type { SandboxOwner } from "./types.ts";

/** One connected unix socket of `ss -xHnp`. */
export interface UnixSocketEntry {
  readonly local: string;
  readonly inode: number;
  readonly peerInode: number;
  readonly pids: readonly number[];
}

/** Parses `ss -xHnp` output (connected unix sockets with their processes). Pure. */
export function parseSsUnix(text: string): UnixSocketEntry[] {
  const out: UnixSocketEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    // netid state recv-q send-q local inode peer peer-inode [users:(...)]
    if (f.length < 8 || !f[0]?.startsWith("u_")) continue;
    const inode = Number(f[5]), peerInode = Number(f[7]);
    if (!Number.isInteger(inode) || !Number.isInteger(peerInode)) continue;
    const users = f.slice(8).join(" ");
    const pids = [...users.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
    out.push({ local: f[4] ?? "*", inode, peerInode, pids: [...new Set(pids)] });
  }
  return out;
}

/** Pids of the processes connected to the listening socket at `path` (its server side excluded). Pure. */
export function peersOf(path: string, entries: readonly UnixSocketEntry[]): number[] {
  const byInode = new Map(entries.map((e) => [e.inode, e]));
  const pids = new Set<number>();
  for (const e of entries) {
    if (e.local !== path) continue;
    for (const p of byInode.get(e.peerInode)?.pids ?? []) pids.add(p);
  }
  return [...pids];
}

/** The role of a process from its argv. Pure. */
export function roleOf(argv: readonly string[]): "daemon" | "sandboxer" | "holder" | "program" {
  for (const a of argv) {
    if (a === "daemon") return "daemon";
    if (a === "sandboxer") return "sandboxer";
    if (a === "__holder") return "holder";
  }
  return "program";
}

async function argvOf(pid: number): Promise<string[]> {
  const raw = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
  return raw.split("\0").filter((a) => a !== "");
}

/** Connected unix sockets now, or null when `ss` cannot run. */
export async function unixSockets(): Promise<UnixSocketEntry[] | null> {
  try {
    const r = await new Deno.Command("ss", { args: ["-xHnp"], stdout: "piped", stderr: "null" }).output();
    return r.success ? parseSsUnix(new TextDecoder().decode(r.stdout)) : null;
  } catch {
    return null;
  }
}

/** The QMP socket path of a record's VM. Pure. */
export function qmpSocketOf(r: SandboxRecord): string | null {
  if (r.vm === null) return null;
  return r.vm.qmpSocket ?? `${r.vm.stateDir.replace(/\/+$/, "")}/qmp.sock`;
}

/**
 * Who holds the sandbox of `r`. `sockets` is one `unixSockets()` snapshot shared by a listing
 * (null: `ss` is missing, and only holders are recognised). `selfPid` is a process whose holding
 * does not count (the API's own, while it acts on the sandbox).
 */
export async function findOwner(
  r: SandboxRecord,
  stateDir: string,
  sockets: readonly UnixSocketEntry[] | null,
  opts: { selfPid?: number } = {},
): Promise<SandboxOwner> {
  if (r.vm === null || (r.status.kind !== "ready" && r.status.kind !== "paused")) return { kind: "stopped" };
  try {
    const info = await readHolderInfo(ociPaths(stateDir, containerId(r.id)).info);
    if (info !== null && await holderAlive(info)) {
      return { kind: "holder", pid: info.pid, socket: info.socket };
    }
  } catch {
    // an id that is not a container id, or a malformed holder.json: not a holder
  }
  const qmp = qmpSocketOf(r);
  if (qmp === null || sockets === null) return { kind: "none" };
  // The VMM itself, and this process (an API that attached the sandbox for an action in progress:
  // its actions are queued per sandbox, so the sandbox counts as ownerless to them).
  const vmPids = new Set([r.vm.pid, opts.selfPid ?? -1]);
  for (const pid of peersOf(qmp, sockets)) {
    if (vmPids.has(pid)) continue;
    const argv = await argvOf(pid);
    const role = roleOf(argv);
    return {
      kind: "process",
      pid,
      role: role === "holder" ? "program" : role,
      command: argv.join(" ").slice(0, 160),
    };
  }
  return { kind: "none" };
}
