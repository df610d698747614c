import assert from "node:assert/strict";
import { startContainerd } from "../utils/containerd.ts";
import {
  encodeForwardRequest,
  EVENTS_FORWARD_METHOD,
  EVENTS_SERVICE,
  NAMESPACE_METADATA_KEY,
} from "../../runtime/protocol/events.ts";
import { TtrpcClient } from "../../runtime/protocol/ttrpc/client.ts";
import { RpcStatusError } from "../../runtime/protocol/ttrpc/status.ts";

Deno.test({
  name: "Events/Forward of a TaskExit envelope reaches a real containerd 1.6 and shows in ctr events",
  permissions: { run: true, read: true, write: true, env: true, net: true },
  async fn() {
    const ctrd = await startContainerd();
    try {
      const sub = await ctrd.subscribe();
      const client = await TtrpcClient.connect(ctrd.ttrpcAddress);
      try {
        const exitedAt = new Date(Date.now() - 1500);
        const payload = encodeForwardRequest(
          { kind: "exit", containerId: "cocoon-c1", id: "cocoon-c1", pid: 4242, exitStatus: 137, exitedAt },
          { namespace: "cocoon-test" },
        );
        const reply = await client.call(EVENTS_SERVICE, EVENTS_FORWARD_METHOD, payload, {
          timeoutMs: 5000,
          metadata: { [NAMESPACE_METADATA_KEY]: "cocoon-test" },
        });
        assert.equal(reply.length, 0, "Forward answers google.protobuf.Empty");

        const line = await sub.waitFor((l) => l.includes("/tasks/exit"));
        // e.g. "2026-11-23 06:40:00.1 +0000 UTC cocoon-test /tasks/exit {"container_id":"cocoon-c1",...}"
        assert.match(line, / cocoon-test \/tasks\/exit /);
        const json = JSON.parse(line.slice(line.indexOf("{")));
        assert.equal(json.container_id, "cocoon-c1");
        assert.equal(json.id, "cocoon-c1");
        assert.equal(json.pid, 4242);
        assert.equal(json.exit_status, 137);
        assert.equal(new Date(json.exited_at).getTime(), exitedAt.getTime());

        // A zero-time envelope is refused by containerd with INVALID_ARGUMENT.
        const bad = encodeForwardRequest({ kind: "oom", containerId: "cocoon-c1" }, {
          namespace: "cocoon-test",
          timestamp: new Date(-62135596800000),
        });
        await assert.rejects(
          client.call(EVENTS_SERVICE, EVENTS_FORWARD_METHOD, bad, { timeoutMs: 5000 }),
          (e) => e instanceof RpcStatusError && e.code === "InvalidArgument",
        );
      } finally {
        await client.close();
        await sub.close();
      }
    } finally {
      await ctrd.stop();
    }
    assert.equal(await Deno.stat(ctrd.dir).then(() => true, () => false), false, "temp dir removed");
  },
});
