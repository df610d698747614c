/**
 * The host side of a sandbox's shared filesystem, laid out so that the guest cannot steer a host
 * mount (the class of Kata's CVE-2020-2026):
 *
 * - `<dir>/mounts`: the host-only tree. The host creates directories and bind-mounts sources here,
 *   and only here. It is a mount of its own, made a shared peer group so its submounts propagate.
 * - `<dir>/shared`: what QEMU (virtio-9p) or virtiofsd export to the guest: a read-only,
 *   nosuid, nodev bind of `mounts` that is its slave. The guest sees the tree read-only and the
 *   bind mounts in it with their own flags (writable volumes stay writable, `ro` ones are
 *   read-only on the host too).
 *
 * Guest root can write inside a writable bind (a rootfs, a volume), never in the tree around them,
 * so it cannot plant a symbolic link or swap a directory where the host will mount next. The host
 * still walks every path below `mounts` component by component and refuses a symbolic link or a
 * crossing into another mount (a bind the guest can write) before it creates or mounts anything.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { type HostRunner, mountsUnder, must, unbind, unmountAll } from "./host_mount.ts";
import { removeTree } from "./safe_remove.ts";
import { canonicalPath } from "./canonical_path.ts";

/** A sandbox's share: where the host mounts, what is exported, where binds are made ready. */
export interface ShareTree {
  readonly hostDir: string;
  readonly exportDir: string;
  /** A private mount where a bind gets its flags before it is moved into `hostDir`. */
  readonly stageDir: string;
}

/** The paths of the share tree of a sandbox directory. Pure. */
function shareTreeOf(dir: string): ShareTree {
  return { hostDir: `${dir}/mounts`, exportDir: `${dir}/shared`, stageDir: `${dir}/stage` };
}

/**
 * Creates the tree (see the module doc). 0711 on both: in the guest the export is the share's
 * root, and a container in a user namespace must be able to pass through it to its rootfs.
 */
export async function createShareTree(r: HostRunner, dir: string): Promise<ShareTree> {
  const t = shareTreeOf(dir);
  const what = `Cannot prepare the shared directory of "${dir}"`;
  // A directory that already has its tree (a VM cache's VM, prepared ahead and moved here) keeps it.
  const mounted: string[] = await mountsUnder(dir, r).catch(() => []);
  const real = await Promise.all([t.hostDir, t.exportDir, t.stageDir].map((p) => canonicalPath(p)));
  if (real.every((p) => mounted.includes(p))) return t;
  for (const d of [t.hostDir, t.exportDir]) {
    await Deno.mkdir(d, { recursive: true, mode: 0o711 });
    await Deno.chmod(d, 0o711);
  }
  await Deno.mkdir(t.stageDir, { recursive: true, mode: 0o700 });
  try {
    await must(r, what, "mount", ["--bind", t.stageDir, t.stageDir]);
    await must(r, what, "mount", ["--make-private", t.stageDir]);
    await must(r, what, "mount", ["--bind", t.hostDir, t.hostDir]);
    await must(r, what, "mount", ["--make-private", t.hostDir]);
    await must(r, what, "mount", ["--make-shared", t.hostDir]);
    await must(r, what, "mount", ["--bind", t.hostDir, t.exportDir]);
    await must(r, what, "mount", ["--make-slave", t.exportDir]);
    await must(r, what, "mount", ["-o", "remount,bind,ro,nosuid,nodev", t.exportDir]);
  } catch (e) {
    await removeShareTree(r, t).catch(() => {});
    throw e;
  }
  return t;
}

/** Unmounts everything in the tree (host binds first, then the view and the tree) and removes it. */
export async function removeShareTree(r: HostRunner, t: ShareTree): Promise<void> {
  for (const d of [t.hostDir, t.exportDir, t.stageDir]) {
    await unmountAll(r, d, `Cannot remove shared directory "${d}"`);
  }
  for (const d of [t.hostDir, t.exportDir, t.stageDir]) {
    if ((await mountsUnder(d, r)).length > 0) {
      throw new RuntimeError("Internal", `Cannot remove shared directory "${d}": mounts remain below it`);
    }
    await removeTree(d, r);
  }
}

/**
 * Creates the parent directories of `rel` below `root` one at a time, refusing a symbolic link or
 * a mount point (a bind the guest may write in) on the way. The mount table is read once: with no
 * link on the way, each component's canonical path is the canonical root's plus the components.
 */
