/**
 * Persistence of sandbox and container records through the metadata store plugin. Every state
 * transition is saved before the operation that caused it returns; records read back are validated
 * (see `records.ts`).
 *
 * @module
 */
import type { MetadataStore } from "../../plugins/types.ts";
import { SandboxError } from "../errors.ts";
import type { ContainerId, SandboxId } from "../ids.ts";
import {
  type ContainerRecord,
  parseContainerIndex,
  parseContainerRecord,
  parseSandboxRecord,
  type SandboxRecord,
} from "./records.ts";

const sandboxKey = (id: string) => `sandboxes/${id}`;
const containerKey = (sid: string, cid: string) => `sandboxes/${sid}/containers/${cid}`;
const indexKey = (cid: string) => `containers/${cid}`;

/** Typed access to the records of sandboxes and containers. */
export class SandboxRepo {
  readonly #store: MetadataStore;

  constructor(store: MetadataStore) {
    this.#store = store;
  }

  async saveSandbox(r: SandboxRecord): Promise<void> {
    await this.#store.save(sandboxKey(r.id), r);
  }

  /** The sandbox's record, or undefined when there is none. */
  async findSandbox(id: SandboxId): Promise<SandboxRecord | undefined> {
    const raw = await this.#store.load(sandboxKey(id));
    return raw === undefined ? undefined : parseSandboxRecord(raw, `sandbox "${id}"`);
  }

  /** @throws {SandboxError} `NotFound` when the sandbox does not exist. */
  async loadSandbox(id: SandboxId): Promise<SandboxRecord> {
    const r = await this.findSandbox(id);
    if (r === undefined) throw new SandboxError("NotFound", `Cannot find sandbox "${id}": it does not exist`);
    return r;
  }

  async deleteSandbox(id: SandboxId): Promise<void> {
    await this.#store.delete(sandboxKey(id));
  }

  /** Ids of every sandbox with a record. */
  async listSandboxes(): Promise<string[]> {
    const keys = await this.#store.list("sandboxes/");
    return keys.map((k) => k.split("/")).filter((p) => p.length === 2).map((p) => p[1] ?? "").sort();
  }

  async saveContainer(r: ContainerRecord): Promise<void> {
    await this.#store.save(containerKey(r.sandboxId, r.id), r);
  }

  async findContainer(sid: SandboxId, cid: ContainerId): Promise<ContainerRecord | undefined> {
    const raw = await this.#store.load(containerKey(sid, cid));
    return raw === undefined ? undefined : parseContainerRecord(raw, `container "${cid}"`);
  }

  /** @throws {SandboxError} `NotFound` when the container does not exist. */
  async loadContainer(sid: SandboxId, cid: ContainerId): Promise<ContainerRecord> {
    const r = await this.findContainer(sid, cid);
    if (r === undefined) {
      throw new SandboxError(
        "NotFound",
        `Cannot find container "${cid}" in sandbox "${sid}": it does not exist`,
      );
    }
    return r;
  }

  async listContainers(sid: SandboxId): Promise<ContainerRecord[]> {
    const prefix = `sandboxes/${sid}/containers/`;
    const keys = (await this.#store.list(prefix)).filter((k) => !k.slice(prefix.length).includes("/"));
    const out: ContainerRecord[] = [];
    for (const k of keys.sort()) {
      const raw = await this.#store.load(k);
      if (raw !== undefined) out.push(parseContainerRecord(raw, `container "${k.slice(prefix.length)}"`));
    }
    return out;
  }

  async deleteContainer(sid: SandboxId, cid: ContainerId): Promise<void> {
    await this.#store.delete(containerKey(sid, cid));
  }

  /** Claims a container id for a sandbox; container ids are unique on a host (runc semantics). */
  async claimContainerId(cid: ContainerId, sid: SandboxId): Promise<void> {
    const owner = await this.ownerOf(cid);
    if (owner !== undefined) {
      throw new SandboxError(
        "AlreadyExists",
        `Cannot create container "${cid}": a container with this id exists in sandbox "${owner}"`,
      );
    }
    await this.#store.save(indexKey(cid), { schema: 1, sandboxId: sid });
  }

  /** The sandbox holding container `cid`, or undefined. */
  async ownerOf(cid: ContainerId): Promise<SandboxId | undefined> {
    const raw = await this.#store.load(indexKey(cid));
    return raw === undefined ? undefined : parseContainerIndex(raw, `container index "${cid}"`).sandboxId;
  }

  async releaseContainerId(cid: ContainerId): Promise<void> {
    await this.#store.delete(indexKey(cid));
  }
}
