import { ERROR_CODES, RuntimeError, toRuntimeError } from "../../errors.ts";
import { openHolder } from "../../holder/client.ts";
import { attachExec, type ExecStdio, ttyStdio } from "../../holder/exec_client.ts";
import { writeAtomic } from "../../sys/files.ts";
import { spawnSelfDetached, waitReady } from "../../holder/spawn.ts";
import { execId as toExecId } from "../../ids.ts";
import { sendConsole } from "../../sys/console_socket.ts";
import { rawTerminal } from "../../sys/libc_fd.ts";
import type { Command } from "../args.ts";
import { idArg, liveSocket, lookup, ociEnv, parseVerb, splitAtCommand, writePidFile } from "../oci_args.ts";
import { bundleProcess, execProcessFrom, readProcessFile } from "../oci_process.ts";
import { forwardedGlobals } from "./create.ts";

const OPTIONS = {
  process: { type: "string", short: "p" },
  tty: { type: "boolean", short: "t" },
  detach: { type: "boolean", short: "d" },
  "pid-file": { type: "string" },
  "console-socket": { type: "string" },
  cwd: { type: "string" },
  env: { type: "string", short: "e", multiple: true },
  user: { type: "string", short: "u" },
  "additional-gids": { type: "string", short: "g", multiple: true },
  cap: { type: "string", short: "c", multiple: true },
  "no-new-privs": { type: "boolean" },
  "process-label": { type: "string" },
  apparmor: { type: "string" },
  "preserve-fds": { type: "string" },
  cgroup: { type: "string", multiple: true },
  "ignore-paused": { type: "boolean" },
  // internal: the detached relay's exec id, readiness file, and the caller's pid file
  "exec-id": { type: "string" },
  "notify-file": { type: "string" },
  "caller-pid-file": { type: "string" },
} as const;

export const exec: Command = {
  summary: "Run another process in a running container",
  usage:
    "cocoon exec [--process FILE | CMD ARGS...] [--tty] [--detach] [--pid-file F] [--console-socket S] " +
    "[--cwd DIR] [--env K=V]... [--user UID[:GID]] <container-id>",
  async run(args, ctx) {
    const { head, command } = splitAtCommand(args, OPTIONS);
    const { values, positionals } = parseVerb("exec", head, OPTIONS);
    const id = idArg("exec", positionals);
    if (Number(values["preserve-fds"] ?? "0") > 0) {
      throw new RuntimeError(
        "Unimplemented",
        `Cannot exec in container "${id}": --preserve-fds is not supported`,
      );
    }
    const env = await ociEnv(ctx);
    const v = await lookup(env, id);
    const socket = liveSocket(v, "exec in");
    const tty = values.tty === true;
    const process = values.process !== undefined
      ? await readProcessFile(values.process, tty)
      : execProcessFrom(await bundleProcess(v.info?.bundle ?? ""), {
        args: command,
        tty,
        ...(values.cwd !== undefined ? { cwd: values.cwd } : {}),
        env: values.env ?? [],
        ...(values.user !== undefined ? { user: values.user } : {}),
        additionalGids: values["additional-gids"] ?? [],
        noNewPrivs: values["no-new-privs"] === true,
      });
    // Short: the guest agent names a console socket after "<container>.<exec>" (107-byte limit).
    const execId = toExecId(values["exec-id"] ?? `e${crypto.randomUUID().slice(0, 8)}`);
    const consoleSocket = values["console-socket"];
    if (process["terminal"] === true && consoleSocket === undefined && values.detach === true) {
      throw new RuntimeError(
        "InvalidArgument",
        `Cannot exec in container "${id}": --tty with --detach needs --console-socket`,
      );
    }

    if (values.detach === true) {
      // A detached relay (this verb again, in the foreground) owns the process's stdio; its pid is
      // what the caller waits on, and it exits with the process's status.
      const notify = `${v.paths.dir}/${execId}.ready`;
      const processFile = `${v.paths.dir}/${execId}.json`;
      await writeAtomic(processFile, JSON.stringify(process));
      const child = spawnSelfDetached([
        ...forwardedGlobals(ctx, env.stateDir),
        "exec",
        "--process",
        processFile,
        "--exec-id",
        execId,
        "--notify-file",
        notify,
        ...(consoleSocket !== undefined ? ["--console-socket", absolute(consoleSocket)] : []),
        ...(values["pid-file"] !== undefined ? ["--caller-pid-file", absolute(values["pid-file"])] : []),
        id,
      ], consoleSocket !== undefined ? "null" : "inherit");
      try {
        await waitReady(child, {
          what: `exec in container "${id}"`,
          timeoutMs: 120_000,
          ready: () => Deno.stat(notify).then(() => true, () => false),
          failure: () =>
            Promise.resolve(
              new RuntimeError("Internal", `Cannot exec in container "${id}": the exec relay exited`),
            ),
        });
        const note: unknown = JSON.parse(await Deno.readTextFile(notify));
        if (
          typeof note === "object" && note !== null && "message" in note && typeof note.message === "string"
        ) {
          const code = "code" in note ? ERROR_CODES.find((c) => c === note.code) : undefined;
          throw new RuntimeError(code ?? "Internal", note.message);
        }
        if (values["pid-file"] !== undefined) await writePidFile(values["pid-file"], child.pid);
        child.unref();
        return 0;
      } catch (e) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        throw e;
      } finally {
        await Deno.remove(notify).catch(() => {});
      }
    }

    const notifyFile = values["notify-file"];
    let stdio: ExecStdio;
    try {
      const h = await openHolder(socket, { op: "exec", execId, process });
      if (consoleSocket !== undefined && process["terminal"] === true) {
        stdio = ttyStdio(sendConsole(consoleSocket));
      } else stdio = hostStdio(process["terminal"] === true);
      if (notifyFile !== undefined) {
        await writeAtomic(notifyFile, JSON.stringify(h.result));
        await Deno.remove(values.process ?? "").catch(() => {});
      }
      const status = await attachExec(h, stdio, ctx.log);
      restoreTerminal();
      if (values["caller-pid-file"] !== undefined) await outliveCaller(values["caller-pid-file"]);
      return status;
    } catch (e) {
      restoreTerminal();
      if (notifyFile === undefined) throw e;
      const err = toRuntimeError(e);
      await writeAtomic(notifyFile, JSON.stringify({ code: err.code, message: err.message }));
      return 1;
    }
  },
};

