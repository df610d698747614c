/**
 * Sandboxes the daemon holds without a front door: those a previous daemon held (adopted when a
 * store is first opened, and again on each sweep) and library sandboxes handed to the daemon
 * (`keeper: "daemon"`: `HoldSandbox` from the program's release, or taken over when the program
 * died). A front door that comes back for one (containerd, a Controller client) claims it instead
 * of attaching a second time (QEMU's control sockets take one client); a program that wants its
 * library sandbox back borrows it (`LendSandbox`: the daemon releases it and leaves it alone for a
 * while, so that the sweep does not take it back before the program attached).
 *
 * @module
 */
import { isRuntimeError, RuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { Sandbox, type SandboxRuntime } from "../sandbox/mod.ts";
import { liveOwner } from "../sandbox/owner.ts";
import type { SandboxRecord } from "../sandbox/records.ts";
import { sandboxId } from "../ids.ts";

/** How long a lent sandbox is left alone by the sweep. */
const LEND_MS = 60_000;

/** Why the daemon holds it. */
export type HeldKind = "adopted" | "library";

interface Held {
  readonly sandbox: Sandbox;
  readonly kind: HeldKind;
}

/** Whether the daemon should take `r` over. Pure but for the owner's liveness. */
async function orphanOfDaemon(r: SandboxRecord): Promise<boolean> {
  if (r.status.kind !== "ready" && r.status.kind !== "paused") return false;
  if (r.owner?.kind !== "daemon" && r.keeper !== "daemon") return false;
  return await liveOwner(r.owner) === null;
}

export class HeldSandboxes {
  readonly #log: Logger;
  readonly #held = new Map<string, Held>();
  readonly #lent = new Map<string, number>();
  readonly #stores = new Set<SandboxRuntime>();
  #sweeping: Promise<void> | undefined;

  constructor(log: Logger) {
    this.#log = log;
  }

  get size(): number {
    return this.#held.size;
  }

  /** The sandbox `id` when the daemon holds it here. */
  get(id: string): Sandbox | undefined {
    return this.#held.get(id)?.sandbox;
  }

  kindOf(id: string): HeldKind | undefined {
    return this.#held.get(id)?.kind;
  }

  ids(): string[] {
    return [...this.#held.keys()];
  }

  /** Hands the sandbox to the front door that came back for it (it is no longer held here). */
  claim(id: string): Sandbox | undefined {
    const h = this.#held.get(id);
    if (h === undefined) return undefined;
    this.#held.delete(id);
    this.#log.info("held sandbox claimed by its front door", { sandbox: id, kind: h.kind });
    return h.sandbox;
  }

  /** Watches `rt`'s store from now on, and takes over at once what a dead daemon or program left. */
  async watch(rt: SandboxRuntime): Promise<void> {
    if (this.#stores.has(rt)) return;
    this.#stores.add(rt);
    await this.#adoptFrom(rt);
  }

  /** Takes over, in every watched store, what a dead daemon or program left (one sweep at a time). */
  sweep(): Promise<void> {
    this.#sweeping ??= (async () => {
      for (const rt of this.#stores) await this.#adoptFrom(rt);
    })().finally(() => this.#sweeping = undefined);
    return this.#sweeping;
  }

  async #adoptFrom(rt: SandboxRuntime): Promise<void> {
    const now = Date.now();
    for (const [id, until] of this.#lent) if (until < now) this.#lent.delete(id);
    for (const id of await Sandbox.list(rt).catch(() => [])) {
      if (this.#held.has(id) || this.#lent.has(id)) continue;
      const r = await rt.repo.loadSandbox(sandboxId(id)).catch(() => undefined);
      if (r === undefined || !await orphanOfDaemon(r)) continue;
      try {
        const sb = await Sandbox.fetch(rt, id);
        if (sb.status().kind === "stopped") {
          // its VM died meanwhile: nothing to hold (the record says stopped now); its front door deletes it
          await sb.release();
          this.#log.info("sandbox found stopped: left to its front door", { sandbox: id });
          continue;
        }
        const kind: HeldKind = r.keeper === "daemon" ? "library" : "adopted";
        this.#held.set(id, { sandbox: sb, kind });
        this.#log.info("sandbox taken over", {
          sandbox: id,
          kind,
          status: sb.status().kind,
          vmPids: sb.pids(),
        });
      } catch (e) {
        this.#log.warn("cannot take a sandbox over", { sandbox: id, error: e });
      }
    }
  }

  /** `HoldSandbox`: a program released its library sandbox to the daemon. */
  async hold(rt: SandboxRuntime, id: string): Promise<void> {
    await this.watch(rt);
    this.#lent.delete(id);
    if (this.#held.has(id)) return;
    const r = await rt.repo.loadSandbox(sandboxId(id));
    if (r.keeper !== "daemon") {
      throw new RuntimeError(
        "FailedPrecondition",
        `Cannot hold sandbox "${id}": it was not created with owner "daemon"`,
      );
    }
    const live = await liveOwner(r.owner);
    if (live !== null && live.pid !== Deno.pid) {
      throw new RuntimeError(
        "FailedPrecondition",
        `Cannot hold sandbox "${id}": process ${live.pid} still holds it (release it there first)`,
      );
    }
    const sb = await Sandbox.fetch(rt, id);
    this.#held.set(id, { sandbox: sb, kind: "library" });
    this.#log.info("library sandbox held", { sandbox: id, status: sb.status().kind });
  }

  /** `LendSandbox`: a program takes its library sandbox back; only library sandboxes are lent. */
  async lend(id: string): Promise<void> {
    const h = this.#held.get(id);
    if (h === undefined) return;
    if (h.kind !== "library") {
      throw new RuntimeError(
        "FailedPrecondition",
        `Cannot lend sandbox "${id}": a front door of the daemon owns it (containerd or a Sandbox API client)`,
      );
    }
    this.#held.delete(id);
    this.#lent.set(id, Date.now() + LEND_MS);
    await h.sandbox.release();
    this.#log.info("library sandbox lent", { sandbox: id });
  }

  /** Deletes a held sandbox (the management API, for library sandboxes; `Cleanup` for adopted pods). */
  async delete(id: string): Promise<void> {
    const h = this.#held.get(id);
    if (h === undefined) {
      throw new RuntimeError("NotFound", `Cannot delete sandbox "${id}": the daemon does not hold it`);
    }
    await h.sandbox.act({ kind: "delete", opts: { force: true } });
    this.#held.delete(id);
  }

  /**
   * `Cleanup` of a container whose task this daemon never knew (its pod was taken over from a
   * previous daemon): the container goes, and the VM with the pod's last one. Nothing held: no-op.
   */
  async removeContainer(sandbox: string, containerId: string): Promise<void> {
    const h = this.#held.get(sandbox);
    if (h === undefined || h.kind !== "adopted") return;
    await h.sandbox.act({ kind: "delete-container", containerId, opts: { force: true } }).catch(
      (e: unknown) => {
        if (!(isRuntimeError(e) && e.code === "NotFound")) throw e;
      },
    );
    if ((await h.sandbox.containers()).length > 0) return;
    await this.delete(sandbox);
    this.#log.info("taken-over pod deleted with its last container", { sandbox });
  }

  /** Drops every connection and leaves the VMs running (daemon close: a successor takes them over). */
  async releaseAll(): Promise<void> {
    for (const [id, h] of this.#held) {
      await h.sandbox.release({ keepOwner: true }).catch((e: unknown) => {
        if (!(isRuntimeError(e) && e.code === "NotFound")) {
          this.#log.warn("release failed", { sandbox: id, error: e });
        }
      });
    }
    this.#held.clear();
  }
}
