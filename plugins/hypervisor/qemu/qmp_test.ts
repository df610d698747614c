import assert from "node:assert/strict";
import { HypervisorError } from "../../../runtime/errors.ts";
import { QmpClient, QmpError, type QmpEvent } from "./qmp.ts";

const PERMS: Deno.PermissionOptionsObject = { read: ["/tmp"], write: ["/tmp"], net: true };

type Handler = (msg: Record<string, unknown>, send: (o: unknown) => Promise<void>) => Promise<void>;

/** A fake QMP server: greets, answers qmp_capabilities, hands other commands to `handler`. */
async function fakeQmp(handler: Handler): Promise<{ path: string; close(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "qmp-test-" });
  const path = `${dir}/qmp.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      void serve(conn);
    }
  })();
  async function serve(conn: Deno.Conn): Promise<void> {
    const enc = new TextEncoder();
    const send = async (o: unknown): Promise<void> => {
      await conn.write(enc.encode(JSON.stringify(o) + "\r\n"));
    };
    try {
      await send({
        QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: "" }, capabilities: [] },
      });
      let buf = "";
      const chunk = new Uint8Array(4096);
      while (true) {
        const n = await conn.read(chunk);
        if (n === null) break;
        buf += new TextDecoder().decode(chunk.subarray(0, n));
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          const msg = JSON.parse(buf.slice(0, i));
          buf = buf.slice(i + 1);
          if (msg.execute === "qmp_capabilities") await send({ return: {}, id: msg.id });
          else await handler(msg, send);
        }
      }
    } catch {
      // closed
    }
  }
  return {
    path,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await serving.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test({
  name: "QmpClient.connect() negotiates capabilities and execute() matches answers to ids out of order",
  permissions: PERMS,
  async fn() {
    const held: Array<() => Promise<void>> = [];
    const srv = await fakeQmp(async (msg, send) => {
      if (msg["execute"] === "slow") {
        held.push(() => send({ return: "slow-done", id: msg["id"] }));
        return;
      }
      await send({ return: { echo: msg["arguments"] ?? null }, id: msg["id"] });
      for (const h of held.splice(0)) await h();
    });
    const qmp = await QmpClient.connect(srv.path);
    try {
      assert.equal(qmp.version, "7.2.22");
      const slow = qmp.execute("slow");
      const fast = await qmp.execute("fast", { a: 1 });
      assert.deepEqual(fast, { echo: { a: 1 } });
      assert.equal(await slow, "slow-done");
    } finally {
      qmp.close();
      await srv.close();
    }
  },
});

Deno.test({
  name: "QmpClient.execute() throws QmpError with the QMP class and desc when QEMU answers an error",
  permissions: PERMS,
  async fn() {
    const srv = await fakeQmp(async (msg, send) => {
      await send({ error: { class: "DeviceNotFound", desc: "Device 'x' not found" }, id: msg["id"] });
    });
    const qmp = await QmpClient.connect(srv.path);
    try {
      await assert.rejects(qmp.execute("device_del", { id: "x" }), (e: unknown) => {
        assert.ok(e instanceof QmpError && e instanceof HypervisorError);
        assert.equal(e.code, "NotFound");
        assert.equal(e.qmpClass, "DeviceNotFound");
        assert.equal(e.message, `QMP command "device_del" failed: DeviceNotFound: Device 'x' not found`);
        return true;
      });
    } finally {
      qmp.close();
      await srv.close();
    }
  },
});

Deno.test({
  name: "QmpClient.execute() times out with DeadlineExceeded when QEMU does not answer",
  permissions: PERMS,
  async fn() {
    const srv = await fakeQmp(() => Promise.resolve());
    const qmp = await QmpClient.connect(srv.path);
    try {
      await assert.rejects(
        qmp.execute("query-status", undefined, { timeoutMs: 50 }),
        (e: unknown) => e instanceof HypervisorError && e.code === "DeadlineExceeded",
      );
    } finally {
      qmp.close();
      await srv.close();
    }
  },
});

Deno.test({
  name:
    "QmpClient delivers events to waitEvent() and events(), and fails pending calls when the socket closes",
  permissions: PERMS,
  async fn() {
    const srv = await fakeQmp(async (msg, send) => {
      if (msg["execute"] === "device_del") {
        await send({ return: {}, id: msg["id"] });
        await send({
          event: "DEVICE_DELETED",
          data: { path: "/x/virtio-backend" },
          timestamp: { seconds: 1, microseconds: 2 },
        });
        await send({
          event: "DEVICE_DELETED",
          data: { device: "dev-1" },
          timestamp: { seconds: 1, microseconds: 3 },
        });
      }
      // "hang" gets no answer
    });
    const qmp = await QmpClient.connect(srv.path);
    try {
      const seen: QmpEvent[] = [];
      const ac = new AbortController();
      const collecting = (async () => {
        for await (const e of qmp.events({ signal: ac.signal })) seen.push(e);
      })();
      const deleted = qmp.waitEvent((e) => e.event === "DEVICE_DELETED" && e.data["device"] === "dev-1", {
        timeoutMs: 2000,
      });
      await qmp.execute("device_del", { id: "dev-1" });
      const ev = await deleted;
      assert.equal(ev.timestampUs, 1_000_003);
      const pending = assert.rejects(
        qmp.execute("hang"),
        (e: unknown) => e instanceof HypervisorError && e.code === "Unavailable",
      );
      await srv.close();
      await pending;
      await qmp.closed;
      ac.abort();
      await collecting;
      assert.deepEqual(seen.map((e) => e.data), [{ path: "/x/virtio-backend" }, { device: "dev-1" }]);
    } finally {
      qmp.close();
    }
  },
});

Deno.test({
  name: "QmpClient.connect() fails with Unavailable when nothing listens within the timeout",
  permissions: PERMS,
  async fn() {
    await assert.rejects(
      QmpClient.connect("/tmp/definitely-not-a-qmp-socket.sock", { timeoutMs: 100 }),
      (e: unknown) => e instanceof HypervisorError && e.code === "Unavailable",
    );
  },
});