let restoreTerminal = (): void => {};

/** How long the relay lives on after its pid reached the caller's pid file. */
const REAPER_GRACE_MS = 500;

/**
 * A detached relay whose process ended at once (`docker exec -t ID tty`) must not exit before its
 * caller has learned its pid: containerd's runc shim reads the pid file after `exec` returns and
 * drops an exit whose pid it does not know yet, and `docker exec` then waits forever (seen here
 * with containerd 1.6). So the relay waits for its pid in the caller's pid file, then a little
 * longer for the shim to record it; a relay that ran longer than that exits at once.
 */
async function outliveCaller(pidFile: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  let seenAt: number | undefined;
  while (Date.now() < deadline) {
    const text = await Deno.readTextFile(pidFile).catch(() => "");
    if (text.trim() === String(Deno.pid)) {
      seenAt = Date.now();
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  if (seenAt === undefined) return;
  const stat = await Deno.stat(pidFile).catch(() => null);
  const since = Date.now() - (stat?.mtime?.getTime() ?? seenAt);
  if (since < REAPER_GRACE_MS) await new Promise((r) => setTimeout(r, REAPER_GRACE_MS - since));
}

/** This process's stdio; a terminal on stdin goes raw for a --tty exec (restored at the end). */
function hostStdio(tty: boolean): ExecStdio {
  if (tty && Deno.stdin.isTerminal()) {
    const restore = rawTerminal(0);
    restoreTerminal = () => {
      restore();
      restoreTerminal = () => {};
    };
  }
  return {
    stdin: Deno.stdin.readable,
    stdout: Deno.stdout.writable,
    stderr: Deno.stderr.writable,
    ...(tty && Deno.stdout.isTerminal() ? { windowSize: () => consoleSize() } : {}),
  };
}

function consoleSize(): { rows: number; cols: number } | null {
  try {
    const s = Deno.consoleSize();
    return { rows: s.rows, cols: s.columns };
  } catch {
    return null;
  }
}

function absolute(p: string): string {
  return p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
}
