/**
 * The host's OOM killer and Cocoon: `cocoon daemon` holds every pod's connections, so it is
 * protected as containerd protects itself (oom_score_adj -998: the kernel picks almost anything
 * else first); the VMMs it starts inherit that score, so each is set back to 0 at once: under
 * memory pressure a VM goes, never the process that answers for all of them.
 *
 * @module
 */
import type { Logger } from "../log/logger.ts";

/** The score `cocoon daemon` gives itself (containerd uses -999 for itself). */
export const DAEMON_OOM_SCORE = -998;

async function write(pid: number | "self", score: number, proc = "/proc"): Promise<boolean> {
  try {
    await Deno.writeTextFile(`${proc}/${pid}/oom_score_adj`, `${score}\n`);
    return true;
  } catch {
    return false;
  }
}

/** Protects this process (best effort: it needs CAP_SYS_RESOURCE to lower its score). */
export async function protectSelf(log: Logger, score = DAEMON_OOM_SCORE): Promise<void> {
  if (!await write("self", score)) log.warn("cannot protect the daemon from the OOM killer", { score });
}

/** Sets `pids` back to the default score when they inherited a protection (a VMM the daemon spawned). */
export async function unprotect(pids: readonly number[], proc = "/proc"): Promise<void> {
  for (const pid of pids) {
    const now = Number((await Deno.readTextFile(`${proc}/${pid}/oom_score_adj`).catch(() => "0")).trim());
    if (now < 0) await write(pid, 0, proc);
  }
}
