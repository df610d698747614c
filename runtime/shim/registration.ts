/**
 * `<bundle>/cocoon-shim.json`: what `start` learned from containerd (namespace, where to publish
 * events, the pod) for the daemon's `Create` and for the `delete` binary, which runs without a
 * daemon when it died. Written atomically; read back validated.
 *
 * @module
 */
import * as v from "valibot";
import { RuntimeError } from "../errors.ts";
import { writeAtomic } from "../sys/files.ts";

const REGISTRATION_FILE = "cocoon-shim.json";

export interface Registration {
  readonly schema: 1;
  readonly id: string;
  readonly namespace: string;
  /** The pod (sandbox id). */
  readonly group: string;
  /** containerd's ttRPC socket (`TTRPC_ADDRESS`): events go there. */
  readonly ttrpcAddress: string;
  /** containerd's gRPC socket (`-address`). */
  readonly grpcAddress: string;
  readonly daemonDir: string;
  /** The pod's configuration file from containerd's runtime options (written by the daemon at Create). */
  readonly configPath?: string;
  /** The container's id in the sandbox when it is not `id` (another namespace had it; set by the daemon). */
  readonly coreId?: string;
  /** The task's stdio and whether the daemon mounted its rootfs (written at Create): a restarted daemon adopts it. */
  readonly task?: {
    readonly stdio: { stdin: string; stdout: string; stderr: string; terminal: boolean };
    readonly rootfsMounted: boolean;
  };
}

const Schema = v.object({
  schema: v.literal(1),
  id: v.pipe(v.string(), v.minLength(1)),
  namespace: v.string(),
  group: v.pipe(v.string(), v.minLength(1)),
  ttrpcAddress: v.string(),
  grpcAddress: v.string(),
  daemonDir: v.pipe(v.string(), v.minLength(1)),
  configPath: v.optional(v.pipe(v.string(), v.startsWith("/"))),
  coreId: v.optional(v.pipe(v.string(), v.minLength(1))),
  task: v.optional(v.object({
    stdio: v.object({ stdin: v.string(), stdout: v.string(), stderr: v.string(), terminal: v.boolean() }),
    rootfsMounted: v.boolean(),
  })),
});

/** Validates a parsed registration. @throws {RuntimeError} `DataLoss` when malformed. */
function parseRegistration(x: unknown, where: string): Registration {
  const r = v.safeParse(Schema, x);
  if (!r.success) {
    const issue = r.issues[0];
    throw new RuntimeError(
      "DataLoss",
      `Invalid shim registration "${where}": ${v.getDotPath(issue) ?? "document"}: ${issue.message}`,
    );
  }
  const { configPath, coreId, task, ...rest } = r.output;
  return {
    ...rest,
    ...(configPath !== undefined ? { configPath } : {}),
    ...(coreId !== undefined ? { coreId } : {}),
    ...(task !== undefined ? { task } : {}),
  };
}

/** Reads `<bundle>/cocoon-shim.json`, or null when absent. */
export async function readRegistration(bundle: string): Promise<Registration | null> {
  const path = `${bundle}/${REGISTRATION_FILE}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new RuntimeError("Unavailable", `Cannot read shim registration "${path}"`, { cause: e });
  }
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (e) {
    throw new RuntimeError("DataLoss", `Invalid shim registration "${path}": it is not JSON`, { cause: e });
  }
  return parseRegistration(x, path);
}

/**
 * The registration that applies to a container bundle: its own, or else its pod's. containerd 1.7
 * in sandbox mode "shim" runs `start` only for the pod: a container's bundle then has no
 * registration, but a `sandbox` file naming the pod, whose bundle is a sibling directory.
 */
export async function readBundleRegistration(bundle: string): Promise<Registration | null> {
  const own = await readRegistration(bundle);
  if (own !== null) return own;
  let pod: string;
  try {
    pod = (await Deno.readTextFile(`${bundle}/sandbox`)).trim();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw new RuntimeError("Unavailable", `Cannot read the pod of bundle "${bundle}"`, { cause: e });
  }
  // A pod id, never a path: nothing outside the sibling directory is read.
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(pod)) return null;
  const parent = bundle.replace(/\/+$/, "").replace(/\/[^/]*$/, "");
  if (parent === "" || `${parent}/${pod}` === bundle) return null;
  return await readRegistration(`${parent}/${pod}`);
}

export async function writeRegistration(bundle: string, r: Registration): Promise<void> {
  await writeAtomic(`${bundle}/${REGISTRATION_FILE}`, JSON.stringify(r));
}
