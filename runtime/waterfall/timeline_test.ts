import assert from "node:assert/strict";
import { buildWaterfall, formatWaterfall, parseGuestStages } from "./timeline.ts";

const CONSOLE = [
  "cocoon-init: stage init at 0.91s",
  "cocoon-init: stage modules at 0.93s",
  "cocoon-init: stage userland at 1.20s",
  "cocoon-init: stage agent-exec at 1.25s",
  "cocoon-init: agent starting at 1.31s",
  '{"ts":"2026-12-06T10:00:00.000Z","level":"info","subsystem":"agent","msg":"agent starting","pid":7,"uptime":1.6}',
  '{"ts":"2026-12-06T10:00:00.100Z","level":"info","subsystem":"agent","msg":"agent ready","uptime":1.7}',
  '{"ts":"2026-12-06T10:00:00.200Z","level":"info","subsystem":"agent","msg":"serving agent channel","path":"/dev/vport0p1","uptime":1.8}',
  '{"level":"info","msg":"serving agent channel"}',
  'garbage {"uptime": not json',
].join("\n");

Deno.test("waterfall: the guest's steps come from /init's stage lines and the agent's uptime fields", () => {
  assert.deepEqual(parseGuestStages(CONSOLE).map((g) => [g.stage, g.uptimeS]), [
    ["kernel booted, /init runs", 0.91],
    ["/init: modules done", 0.93],
    ["/init: userland done", 1.2],
    ["/init: agent-exec done", 1.25],
    ["agent exec", 1.31],
    ["agent process started", 1.6],
    ["agent services registered", 1.7],
    ["agent serving", 1.8],
  ]);
});

Deno.test("waterfall: guest steps are placed on the host's time line at the agent's first connection", () => {
  const rows = buildWaterfall(
    [{ stage: "VM started", ms: 150 }, { stage: "agent connected", ms: 2100 }, {
      stage: "sandbox ready",
      ms: 2300,
    }],
    parseGuestStages(CONSOLE),
  );
  const at = Object.fromEntries(rows.map((r) => [r.stage, r.atMs]));
  assert.equal(at["guest kernel starts (uptime 0)"], 300); // 2100 - 1.8 s
  assert.equal(at["kernel booted, /init runs"], 1210);
  assert.equal(at["agent serving"], 2100);
  assert.equal(rows[0]?.stage, "VM started");
  // sorted, each step measured from the row before; the guest's row first on a tie
  for (let i = 1; i < rows.length; i++) assert.ok((rows[i]?.atMs ?? 0) >= (rows[i - 1]?.atMs ?? 0));
  const serving = rows.findIndex((r) => r.stage === "agent serving");
  assert.equal(rows[serving + 1]?.stage, "agent connected");
  assert.equal(rows.reduce((s, r) => s + r.stepMs, 0), 2300);
  const text = formatWaterfall(rows);
  assert.match(text, /guest\s+kernel booted, \/init runs/);
  assert.match(text, /one # is \d+ ms/);
});

Deno.test("waterfall: without the agent's uptime (a template clone, an old agent) only host steps show", () => {
  const rows = buildWaterfall([{ stage: "VM started", ms: 40 }, { stage: "agent connected", ms: 90 }], []);
  assert.deepEqual(rows.map((r) => [r.side, r.stage, r.stepMs]), [
    ["host", "VM started", 40],
    ["host", "agent connected", 50],
  ]);
});
