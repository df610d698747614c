/**
 * vCPU and memory resizing over QMP: CPUs through `query-hotpluggable-cpus` + `device_add`,
 * memory through a memory backend object + `pc-dimm`. The guest must online what it gets
 * (memory: `memhp_default_state=online`; CPUs: the agent).
 *
 * @module
 */
import { HypervisorError } from "../../../runtime/errors.ts";
import { deleteDevice, type HotplugTarget } from "./hotplug.ts";

const MIB = 1024 * 1024;
/** Guest memory blocks are 128 MiB on x86_64: DIMMs are sized in whole blocks. */
export const DIMM_ALIGN_MIB = 128;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
function records(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.filter(isRecord) : [];
}

interface CpuSlot {
  readonly type: string;
  readonly props: Readonly<Record<string, unknown>>;
  readonly qomPath?: string;
}

async function cpuSlots(t: HotplugTarget): Promise<CpuSlot[]> {
  return records(await t.qmp.execute("query-hotpluggable-cpus")).map((c) => {
    const slot: CpuSlot = {
      type: typeof c["type"] === "string" ? c["type"] : "",
      props: isRecord(c["props"]) ? c["props"] : {},
      ...(typeof c["qom-path"] === "string" ? { qomPath: c["qom-path"] } : {}),
    };
    return slot;
  });
}

function cpuId(props: Readonly<Record<string, unknown>>): string {
  return `cpu-s${props["socket-id"] ?? 0}-c${props["core-id"] ?? 0}-t${props["thread-id"] ?? 0}`;
}

/** Plugs or unplugs vCPUs until `count` are present. */
export async function resizeVcpus(
  t: HotplugTarget,
  count: number,
): Promise<{ before: number; after: number }> {
  const slots = await cpuSlots(t);
  const plugged = slots.filter((s) => s.qomPath !== undefined);
  const before = plugged.length;
  if (!Number.isInteger(count) || count < 1 || count > slots.length) {
    throw new HypervisorError(
      "OutOfRange",
      `Cannot resize VM "${t.vmId}" to ${count} vCPUs: use 1 to ${slots.length}`,
    );
  }
  if (count > before) {
    const free = slots.filter((s) => s.qomPath === undefined).reverse(); // QEMU lists the highest first
    for (const s of free.slice(0, count - before)) {
      await t.qmp.execute("device_add", { driver: s.type, id: cpuId(s.props), ...s.props });
    }
  } else if (count < before) {
    const removable = plugged.filter((s) => s.qomPath?.startsWith("/machine/peripheral/"));
    const drop = removable.slice(0, before - count);
    if (drop.length < before - count) {
      throw new HypervisorError(
        "FailedPrecondition",
        `Cannot resize VM "${t.vmId}" to ${count} vCPUs: only hotplugged vCPUs can be removed (${removable.length})`,
      );
    }
    for (const s of drop) {
      const id = s.qomPath?.split("/").pop() ?? "";
      await deleteDevice(t, id, `vCPU "${id}"`);
    }
  }
  const after = (await cpuSlots(t)).filter((s) => s.qomPath !== undefined).length;
  return { before, after };
}

interface Dimm {
  readonly id: string;
  readonly memdev: string;
  readonly sizeMiB: number;
}

async function dimms(t: HotplugTarget): Promise<Dimm[]> {
  return records(await t.qmp.execute("query-memory-devices")).flatMap((d) => {
    const data = isRecord(d["data"]) ? d["data"] : {};
    if (d["type"] !== "dimm" || typeof data["id"] !== "string") return [];
    const memdev = typeof data["memdev"] === "string" ? data["memdev"].split("/").pop() ?? "" : "";
    return [{ id: data["id"], memdev, sizeMiB: typeof data["size"] === "number" ? data["size"] / MIB : 0 }];
  });
}

async function memoryMiB(t: HotplugTarget): Promise<number> {
  const s = await t.qmp.execute("query-memory-size-summary");
  if (!isRecord(s)) return 0;
  const base = typeof s["base-memory"] === "number" ? s["base-memory"] : 0;
  const plugged = typeof s["plugged-memory"] === "number" ? s["plugged-memory"] : 0;
  return Math.round((base + plugged) / MIB);
}

/**
 * Grows memory to at least `mib` (in 128 MiB DIMMs) or shrinks it by unplugging DIMMs while the
 * total stays >= `mib`.
 */
export async function resizeMemory(
  t: HotplugTarget,
  mib: number,
): Promise<{ before: number; after: number }> {
  if (!Number.isInteger(mib) || mib < 64) {
    throw new HypervisorError(
      "OutOfRange",
      `Cannot resize VM "${t.vmId}" memory to ${mib} MiB: use an integer >= 64`,
    );
  }
  const before = await memoryMiB(t);
  if (mib > before) {
    const size = Math.ceil((mib - before) / DIMM_ALIGN_MIB) * DIMM_ALIGN_MIB;
    const n = (await dimms(t)).length;
    const suffix = `${n}-${Date.now().toString(36)}`;
    const backend: Record<string, unknown> = t.sharedMemory
      ? { "qom-type": "memory-backend-memfd", id: `mem-${suffix}`, size: size * MIB, share: true }
      : { "qom-type": "memory-backend-ram", id: `mem-${suffix}`, size: size * MIB };
    await t.qmp.execute("object-add", backend);
    try {
      await t.qmp.execute("device_add", { driver: "pc-dimm", id: `dimm-${suffix}`, memdev: `mem-${suffix}` });
    } catch (e) {
      await t.qmp.execute("object-del", { id: `mem-${suffix}` }).catch(() => {});
      throw e;
    }
  } else if (mib < before) {
    let total = before;
    for (const d of (await dimms(t)).reverse()) {
      if (total - d.sizeMiB < mib) continue;
      await deleteDevice(t, d.id, `memory device "${d.id}"`);
      if (d.memdev !== "") await t.qmp.execute("object-del", { id: d.memdev });
      total -= d.sizeMiB;
    }
  }
  return { before, after: await memoryMiB(t) };
}
