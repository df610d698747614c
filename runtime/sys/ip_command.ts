/**
 * The side-effect boundary of the network plugins: every `ip`, `tc`, `nsenter` and `mknod` call goes
 * through {@link NetSys}, so unit tests assert on the exact argv with a recording fake
 * (`_ip_fake.ts`) and real tests run the same code against the host.
 *
 * Commands that must act inside a network namespace are wrapped as
 * `nsenter --net=<path> -- <cmd> <args...>`: `ip -n`/`tc -n` accept only names under
 * /var/run/netns, while callers hand us paths such as `/proc/<pid>/ns/net`.
 *
 * @module
 */
import { RuntimeError, toRuntimeError } from "../errors.ts";

export interface NetCommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one external command to completion. */
export interface NetSys {
  run(cmd: string, args: readonly string[], opts?: { signal?: AbortSignal }): Promise<NetCommandResult>;
}

/** The real implementation: `Deno.Command`, stdout/stderr captured, stdin closed. */
export function hostNetSys(): NetSys {
  const dec = new TextDecoder();
  return {
    async run(cmd, args, opts = {}) {
      const out = await new Deno.Command(cmd, {
        args: [...args],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        ...(opts.signal ? { signal: opts.signal } : {}),
      }).output();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    },
  };
}

/** The namespace file for `netns`: a path is kept, a bare name is looked up in /var/run/netns. */
export function netnsPath(netns: string): string {
  if (netns.startsWith("/")) return netns;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(netns) || netns === "." || netns === "..") {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid network namespace "${netns.slice(0, 80)}": expected a path or a name`,
    );
  }
  return `/var/run/netns/${netns}`;
}

/** argv that runs `cmd args` inside `netns`. */
export function inNetnsArgv(netns: string, cmd: string, args: readonly string[]): [string, string[]] {
  return ["nsenter", [`--net=${netnsPath(netns)}`, "--", cmd, ...args]];
}

/** What to say about one failed command: the argv and the tail of stderr. */
function failure(
  what: string,
  cmd: string,
  args: readonly string[],
  r: NetCommandResult,
  code: "Internal" | "NotFound",
) {
  const err = r.stderr.trim().split("\n").slice(-3).join(" / ").slice(0, 400);
  return new RuntimeError(code, `${what}: "${[cmd, ...args].join(" ")}" exited with code ${r.code}: ${err}`);
}

/**
 * Runs `cmd args` in `netns` and returns stdout; a non-zero exit becomes a RuntimeError that quotes
 * the command and its stderr, prefixed by `what` ("Cannot add tap ...").
 */
export async function runInNetns(
  sys: NetSys,
  netns: string,
  cmd: string,
  args: readonly string[],
  opts: { what: string; signal?: AbortSignal },
): Promise<string> {
  const [c, a] = inNetnsArgv(netns, cmd, args);
  let r: NetCommandResult;
  try {
    r = await sys.run(c, a, opts.signal ? { signal: opts.signal } : {});
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new RuntimeError("FailedPrecondition", `${opts.what}: "${c}" is not installed`, { cause: e });
    }
    throw toRuntimeError(e, `${opts.what}: cannot run "${c}"`); // an aborted signal becomes Cancelled
  }
  if (r.code !== 0) throw failure(opts.what, c, a, r, "Internal");
  return r.stdout;
}

/** Runs a command on the host (not in a netns) and returns stdout, like {@link runInNetns}. */
export async function runOnHost(
  sys: NetSys,
  cmd: string,
  args: readonly string[],
  opts: { what: string; signal?: AbortSignal },
): Promise<string> {
  let r: NetCommandResult;
  try {
    r = await sys.run(cmd, args, opts.signal ? { signal: opts.signal } : {});
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new RuntimeError("FailedPrecondition", `${opts.what}: "${cmd}" is not installed`, { cause: e });
    }
    throw toRuntimeError(e, `${opts.what}: cannot run "${cmd}"`);
  }
  if (r.code !== 0) throw failure(opts.what, cmd, args, r, "Internal");
  return r.stdout;
}

/** Parses JSON printed by `ip -json`/`tc -json`; empty output is an empty list. */
export function parseJsonOutput(text: string, what: string): unknown {
  const t = text.trim();
  if (t === "") return [];
  try {
    return JSON.parse(t);
  } catch (e) {
    throw new RuntimeError("Internal", `${what}: the command printed invalid JSON`, { cause: e });
  }
}
