/** Helpers of the e2e files that watch daemons and VMs come and go. */

/** Whether `p` exists. */
export const exists = (p: string): Promise<boolean> => Deno.stat(p).then(() => true, () => false);

/** Polls `ok` every `stepMs` until it holds; throws naming `what` after `ms`. */
export async function until(
  what: string,
  ok: () => Promise<boolean>,
  ms: number,
  stepMs = 100,
): Promise<void> {
  for (const end = Date.now() + ms; !(await ok());) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** The pid in a daemon directory's pid file (0 when there is none). */
export async function daemonPid(dir: string): Promise<number> {
  return Number((await Deno.readTextFile(`${dir}/daemon.pid`).catch(() => "0")).trim());
}

/** Prints the end of a daemon's log: a failed test's evidence. */
export async function printDaemonLog(dir: string): Promise<void> {
  const log = await Deno.readTextFile(`${dir}/daemon.log`).catch(() => "(no daemon log)");
  // deno-lint-ignore no-console -- a failure's evidence
  console.error(`--- daemon log (last 40 lines) ---\n${log.split("\n").slice(-40).join("\n")}`);
}

/** SIGKILLs `pids` and whatever supervisor and daemon the directory's pid files name now. */
export async function killDaemons(dir: string, pids: readonly number[]): Promise<void> {
  const supervisor = Number((await Deno.readTextFile(`${dir}/supervisor.pid`).catch(() => "0")).trim());
  for (const p of [...pids, supervisor, await daemonPid(dir)]) {
    try {
      if (p > 0) Deno.kill(p, "SIGKILL");
    } catch {
      // gone
    }
  }
}
