/**
 * Stdio RPCs, polling variant: WriteStdin, ReadStdout, ReadStderr (block until ≥1 byte or EOF),
 * CloseStdin, TtyWinResize. Reads pull from the process's pipe or pty only when asked, so the
 * host's read rate is the container's write rate (back pressure end to end).
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import { Agent } from "../../runtime/protocol/gen/cocoon/agent/v1/agent_pb.ts";
import type { CallContext, UnaryHandler } from "../../runtime/protocol/ttrpc/server.ts";
import type { AgentCore } from "../core.ts";
import type { ChunkReader } from "../container/stdio.ts";
import { unary } from "./_codec.ts";

const MAX_READ = 1 << 20;

async function readSome(r: ChunkReader | null, max: number, what: string, ctx: CallContext) {
  if (!r) throw new RuntimeError("FailedPrecondition", `Cannot read ${what}: the process has none`);
  const n = Math.min(max > 0 ? max : 65536, MAX_READ);
  // a read whose host went away (a daemon restart) leaves the bytes it waited for to the next host
  const data = await r.read(n, ctx.signal).catch((e) => {
    if (!ctx.signal.aborted) throw e;
    throw new RuntimeError("Cancelled", `Cannot read ${what}: cancelled`);
  });
  return data === null ? { data: new Uint8Array(0), eof: true } : { data, eof: false };
}

export function stdioHandlers(core: AgentCore): [string, UnaryHandler][] {
  const proc = (cid: string, eid: string) => core.table.get(cid).process(eid);
  return [
    unary(Agent.method.writeStdin, async (req) => {
      const p = proc(req.containerId, req.execId);
      if (!p.stdin) {
        throw new RuntimeError(
          "FailedPrecondition",
          `Cannot write stdin of "${req.execId || req.containerId}": none`,
        );
      }
      return { length: await p.stdin.write(req.data) };
    }),
    unary(
      Agent.method.readStdout,
      (req, ctx) => readSome(proc(req.containerId, req.execId).stdout, req.maxLength, "stdout", ctx),
    ),
    unary(
      Agent.method.readStderr,
      (req, ctx) => readSome(proc(req.containerId, req.execId).stderr, req.maxLength, "stderr", ctx),
    ),
    unary(Agent.method.closeStdin, async (req) => {
      await proc(req.containerId, req.execId).stdin?.close();
      return {};
    }),
    unary(Agent.method.ttyWinResize, (req) => {
      const w = req.window;
      if (!w || w.rows === 0 || w.columns === 0) {
        throw new RuntimeError("InvalidArgument", "Cannot resize: rows and columns must be > 0");
      }
      proc(req.containerId, req.execId).resize(w.rows, w.columns);
      return {};
    }),
  ];
}
