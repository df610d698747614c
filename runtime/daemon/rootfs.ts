/**
 * Rootfs mounts: containerd hands the snapshotter's mounts (overlay, bind) with no target; the
 * shim mounts them onto `<bundle>/rootfs` in order and undoes that on Delete and in `delete`.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { canonicalPath } from "../sys/canonical_path.ts";
import { mountsUnder } from "../sys/host_mount.ts";

export interface RootfsMount {
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

/** The `mount(8)` argv for one mount onto `target`. Pure. */
export function mountArgv(m: RootfsMount, target: string): string[] {
  const opts = [...m.options];
  const isBind = m.type === "bind" || opts.includes("bind") || opts.includes("rbind");
  if (isBind && !opts.includes("bind") && !opts.includes("rbind")) opts.unshift("rbind");
  const args: string[] = [];
  if (!isBind && m.type !== "") args.push("-t", m.type);
  if (opts.length > 0) args.push("-o", opts.join(","));
  args.push(m.source === "" ? m.type : m.source, target);
  return args;
}

async function run(cmd: string, args: readonly string[]): Promise<{ ok: boolean; err: string }> {
  const out = await new Deno.Command(cmd, { args: [...args], stdin: "null", stdout: "null", stderr: "piped" })
    .output();
  return { ok: out.success, err: new TextDecoder().decode(out.stderr).trim() };
}

/** Mounts every mount onto `target`; on failure undoes the ones done. */
export async function mountRootfs(mounts: readonly RootfsMount[], target: string): Promise<void> {
  await Deno.mkdir(target, { recursive: true });
  for (const [i, m] of mounts.entries()) {
    const r = await run("mount", mountArgv(m, target));
    if (!r.ok) {
      if (i > 0) await unmountRootfs(target);
      throw new RuntimeError(
        "Internal",
        `Cannot mount the rootfs of "${target}": mount ${m.type} "${m.source}" failed: ${
          r.err.slice(0, 300)
        }`,
      );
    }
  }
}

/** True when something is mounted at `path` (compared canonically, as the mount table is). */
export async function isMountPoint(path: string): Promise<boolean> {
  const real = await canonicalPath(path);
  return (await mountsUnder(real)).includes(real);
}

/**
 * Unmounts everything at and under `target` (idempotent).
 *
 * @throws {RuntimeError} `FailedPrecondition` when something stays mounted there.
 */
export async function unmountRootfs(target: string): Promise<void> {
  for (let i = 0; i < 8 && await isMountPoint(target); i++) {
    const r = await run("umount", ["-R", target]);
    if (!r.ok) await run("umount", ["-l", target]);
  }
  if (await isMountPoint(target)) {
    throw new RuntimeError(
      "FailedPrecondition",
      `Cannot unmount the rootfs at "${target}": it stays mounted`,
    );
  }
}
