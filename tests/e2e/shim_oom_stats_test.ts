/**
 * OOM and memory stats on real QEMU through containerd 1.6, the shim and the daemon: a container
 * over its `--memory-limit` is OOM-killed in the guest (cgroup v2 memory.events), containerd gets
 * `/tasks/oom` before `/tasks/exit` (137); `ctr task metrics` shows the guest cgroup's memory usage
 * and limit.
 */
import assert from "node:assert/strict";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { pidsMentioning, topicsOf, withShimWorld } from "../integration/shim_harness.ts";
import { guestImage, hostCanBoot, PATH, writeConfig } from "./shim_vm_env.ts";

const opts = { ignore: !(await hostCanBoot()), sanitizeResources: false, sanitizeOps: false };

async function prepare(dir: string) {
  const image = await guestImage();
  return { rootfs: await makeBusyboxRootfs(dir), env: { COCOON_CONFIG: await writeConfig(dir, image) } };
}

/** `ctr task metrics` table rows (METRIC VALUE) as a map. */
function metricsTable(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) m.set(k, v);
  }
  return m;
}

Deno.test({
  name:
    "real QEMU: ctr task metrics reports guest memory usage and limit; a memory hog gets /tasks/oom then exit 137",
  ...opts,
  async fn() {
    await withShimWorld({ embedded: false, prepare }, async (w) => {
      const sub = await w.ctrd.subscribe();
      const limit = 64 * 1024 * 1024;
      const d = await w.run(["-d", "--memory-limit", String(limit), ...PATH], "v-mem", ["sleep", "600"]);
      assert.equal(d.code, 0, d.stderr);
      const met = await w.ctrd.ctr(["task", "metrics", "v-mem"]);
      assert.equal(met.code, 0, met.stderr);
      const table = metricsTable(met.stdout);
      const usage = Number(table.get("memory.usage"));
      assert.ok(usage > 0 && usage < limit, `memory.usage ${table.get("memory.usage")}:\n${met.stdout}`);
      assert.equal(table.get("memory.usage_limit"), String(limit), met.stdout);
      // deno-lint-ignore no-console
      console.log(`ctr task metrics of a sleep under a 64 MiB limit: memory.usage ${usage} bytes`);
      assert.equal((await w.ctrd.ctr(["task", "kill", "-s", "SIGKILL", "v-mem"])).code, 0);
      await sub.waitFor((l) => l.includes("/tasks/exit") && l.includes('"v-mem"'), { timeoutMs: 30_000 });
      assert.equal((await w.ctrd.ctr(["task", "rm", "v-mem"])).code, 0);

      // The shell doubles a string until the 16 MiB cgroup limit: the OOM killer picks the shell.
      const hog = await w.run(["--memory-limit", String(16 * 1024 * 1024), ...PATH], "v-oom", [
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
      ]);
      assert.equal(hog.code, 137, `exit ${hog.code}: ${hog.stderr}`);
      await sub.waitFor((l) => l.includes("/tasks/exit") && l.includes('"v-oom"'), { timeoutMs: 30_000 });
      const topics = topicsOf(sub.lines, "v-oom");
      assert.ok(topics.includes("/tasks/oom"), `no /tasks/oom: ${topics.join(" ")}`);
      assert.ok(topics.indexOf("/tasks/oom") < topics.indexOf("/tasks/exit"), topics.join(" "));
      // deno-lint-ignore no-console
      console.log(`events of the memory hog: ${topics.join(" ")}`);
      await w.ctrd.ctr(["container", "rm", "v-mem", "v-oom"]);
      for (let i = 0; i < 100 && (await pidsMentioning(w.dir, "qemu-system")).length > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.deepEqual(await pidsMentioning(w.dir, "qemu-system"), [], "no VM left");
    });
  },
});