async function safeParents(r: HostRunner, root: string, rel: string): Promise<void> {
  const mounts = new Set(await mountsUnder(root, r));
  let dir = root;
  let real = await canonicalPath(root);
  for (const p of rel.split("/").slice(0, -1)) {
    dir = `${dir}/${p}`;
    real = `${real}/${p}`;
    let st: Deno.FileInfo | undefined;
    try {
      st = await Deno.lstat(dir);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    if (st === undefined) {
      await Deno.mkdir(dir, { mode: 0o711 });
      await Deno.chmod(dir, 0o711);
      continue;
    }
    if (st.isSymlink || !st.isDirectory || mounts.has(real)) {
      throw new RuntimeError(
        "PermissionDenied",
        `Cannot mount at "${root}/${rel}": "${dir}" is ${
          st.isSymlink ? "a symbolic link" : st.isDirectory ? "a mount point" : "not a directory"
        } (refused: the host only mounts through directories it made)`,
      );
    }
  }
}

/**
 * Bind-mounts `source` (a directory or a file, with its submounts) at `<hostDir>/<rel>`, creating
 * the mount point. The bind is made in the private stage first and gets its flags there (private,
 * nosuid, nodev, and read-only when `readonly`), then it is moved into the tree: the copies that
 * propagate to the export (and to QEMU's and virtiofsd's namespaces) carry those flags from the
 * first moment, with no window in which the guest sees it writable.
 */
export async function bindBeneath(
  r: HostRunner,
  tree: ShareTree,
  opts: { rel: string; source: string; readonly: boolean },
): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(opts.source);
  } catch (e) {
    throw new RuntimeError("NotFound", `Cannot share "${opts.source}": it does not exist`, { cause: e });
  }
  if (opts.rel === "" || opts.rel.split("/").some((s) => s === "" || s === "." || s === "..")) {
    throw new RuntimeError(
      "InvalidArgument",
      `Cannot share to "${opts.rel}": expected a clean relative path`,
    );
  }
  await safeParents(r, tree.hostDir, opts.rel);
  const target = `${tree.hostDir}/${opts.rel}`;
  const stage = `${tree.stageDir}/${crypto.randomUUID()}`;
  if (await Deno.lstat(target).then(() => true, () => false)) {
    throw new RuntimeError("AlreadyExists", `Cannot share "${opts.source}": "${target}" already exists`);
  }
  for (const p of [target, stage]) {
    if (info.isDirectory) await Deno.mkdir(p, { mode: 0o711 });
    else await (await Deno.open(p, { createNew: true, write: true, mode: 0o600 })).close();
  }
  const what = `Cannot share "${opts.source}"`;
  try {
    await must(r, what, "mount", ["--rbind", opts.source, stage]);
    await must(r, what, "mount", ["--make-rprivate", stage]);
    const flags = opts.readonly ? "remount,bind,ro,nosuid,nodev" : "remount,bind,nosuid,nodev";
    // the source's submounts came along: each one gets the flags too
    for (const mp of await mountsUnder(stage, r)) await must(r, what, "mount", ["-o", flags, mp]);
    await must(r, what, "mount", ["--move", stage, target]);
  } catch (e) {
    await unbind(r, stage).catch(() => {});
    await unbind(r, target).catch(() => {});
    throw e;
  }
  await Deno.remove(stage).catch(() => {});
}

/** What a storage plugin records of the tree in its prepared state. Pure. */
export function shareTreeState(t: ShareTree): Record<string, string> {
  return { hostDir: t.hostDir, exportDir: t.exportDir, stageDir: t.stageDir };
}

/**
 * The tree recorded by {@link shareTreeState}; undefined when there is none. A sandbox prepared
 * before the tree existed recorded only `hostDir` (exported as it was). Pure.
 */
function shareTreeFromState(
  state: Readonly<Record<string, unknown>> | undefined,
): ShareTree | undefined {
  const h = state?.["hostDir"];
  if (typeof h !== "string" || !h.startsWith("/")) return undefined;
  const e = state?.["exportDir"];
  const s = state?.["stageDir"];
  if (typeof e === "string" && typeof s === "string") return { hostDir: h, exportDir: e, stageDir: s };
  return { hostDir: h, exportDir: h, stageDir: `${h.slice(0, h.lastIndexOf("/"))}/stage` };
}

/** Whether an OCI mount asks to be read-only. Pure. */
export function isReadonlyMount(m: { readonly options?: readonly string[] }): boolean {
  return (m.options ?? []).includes("ro");
}

/**
 * The tree recorded in a storage plugin's prepared state.
 *
 * @throws {RuntimeError} `FailedPrecondition` naming `what` when the sandbox has none.
 */
export function requireShareTree(
  state: Readonly<Record<string, unknown>> | undefined,
  what: string,
  kind: string,
): ShareTree {
  const t = shareTreeFromState(state);
  if (t === undefined) {
    throw new RuntimeError(
      "FailedPrecondition",
      `Cannot ${what}: the sandbox has no ${kind} shared directory`,
    );
  }
  return t;
}
