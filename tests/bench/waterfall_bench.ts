/**
 * The start-up waterfall (runtime/waterfall/) of a cold start and of a template clone, through the
 * library with the bench pod's configuration: each step's time from the start as a figure, so the
 * README chart shows where a start goes and the next change can be compared step by step.
 *
 * @module
 */
import { loadConfig } from "../../runtime/config/load.ts";
import { measureWaterfall } from "../../runtime/waterfall/run.ts";
import type { Row } from "./figures.ts";
import { withPodWorld, writeBenchConfig } from "./pod_env.ts";

export async function benchWaterfall(): Promise<{ rows: Row[] }> {
  const rows: Row[] = [];
  await withPodWorld(async (w) => {
    for (const mode of [{ kind: "cold" }, { kind: "template" }] as const) {
      const config = await loadConfig({ path: await writeBenchConfig(w, mode) });
      // a template is made by the first clone's start: time the second
      if (mode.kind === "template") await measureWaterfall({ config, rootfs: w.rootfs });
      const r = await measureWaterfall({ config, rootfs: w.rootfs });
      for (const row of r.rows) {
        rows.push({ name: `${mode.kind}: ${row.side} ${row.stage}`, value: row.atMs, unit: "ms" });
      }
      rows.push({ name: `${mode.kind}: first output`, value: r.totalMs, unit: "ms" });
    }
  });
  return { rows };
}
