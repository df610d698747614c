/**
 * CreateContainer: `<runtime> create --bundle B --pid-file P [--console-socket S] ID`. The container
 * init is left blocked before exec until `start`; its stdio are the runtime's pipes (or a pty).
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import { containerId } from "../../runtime/ids.ts";
import { launch } from "./_launch.ts";
import { consoleSocketPath, type ContainerEnv, runtimeArgv } from "./env.ts";
import { AgentContainer, type ContainerTable } from "./state.ts";

export interface CreateArgs {
  readonly id: string;
  /** Bundle directory; `config.json` is written there when `spec` is given. */
  readonly bundle: string;
  /** The OCI spec (already adapted to the guest: root path, mounts). */
  readonly spec?: Readonly<Record<string, unknown>>;
}

export async function createContainer(
  env: ContainerEnv,
  table: ContainerTable,
  args: CreateArgs,
): Promise<AgentContainer> {
  const id = containerId(args.id);
  if (table.has(id)) throw new RuntimeError("AlreadyExists", `Cannot create container "${id}": it exists`);
  const configPath = `${args.bundle}/config.json`;
  let spec: unknown = args.spec === undefined ? undefined : await applyNetSysctls(env, args.spec, id);
  if (spec === undefined) {
    try {
      spec = JSON.parse(await env.fs.readTextFile(configPath));
    } catch (e) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot create container "${id}": cannot read "${configPath}"`,
        {
          cause: e,
        },
      );
    }
  } else {
    await env.fs.writeTextFile(configPath, JSON.stringify(spec));
  }
  const root = specRootPath(spec, args.bundle);
  if (root !== undefined && env.fs.waitForPath && !(await env.fs.waitForPath(root, 3000))) {
    throw new RuntimeError(
      "NotFound",
      `Cannot create container "${id}": its root filesystem "${root}" does not exist`,
    );
  }
  const terminal = specTerminal(spec);
  const pidFile = `${env.stateDir}/${id}.pid`;
  const consoleSocket = consoleSocketPath(env.stateDir, id);
  const argv = runtimeArgv(env.runtime, [
    "create",
    "--bundle",
    args.bundle,
    "--pid-file",
    pidFile,
    ...(terminal ? ["--console-socket", consoleSocket] : []),
    id,
  ]);
  const init = await launch(env, {
    argv,
    containerId: id,
    execId: "",
    terminal,
    pidFile,
    ...(terminal ? { consoleSocket } : {}),
    what: `create container "${id}"`,
  });
  const c = new AgentContainer(id, args.bundle, init);
  table.add(c);
  env.log.info("container created", { container: id, pid: init.pid, terminal });
  return c;
}

/** `root.path` of an OCI spec, made absolute against the bundle (undefined when absent). Pure. */
export function specRootPath(spec: unknown, bundle: string): string | undefined {
  if (typeof spec !== "object" || spec === null) return undefined;
  const root: unknown = Reflect.get(spec, "root");
  if (typeof root !== "object" || root === null) return undefined;
  const path: unknown = Reflect.get(root, "path");
  if (typeof path !== "string" || path === "") return undefined;
  return path.startsWith("/") ? path : `${bundle}/${path}`;
}

/** `process.terminal` of an OCI spec (false when absent or malformed). Pure. */
export function specTerminal(spec: unknown): boolean {
  if (typeof spec !== "object" || spec === null) return false;
  const proc: unknown = Reflect.get(spec, "process");
  if (typeof proc !== "object" || proc === null) return false;
  return Reflect.get(proc, "terminal") === true;
}

/**
 * `net.*` sysctls of a container that shares the guest's network namespace (every container does:
 * the VM's network is its pod's) are the pod's own: they are written here, in the guest, and taken
 * out of the spec (crun refuses net.* without a network namespace of the container's own). CRI pods
 * set net.ipv4.ip_local_port_range and podman net.ipv4.ping_group_range this way.
 */
async function applyNetSysctls(
  env: ContainerEnv,
  spec: Readonly<Record<string, unknown>>,
  id: string,
): Promise<Readonly<Record<string, unknown>>> {
  const linux = spec["linux"];
  if (typeof linux !== "object" || linux === null || Array.isArray(linux)) return spec;
  const l = linux as Record<string, unknown>;
  const ns = Array.isArray(l["namespaces"]) ? l["namespaces"] : [];
  const ownNet = ns.some((n: unknown) =>
    typeof n === "object" && n !== null && "type" in n && n.type === "network"
  );
  const sysctl = l["sysctl"];
  if (ownNet || typeof sysctl !== "object" || sysctl === null || Array.isArray(sysctl)) return spec;
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(sysctl)) {
    if (!k.startsWith("net.")) {
      rest[k] = v;
      continue;
    }
    if (!/^net(\.[A-Za-z0-9_-]+)+$/.test(k) || typeof v !== "string") {
      throw new RuntimeError("InvalidArgument", `Cannot create container "${id}": invalid sysctl "${k}"`);
    }
    try {
      await env.fs.writeExisting(`/proc/sys/${k.replaceAll(".", "/")}`, v);
    } catch (e) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot create container "${id}": cannot set sysctl "${k}" to "${v}"`,
        {
          cause: e,
        },
      );
    }
  }
  return { ...spec, linux: { ...l, sysctl: rest } };
}
