import assert from "node:assert/strict";
import { encodeCgroupsV2Metrics } from "./metrics.ts";

/** field number → varint values / nested bytes, one level. */
function fields(b: Uint8Array): Map<number, (bigint | Uint8Array)[]> {
  const out = new Map<number, (bigint | Uint8Array)[]>();
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      const x = b[i++];
      if (x === undefined) throw new Error("truncated");
      v |= BigInt(x & 0x7f) << shift;
      if ((x & 0x80) === 0) return v;
      shift += 7n;
    }
  };
  while (i < b.length) {
    const key = Number(varint());
    const list = out.get(key >> 3) ?? [];
    if ((key & 7) === 0) list.push(varint());
    else {
      const n = Number(varint());
      list.push(b.slice(i, i + n));
      i += n;
    }
    out.set(key >> 3, list);
  }
  return out;
}

Deno.test({
  name:
    "encodeCgroupsV2Metrics() writes memory (field 4): usage 32, usage_limit 33 (2^64-1 when unlimited), max_usage 36, file 2; memory_events (8) oom_kill 5",
  permissions: "none",
  fn() {
    const mem = (limitBytes: bigint) =>
      encodeCgroupsV2Metrics({
        sampledAt: undefined,
        memory: {
          usageBytes: 4_194_304n,
          limitBytes,
          maxUsageBytes: 8_388_608n,
          cacheBytes: 4096n,
          oomKills: 2n,
        },
      });
    const m = fields(mem(33_554_432n)).get(4)?.[0];
    assert.ok(m instanceof Uint8Array);
    const f = fields(m);
    assert.deepEqual(f.get(32), [4_194_304n]);
    assert.deepEqual(f.get(33), [33_554_432n]);
    assert.deepEqual(f.get(36), [8_388_608n]);
    assert.deepEqual(f.get(2), [4096n]);
    const events = fields(mem(33_554_432n)).get(8)?.[0];
    assert.ok(events instanceof Uint8Array);
    assert.deepEqual(fields(events).get(5), [2n]);
    const u = fields(mem(0n)).get(4)?.[0];
    assert.ok(u instanceof Uint8Array);
    assert.deepEqual(fields(u).get(33), [0xffff_ffff_ffff_ffffn]);
  },
});
