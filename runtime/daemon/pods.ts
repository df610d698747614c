/**
 * Pods of the daemon: a group key (the CRI sandbox id, else the container id) names one sandbox,
 * i.e. one VM. The first container of a group creates it (or adopts it when a previous daemon left
 * it running); later containers join it; when the last leaves, the sandbox is deleted (VM, shares,
 * records). Joins and leaves of one group run one at a time.
 *
 * @module
 */
import { isRuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { Sandbox, type SandboxRuntime } from "../sandbox/mod.ts";
import { sandboxIdOf } from "../shim/address.ts";

export interface JoinOptions {
  readonly annotations: Readonly<Record<string, string>>;
  readonly netns: string | null;
  readonly hostname: string | null;
  readonly signal?: AbortSignal;
}

interface Pod {
  sandbox: Sandbox | undefined;
  readonly members: Set<string>;
  /** Serializes joins and leaves. */
  queue: Promise<unknown>;
}

export class Pods {
  readonly #rt: SandboxRuntime;
  readonly #log: Logger;
  readonly #pods = new Map<string, Pod>();

  constructor(rt: SandboxRuntime, log: Logger) {
    this.#rt = rt;
    this.#log = log;
  }

  /** Number of pods (groups with members or being created). */
  get size(): number {
    return this.#pods.size;
  }

  #pod(group: string): Pod {
    let p = this.#pods.get(group);
    if (p === undefined) {
      p = { sandbox: undefined, members: new Set(), queue: Promise.resolve() };
      this.#pods.set(group, p);
    }
    return p;
  }

  #serial<T>(pod: Pod, fn: () => Promise<T>): Promise<T> {
    const next = pod.queue.then(fn, fn);
    pod.queue = next.catch(() => {});
    return next;
  }

  /** The group's sandbox, created or adopted on first use; `member` counts as in it from now on. */
  join(group: string, member: string, opts: JoinOptions): Promise<Sandbox> {
    const pod = this.#pod(group);
    return this.#serial(pod, async () => {
      if (pod.sandbox === undefined) {
        pod.sandbox = await this.#open(group, opts).catch((e) => {
          if (pod.members.size === 0) this.#pods.delete(group);
          throw e;
        });
      }
      pod.members.add(member);
      return pod.sandbox;
    });
  }

  async #open(group: string, opts: JoinOptions): Promise<Sandbox> {
    try {
      const sb = await Sandbox.create(this.#rt, {
        id: sandboxIdOf(group),
        annotations: opts.annotations,
        ...(opts.netns !== null ? { netns: opts.netns } : {}),
        // No VM hostname: each container gets spec.hostname in its own UTS namespace from the
        // guest's OCI runtime, and the agent's CreateSandbox hostname write fails (EPERM) today.
        ...(opts.signal ? { signal: opts.signal } : {}),
      });
      this.#log.info("pod created", { group, sandbox: sb.id, vmPids: sb.pids() });
      return sb;
    } catch (e) {
      if (!(isRuntimeError(e) && e.code === "AlreadyExists")) throw e;
      // A previous daemon left this sandbox: take it over.
      const sb = await Sandbox.fetch(this.#rt, sandboxIdOf(group));
      this.#log.info("pod adopted", { group, status: sb.status().kind });
      return sb;
    }
  }

  /** The group's sandbox when it exists in this daemon. */
  sandbox(group: string): Sandbox | undefined {
    return this.#pods.get(group)?.sandbox;
  }

  /** Removes `member`; the last member out deletes the sandbox (the VM goes). */
  leave(group: string, member: string): Promise<void> {
    const pod = this.#pods.get(group);
    if (pod === undefined) return Promise.resolve();
    return this.#serial(pod, async () => {
      pod.members.delete(member);
      if (pod.members.size > 0) return;
      const sb = pod.sandbox;
      pod.sandbox = undefined;
      this.#pods.delete(group);
      if (sb === undefined) return;
      try {
        await sb.delete({ force: true });
        this.#log.info("pod deleted", { group });
      } catch (e) {
        this.#log.error("pod delete failed", { group, error: e });
      }
    });
  }

  /** Deletes every pod (daemon shutdown with `now`, tests). */
  async closeAll(): Promise<void> {
    for (const [group, pod] of [...this.#pods]) {
      for (const m of [...pod.members]) await this.leave(group, m);
    }
  }
}
