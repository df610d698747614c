import assert from "node:assert/strict";
import { claimVmUser, releaseVmUser, releaseVmUsersUnder, runningUids } from "./vm_user.ts";

const range = { first: 5000, count: 3 };

Deno.test("vm users: claims are exclusive, released ones are reused, a full range is refused", async () => {
  const claims = await Deno.makeTempDir();
  try {
    const o = { claims, range, start: 0, running: () => Promise.resolve(new Set<number>()) };
    const a = await claimVmUser("/run/a", o);
    const b = await claimVmUser("/run/b", o);
    const c = await claimVmUser("/run/c", o);
    assert.deepEqual([a, b, c].sort(), [5000, 5001, 5002]);
    assert.equal(await Deno.readTextFile(`${claims}/${a}`), "/run/a\n");
    await assert.rejects(claimVmUser("/run/d", o), /all 3 uids from 5000 are claimed/);
    await releaseVmUser(b, { claims });
    await releaseVmUser(b, { claims }); // twice is fine
    assert.equal(await claimVmUser("/run/e", o), b);
  } finally {
    await Deno.remove(claims, { recursive: true });
  }
});

Deno.test("vm users: an old claim is taken again only when no process runs with its uid", async () => {
  const claims = await Deno.makeTempDir();
  try {
    const old = new Date(Date.now() - 3600_000);
    for (const uid of [5000, 5001, 5002]) {
      await Deno.writeTextFile(`${claims}/${uid}`, "/gone\n");
      await Deno.utime(`${claims}/${uid}`, old, old);
    }
    const running = () => Promise.resolve(new Set([5000, 5001]));
    assert.equal(await claimVmUser("/run/x", { claims, range, start: 0, running }), 5002);
    await assert.rejects(claimVmUser("/run/y", { claims, range, start: 0, running }), /claimed/);
  } finally {
    await Deno.remove(claims, { recursive: true });
  }
});

Deno.test("vm users: running uids include this process's", async () => {
  assert.ok((await runningUids()).has(Deno.uid() ?? 0));
});

Deno.test("vm users: the claims of VMs below a sandbox directory are released with it", async () => {
  const claims = await Deno.makeTempDir();
  try {
    const o = { claims, range, start: 0, running: () => Promise.resolve(new Set<number>()) };
    const a = await claimVmUser("/run/s/a/vm", o);
    const b = await claimVmUser("/run/s/ab/vm", o);
    assert.deepEqual(await releaseVmUsersUnder("/run/s/a/", { claims }), [a]);
    assert.deepEqual(await releaseVmUsersUnder("/run/s/a", { claims }), []);
    assert.equal(await Deno.readTextFile(`${claims}/${b}`), "/run/s/ab/vm\n");
    assert.deepEqual(await releaseVmUsersUnder("/run/s/x", { claims: `${claims}/none` }), []);
  } finally {
    await Deno.remove(claims, { recursive: true });
  }
});
