/**
 * Signals: to a container's init process (optionally every process of it) or to an exec'd process.
 * Signal names and numbers are accepted as runc does ("KILL", "SIGKILL", "9").
 *
 * @module
 */
import { SandboxError } from "../errors.ts";
import { containerId, execId } from "../ids.ts";
import { loadContainer, requireAgent, type SandboxContext } from "./_context.ts";
import { canKill, refuse } from "./status.ts";

const SIGNALS: Readonly<Record<string, number>> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  IOT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  POLL: 29,
  PWR: 30,
  SYS: 31,
};

/** A signal number from a name ("TERM", "SIGTERM", "sigterm") or a number ("15", 15). Pure. */
export function parseSignal(s: string | number): number {
  if (typeof s === "number" || /^\d+$/.test(s)) {
    const n = Number(s);
    if (Number.isInteger(n) && n >= 1 && n <= 64) return n;
  } else {
    const name = s.toUpperCase().replace(/^SIG/, "");
    const n = SIGNALS[name];
    if (n !== undefined) return n;
    const rt = /^RTMIN(?:\+(\d+))?$/.exec(name);
    if (rt) {
      const v = 34 + Number(rt[1] ?? 0);
      if (v <= 64) return v;
    }
  }
  throw new SandboxError(
    "InvalidArgument",
    `Invalid signal "${String(s).slice(0, 20)}": use a name like TERM or a number 1-64`,
  );
}

export interface KillOptions {
  /** Signal every process of the container, not only its init (runc kill --all). */
  readonly all?: boolean;
  /** Signal this exec'd process instead of the init. */
  readonly execId?: string;
  readonly signal?: AbortSignal;
}

/** Sends `signal` to a container (created, running or paused) or one of its exec'd processes. */
export async function killContainer(
  ctx: SandboxContext,
  id: string,
  signal: string | number,
  opts: KillOptions = {},
): Promise<void> {
  const cid = containerId(id);
  const sig = parseSignal(signal);
  const c = await loadContainer(ctx, cid);
  if (!canKill(c.status)) throw refuse("kill", `container "${cid}"`, c.status);
  const agent = requireAgent(ctx, `kill container "${cid}"`, true);
  const ref = opts.execId === undefined
    ? { containerId: cid }
    : { containerId: cid, execId: execId(opts.execId) };
  await agent.signalProcess(ref, sig, {
    all: opts.all ?? false,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  ctx.log.info("signal sent", { container: cid, signal: sig, exec: opts.execId, all: opts.all === true });
}
