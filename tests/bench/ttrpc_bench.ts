/**
 * ttRPC benchmark over a unix socket, against a raw socket baseline on the same kind of socket, in
 * one run: unary round trip (p50 µs, ratio to a raw 32-byte echo round trip; goal <= 2x) and
 * streaming throughput with 64 KiB Data frames (MB/s, ratio to raw socket throughput with 64 KiB
 * writes; goal >= 0.7). Raw and ttRPC rounds alternate and throughput is best-of-rounds, so load
 * from other processes hits both sides alike.
 * Run: node_modules/.bin/deno run --allow-all tests/bench/ttrpc_bench.ts
 *
 * @module
 */
import { createLogger, nullSink } from "../../runtime/log/logger.ts";
import { TtrpcClient } from "../../runtime/protocol/ttrpc/client.ts";
import { streamHandler, TtrpcServer } from "../../runtime/protocol/ttrpc/server.ts";

const SVC = "cocoon.bench.Bench";
const ROUNDS = 5;
const TRIPS_PER_ROUND = 1000;
const CHUNK = 64 * 1024;
const BYTES_PER_ROUND = 128 * 1024 * 1024;

function p50(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function writeAll(conn: Deno.Conn, p: Uint8Array): Promise<void> {
  let off = 0;
  while (off < p.length) off += await conn.write(p.subarray(off));
}

async function readFull(conn: Deno.Conn, p: Uint8Array): Promise<boolean> {
  let off = 0;
  while (off < p.length) {
    const n = await conn.read(p.subarray(off));
    if (n === null) return false;
    off += n;
  }
  return true;
}

/** Raw peer: first byte "e" = echo 32-byte messages, "s" = sink everything then send 1 byte. */
async function rawPeer(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(CHUNK);
  try {
    if (!(await readFull(conn, buf.subarray(0, 1)))) return;
    if (buf[0] === 0x65) {
      while (await readFull(conn, buf.subarray(0, 32))) await writeAll(conn, buf.subarray(0, 32));
    } else {
      let got = 0;
      while (got < BYTES_PER_ROUND) {
        const n = await conn.read(buf);
        if (n === null) break;
        got += n;
      }
      await writeAll(conn, buf.subarray(0, 1));
    }
  } finally {
    conn.close();
  }
}

async function rawTrips(path: string, samples: number[]): Promise<void> {
  const conn = await Deno.connect({ transport: "unix", path });
  const msg = new Uint8Array(32);
  await writeAll(conn, new Uint8Array([0x65]));
  for (let i = 0; i < TRIPS_PER_ROUND; i++) {
    const t = performance.now();
    await writeAll(conn, msg);
    await readFull(conn, msg);
    samples.push((performance.now() - t) * 1000);
  }
  conn.close();
}

async function rawStream(path: string): Promise<number> {
  const conn = await Deno.connect({ transport: "unix", path });
  const chunk = new Uint8Array(CHUNK);
  const t0 = performance.now();
  await writeAll(conn, new Uint8Array([0x73]));
  for (let sent = 0; sent < BYTES_PER_ROUND; sent += CHUNK) await writeAll(conn, chunk);
  await readFull(conn, new Uint8Array(1));
  const secs = (performance.now() - t0) / 1000;
  conn.close();
  return BYTES_PER_ROUND / secs / 1e6;
}

async function rpcTrips(client: TtrpcClient, samples: number[]): Promise<void> {
  const msg = new Uint8Array(32);
  for (let i = 0; i < TRIPS_PER_ROUND; i++) {
    const t = performance.now();
    await client.call(SVC, "Echo", msg);
    samples.push((performance.now() - t) * 1000);
  }
}

async function rpcStream(client: TtrpcClient): Promise<number> {
  const chunk = new Uint8Array(CHUNK);
  const t0 = performance.now();
  const s = client.stream(SVC, "Sink");
  for (let sent = 0; sent < BYTES_PER_ROUND; sent += CHUNK) await s.send(chunk);
  await s.closeSend();
  let total = 0;
  for await (const m of s) total = Number(new TextDecoder().decode(m));
  const secs = (performance.now() - t0) / 1000;
  if (total !== BYTES_PER_ROUND) throw new Error(`stream lost data: got ${total} bytes`);
  return BYTES_PER_ROUND / secs / 1e6;
}

/** Runs the benchmark; figures are rounded to 0.01. */
export async function benchTtrpc(): Promise<Record<string, number | string>> {
  const dir = await Deno.makeTempDir({ prefix: "ttrpc-bench-" });
  const rawPath = `${dir}/raw.sock`;
  const rawListener = Deno.listen({ transport: "unix", path: rawPath });
  const rawServing = (async () => {
    for await (const conn of rawListener) void rawPeer(conn);
  })();
  const log = createLogger({ sink: nullSink });
  const server = new TtrpcServer({ log });
  server.register(SVC, {
    Echo: (p) => Promise.resolve(p),
    Sink: streamHandler(async (s) => {
      let n = 0;
      for await (const m of s) n += m.length;
      await s.send(new TextEncoder().encode(String(n)));
    }, { borrow: true }),
  });
  const rpcPath = `${dir}/ttrpc.sock`;
  await server.listen(rpcPath);
  const client = await TtrpcClient.connect(rpcPath, { log });
  try {
    const rawSamples: number[] = [];
    const rpcSamples: number[] = [];
    const rawMbs: number[] = [];
    const rpcMbs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      await rawTrips(rawPath, rawSamples);
      await rpcTrips(client, rpcSamples);
      rawMbs.push(await rawStream(rawPath));
      rpcMbs.push(await rpcStream(client));
    }
    const rawRtt = p50(rawSamples);
    const rpcRtt = p50(rpcSamples);
    const rawBest = Math.max(...rawMbs);
    const rpcBest = Math.max(...rpcMbs);
    const r = (n: number) => Math.round(n * 100) / 100;
    return {
      transport: "unix socket",
      unary_p50_us: r(rpcRtt),
      raw_echo_p50_us: r(rawRtt),
      unary_vs_raw_ratio: r(rpcRtt / rawRtt),
      unary_goal: "<= 2",
      stream_mb_s: r(rpcBest),
      raw_mb_s: r(rawBest),
      stream_vs_raw_ratio: r(rpcBest / rawBest),
      stream_goal: ">= 0.7",
      stream_frame_bytes: CHUNK,
      rounds: ROUNDS,
    };
  } finally {
    await client.close();
    await server.close();
    rawListener.close();
    await rawServing.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  // deno-lint-ignore no-console
  console.log(JSON.stringify(await benchTtrpc(), null, 2));
}
