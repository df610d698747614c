/**
 * Processes a sandbox left that no record names any more: a QEMU (started as
 * `-name cocoon-<id>`) or a virtiofsd whose command line points into the sandbox's directory. A
 * create or delete that failed midway, or a record lost to a crash, must not leave a VM running
 * that nothing can find: `delete --force` sweeps them.
 *
 * @module
 */

export interface HostProcess {
  readonly pid: number;
  readonly argv: readonly string[];
}

/** Every process's argv from /proc (kernel threads and vanished processes skipped). */
export async function listProcesses(): Promise<HostProcess[]> {
  const out: HostProcess[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const raw = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
      if (raw === "") continue;
      out.push({ pid: Number(e.name), argv: raw.replace(/\0$/, "").split("\0") });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * True when `p` is a VMM or file server of the sandbox `id` whose directory is `sandboxDir`
 * (canonical): a QEMU named `cocoon-<id>` with a socket in that directory, or a virtiofsd serving
 * from it. Both conditions for QEMU, so that a VM of the same id under another state root is left
 * alone. Pure.
 */
export function isStrayOf(p: HostProcess, id: string, sandboxDir: string): boolean {
  const inDir = p.argv.some((a) => a.includes(`${sandboxDir}/`));
  if (!inDir) return false;
  const named = p.argv.some((a, i) =>
    a === "-name" && (p.argv[i + 1] ?? "").split(",")[0] === `cocoon-${id}`
  );
  const virtiofsd = p.argv.some((a) => a.endsWith("/virtiofsd") || a === "virtiofsd");
  return named || virtiofsd;
}

/**
 * True when `p` is an OCI holder of container `id` under the state root `stateDir` that has not
 * recorded itself yet (still creating): `cocoon --root <stateDir> ... __holder ... <id>`. Pure.
 */
export function isHolderOf(p: HostProcess, id: string, stateDir: string): boolean {
  return p.argv.includes("__holder") && p.argv[p.argv.length - 1] === id &&
    p.argv.some((a, i) => a === "--root" && p.argv[i + 1] === stateDir);
}

/**
 * SIGKILLs the stray processes of a sandbox (and, given the state root, a holder of that id still
 * creating it); returns their pids.
 */
export async function killStrays(id: string, sandboxDir: string, stateDir?: string): Promise<number[]> {
  const killed: number[] = [];
  for (const p of await listProcesses()) {
    const holder = stateDir !== undefined && isHolderOf(p, id, stateDir);
    if (p.pid === Deno.pid || !(holder || isStrayOf(p, id, sandboxDir))) continue;
    try {
      Deno.kill(p.pid, "SIGKILL");
      killed.push(p.pid);
    } catch {
      // already gone
    }
  }
  return killed;
}
