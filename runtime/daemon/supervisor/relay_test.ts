import assert from "node:assert/strict";
import { createLogger, nullSink } from "../../log/logger.ts";
import { RpcStatusError, TtrpcClient, TtrpcServer } from "../../protocol/ttrpc/mod.ts";
import { Code } from "../../protocol/ttrpc/status.ts";
import { Relay } from "./relay.ts";

const TASK = "containerd.task.v2.Task";
const log = createLogger({ sink: nullSink });
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A "daemon": a ttRPC server on `path` whose calls answer with its name, Wait and Kill when released. */
function daemon(path: string, name: string) {
  const release = Promise.withResolvers<void>();
  const got: string[] = [];
  const server = new TtrpcServer({ log });
  const answer = (m: string, held: boolean) => async (p: Uint8Array) => {
    got.push(`${m}:${dec.decode(p)}`);
    if (held) await release.promise;
    return enc.encode(`${name}:${m}`);
  };
  server.register(TASK, {
    Wait: answer("Wait", true),
    Kill: answer("Kill", true),
    State: answer("State", false),
  });
  return {
    server,
    got,
    release: () => release.resolve(),
    listen: () => server.listen(path, { replace: true }),
  };
}

Deno.test("relay: a daemon restart keeps the client's connection; waits are asked again, other calls fail UNAVAILABLE, new calls wait for the next daemon", async () => {
  const dir = await Deno.makeTempDir({ prefix: "relay-test-" });
  const backendPath = `${dir}/backend.sock`;
  const publicPath = `${dir}/public.sock`;
  const first = daemon(backendPath, "first");
  await first.listen();
  let dialed = 0;
  const dial = async (): Promise<Deno.Conn | null> => {
    for (let i = 0; i < 100; i++) {
      try {
        const c = await Deno.connect({ transport: "unix", path: backendPath });
        dialed++;
        return c;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    return null;
  };
  const listener = Deno.listen({ transport: "unix", path: publicPath });
  const relays: Relay[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      const r = new Relay(conn, "main", dial, log);
      relays.push(r);
      void r.run();
    }
  })();
  const client = await TtrpcClient.connect(publicPath);
  try {
    assert.equal(dec.decode(await client.call(TASK, "State", enc.encode("a"))), "first:State");
    const wait = client.call(TASK, "Wait", enc.encode("w"));
    const kill = client.call(TASK, "Kill", enc.encode("k"));
    kill.catch(() => {});
    while (first.got.length < 3) await new Promise((r) => setTimeout(r, 10));

    // the daemon dies with both calls unanswered; a call made meanwhile waits
    await first.server.close();
    const meanwhile = client.call(TASK, "State", enc.encode("m"));
    await new Promise((r) => setTimeout(r, 100));
    const second = daemon(backendPath, "second");
    second.release();
    await second.listen();

    assert.equal(dec.decode(await wait), "second:Wait");
    await assert.rejects(
      kill,
      (e: unknown) => e instanceof RpcStatusError && e.grpcCode === Code.UNAVAILABLE,
    );
    assert.equal(dec.decode(await meanwhile), "second:State");
    assert.deepEqual(second.got.sort(), ["State:m", "Wait:w"]);
    assert.equal(dec.decode(await client.call(TASK, "State", enc.encode("b"))), "second:State");
    assert.equal(relays.length, 1, "one client connection throughout");
    assert.equal(dialed, 2);
    assert.equal(relays[0]!.pending, 0);
    await second.server.close();
  } finally {
    await client.close();
    first.release();
    listener.close();
    await accepting.catch(() => {});
    for (const r of relays) r.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("relay: with no daemon to dial, the client's connection closes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "relay-test-" });
  const publicPath = `${dir}/public.sock`;
  const listener = Deno.listen({ transport: "unix", path: publicPath });
  const done = (async () => {
    const conn = await listener.accept();
    await new Relay(conn, "main", () => Promise.resolve(null), log).run();
  })();
  const client = await TtrpcClient.connect(publicPath);
  try {
    await assert.rejects(client.call(TASK, "State", enc.encode("x"), { timeoutMs: 5000 }));
    await done;
  } finally {
    await client.close();
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
