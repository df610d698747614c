import assert from "node:assert/strict";
import { isHostNetns } from "./host_netns.ts";

Deno.test({
  name: "isHostNetns() knows the host's namespace under any path, and a pod's is not it",
  ignore: Deno.uid() !== 0,
  async fn() {
    // PID 1's may be hidden from root in a container sandbox; ours is the host's here
    if (await Deno.stat("/proc/1/ns/net").then(() => true, () => false)) {
      assert.equal(await isHostNetns("/proc/1/ns/net"), true);
    }
    assert.equal(await isHostNetns("/proc/self/ns/net"), true);
    assert.equal(await isHostNetns(`/proc/${Deno.pid}/ns/net`), true);
    assert.equal(await isHostNetns("/nonexistent"), false);
    const name = `cocoon-hostns-${crypto.randomUUID().slice(0, 8)}`;
    const add = await new Deno.Command("ip", { args: ["netns", "add", name] }).output();
    assert.equal(add.code, 0);
    try {
      assert.equal(await isHostNetns(`/var/run/netns/${name}`), false);
    } finally {
      await new Deno.Command("ip", { args: ["netns", "del", name] }).output();
    }
  },
});
