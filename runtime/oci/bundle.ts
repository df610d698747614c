/**
 * OCI bundles: `<dir>/config.json` plus the root filesystem it names.
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import { type OciSpec, parseOciSpecText } from "./spec.ts";
import { canonicalPath } from "../sys/canonical_path.ts";

export interface OciBundle {
  /** Absolute bundle directory. */
  readonly dir: string;
  readonly spec: OciSpec;
  /** Absolute host path of the root filesystem (a directory, block device or image file). */
  readonly rootfs: string;
}

/** Resolves `p` against `base` when it is relative. Pure. */
export function resolvePath(base: string, p: string): string {
  const joined = p.startsWith("/") ? p : `${base.replace(/\/+$/, "")}/${p}`;
  const out: string[] = [];
  for (const seg of joined.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return `/${out.join("/")}`;
}

/**
 * Reads and validates `<dir>/config.json` and checks that the rootfs exists.
 *
 * @throws {RuntimeError} `NotFound` for a missing bundle, config.json or rootfs; `InvalidArgument`
 * for a malformed config.json.
 */
export async function loadBundle(dir: string): Promise<OciBundle> {
  const abs = await canonicalPath(resolvePath(Deno.cwd(), dir));
  const file = `${abs}/config.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    const code = e instanceof Deno.errors.NotFound ? "NotFound" : "PermissionDenied";
    throw new RuntimeError(code, `Cannot read OCI bundle "${abs}": cannot read "${file}"`, { cause: e });
  }
  const spec = parseOciSpecText(text, file);
  const rootfs = resolvePath(abs, spec.root.path);
  await checkRootfs(rootfs);
  return { dir: abs, spec, rootfs };
}

/** @throws {RuntimeError} `NotFound` when `rootfs` does not exist. */
export async function checkRootfs(rootfs: string): Promise<void> {
  try {
    await Deno.stat(rootfs);
  } catch (e) {
    throw new RuntimeError("NotFound", `Cannot use rootfs "${rootfs}": it does not exist`, { cause: e });
  }
}
