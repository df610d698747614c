/**
 * Pods of the daemon: a containerd namespace and a group key (the CRI sandbox id, else the
 * container id) name one sandbox, i.e. one VM (`podSandboxId`). The first container of a group creates it (or adopts it when a previous daemon left
 * it running); later containers join it; when the last leaves, the sandbox is deleted (VM, shares,
 * records). Joins and leaves of one group run one at a time.
 *
 * @module
 */
import { isRuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { loadConfig } from "../config/load.ts";
import { checkPodConfig, checkPodConfigFile } from "../config/pod_config.ts";
import { openSandboxRuntime, Sandbox, type SandboxRuntime } from "../sandbox/mod.ts";
import { podSandboxId } from "../shim/address.ts";
import { joinHostCgroup, leaveHostCgroup } from "../sys/host_cgroup.ts";
import type { HeldSandboxes } from "./held.ts";

export interface JoinOptions {
  /** containerd namespace ("" or absent: none). */
  readonly namespace?: string;
  /** The pod's configuration file (containerd's runtime options); absent: the daemon's. */
  readonly configPath?: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly netns: string | null;
  readonly hostname: string | null;
  /** The first container's `linux.cgroupsPath`: the VM's processes are moved there (as runc's). */
  readonly cgroupsPath?: string;
  readonly signal?: AbortSignal;
}

interface Pod {
  sandbox: Sandbox | undefined;
  /** Host cgroup directories made for the VM's processes (removed with the pod). */
  cgroups: string[];
  readonly members: Set<string>;
  /** Serializes joins and leaves. */
  queue: Promise<unknown>;
}

export interface PodsOptions {
  /** The sandbox runtime of a configuration file (default: load it and open a runtime on it). */
  readonly runtimeFor?: (configPath: string) => Promise<SandboxRuntime>;
  /** Sandboxes the daemon holds already (taken over at start): claimed instead of attached again. */
  readonly held?: HeldSandboxes;
}

export class Pods {
  readonly #rt: SandboxRuntime;
  readonly #log: Logger;
  readonly #pods = new Map<string, Pod>();
  readonly #runtimeFor: (configPath: string) => Promise<SandboxRuntime>;
  readonly #runtimes = new Map<string, Promise<SandboxRuntime>>();
  readonly #opened: SandboxRuntime[] = [];
  readonly #held: HeldSandboxes | undefined;

  constructor(rt: SandboxRuntime, log: Logger, opts: PodsOptions = {}) {
    this.#rt = rt;
    this.#log = log;
    this.#held = opts.held;
    this.#runtimeFor = opts.runtimeFor ??
      (async (path) =>
        await openSandboxRuntime(await loadConfig({ path }), { log: this.#log, owner: rt.owner }));
  }

  /** The runtime of a pod's configuration file, opened once per file (undefined: the daemon's). */
  runtimeOf(configPath: string | undefined): Promise<SandboxRuntime> {
    if (configPath === undefined || configPath === this.#rt.config.source.file) {
      return Promise.resolve(this.#rt);
    }
    let p = this.#runtimes.get(configPath);
    if (p === undefined) {
      p = this.#runtimeFor(configPath).then(async (rt) => {
        // a store first opened: what a dead daemon left in it is taken over now
        await this.#held?.watch(rt);
        this.#opened.push(rt);
        return rt;
      });
      p.catch(() => this.#runtimes.delete(configPath));
      this.#runtimes.set(configPath, p);
    }
    return p;
  }

  /** The runtimes of pods' and Controllers' own configuration files opened so far. */
  openedRuntimes(): readonly SandboxRuntime[] {
    return this.#opened;
  }

  /** Number of pods (groups with members or being created). */
  get size(): number {
    return this.#pods.size;
  }

  #pod(key: string): Pod {
    let p = this.#pods.get(key);
    if (p === undefined) {
      p = { sandbox: undefined, cgroups: [], members: new Set(), queue: Promise.resolve() };
      this.#pods.set(key, p);
    }
    return p;
  }

  #serial<T>(pod: Pod, fn: () => Promise<T>): Promise<T> {
    const next = pod.queue.then(fn, fn);
    pod.queue = next.catch(() => {});
    return next;
  }

  /** `member` enters the pod of `key`, whose sandbox `open` makes when it has none (a pod left empty goes). */
  #enter(key: string, member: string, open: (pod: Pod) => Promise<Sandbox>): Promise<Sandbox> {
    const pod = this.#pod(key);
    return this.#serial(pod, async () => {
      pod.sandbox ??= await open(pod).catch((e) => {
        if (pod.members.size === 0 && pod.sandbox === undefined) this.#pods.delete(key);
        throw e;
      });
      pod.members.add(member);
      return pod.sandbox;
    });
  }

  /** The group's sandbox, created or adopted on first use; `member` counts as in it from now on. */
  join(group: string, member: string, opts: JoinOptions): Promise<Sandbox> {
    const key = podSandboxId(opts.namespace ?? "", group);
    return this.#enter(key, member, async (pod) => {
      const sb = pod.sandbox = await this.#open(key, group, opts);
      pod.cgroups = await this.#joinCgroup(sb, opts.cgroupsPath);
      return sb;
    });
  }

  /**
   * The runtime of a pod's own configuration (containerd's ConfigPath): only a file from a
   * directory the daemon's configuration trusts, root's, without plugins (config/pod_config.ts).
   * Control calls from root's own commands (sandboxer, factory, library) name theirs freely.
   */
  async #podRuntime(configPath: string | undefined): Promise<SandboxRuntime> {
    if (configPath === undefined || configPath === this.#rt.config.source.file) return this.#rt;
    await checkPodConfigFile(configPath, this.#rt.config.runtime.podConfigDirs);
    const rt = await this.runtimeOf(configPath);
    checkPodConfig(rt.config, configPath);
    return rt;
  }

  async #open(id: string, group: string, opts: JoinOptions): Promise<Sandbox> {
    const rt = await this.#podRuntime(opts.configPath);
    try {
      const sb = await Sandbox.create(rt, {
        id,
        annotations: opts.annotations,
        ...(opts.netns !== null ? { netns: opts.netns } : {}),
        // QEMU and virtiofsd go into the pod's host cgroup (bounded when it has no memory limit)
        ...(opts.cgroupsPath !== undefined ? { cgroupsPath: opts.cgroupsPath } : {}),
        // No VM hostname: each container gets spec.hostname in its own UTS namespace from the
        // guest's OCI runtime, and the agent's CreateSandbox hostname write fails (EPERM) today.
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      this.#log.info("pod created", {
        group,
        sandbox: sb.id,
        vmPids: sb.pids(),
        config: opts.configPath ?? "(daemon's)",
        sharedFs: rt.config.hypervisor.sharedFs,
        ...(rt.config.hypervisor.sharedFsAuto !== undefined
          ? { sharedFsAuto: rt.config.hypervisor.sharedFsAuto }
          : {}),
      });
      return sb;
    } catch (e) {
      if (!(isRuntimeError(e) && e.code === "AlreadyExists")) throw e;
      return await this.#takeOver(rt, id, group);
    }
  }

  /**
   * Moves the VM's processes (QEMU, and virtiofsd when it is one of them) into the pod's host cgroup,
   * so that what the host accounts to the pod is the VM; a hierarchy that refuses is logged.
   */
  async #joinCgroup(sb: Sandbox, cgroupsPath: string | undefined): Promise<string[]> {
    if (cgroupsPath === undefined) return [];
    const dirs = new Set<string>();
    for (const pid of sb.pids()) {
      const made = await joinHostCgroup(
        cgroupsPath,
        pid,
        (dir, e) => this.#log.warn("cannot move the VM into the pod's host cgroup", { dir, pid, error: e }),
      );
      for (const d of made) dirs.add(d);
    }
    return [...dirs];
  }

  /** The sandbox `id` that a previous daemon left: fetched (re-attached), not created. */
  async #takeOver(rt: SandboxRuntime, id: string, group: string): Promise<Sandbox> {
    const sb = this.#held?.claim(id) ?? await Sandbox.fetch(rt, id);
    this.#log.info("pod adopted", { group, status: sb.status().kind });
    return sb;
  }

  /**
   * Takes over the group's sandbox that a previous daemon left (in the daemon's store), without
   * creating one; `member` counts as in it. Undefined when there is none.
   */
  adopt(group: string, member: string, opts: { namespace?: string } = {}): Promise<Sandbox | undefined> {
    const key = podSandboxId(opts.namespace ?? "", group);
    return this.#enter(key, member, () => this.#takeOver(this.#rt, key, group)).catch((e) => {
      if (isRuntimeError(e) && e.code === "NotFound") return undefined;
      throw e;
    });
  }

  /** The group's sandbox when it exists in this daemon. */
  sandbox(group: string, namespace = ""): Sandbox | undefined {
    return this.#pods.get(podSandboxId(namespace, group))?.sandbox;
  }

  /** The sandbox of a core sandbox id (the pod key) when this daemon holds it. */
  bySandboxId(id: string): Sandbox | undefined {
    return this.#pods.get(id)?.sandbox;
  }

  /** Removes `member`; the last member out deletes the sandbox (the VM goes). */
  leave(group: string, member: string, namespace = ""): Promise<void> {
    const key = podSandboxId(namespace, group);
    const pod = this.#pods.get(key);
    if (pod === undefined) return Promise.resolve();
    return this.#serial(pod, async () => {
      pod.members.delete(member);
      if (pod.members.size > 0) return;
      this.#pods.delete(key);
      await this.#delete(pod, { group });
    });
  }

  /** Deletes the pod's sandbox (the VM goes) and its host cgroups; a failure is logged. */
  async #delete(pod: Pod, fields: { group?: string }): Promise<void> {
    const sb = pod.sandbox;
    if (sb === undefined) return;
    pod.sandbox = undefined;
    try {
      await sb.act({ kind: "delete", opts: { force: true } });
      this.#log.info("pod deleted", fields);
    } catch (e) {
      this.#log.error("pod delete failed", { ...fields, error: e });
    }
    const left = await leaveHostCgroup(pod.cgroups);
    if (left.length > 0) this.#log.warn("host cgroups left behind", { dirs: left });
  }

  /** Deletes every pod (daemon shutdown with `now`, tests). */
  async closeAll(): Promise<void> {
    for (const pod of [...this.#pods.values()]) {
      pod.members.clear();
      await this.#serial(pod, () => this.#delete(pod, {}));
    }
    this.#pods.clear();
  }
}
