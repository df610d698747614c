/**
 * `containerd-shim-cocoon-v2 start`: runs in the bundle directory. Reads config.json for the pod
 * (group), records what containerd told it in `<bundle>/cocoon-shim.json`, makes sure the daemon
 * listens, reserves the container id with it, writes `<bundle>/address` (no newline) and returns
 * the address to print. Nothing else may reach stdout/stderr.
 *
 * @module
 */
import { parseOciSpecText } from "../oci/spec.ts";
import { daemonDir, daemonPaths, groupOf } from "./address.ts";
import { controlCall, ensureDaemon } from "./daemon_client.ts";
import type { ShimFlags } from "./flags.ts";
import { writeRegistration } from "./registration.ts";
import { writeAtomic } from "../sys/files.ts";

export interface StartEnv {
  readonly bundle: string;
  readonly env: (name: string) => string | undefined;
}

/** Does `start`; returns the address to print. */
export async function shimStart(flags: ShimFlags, opts: StartEnv): Promise<string> {
  const bundle = opts.bundle;
  // containerd 1.7 starts a pod's shim (CRI sandbox_mode "shim") with no config.json: the group is the sandbox id.
  const text = await Deno.readTextFile(`${bundle}/config.json`).catch((e) =>
    e instanceof Deno.errors.NotFound ? null : Promise.reject(e)
  );
  const spec = {
    annotations: text === null ? {} : parseOciSpecText(text, `${bundle}/config.json`).annotations,
  };
  const dir = daemonDir(opts.env);
  const paths = daemonPaths(dir);
  const ttrpc = opts.env("TTRPC_ADDRESS");
  await writeRegistration(bundle, {
    schema: 1,
    id: flags.id,
    namespace: flags.namespace,
    group: groupOf(flags.id, spec.annotations),
    ttrpcAddress: ttrpc !== undefined && ttrpc !== ""
      ? ttrpc
      : flags.address !== ""
      ? `${flags.address}.ttrpc`
      : "",
    grpcAddress: flags.address,
    daemonDir: dir,
  });
  // The daemon may be exiting as we look (its last container just went): reserve, else retry.
  let last: unknown;
  let address = paths.address;
  for (let i = 0; i < 3; i++) {
    try {
      await ensureDaemon(paths);
      const r = await controlCall(paths, "Register", { id: flags.id, namespace: flags.namespace }, {
        timeoutMs: 10_000,
      });
      // A task's shim gets its namespace's own socket (the daemon tells the namespace by it); a
      // pod's shim (no config.json) keeps the main socket, which also serves the Sandbox API.
      if (
        text !== null && typeof r === "object" && r !== null && "taskAddress" in r &&
        typeof r.taskAddress === "string" && r.taskAddress.startsWith("unix://")
      ) {
        address = r.taskAddress;
      }
      last = undefined;
      break;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  if (last !== undefined) throw last;
  await writeAtomic(`${bundle}/address`, address, 0o644);
  return address;
}
