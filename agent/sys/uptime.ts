/**
 * The guest's uptime in seconds (`/proc/uptime`), logged with the agent's start-up steps so the host
 * can place them on one time line with the kernel's and /init's (`cocoon waterfall`); undefined
 * where there is no /proc (a test agent on a host without it).
 *
 * @module
 */
export function uptimeSeconds(): number | undefined {
  try {
    const n = Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}
