/**
 * Exec as a stream of {@link ExecEvent}s: on a sandbox attached for the exec (ownerless), and on a
 * sandbox core handle this process holds (an embedding front door).
 *
 * @module
 */
import { RuntimeError } from "../../errors.ts";
import type { Sandbox as CoreSandbox } from "../../sandbox/sandbox.ts";
import { execProcessSpec, randomId } from "../library/container_api.ts";
import type { Sandbox as LibrarySandbox } from "../library/mod.ts";
import type { ExecEvent, ExecRequest } from "./types.ts";

export type Serial = <T>(id: string, fn: () => Promise<T>) => Promise<T>;

/**
 * An exec on an ownerless sandbox: attached (and the sandbox's queue held) until the process ends
 * or the client goes away.
 */
export async function attachedExec(
  id: string,
  cid: string,
  req: ExecRequest,
  serial: Serial,
  attach: (id: string) => Promise<LibrarySandbox>,
): Promise<AsyncIterable<ExecEvent>> {
  const started = Promise.withResolvers<AsyncIterable<ExecEvent>>();
  const finished = Promise.withResolvers<void>();
  void serial(id, async () => {
    let sb: LibrarySandbox | undefined;
    try {
      sb = await attach(id);
      const p = await sb.enterContainer(cid, {
        args: req.args,
        ...(req.env !== undefined ? { env: req.env } : {}),
        ...(req.cwd !== undefined ? { cwd: req.cwd } : {}),
      });
      started.resolve(processEvents(p.id ?? "", p.io.stdout, p.io.stderr, () => p.wait(), finished));
    } catch (e) {
      finished.resolve();
      started.reject(e);
    }
    await finished.promise;
    await sb?.release();
  }).catch(() => {});
  return await started.promise;
}

/** Output held for a client that does not read: past it, the streams are not read (back pressure). */
const EXEC_QUEUE_MAX_BYTES = 1024 * 1024;

/**
 * The events of one exec. Output is queued for the client up to `maxQueued` bytes; beyond that the
 * process's streams are not read until the client catches up, so a guest that prints without end
 * to a client that reads nothing costs the host that much, not more (the agent's stream credit
 * stops the guest side).
 */
export async function* processEvents(
  execId: string,
  stdout: ReadableStream<Uint8Array>,
  stderr: ReadableStream<Uint8Array>,
  wait: () => Promise<number>,
  finished: PromiseWithResolvers<void> = Promise.withResolvers(),
  maxQueued: number = EXEC_QUEUE_MAX_BYTES,
): AsyncGenerator<ExecEvent> {
  const queue: ExecEvent[] = [];
  let queued = 0;
  let wake: (() => void) | undefined;
  let drained: PromiseWithResolvers<void> | undefined;
  const push = (e: ExecEvent) => {
    queue.push(e);
    if (e.kind === "stdout" || e.kind === "stderr") queued += e.data.length;
    wake?.();
  };
  const room = async () => {
    while (queued > maxQueued) {
      drained ??= Promise.withResolvers<void>();
      await drained.promise;
    }
  };
  const pump = async (s: ReadableStream<Uint8Array>, kind: "stdout" | "stderr") => {
    const dec = new TextDecoder();
    try {
      for await (const chunk of s) {
        push({ kind, data: dec.decode(chunk, { stream: true }) });
        await room();
      }
    } catch {
      // the stream ended with the process
    }
  };
  let done = false;
  const all = Promise.all([pump(stdout, "stdout"), pump(stderr, "stderr")]).then(async () => {
    push({ kind: "exit", status: await wait() });
  }).catch((e: unknown) => {
    const r = e instanceof RuntimeError
      ? e
      : new RuntimeError("Internal", "The process could not be waited for");
    push({ kind: "error", code: r.code, message: r.message });
  }).finally(() => {
    done = true;
    wake?.();
  });
  try {
    yield { kind: "started", execId };
    for (;;) {
      const e = queue.shift();
      if (e !== undefined) {
        if (e.kind === "stdout" || e.kind === "stderr") queued -= e.data.length;
        if (queued <= maxQueued && drained !== undefined) {
          drained.resolve();
          drained = undefined;
        }
        yield e;
        if (e.kind === "exit" || e.kind === "error") return;
        continue;
      }
      if (done) return;
      await new Promise<void>((r) => wake = r);
      wake = undefined;
    }
  } finally {
    queued = 0;
    drained?.resolve();
    void all;
    await stdout.cancel().catch(() => {});
    await stderr.cancel().catch(() => {});
    finished.resolve();
  }
}

/** An exec on a sandbox core handle held by this process. */
export async function inProcessExec(
  sb: CoreSandbox,
  cid: string,
  req: ExecRequest,
): Promise<AsyncIterable<ExecEvent>> {
  const process = execProcessSpec(cid, {
    args: req.args,
    ...(req.env !== undefined ? { env: req.env } : {}),
    ...(req.cwd !== undefined ? { cwd: req.cwd } : {}),
  });
  const execId = randomId("http");
  await sb.act({ kind: "exec", containerId: cid, opts: { execId, process, stdin: false } });
  const io = sb.io(cid, { exec: execId });
  return processEvents(execId, io.stdout, io.stderr, async () => (await sb.waitExec(cid, execId)).exitStatus);
}
