import assert from "node:assert/strict";
import { isHostNetns } from "./host_netns.ts";

Deno.test({
  name: "isHostNetns() knows the host's namespace under any path, and a pod's is not it",
  ignore: Deno.uid() !== 0,
  async fn() {
    assert.equal(await isHostNetns("/proc/1/ns/net"), true);
    assert.equal(await isHostNetns("/proc/self/ns/net"), true); // the tests run in the host's
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
