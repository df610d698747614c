/**
 * What the holder does for each control request: one sandbox call each, plus `exec`, which turns
 * the connection into the exec'd process's stdio stream and ends it with an EXIT frame.
 *
 * @module
 */
import { isRuntimeError, RuntimeError } from "../errors.ts";
import { parseOciProcess } from "../oci/spec.ts";
import type { ContainerId } from "../ids.ts";
import type { Logger } from "../log/logger.ts";
import type { HookStage } from "../oci/hooks.ts";
import type { OciState } from "../oci/state.ts";
import type { Sandbox } from "../sandbox/mod.ts";
import { atMost } from "./relay.ts";
import type { ControlConn } from "./server.ts";
import {
  encodeFrame,
  FRAME,
  framePayloadObject,
  type HolderRequest,
  jsonBytes,
  KILLED_STATUS,
} from "./wire.ts";

/** What the requests act on: the holder of one container (holder.ts). */
export interface Holder {
  readonly sandbox: Sandbox;
  readonly id: ContainerId;
  readonly log: Logger;
  readonly ending: Promise<void>;
  watchExit(): void;
  remove(force: boolean): Promise<void>;
  runHooks(stage: HookStage, status: OciState["status"]): Promise<void>;
}

export async function handleRequest(h: Holder, req: HolderRequest, conn: ControlConn): Promise<unknown> {
  const sb = h.sandbox;
  switch (req.op) {
    case "ping":
      return { pid: Deno.pid };
    case "start":
      await sb.act({ kind: "start-container", containerId: h.id });
      h.watchExit();
      await h.runHooks("poststart", "running");
      return {};
    case "kill":
      try {
        await sb.act({
          kind: "kill",
          containerId: h.id,
          signal: req.signal,
          opts: {
            all: req.all,
            ...(req.execId !== undefined ? { execId: req.execId } : {}),
          },
        });
      } catch (e) {
        // A fatal signal can end the container (and the holder tears the VM down) before the
        // agent's reply arrives: the connection closing then means the kill took effect.
        if (!(isRuntimeError(e) && e.code === "Unavailable" && await endsSoon(h, 3000))) throw e;
      }
      if (req.execId === undefined) h.watchExit();
      return {};
    case "pause":
      await sb.act({ kind: "pause-container", containerId: h.id });
      return {};
    case "resume":
      await sb.act({ kind: "resume-container", containerId: h.id });
      return {};
    case "ps":
      return await sb.act({ kind: "processes", containerId: h.id });
    case "stats":
      return await sb.act({ kind: "stats", containerId: h.id });
    case "update":
      await sb.act({ kind: "update-container", containerId: h.id, resources: req.resources });
      return {};
    case "delete":
      await h.remove(req.force);
      return {};
    case "exec":
      await execSession(h, req, conn);
      return undefined;
  }
}

/**
 * Whether the holder starts to finish within `ms` (its container ended). Not `done`: that waits for
 * this very connection to close.
 */
async function endsSoon(h: Holder, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((r) => timer = setTimeout(() => r(false), ms));
  try {
    return await Promise.race([h.ending.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function execSession(
  h: Holder,
  req: Extract<HolderRequest, { op: "exec" }>,
  c: ControlConn,
): Promise<void> {
  const process = parseOciProcess(req.process, `exec "${req.execId}"`);
  const rec = await h.sandbox.act({
    kind: "exec",
    containerId: h.id,
    opts: { execId: req.execId, process, stdin: true },
  });
  const io = h.sandbox.io(h.id, { exec: req.execId });
  await c.reply({ pid: rec.status.pid });
  const send = (type: (typeof FRAME)[keyof typeof FRAME], data?: Uint8Array) =>
    c.writer.write(encodeFrame(type, data)).catch(() => {});
  const forward = async (
    from: ReadableStream<Uint8Array>,
    type: typeof FRAME.stdout | typeof FRAME.stderr,
  ) => {
    try {
      for await (const chunk of from) {
        for (let off = 0; off < chunk.length; off += 65536) {
          await send(type, chunk.subarray(off, off + 65536));
        }
      }
    } catch (e) {
      h.log.debug("exec output ended", { exec: req.execId, error: e });
    }
  };
  const out = forward(io.stdout, FRAME.stdout);
  const err = process.terminal ? io.stderr.cancel().catch(() => {}) : forward(io.stderr, FRAME.stderr);
  const stdin = io.stdin.getWriter();
  let stdinOpen = true;
  const closeStdin = () => {
    if (!stdinOpen) return;
    stdinOpen = false;
    void stdin.close().catch(() => {});
  };
  const input = (async () => {
    try {
      for (;;) {
        const f = await c.reader.readFrame();
        if (f === null) break;
        if (f.type === FRAME.stdin && stdinOpen) await stdin.write(f.payload);
        else if (f.type === FRAME.stdinClose) closeStdin();
        else if (f.type === FRAME.resize) {
          const o = framePayloadObject(f.payload);
          const rows = Number(o["rows"]), cols = Number(o["cols"]);
          if (rows > 0 && cols > 0) await io.resize({ rows, columns: cols });
        }
      }
    } catch (e) {
      h.log.debug("exec input ended", { exec: req.execId, error: e });
    }
    closeStdin();
  })();
  let status = KILLED_STATUS;
  try {
    status = (await h.sandbox.waitExec(h.id, req.execId)).exitStatus;
  } catch (e) {
    h.log.warn("exec wait failed", { exec: req.execId, error: e });
  }
  await atMost(Promise.all([out, err]), 3000);
  await send(FRAME.exit, jsonBytes({ status }));
  // The client closes after EXIT; closing first would break its pending writes (EPIPE).
  await atMost(input, 2000);
}

/** The `{ status }` of an EXIT frame. */
export function exitStatusOf(payload: Uint8Array): number {
  const s = framePayloadObject(payload)["status"];
  if (typeof s !== "number" || !Number.isInteger(s) || s < 0 || s > 255) {
    throw new RuntimeError("Internal", "Invalid exit frame from the holder: status must be 0-255");
  }
  return s;
}
