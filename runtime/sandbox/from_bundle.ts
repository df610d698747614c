/**
 * One sandbox per OCI bundle (runc semantics, `cocoon run`): loads and validates the bundle,
 * creates the sandbox (annotations and network namespace from the spec) and the container in it
 * with the same id. A failure after the sandbox exists deletes it again.
 *
 * @module
 */
import { loadBundle, type OciBundle } from "../oci/bundle.ts";
import type { ContainerRecord } from "./records.ts";
import type { SandboxRuntime } from "./runtime.ts";
import { Sandbox } from "./sandbox.ts";

export interface CreateFromBundleOptions {
  /** Container (and sandbox) id. */
  readonly id: string;
  /** Bundle directory (holding config.json). */
  readonly bundle: string;
  /** Open a stdin pipe to the container. */
  readonly stdin?: boolean;
  readonly signal?: AbortSignal;
}

export interface BundleSandbox {
  readonly sandbox: Sandbox;
  readonly container: ContainerRecord;
  readonly bundle: OciBundle;
}

/**
 * @throws {RuntimeError} `NotFound` (bundle, config.json, rootfs), `InvalidArgument` (spec, id),
 * `AlreadyExists` (id), or what the sandbox or container creation threw, after cleaning up.
 */
export async function createFromBundle(
  rt: SandboxRuntime,
  opts: CreateFromBundleOptions,
): Promise<BundleSandbox> {
  const bundle = await loadBundle(opts.bundle);
  const sig = opts.signal ? { signal: opts.signal } : {};
  const sandbox = await Sandbox.create(rt, {
    id: opts.id,
    annotations: bundle.spec.annotations,
    netns: bundle.spec.netns,
    ...(bundle.spec.hostname !== null && bundle.spec.hostname !== ""
      ? { hostname: bundle.spec.hostname }
      : {}),
    ...sig,
  });
  try {
    const container = await sandbox.act({
      kind: "create-container",
      opts: {
        id: opts.id,
        spec: bundle.spec,
        rootfs: bundle.rootfs,
        bundle: bundle.dir,
        ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
        ...sig,
      },
    });
    return { sandbox, container, bundle };
  } catch (e) {
    await sandbox.act({ kind: "delete", opts: { force: true } }).catch((de) =>
      rt.log.error("cleanup after failed create failed", { error: de })
    );
    throw e;
  }
}
