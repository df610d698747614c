/**
 * StdioStream: one ttRPC 1.2 bidirectional stream per attached process (order and flow control as
 * documented in stdio.proto). The client sends `open`, then stdin, close_stdin, resize and
 * window_update at any time; the agent answers `opened`, streams stdout/stderr within the credit the
 * client granted (64 KiB before any grant), and sends `exit` after all output.
 *
 * One client is attached per process; `replace` takes over (a read already in flight is delivered to
 * the old stream).
 *
 * @module
 */
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { RuntimeError } from "../../runtime/errors.ts";
import { Agent } from "../../runtime/protocol/gen/cocoon/agent/v1/agent_pb.ts";
import {
  StdioClientMessageSchema,
  StdioServerMessageSchema,
} from "../../runtime/protocol/gen/cocoon/agent/v1/stdio_pb.ts";
import { type StreamHandler, streamHandler } from "../../runtime/protocol/ttrpc/server.ts";
import type { ChunkReader } from "../container/stdio.ts";
import type { AgentProcess } from "../container/state.ts";
import type { AgentCore } from "../core.ts";
import { exitCodeOf } from "../sys/reaper.ts";

const INITIAL_CREDIT = 64 * 1024;
const MAX_CHUNK = 128 * 1024;

type ServerMsg = MessageInitShape<typeof StdioServerMessageSchema>;

export function stdioStreamHandler(core: AgentCore): [string, StreamHandler] {
  const attached = new Map<string, AbortController>();
  return [
    Agent.method.stdioStream.name,
    streamHandler(async (stream, ctx) => {
      const inbound = stream.readable.getReader();
      const first = await inbound.read();
      if (first.done) return;
      const open = fromBinary(StdioClientMessageSchema, first.value);
      if (open.kind.case !== "open") {
        throw new RuntimeError("InvalidArgument", "Cannot attach stdio: the first message must be open");
      }
      const { containerId, execId, replace } = open.kind.value;
      const p = core.table.get(containerId).process(execId);
      const key = `${containerId}/${execId}`;
      const previous = attached.get(key);
      if (previous && !replace) {
        throw new RuntimeError("AlreadyExists", `Cannot attach stdio of "${key}": a client is attached`);
      }
      previous?.abort();
      const ac = new AbortController();
      attached.set(key, ac);
      const stop = AbortSignal.any([ac.signal, ctx.signal]);
      const send = (m: ServerMsg) =>
        stream.send(toBinary(StdioServerMessageSchema, create(StdioServerMessageSchema, m)));
      const credit = new Credit(INITIAL_CREDIT, stop);
      try {
        await send({ kind: { case: "opened", value: { pid: p.pid } } });
        const input = pumpInput(inbound, p, credit).catch((e) =>
          core.log.limited.warn("stdio input failed", { error: e })
        );
        await Promise.all([
          pumpOutput(p.stdout, "stdout", credit, send, stop),
          pumpOutput(p.stderr, "stderr", credit, send, stop),
        ]);
        if (stop.aborted) return;
        const status = await Promise.race([p.exited, abortPromise(stop)]);
        await send({ kind: { case: "exit", value: { exitStatus: exitCodeOf(status) } } });
        inbound.cancel().catch(() => {});
        await input;
      } finally {
        if (attached.get(key) === ac) attached.delete(key);
      }
    }),
  ];
}

async function pumpOutput(
  r: ChunkReader | null,
  which: "stdout" | "stderr",
  credit: Credit,
  send: (m: ServerMsg) => Promise<void>,
  stop: AbortSignal,
): Promise<void> {
  if (!r) return;
  while (!stop.aborted) {
    const n = await credit.take(MAX_CHUNK);
    if (n === 0) return;
    const chunk = await r.read(n);
    credit.giveBack(n - (chunk?.length ?? 0));
    if (!chunk) return;
    await send(
      which === "stdout"
        ? { kind: { case: "stdout", value: chunk } }
        : { kind: { case: "stderr", value: chunk } },
    );
  }
}

async function pumpInput(
  inbound: ReadableStreamDefaultReader<Uint8Array>,
  p: AgentProcess,
  credit: Credit,
): Promise<void> {
  for (;;) {
    const r = await inbound.read();
    if (r.done) return;
    const m = fromBinary(StdioClientMessageSchema, r.value);
    switch (m.kind.case) {
      case "stdin":
        if (!p.stdin) {
          throw new RuntimeError("FailedPrecondition", "Cannot write stdin: the process has none");
        }
        await p.stdin.write(m.kind.value);
        break;
      case "closeStdin":
        if (m.kind.value) await p.stdin?.close();
        break;
      case "resize":
        p.resize(m.kind.value.rows, m.kind.value.columns);
        break;
      case "windowUpdate":
        credit.giveBack(m.kind.value);
        break;
      default:
        break;
    }
  }
}

/** Output credit in bytes, shared by stdout and stderr. */
class Credit {
  #bytes: number;
  #waiters: (() => void)[] = [];
  readonly #stop: AbortSignal;

  constructor(initial: number, stop: AbortSignal) {
    this.#bytes = initial;
    this.#stop = stop;
    stop.addEventListener("abort", () => this.#wakeAll(), { once: true });
  }

  #wakeAll(): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w();
  }

  /** Waits for credit and takes up to `max` bytes of it; 0 when stopped. */
  async take(max: number): Promise<number> {
    while (this.#bytes <= 0) {
      if (this.#stop.aborted) return 0;
      await new Promise<void>((r) => void this.#waiters.push(r));
    }
    if (this.#stop.aborted) return 0;
    const n = Math.min(max, this.#bytes);
    this.#bytes -= n;
    return n;
  }

  giveBack(n: number): void {
    if (n <= 0) return;
    this.#bytes = Math.min(this.#bytes + n, 1 << 30);
    this.#wakeAll();
  }
}

function abortPromise(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(new RuntimeError("Cancelled", "Cannot finish stdio stream: detached"));
    if (signal.aborted) fail();
    else signal.addEventListener("abort", fail, { once: true });
  });
}
