import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { CreateSandboxRequestSchema } from "../../runtime/protocol/gen/cocoon/agent/v1/agent_pb.ts";
import type { CallContext } from "../../runtime/protocol/ttrpc/server.ts";
import { createAgentCore } from "../core.ts";
import { fakeEnv } from "../sys/_fake.ts";
import { containerHandlers } from "./container.ts";

const ctx: CallContext = {
  service: "cocoon.agent.v1.Agent",
  method: "CreateSandbox",
  streamId: 1,
  metadata: new Map(),
  signal: new AbortController().signal,
  deadline: undefined,
};

Deno.test({
  name: "CreateSandbox sets clock, hostname, resolv.conf, loads modules and mounts storages",
  permissions: { read: true, write: true },
  async fn() {
    const dir = await Deno.makeTempDir();
    const env = fakeEnv();
    const times: Date[] = [];
    using core = createAgentCore({
      env,
      bundleRoot: `${dir}/b`,
      setTime: (d) => void times.push(d),
      paths: { proc: dir, sys: dir, etc: dir },
    });
    try {
      const handler = new Map(containerHandlers(core)).get("CreateSandbox");
      assert.ok(handler);
      const when = new Date("2031-05-06T07:08:09Z");
      await handler(
        toBinary(
          CreateSandboxRequestSchema,
          create(CreateSandboxRequestSchema, {
            sandboxId: "sb-1",
            hostname: "pod-a",
            dns: ["nameserver 10.0.0.10", "search svc.local"],
            kernelModules: [{ name: "overlay", parameters: [] }],
            storages: [{ driver: "tmpfs", mountPoint: `${dir}/shm`, options: ["size=1m"] }],
            guestTime: timestampFromDate(when),
          }),
        ),
        ctx,
      );
      assert.deepEqual(times, [when]);
      assert.equal(core.sandboxId, "sb-1");
      assert.equal(env.fs.files.get(`${dir}/sys/kernel/hostname`), "pod-a");
      assert.equal(env.fs.files.get(`${dir}/resolv.conf`), "nameserver 10.0.0.10\nsearch svc.local\n");
      assert.deepEqual(env.runner.commands(), [
        "modprobe overlay",
        `mount -t tmpfs -o size=1m tmpfs ${dir}/shm`,
      ]);
      assert.deepEqual(core.mounts.get(""), [`${dir}/shm`]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
