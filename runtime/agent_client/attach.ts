/**
 * Streaming stdio of one guest process over a ttRPC 1.2 bidi stream (`Agent/StdioStream`). Output is
 * pull-based: the agent may send {@link OUTPUT_WINDOW} bytes ahead (64 KiB by the protocol, the
 * rest granted on open), and the client grants more credit only as the consumer reads, in batches,
 * so a slow consumer slows the container. An agent that sends beyond its credit is cut off: the
 * host never queues more than the window per process, whatever the guest does.
 *
 * @module
 */
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { AgentError } from "../errors.ts";
import { Agent } from "../protocol/gen/cocoon/agent/v1/agent_pb.ts";
import {
  StdioClientMessageSchema,
  StdioServerMessageSchema,
} from "../protocol/gen/cocoon/agent/v1/stdio_pb.ts";
import type { TtrpcClient } from "../protocol/ttrpc/client.ts";
import type { ProcessRef, WindowSize } from "./types.ts";

/** An attached process. */
export interface AttachedProcess {
  readonly pid: number;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  writeStdin(data: Uint8Array): Promise<void>;
  closeStdin(): Promise<void>;
  resize(size: WindowSize): Promise<void>;
  /** Exit status (code or 128 + signal), after all output was delivered. */
  readonly exit: Promise<number>;
  /** Detaches (the process keeps running). */
  close(): void;
}

type ClientMsg = MessageInitShape<typeof StdioClientMessageSchema>;

/** Credit the agent has before any grant (stdio.proto). */
const PROTOCOL_CREDIT = 64 * 1024;
/**
 * Output bytes the agent may have in flight, stdout and stderr together. The window has to cover
 * the channel's round trip: at 64 KiB a TCG guest's output ran at a few MiB/s, waiting for grants.
 */
export const OUTPUT_WINDOW = 1024 * 1024;
/** Consumed bytes are granted back once this many have gathered (fewer, larger window updates). */
const GRANT_BATCH = 64 * 1024;

/** Opens the stream and waits for `opened`. */
export async function attachProcess(
  ttrpc: TtrpcClient,
  p: ProcessRef,
  opts: { replace?: boolean; signal?: AbortSignal } = {},
): Promise<AttachedProcess> {
  const s = ttrpc.stream(Agent.typeName, Agent.method.stdioStream.name, {
    clientStreaming: true,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const send = (m: ClientMsg) =>
    s.send(toBinary(StdioClientMessageSchema, create(StdioClientMessageSchema, m)));
  await send({
    kind: {
      case: "open",
      value: { containerId: p.containerId, execId: p.execId ?? "", replace: opts.replace ?? false },
    },
  });
  const reader = s.readable.getReader();
  const first = await reader.read();
  if (first.done) {
    throw new AgentError("Unavailable", `Cannot attach to "${p.execId || p.containerId}": stream closed`);
  }
  const opened = fromBinary(StdioServerMessageSchema, first.value);
  if (opened.kind.case !== "opened") {
    throw new AgentError(
      "DataLoss",
      `Cannot attach to "${p.execId || p.containerId}": expected opened, got ${opened.kind.case}`,
    );
  }
  const grantNow = (n: number) => void send({ kind: { case: "windowUpdate", value: n } }).catch(() => {});
  let credit = OUTPUT_WINDOW;
  let consumed = 0;
  const grant = (n: number) => {
    consumed += n;
    if (consumed < GRANT_BATCH) return;
    credit += consumed;
    grantNow(consumed);
    consumed = 0;
  };
  grantNow(OUTPUT_WINDOW - PROTOCOL_CREDIT);
  const out = new Channel(grant);
  const err = new Channel(grant);
  const exit = (async () => {
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) throw new AgentError("Unavailable", "Stdio stream ended before the exit status");
        const m = fromBinary(StdioServerMessageSchema, r.value);
        if (m.kind.case === "stdout" || m.kind.case === "stderr") {
          credit -= m.kind.value.length;
          if (credit < 0) {
            throw new AgentError(
              "DataLoss",
              `Cannot read the output of "${
                p.execId || p.containerId
              }": the agent sent ${-credit} bytes beyond the credit granted to it`,
            );
          }
          (m.kind.case === "stdout" ? out : err).push(m.kind.value);
        } else if (m.kind.case === "exit") {
          out.end();
          err.end();
          return m.kind.value.exitStatus;
        }
      }
    } catch (e) {
      out.fail(e);
      err.fail(e);
      throw e;
    } finally {
      s.closeSend().catch(() => {});
    }
  })();
  exit.catch(() => {});
  return {
    pid: opened.kind.value.pid,
    stdout: out.readable,
    stderr: err.readable,
    writeStdin: (data) => send({ kind: { case: "stdin", value: data } }),
    closeStdin: () => send({ kind: { case: "closeStdin", value: true } }),
    resize: (w) => send({ kind: { case: "resize", value: { rows: w.rows, columns: w.columns } } }),
    exit,
    close: () => s.cancel(),
  };
}

/** Output chunks queued from the demux loop; credit is granted when the consumer takes a chunk. */
class Channel {
  readonly #queue: Uint8Array[] = [];
  #ended = false;
  #error: unknown;
  #wake: (() => void) | undefined;
  readonly readable: ReadableStream<Uint8Array>;

  constructor(grant: (n: number) => void) {
    this.readable = new ReadableStream<Uint8Array>({
      pull: async (c) => {
        while (this.#queue.length === 0 && !this.#ended && this.#error === undefined) {
          await new Promise<void>((r) => (this.#wake = r));
        }
        const chunk = this.#queue.shift();
        if (chunk) {
          c.enqueue(chunk);
          grant(chunk.length);
        } else if (this.#error !== undefined) c.error(this.#error);
        else c.close();
      },
    }, { highWaterMark: 0 });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  push(b: Uint8Array): void {
    this.#queue.push(b);
    this.#notify();
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  fail(e: unknown): void {
    this.#error = e;
    this.#notify();
  }
}
