// Shared helpers for the ttrpc tests: an echo service and client/server pairs over memory or a unix socket.
import { createLogger, memorySink } from "../../runtime/log/logger.ts";
import { RuntimeError } from "../../runtime/errors.ts";
import { memoryDuplexPair } from "../../runtime/protocol/ttrpc/channel.ts";
import { TtrpcClient } from "../../runtime/protocol/ttrpc/client.ts";
import { streamHandler, TtrpcServer } from "../../runtime/protocol/ttrpc/server.ts";

export const SVC = "cocoon.test.Echo";
export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A server with an echo service: Echo, Fail (NotFound), Crash (plain Error), Sleep (honours signal), Stream (bidi echo). */
export function echoServer(): { server: TtrpcServer; logs: string[]; aborted: string[] } {
  const sink = memorySink();
  const aborted: string[] = [];
  const server = new TtrpcServer({ log: createLogger({ sink, level: "debug" }) });
  server.register(SVC, {
    Echo: (p) => Promise.resolve(p),
    Empty: () => Promise.resolve(new Uint8Array(0)),
    Meta: (_p, ctx) => Promise.resolve(enc(JSON.stringify([...ctx.metadata]))),
    Deadline: (_p, ctx) =>
      Promise.resolve(enc(String(ctx.deadline === undefined ? "none" : ctx.deadline - Date.now()))),
    Fail: (p) => Promise.reject(new RuntimeError("NotFound", dec(p))),
    Crash: () => Promise.reject(new Error("secret detail")),
    Sleep: (_p, ctx) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => {
          aborted.push(String(ctx.streamId));
          reject(ctx.signal.reason);
        });
      }),
    Stream: streamHandler(async (stream) => {
      for await (const m of stream) await stream.send(m);
    }),
    Count: streamHandler(async (stream) => {
      const n = Number(dec(stream.request));
      for (let i = 0; i < n; i++) await stream.send(enc(String(i)));
    }),
    StreamFail: streamHandler(async (stream) => {
      await stream.send(enc("first"));
      throw new RuntimeError("FailedPrecondition", "stream broke");
    }),
  });
  return { server, logs: sink.lines, aborted };
}

/** A client and server joined by an in-memory duplex. */
export function memoryPair(): {
  client: TtrpcClient;
  server: TtrpcServer;
  served: Promise<void>;
  logs: string[];
  aborted: string[];
} {
  const { server, logs, aborted } = echoServer();
  const [a, b] = memoryDuplexPair();
  const served = server.serveConnection(b);
  const client = new TtrpcClient(a, { log: createLogger({ sink: memorySink() }) });
  return { client, server, served, logs, aborted };
}

/** A client and server over a real unix socket in a fresh temp dir. Dispose to clean up. */
export async function unixPair(): Promise<
  { client: TtrpcClient; server: TtrpcServer; path: string; [Symbol.asyncDispose](): Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "ttrpc-test-" });
  const path = `${dir}/s.sock`;
  const { server } = echoServer();
  let client: TtrpcClient;
  try {
    await server.listen(path);
    client = await TtrpcClient.connect(path, { log: createLogger({ sink: memorySink() }) });
  } catch (e) {
    await server.close();
    await Deno.remove(dir, { recursive: true });
    throw e;
  }
  return {
    client,
    server,
    path,
    async [Symbol.asyncDispose]() {
      await client.close();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
