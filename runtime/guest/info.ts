/**
 * `guestImageInfo`: what is in a built image (versions, modules, sizes), read from its validated
 * manifest, and a text rendering for `cocoon guest info`.
 *
 * @module
 */
import { join } from "node:path";
import * as v from "valibot";
import { GuestImageError } from "../errors.ts";
import { errText } from "./_exec.ts";
import { defaultGuestImagePaths, IMAGE_FILES } from "./paths.ts";
import { type GuestImageInfo, type GuestManifest, GuestManifestSchema } from "./types.ts";

/** Reads and validates `<dir>/manifest.json`. */
export async function readManifest(dir: string): Promise<GuestManifest> {
  const path = join(dir, IMAGE_FILES.manifest);
  let raw: unknown;
  try {
    raw = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    const code = e instanceof Deno.errors.NotFound ? "NotFound" : "DataLoss";
    throw new GuestImageError(code, `Cannot read guest image manifest "${path}": ${errText(e)}`, {
      cause: e,
    });
  }
  const r = v.safeParse(GuestManifestSchema, raw);
  if (!r.success) {
    const issue = r.issues[0];
    const where = issue?.path?.map((p) => String(p.key)).join(".") ?? "";
    throw new GuestImageError(
      "DataLoss",
      `Cannot read guest image manifest "${path}": ${where}: ${issue?.message}`,
    );
  }
  return r.output;
}

/** Describes the image in `dir` (default: the current image); checks that its files exist. */
export async function guestImageInfo(dir?: string): Promise<GuestImageInfo> {
  const d = dir ?? defaultGuestImagePaths().current;
  const manifest = await readManifest(d);
  const files: GuestImageInfo["files"] = [];
  const names: string[] = [IMAGE_FILES.kernel, IMAGE_FILES.initrd];
  if (manifest.files.rootfs !== null) names.push(IMAGE_FILES.rootfs);
  for (const name of names) {
    const path = join(d, name);
    try {
      files.push({ name, path, size: (await Deno.stat(path)).size });
    } catch (e) {
      throw new GuestImageError("NotFound", `Cannot find "${path}" of the guest image`, { cause: e });
    }
  }
  let realDir = d;
  try {
    realDir = await Deno.realPath(d);
  } catch { /* keep d */ }
  return { dir: realDir, manifest, files, totalSize: files.reduce((a, f) => a + f.size, 0) };
}

/** Human-readable summary (for `cocoon guest info`). */
export function formatGuestImageInfo(info: GuestImageInfo): string {
  const m = info.manifest;
  const lines = [
    `Guest image ${m.hash.slice(0, 12)} (${m.mode} mode, builder ${m.builderVersion}, built ${m.createdAt})`,
    `  dir:      ${info.dir}`,
    `  kernel:   ${m.kernel.release} (${m.kernel.package} ${m.kernel.version})`,
    `  agent:    ${m.agent.kind}, ${mib(m.agent.size)}` +
    (m.agent.runtime
      ? ` + ${m.agent.runtime.name} ${m.agent.runtime.version} (${mib(m.agent.runtime.size)})`
      : ""),
    `  modules:  ${m.modules.load.join(" ")} (${m.modules.files} files)`,
    `  built in: ${m.modules.builtin.join(" ") || "-"}`,
  ];
  if (m.modules.missing.length > 0) {
    lines.push(`  missing:  ${m.modules.missing.join(" ")} (not in this kernel)`);
  }
  lines.push(`  libs:     ${m.libraries.map((l) => l.name).join(" ")}`);
  lines.push("  packages:");
  for (const p of m.packages) lines.push(`    ${p.name} ${p.version}`);
  lines.push("  files:");
  for (const f of info.files) lines.push(`    ${f.name.padEnd(13)} ${mib(f.size).padStart(10)}  ${f.path}`);
  lines.push(`    total         ${mib(info.totalSize).padStart(10)}`);
  lines.push(`  cmdline:  ${m.cmdline}`);
  return lines.join("\n");
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}
