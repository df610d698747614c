import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { RuntimeError } from "../errors.ts";
import { Controller } from "./gen/containerd/services/sandbox/v1/sandbox_pb.ts";
import { grpcUnaryClient, grpcUnaryService } from "./grpc.ts";

Deno.test({
  name: "grpcUnaryService() serves the sandbox Controller over a unix socket to grpcUnaryClient()",
  permissions: { read: true, write: true, net: true, env: true, sys: true },
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cocoon-grpc-" });
    const server = new grpc.Server();
    try {
      server.addService(...grpcUnaryService(Controller, {
        platform: () => Promise.resolve({ platform: { os: "linux", architecture: "amd64" } }),
        start: (req, ctx) =>
          Promise.resolve({
            sandboxId: req.sandboxId,
            pid: 42,
            address: `ttrpc+unix://${dir}/task.sock`,
            version: 2,
            labels: { sandboxer: req.sandboxer, ns: ctx.metadata.get("containerd-namespace")?.[0] ?? "" },
          }),
        shutdown: (req) =>
          Promise.reject(new RuntimeError("NotFound", `sandbox "${req.sandboxId}" not found`)),
      }));
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(
          `unix://${dir}/sb.sock`,
          grpc.ServerCredentials.createInsecure(),
          (e, p) => e ? reject(e) : resolve(p),
        )
      );
      assert.equal(typeof port, "number");
      const { client, close } = grpcUnaryClient(Controller, `unix://${dir}/sb.sock`);
      try {
        const plat = await client.platform({ sandboxId: "sb1", sandboxer: "cocoon" }, { timeoutMs: 5000 });
        assert.equal(plat.platform?.os, "linux");
        assert.equal(plat.platform?.architecture, "amd64");
        const started = await client.start({ sandboxId: "sb1", sandboxer: "cocoon" }, {
          metadata: { "containerd-namespace": "k8s.io" },
        });
        assert.equal(started.pid, 42);
        assert.equal(started.version, 2);
        assert.equal(started.address, `ttrpc+unix://${dir}/task.sock`);
        assert.deepEqual(started.labels, { sandboxer: "cocoon", ns: "k8s.io" });
        await assert.rejects(
          client.stop({ sandboxId: "sb1" }),
          (e) =>
            e instanceof RuntimeError && e.code === "Unimplemented" &&
            e.message === "Stop is not implemented",
        );
        await assert.rejects(
          client.shutdown({ sandboxId: "sb9" }),
          (e) =>
            e instanceof RuntimeError && e.code === "NotFound" && e.message === 'sandbox "sb9" not found',
        );
      } finally {
        close();
      }
    } finally {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
