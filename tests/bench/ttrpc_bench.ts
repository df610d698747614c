/**
 * ttRPC benchmark over a unix socket, against a raw socket baseline on the same kind of socket:
 * unary round trip (p50 µs, ratio to a raw echo round trip; goal <= 2x) and streaming throughput
 * with 64 KiB Data frames (MB/s, ratio to raw socket throughput; goal >= 0.7).
 * Run: node_modules/.bin/deno run --allow-all tests/bench/ttrpc_bench.ts
 *
 * @module
 */
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { TtrpcClient } from "../../runtime/protocol/ttrpc/client.ts";
import { streamHandler, TtrpcServer } from "../../runtime/protocol/ttrpc/server.ts";

const SVC = "cocoon.bench.Bench";
const ROUND_TRIPS = 5000;
const CHUNK = 64 * 1024;
const STREAM_BYTES = 512 * 1024 * 1024;

function p50(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function writeAll(conn: Deno.Conn, p: Uint8Array): Promise<void> {
  let off = 0;
  while (off < p.length) off += await conn.write(p.subarray(off));
}

async function readFull(conn: Deno.Conn, p: Uint8Array): Promise<void> {
  let off = 0;
  while (off < p.length) {
    const n = await conn.read(p.subarray(off));
    if (n === null) throw new Error("eof");
    off += n;
  }
}

/** Raw baseline: echo server on a unix socket; round trips of a small message, then bulk throughput. */
async function rawBaseline(dir: string): Promise<{ rttUs: number; mbps: number }> {
  const path = `${dir}/raw.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const serving = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(CHUNK);
    // Phase 1: echo 32-byte messages.
    for (let i = 0; i < ROUND_TRIPS; i++) {
      await readFull(conn, buf.subarray(0, 32));
      await writeAll(conn, buf.subarray(0, 32));
    }
    // Phase 2: sink STREAM_BYTES, then ack one byte.
    let got = 0;
    while (got < STREAM_BYTES) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += n;
    }
    await writeAll(conn, buf.subarray(0, 1));
    conn.close();
  })();
  const conn = await Deno.connect({ transport: "unix", path });
  const msg = new Uint8Array(32);
  const samples: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const t = performance.now();
    await writeAll(conn, msg);
    await readFull(conn, msg);
    samples.push((performance.now() - t) * 1000);
  }
  const chunk = new Uint8Array(CHUNK);
  const t0 = performance.now();
  for (let sent = 0; sent < STREAM_BYTES; sent += CHUNK) await writeAll(conn, chunk);
  await readFull(conn, new Uint8Array(1));
  const secs = (performance.now() - t0) / 1000;
  conn.close();
  await serving;
  listener.close();
  return { rttUs: p50(samples), mbps: STREAM_BYTES / secs / 1e6 };
}

async function ttrpcRun(dir: string): Promise<{ rttUs: number; mbps: number }> {
  const path = `${dir}/ttrpc.sock`;
  const log = createLogger({ sink: nullSink });
  const server = new TtrpcServer({ log });
  server.register(SVC, {
    Echo: (p) => Promise.resolve(p),
    Sink: streamHandler(async (s) => {
      let n = 0;
      for await (const m of s) n += m.length;
      await s.send(new TextEncoder().encode(String(n)));
    }),
  });
  await server.listen(path);
  const client = await TtrpcClient.connect(path, { log });
  try {
    const msg = new Uint8Array(32);
    const samples: number[] = [];
    for (let i = 0; i < ROUND_TRIPS; i++) {
      const t = performance.now();
      await client.call(SVC, "Echo", msg);
      samples.push((performance.now() - t) * 1000);
    }
    const chunk = new Uint8Array(CHUNK);
    const t0 = performance.now();
    const s = client.stream(SVC, "Sink");
    for (let sent = 0; sent < STREAM_BYTES; sent += CHUNK) await s.send(chunk);
    await s.closeSend();
    let total = 0;
    for await (const m of s) total = Number(new TextDecoder().decode(m));
    const secs = (performance.now() - t0) / 1000;
    if (total !== STREAM_BYTES) throw new Error(`stream lost data: ${total}`);
    return { rttUs: p50(samples), mbps: STREAM_BYTES / secs / 1e6 };
  } finally {
    await client.close();
    await server.close();
  }
}

/** Runs the benchmark; figures are rounded to 0.01. */
export async function benchTtrpc(): Promise<Record<string, number | string>> {
  const dir = await Deno.makeTempDir({ prefix: "ttrpc-bench-" });
  try {
    const raw = await rawBaseline(dir);
    const rpc = await ttrpcRun(dir);
    const r = (n: number) => Math.round(n * 100) / 100;
    return {
      transport: "unix socket",
      unary_p50_us: r(rpc.rttUs),
      raw_echo_p50_us: r(raw.rttUs),
      unary_vs_raw_ratio: r(rpc.rttUs / raw.rttUs),
      unary_goal: "<= 2",
      stream_mb_s: r(rpc.mbps),
      raw_mb_s: r(raw.mbps),
      stream_vs_raw_ratio: r(rpc.mbps / raw.mbps),
      stream_goal: ">= 0.7",
      stream_frame_bytes: CHUNK,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  // deno-lint-ignore no-console
  console.log(JSON.stringify(await benchTtrpc(), null, 2));
}
