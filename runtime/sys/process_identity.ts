/**
 * A process named so that pid reuse cannot fool a later reader: its pid and its start time (field
 * 22 of /proc/<pid>/stat, clock ticks since boot) must both match.
 *
 * @module
 */

/** The start time of `pid` from /proc/<pid>/stat, or null when there is no such (live) process. */
export async function processStartTime(pid: number): Promise<string | null> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // comm may hold spaces and parentheses: fields start after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const state = rest[0];
    if (state === "Z" || state === "X") return null; // exited, not yet reaped
    return rest[19] ?? null; // field 22 overall
  } catch {
    return null;
  }
}

/** True while the process `pid` that started at `startTime` runs. */
export async function processAlive(
  p: { readonly pid: number; readonly startTime: string },
): Promise<boolean> {
  return p.startTime !== "" && await processStartTime(p.pid) === p.startTime;
}
