/**
 * P6: container stdout throughput to the host vs raw virtio-serial throughput (goal >= 0.5).
 *
 * - baseline: a bare VM (the same kernel, started through the QEMU plugin like a sandbox VM) whose
 *   /init is replaced by a script that writes N MiB of zeros into the virtio-serial port the agent
 *   would use (`cocoon.agent`); the host reads them from that port's unix socket. The script is a
 *   newc archive appended to the image's initrd (the kernel unpacks both; the later /init wins).
 * - measured: a container in a Cocoon sandbox (library API) writing N MiB to its stdout with `dd`,
 *   read by the host through the process's stdout stream.
 *
 * Both are timed from the first byte to the last, so boot and container start are left out.
 *
 * Run alone: deno run --allow-all tests/bench/stdout_bench.ts [MiB]
 *
 * @module
 */
import qemuPlugin from "../../plugins/hypervisor/qemu/mod.ts";
import { writeCpio } from "../../runtime/guest/cpio.ts";
import { sandboxId } from "../../runtime/ids.ts";
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { ratio, round, type Row } from "./figures.ts";
import {
  POD_MEMORY_MIB,
  POD_VCPUS,
  type PodWorld,
  startPod,
  stopPod,
  within,
  withPodWorld,
  writeBenchConfig,
} from "./pod_env.ts";

export const P6_GOAL = ">= 0.5";

/** The replacement /init of the baseline VM: N MiB into the `cocoon.agent` port, then power off. */
export function writerInit(mib: number): string {
  return `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
port=
for d in /sys/class/virtio-ports/*; do
  [ "$(/bin/busybox cat "$d/name" 2>/dev/null)" = cocoon.agent ] && port="/dev/\${d##*/}"
done
echo "p6-writer: port $port"
/bin/busybox dd if=/dev/zero of="$port" bs=65536 count=${mib * 16} 2>/dev/null
echo "p6-writer: done $?"
/bin/busybox sleep 2
/bin/busybox poweroff -f
`;
}

/** MiB/s of `bytes` read between `firstMs` and `lastMs`. Pure. */
export function mibPerSec(bytes: number, firstMs: number, lastMs: number): number {
  const s = (lastMs - firstMs) / 1000;
  return s > 0 ? bytes / 2 ** 20 / s : Number.NaN;
}

/** Reads `total` bytes from `stream`; MiB/s between the first and the last byte. */
export async function readThroughput(stream: ReadableStream<Uint8Array>, total: number): Promise<number> {
  let got = 0;
  let first = 0;
  const reader = stream.getReader();
  try {
    while (got < total) {
      const { done, value } = await reader.read();
      if (done) break;
      if (got === 0) first = performance.now();
      got += value.byteLength;
    }
  } finally {
    reader.releaseLock();
  }
  if (got < total) throw new Error(`Cannot bench stdout: read ${got} of ${total} bytes`);
  return mibPerSec(got, first, performance.now());
}

/** The raw virtio-serial baseline, MiB/s. */
async function rawSerial(w: PodWorld, mib: number): Promise<number> {
  const dir = await Deno.makeTempDir({ dir: w.dir, prefix: "p6-bare-" });
  await Deno.mkdir(`${dir}/overlay`);
  await Deno.writeTextFile(`${dir}/overlay/init`, writerInit(mib), { mode: 0o755 });
  await writeCpio(`${dir}/overlay`, `${dir}/overlay.cpio`, { compress: "none" });
  const initrd = `${dir}/initrd.img`;
  const base = await Deno.readFile(w.image.initrd);
  const overlay = await Deno.readFile(`${dir}/overlay.cpio`);
  // The kernel takes an uncompressed archive after the first only at a 4-byte aligned offset.
  await Deno.writeFile(initrd, base);
  await Deno.writeFile(initrd, new Uint8Array((4 - (base.byteLength % 4)) % 4), { append: true });
  await Deno.writeFile(initrd, overlay, { append: true });
  const hv = await qemuPlugin.create({
    log: createLogger({ sink: nullSink }),
    config: { accelerator: "auto" },
    runDir: dir,
  });
  const vm = await hv.createVm({
    id: sandboxId(`p6-bare-${crypto.randomUUID().slice(0, 6)}`),
    stateDir: dir,
    kernel: w.image.kernel,
    initrd,
    kernelParams: [w.image.manifest.cmdline],
    vcpus: POD_VCPUS,
    maxVcpus: POD_VCPUS,
    memoryMiB: POD_MEMORY_MIB,
    maxMemoryMiB: POD_MEMORY_MIB,
    devices: [],
    accelerator: "auto",
    agentChannel: "virtio-serial",
    consoleLog: `${dir}/console.log`,
  });
  let conn: Deno.UnixConn | undefined;
  try {
    await vm.start();
    const address = vm.agentAddress();
    if (address.kind !== "unix") throw new Error(`Cannot bench stdout: agent channel is ${address.kind}`);
    conn = await Deno.connect({ transport: "unix", path: address.path });
    return await within(
      300_000,
      "reading the raw serial stream",
      readThroughput(conn.readable, mib * 2 ** 20),
    );
  } catch (e) {
    const console = await Deno.readTextFile(`${dir}/console.log`).catch(() => "");
    throw new Error(`Cannot bench raw virtio-serial: ${String(e)}\n${console.slice(-1500)}`, { cause: e });
  } finally {
    try {
      conn?.close();
    } catch { /* closed */ }
    await vm.stop({ force: true, timeoutMs: 5_000 }).catch(() => {});
    await Promise.resolve(vm[Symbol.asyncDispose]()).catch(() => {});
  }
}

/** Container stdout through the library, MiB/s. */
async function containerStdout(w: PodWorld, mib: number): Promise<number> {
  const config = await writeBenchConfig(w, { kind: "cold" });
  const pod = await within(
    300_000,
    "a cold pod start",
    startPod(config, w.rootfs, `p6-${crypto.randomUUID().slice(0, 6)}`),
  );
  try {
    const p = await pod.sb.enterContainer(pod.containerId, {
      args: ["sh", "-c", `dd if=/dev/zero bs=65536 count=${mib * 16} 2>/dev/null`],
    });
    const rate = await within(
      300_000,
      "reading the container's stdout",
      readThroughput(p.io.stdout, mib * 2 ** 20),
    );
    await within(60_000, "the writer's exit", p.wait());
    return rate;
  } finally {
    await stopPod(pod);
  }
}

/** Runs P6 with `mib` MiB each way. */
export async function benchStdout(
  opts: { mib?: number; signal?: AbortSignal } = {},
): Promise<{ rows: Row[] }> {
  const mib = opts.mib ?? 16;
  return await withPodWorld(async (w) => {
    const raw = await rawSerial(w, mib);
    const ctr = await containerStdout(w, mib);
    return {
      rows: [
        {
          name: `raw virtio-serial, bare VM to host socket (baseline, ${mib} MiB)`,
          value: round(raw, 1),
          unit: "MiB/s",
        },
        {
          name: `container stdout to host via library ioStream (${mib} MiB)`,
          value: round(ctr, 1),
          unit: "MiB/s",
        },
        {
          name: "P6 container stdout / raw virtio-serial",
          value: round(ratio(ctr, raw), 3),
          unit: "x",
          goal: P6_GOAL,
        },
      ],
    };
  }, opts.signal ? { signal: opts.signal } : {});
}

if (import.meta.main) {
  const r = await benchStdout({ mib: Number(Deno.args[0] ?? 16) });
  // deno-lint-ignore no-console
  for (const row of r.rows) console.log(`${row.name}: ${row.value} ${row.unit} ${row.goal ?? ""}`);
}
