/**
 * Assembles the image trees from unpacked packages: the initrd root (init, busybox, modules) and
 * the userland (agent, deno, crun, runc, libraries), then writes initrd.img and rootfs.erofs.
 *
 * @module
 */
import initScript from "../../agent/init/init.sh" with { type: "text" };
import agentRunScript from "../../agent/init/agent_run.sh" with { type: "text" };
import { join } from "node:path";
import { exec } from "./_exec.ts";
import { writeCpio } from "./cpio.ts";
import { type CopiedLib, copyRuntimeLibs, indexLibraries, resolveInRoot } from "./libs.ts";
import type { AgentPayload, GuestMode } from "./types.ts";

/** The init scripts shipped in the initrd (agent/init/ in this repository). */
// Text imports, so that `deno bundle` and `deno compile` carry the scripts inside the executable.
export const INIT_SCRIPT: string = initScript;
export const AGENT_RUN_SCRIPT: string = agentRunScript;

/** Unpacked package roots by package name. */
export type Unpacked = ReadonlyMap<string, string>;

/** Writes init, busybox and the mode marker into `initrdRoot` (modules are installed separately). */
export async function assembleInitrdBase(
  initrdRoot: string,
  busyboxRoot: string,
  mode: GuestMode,
): Promise<void> {
  for (const d of ["bin", "dev", "proc", "sys", "run", "tmp", "root", "cocoon", "etc/cocoon"]) {
    await Deno.mkdir(join(initrdRoot, d), { recursive: true });
  }
  await Deno.copyFile(await resolveInRoot(busyboxRoot, "bin/busybox"), join(initrdRoot, "bin/busybox"));
  await Deno.chmod(join(initrdRoot, "bin/busybox"), 0o755);
  await Deno.symlink("busybox", join(initrdRoot, "bin/sh"));
  await Deno.writeTextFile(join(initrdRoot, "init"), INIT_SCRIPT);
  await Deno.chmod(join(initrdRoot, "init"), 0o755);
  await Deno.writeTextFile(join(initrdRoot, "bin/cocoon-agent-run"), AGENT_RUN_SCRIPT);
  await Deno.chmod(join(initrdRoot, "bin/cocoon-agent-run"), 0o755);
  await Deno.writeTextFile(join(initrdRoot, "etc/cocoon/mode"), mode + "\n");
}

/**
 * Fills `userland` (mounted at /cocoon in the guest): the agent payload, crun and runc, and every
 * shared library they need from the unpacked packages.
 */
export async function assembleUserland(
  userland: string,
  payload: AgentPayload,
  unpacked: Unpacked,
): Promise<CopiedLib[]> {
  const bin = join(userland, "bin");
  await Deno.mkdir(bin, { recursive: true });
  const programs: string[] = [];
  const put = async (src: string, name: string) => {
    await Deno.copyFile(src, join(bin, name));
    await Deno.chmod(join(bin, name), 0o755);
    programs.push(join(bin, name));
  };
  const crun = unpacked.get("crun");
  const runc = unpacked.get("runc");
  if (crun !== undefined) await put(await resolveInRoot(crun, "usr/bin/crun"), "crun");
  if (runc !== undefined) await put(await resolveInRoot(runc, "usr/sbin/runc"), "runc");
  if (payload.kind === "compiled") {
    await put(payload.binary, "cocoon-agent");
  } else {
    await put(payload.deno, "deno");
    await Deno.copyFile(payload.bundle, join(userland, "agent.js"));
  }
  const libRoots = [...unpacked.entries()].filter(([n]) => n.startsWith("lib")).map(([, r]) => r);
  const index = await indexLibraries(libRoots);
  return await copyRuntimeLibs(programs, index, userland);
}

/** Writes the initrd (gzip or plain newc cpio) with /dev/console and /dev/null nodes. */
export async function writeInitrd(
  initrdRoot: string,
  out: string,
  compress: "gzip" | "none",
  signal?: AbortSignal,
): Promise<number> {
  return await writeCpio(initrdRoot, out, {
    compress,
    special: [
      { kind: "char", path: "dev/console", mode: 0o600, major: 5, minor: 1 },
      { kind: "char", path: "dev/null", mode: 0o666, major: 1, minor: 3 },
    ],
    ...(signal ? { signal } : {}),
  });
}

/**
 * Writes the read-only userland image: uncompressed erofs (so pages can be shared through the host
 * page cache or mapped with DAX), fixed timestamps and UUID, padded to a 2 MiB multiple (nvdimm).
 * No inline (tail-packed) data: erofs maps only plain-layout files with DAX, so a file whose last
 * block sat in its inode would still be read into every guest's page cache.
 */
export async function writeErofs(userland: string, out: string, signal?: AbortSignal): Promise<number> {
  await exec("mkfs.erofs", [
    "--quiet",
    "-T0",
    "-Enoinline_data",
    "--all-root",
    "-U00000000-0000-0000-0000-00000000c0c0",
    out,
    userland,
  ], signal ? { signal } : {});
  const size = (await Deno.stat(out)).size;
  const align = 2 * 1024 * 1024;
  const padded = Math.ceil(size / align) * align;
  if (padded !== size) await Deno.truncate(out, padded);
  return padded;
}
