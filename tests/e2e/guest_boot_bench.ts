/**
 * Boot timings of the guest image in QEMU (not a test: run it by hand).
 *   deno run -A tests/e2e/guest_boot_bench.ts [runs=3]
 * Prints, per layout, guest uptimes (s) at each /init stage and at the agent's first line, and the
 * host wall time until the test agent is ready. `bare` stops right after /init starts.
 */
import { buildGuestImage, DEFAULT_GUEST_ROOT } from "../../runtime/guest/mod.ts";
import { bootGuest, type BootGuestOptions, ensureGuestImage } from "../utils/guest.ts";

const runs = Number(Deno.args[0] ?? 3);
const erofs = await ensureGuestImage({ agent: "test", mode: "erofs" });
const initrd = await ensureGuestImage({ agent: "test", mode: "initrd" });
const initrdPlain = await buildGuestImage({
  agentBundle: `${DEFAULT_GUEST_ROOT}/.test-agent/agent.js`,
  mode: "initrd",
  compression: "none",
  setCurrent: false,
});
const cases: [string, typeof erofs, BootGuestOptions][] = [
  ["bare, erofs image (1.6 MB initrd)", erofs, { append: "cocoon.stop=init" }],
  ["bare, initrd image (gzip)", initrd, { append: "cocoon.stop=init", memoryMiB: 512 }],
  ["agent, erofs on virtio-blk", erofs, { until: "COCOON-TEST-AGENT ready" }],
  ["agent, erofs on virtio-pmem (DAX)", erofs, { until: "COCOON-TEST-AGENT ready", userland: "virtio-pmem" }],
  ["agent, initrd (gzip)", initrd, { until: "COCOON-TEST-AGENT ready", memoryMiB: 512 }],
  ["agent, initrd (uncompressed)", initrdPlain, { until: "COCOON-TEST-AGENT ready", memoryMiB: 512 }],
];
const out = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(s + "\n"));
for (const [name, image, opts] of cases) {
  for (let i = 0; i < runs; i++) {
    const r = await bootGuest(image, opts);
    const s = r.stages;
    out(
      `${name.padEnd(36)} init=${s["init"] ?? "-"} modules=${s["modules"] ?? "-"} userland=${
        s["userland"] ?? "-"
      } agent-run=${s["agent-run"] ?? "-"} agent-start=${r.agent["start"] ?? "-"} wall=${
        (r.wallMs / 1000).toFixed(2)
      }s`,
    );
  }
}
