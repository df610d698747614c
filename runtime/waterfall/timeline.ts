/**
 * A start-up waterfall: the host's steps (times from the start of `createSandbox`) and the guest's
 * (seconds of guest uptime, from its console: /init's `stage` lines, the agent's `uptime` fields)
 * on one time line. The guest's clock is placed on the host's by one anchor: the agent serving its
 * channel (guest uptime) is when the host's connection got through ("agent connected"), less
 * nothing: the host dials in a loop, so the guest steps can only look later by the loop's period.
 *
 * Everything here is pure; runtime/waterfall/run.ts measures.
 *
 * @module
 */

/** One step of a guest's start, from its console. */
export interface GuestStage {
  readonly stage: string;
  readonly uptimeS: number;
}

/** One host step: ms since the start was asked for. */
export interface HostMark {
  readonly stage: string;
  readonly ms: number;
}

/** A row of the waterfall. */
export interface WaterfallRow {
  readonly side: "host" | "guest";
  readonly stage: string;
  /** ms since the start was asked for. */
  readonly atMs: number;
  /** ms since the row before it. */
  readonly stepMs: number;
}

const INIT_STAGE = /cocoon-init: stage (\S+) at ([\d.]+)s/;
const AGENT_START = /cocoon-init: agent starting at ([\d.]+)s/;
const GUEST_MSGS: Readonly<Record<string, string>> = {
  "agent starting": "agent process started",
  "agent ready": "agent services registered",
  "serving agent channel": "agent serving",
};

/** The guest's steps in a console log, in order: kernel, /init, the agent. Pure. */
export function parseGuestStages(consoleText: string): GuestStage[] {
  const out: GuestStage[] = [];
  for (const line of consoleText.split("\n")) {
    const s = INIT_STAGE.exec(line);
    if (s !== null) {
      const name = s[1] === "init" ? "kernel booted, /init runs" : `/init: ${s[1]} done`;
      out.push({ stage: name, uptimeS: Number(s[2]) });
      continue;
    }
    const a = AGENT_START.exec(line);
    if (a !== null) {
      out.push({ stage: "agent exec", uptimeS: Number(a[1]) });
      continue;
    }
    const brace = line.indexOf("{");
    if (brace < 0 || !line.includes('"uptime"')) continue;
    try {
      const rec: unknown = JSON.parse(line.slice(brace));
      if (typeof rec !== "object" || rec === null) continue;
      const msg = "msg" in rec && typeof rec.msg === "string" ? rec.msg : "";
      const up = "uptime" in rec && typeof rec.uptime === "number" ? rec.uptime : undefined;
      const name = GUEST_MSGS[msg];
      if (name !== undefined && up !== undefined) out.push({ stage: name, uptimeS: up });
    } catch {
      // not a log record of the agent
    }
  }
  return out;
}

/**
 * Host and guest steps on one line. The guest's "agent serving" is placed at the host's "agent
 * connected"; without both, guest steps are left out (a clone restored from a template has no
 * boot to show). Pure.
 */
export function buildWaterfall(host: readonly HostMark[], guest: readonly GuestStage[]): WaterfallRow[] {
  const rows: { side: "host" | "guest"; stage: string; atMs: number }[] = host.map((h) => ({
    side: "host",
    stage: h.stage,
    atMs: h.ms,
  }));
  const anchorHost = host.find((h) => h.stage === "agent connected");
  const anchorGuest = guest.find((g) => g.stage === "agent serving");
  if (anchorHost !== undefined && anchorGuest !== undefined) {
    const offset = anchorHost.ms - anchorGuest.uptimeS * 1000;
    rows.push({ side: "guest", stage: "guest kernel starts (uptime 0)", atMs: offset });
    for (const g of guest) rows.push({ side: "guest", stage: g.stage, atMs: offset + g.uptimeS * 1000 });
  }
  rows.sort((a, b) => a.atMs - b.atMs || (a.side === b.side ? 0 : a.side === "guest" ? -1 : 1));
  let prev = 0;
  return rows.map((r) => {
    const row = { ...r, atMs: Math.round(r.atMs), stepMs: Math.round(r.atMs - prev) };
    prev = r.atMs;
    return row;
  });
}

/** The waterfall as a text table with a bar per step (each `#` is `msPerChar` ms). Pure. */
export function formatWaterfall(rows: readonly WaterfallRow[], width = 40): string {
  const total = Math.max(1, ...rows.map((r) => r.atMs));
  const scale = total / width;
  const name = Math.max(...rows.map((r) => r.stage.length), 5);
  const lines = [`${"at ms".padStart(8)} ${"step".padStart(7)}  side   ${"stage".padEnd(name)}  timeline`];
  for (const r of rows) {
    const from = Math.max(0, Math.round((r.atMs - r.stepMs) / scale));
    const len = Math.max(r.stepMs > 0 ? 1 : 0, Math.round(r.atMs / scale) - from);
    lines.push(
      `${String(r.atMs).padStart(8)} ${("+" + r.stepMs).padStart(7)}  ${r.side.padEnd(5)}  ${
        r.stage.padEnd(name)
      }  ${" ".repeat(from)}${"#".repeat(len)}`,
    );
  }
  lines.push(`(one # is ${Math.round(scale)} ms; guest steps are placed by the agent's first connection)`);
  return lines.join("\n");
}
