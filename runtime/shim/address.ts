/**
 * Where the one Cocoon daemon of a host listens, and how a container finds its pod.
 *
 * - Daemon directory: `$COCOON_DAEMON_DIR`, else `/run/cocoon/daemon`. It holds `cocoon.sock`
 *   (the Task API socket every shim prints), `daemon.pid`, `daemon.log` and `start.lock`.
 * - Address: `unix://<dir>/cocoon.sock` for every container of every pod (1:N); containerd opens
 *   one connection per task on it.
 * - Group: annotation `io.kubernetes.cri.sandbox-id`, else `io.containerd.runc.v2.group`, else
 *   the container id. The sandbox (VM) id is the group when short, else a short stable form of it
 *   (CRI's 64-hex ids would push the VM's socket paths past the `sun_path` limit).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { RuntimeError } from "../errors.ts";

export const DEFAULT_DAEMON_DIR = "/run/cocoon/daemon";
export const CRI_SANDBOX_ID = "io.kubernetes.cri.sandbox-id";
const RUNC_GROUP = "io.containerd.runc.v2.group";
/** The Linux `sun_path` limit, less the terminating NUL. */
const MAX_SOCKET_PATH = 107;

/** The daemon directory from the environment. */
export function daemonDir(env: (name: string) => string | undefined = (n) => Deno.env.get(n)): string {
  const d = env("COCOON_DAEMON_DIR");
  return d !== undefined && d !== "" ? d.replace(/\/+$/, "") : DEFAULT_DAEMON_DIR;
}

export interface DaemonPaths {
  readonly dir: string;
  readonly socket: string;
  /** `unix://` + socket: what `start` prints and writes to `<bundle>/address`. */
  readonly address: string;
  readonly pidFile: string;
  readonly logFile: string;
  readonly lockFile: string;
}

/** Paths of the daemon in `dir`. Pure. @throws {RuntimeError} `InvalidArgument` when the socket path is too long. */
export function daemonPaths(dir: string): DaemonPaths {
  const socket = `${dir}/cocoon.sock`;
  if (new TextEncoder().encode(socket).length > MAX_SOCKET_PATH) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid daemon directory "${dir}": the socket path is longer than ${MAX_SOCKET_PATH} bytes`,
    );
  }
  return {
    dir,
    socket,
    address: `unix://${socket}`,
    pidFile: `${dir}/daemon.pid`,
    logFile: `${dir}/daemon.log`,
    lockFile: `${dir}/start.lock`,
  };
}

/** The socket path of a `unix://` address (or a bare path). Pure. */
export function socketOfAddress(address: string): string {
  return address.startsWith("unix://") ? address.slice("unix://".length) : address;
}

/** The pod a container belongs to. Pure. */
export function groupOf(id: string, annotations: Readonly<Record<string, string>>): string {
  const cri = annotations[CRI_SANDBOX_ID];
  if (cri !== undefined && cri !== "") return cri;
  const g = annotations[RUNC_GROUP];
  if (g !== undefined && g !== "") return g;
  return id;
}

/** Longest group used as a sandbox id as it is. */
const MAX_SANDBOX_ID = 32;

/** The sandbox id of a group: itself when ≤ 32 characters, else `<first 12>-<16 hex of its sha256>`. Pure. */
export function sandboxIdOf(group: string): string {
  if (group.length <= MAX_SANDBOX_ID) return group;
  const h = createHash("sha256").update(group).digest("hex").slice(0, 16);
  return `${group.slice(0, 12).replace(/[._-]+$/, "")}-${h}`;
}

/**
 * The sandbox id of a pod: its group qualified by the containerd namespace, so that two namespaces
 * that use one container id (or group) get two VMs. "+" appears in no namespace or container id, so
 * the pair is unambiguous; "" (no namespace known) leaves the group alone.
 */
export function podSandboxId(namespace: string, group: string): string {
  return sandboxIdOf(namespace === "" ? group : `${group}+${namespace}`);
}

/**
 * The Task API socket of one containerd namespace: containerd 1.6 does not put the namespace in the
 * ttRPC metadata of every call (Connect, for one, carries none), so each namespace's shims get their
 * own socket and the daemon knows the namespace by the socket a call came in on. Long or unusual
 * names are hashed so the path fits sun_path.
 */
export function namespaceSocket(dir: string, namespace: string): string {
  const safe = /^[a-z0-9][a-z0-9.-]{0,31}$/.test(namespace)
    ? namespace
    : createHash("sha256").update(namespace).digest("hex").slice(0, 16);
  const socket = `${dir}/ns-${safe}.sock`;
  if (new TextEncoder().encode(socket).length > MAX_SOCKET_PATH) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid daemon directory "${dir}": the socket path of namespace "${namespace}" is longer than ${MAX_SOCKET_PATH} bytes`,
    );
  }
  return socket;
}
