import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { createLogger, nullSink } from "../log/logger.ts";
import {
  Health,
  HealthCheckResponseSchema,
  ServingStatus,
} from "../protocol/gen/cocoon/agent/v1/health_pb.ts";
import { WaitProcessResponseSchema } from "../protocol/gen/cocoon/agent/v1/agent_pb.ts";
import { TtrpcServer } from "../protocol/ttrpc/server.ts";
import { AgentClient } from "./client.ts";
import { exitFromPb, stdioToPb, storageToPb } from "./trans.ts";

const log = createLogger({ sink: nullSink });

Deno.test({
  name: "AgentClient.connect() retries until the agent listens and answers SERVING",
  permissions: { read: true, write: true, net: true },
  async fn() {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/agent.sock`;
    const server = new TtrpcServer({ log });
    let checks = 0;
    server.register(Health.typeName, {
      [Health.method.check.name]: () => {
        checks++;
        const status = checks < 2 ? ServingStatus.NOT_SERVING : ServingStatus.SERVING;
        return Promise.resolve(
          toBinary(HealthCheckResponseSchema, create(HealthCheckResponseSchema, { status })),
        );
      },
    });
    const late = setTimeout(() => server.listen(path).catch(() => {}), 300);
    try {
      const t0 = performance.now();
      const agent = await AgentClient.connect({ kind: "unix", path }, { timeoutMs: 5000, log });
      assert.ok(performance.now() - t0 >= 250);
      assert.equal(checks, 2);
      agent.close();
    } finally {
      clearTimeout(late);
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "AgentClient.connect() fails with DeadlineExceeded when nothing answers",
  permissions: { read: true, write: true, net: true },
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      await assert.rejects(
        AgentClient.connect({ kind: "unix", path: `${dir}/none.sock` }, { timeoutMs: 300, log }),
        { code: "DeadlineExceeded" },
      );
      await assert.rejects(AgentClient.connect({ kind: "vsock", cid: 3, port: 1024 }, { log }), {
        code: "Unimplemented",
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "trans: domain values map to proto with defaults, and bad exit statuses from the guest are refused",
  permissions: "none",
  fn() {
    assert.deepEqual(storageToPb({ driver: "9p", source: "tag", mountPoint: "/run/x" }), {
      driver: "9p",
      source: "tag",
      mountPoint: "/run/x",
      fsType: "",
      options: [],
      driverOptions: [],
      readOnly: false,
    });
    assert.deepEqual(stdioToPb(undefined), { stdin: true, stdout: true, stderr: true, terminal: false });
    assert.equal(exitFromPb(create(WaitProcessResponseSchema, { exitStatus: 137, pid: 5 })).exitStatus, 137);
    assert.throws(() => exitFromPb(create(WaitProcessResponseSchema, { exitStatus: 100000 })), {
      code: "DataLoss",
    });
  },
});
