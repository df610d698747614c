/**
 * The OCI state document (`runc state`): `{ ociVersion, id, status, pid, bundle, annotations }`.
 *
 * @module
 */
import type { ContainerStatus } from "../sandbox/status.ts";

export interface OciState {
  readonly ociVersion: string;
  readonly id: string;
  readonly status: "creating" | "created" | "running" | "paused" | "stopped";
  /** Host pid that stands for the container (runc: the init pid; Cocoon: the VMM or holder). */
  readonly pid: number;
  readonly bundle: string;
  readonly annotations: Readonly<Record<string, string>>;
}

/** The OCI state of a container. `pid` is 0 once it is stopped (runc reports 0 too). Pure. */
export function ociState(
  c: {
    readonly id: string;
    readonly status: ContainerStatus;
    readonly bundle: string | null;
    readonly annotations: Readonly<Record<string, string>>;
  },
  hostPid: number,
): OciState {
  return {
    ociVersion: "1.0.2",
    id: c.id,
    status: c.status.kind,
    pid: c.status.kind === "stopped" ? 0 : hostPid,
    bundle: c.bundle ?? "",
    annotations: c.annotations,
  };
}
