import assert from "node:assert/strict";
import { unprotect } from "./oom_score.ts";

Deno.test("unprotect() sets a process that inherited a negative oom_score_adj back to 0, and leaves others", async () => {
  // a /proc of its own: lowering a real score needs CAP_SYS_RESOURCE, which some hosts withhold
  const proc = await Deno.makeTempDir({ prefix: "cocoon-proc-" });
  try {
    const score = async (pid: number) => (await Deno.readTextFile(`${proc}/${pid}/oom_score_adj`)).trim();
    for (const [pid, s] of [[10, "-998"], [11, "300"], [12, "0"]] as const) {
      await Deno.mkdir(`${proc}/${pid}`);
      await Deno.writeTextFile(`${proc}/${pid}/oom_score_adj`, `${s}\n`);
    }
    await unprotect([10, 11, 12, 13], proc);
    assert.equal(await score(10), "0", "the inherited protection is gone");
    assert.equal(await score(11), "300", "a positive score is the process's own business");
    assert.equal(await score(12), "0");
  } finally {
    await Deno.remove(proc, { recursive: true });
  }
});
