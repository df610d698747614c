/**
 * Stdio of a container's init or of an exec'd process as Web Streams: stdout and stderr are read
 * from the agent as fast as they are consumed; stdin writes go to the agent, closing it sends EOF.
 *
 * @module
 */
import type { WindowSize } from "../agent_client/types.ts";
import { SandboxError } from "../errors.ts";
import { containerId, execId } from "../ids.ts";
import { requireAgent, type SandboxContext } from "./_context.ts";

export interface ProcessIo {
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly stdin: WritableStream<Uint8Array>;
  resize(size: WindowSize): Promise<void>;
}

/** Streams of a process: the container's init (no `exec`) or an exec'd process. */
export function processIo(
  ctx: SandboxContext,
  id: string,
  opts: { exec?: string; signal?: AbortSignal } = {},
): ProcessIo {
  const ref = opts.exec === undefined
    ? { containerId: containerId(id) }
    : { containerId: containerId(id), execId: execId(opts.exec) };
  const agent = requireAgent(ctx, `attach to container "${ref.containerId}"`, true);
  const sig = opts.signal ? { signal: opts.signal } : {};
  return {
    stdout: agent.output(ref, "stdout", sig),
    stderr: agent.output(ref, "stderr", sig),
    stdin: new WritableStream<Uint8Array>({
      async write(chunk) {
        let off = 0;
        while (off < chunk.length) {
          const n = await agent.writeStdin(ref, chunk.subarray(off), sig);
          if (n <= 0) {
            throw new SandboxError(
              "Unavailable",
              `Cannot write to the stdin of container "${ref.containerId}": the agent took no bytes`,
            );
          }
          off += n;
        }
      },
      async close() {
        await agent.closeStdin(ref, sig);
      },
    }),
    resize: (size) => agent.resizeTty(ref, size, sig),
  };
}
