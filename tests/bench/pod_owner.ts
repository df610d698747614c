/**
 * The process that owns the pods of the memory benchmarks (P3, P4, P5): a program using only the
 * library API, in its own process so that its memory is the owner's and nothing else's.
 *
 *   deno run --allow-all tests/bench/pod_owner.ts '<json OwnerPlan>'
 *
 * It optionally starts one pod alone first (timed, then deleted), then starts `pods` pods, in
 * parallel or one after the other, and prints one JSON line (`OwnerReport`). It keeps the pods
 * until its stdin closes, deletes them all and prints `{"kind":"done"}`. On failure it deletes
 * what it started and prints `{"kind":"error","message":...}`.
 *
 * @module
 */
import * as v from "valibot";
import { podPids, restoredFromTemplate, type StartedPod, startPod, stopPod } from "./pod_env.ts";

/** What the owner does; passed as its one argument. */
export interface OwnerPlan {
  readonly config: string;
  readonly rootfs: string;
  readonly pods: number;
  readonly parallel: boolean;
  /** Start (and delete) one pod alone first, for P5's baseline. */
  readonly single: boolean;
  readonly prefix: string;
}

/** The line the owner prints once its pods run. */
export interface OwnerReport {
  readonly kind: "ready";
  readonly singleMs: number | null;
  /** From the first start until the last pod's process ran. */
  readonly wallMs: number;
  readonly podMs: readonly number[];
  readonly qemuPids: readonly number[];
  /** How many of the QEMUs were restored from a template (`-incoming`). */
  readonly restored: number;
  /** Why the pods that did not start failed (the others run and are measured). */
  readonly failures: readonly string[];
}

const PlanSchema = v.strictObject({
  config: v.pipe(v.string(), v.minLength(1)),
  rootfs: v.pipe(v.string(), v.minLength(1)),
  pods: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(200)),
  parallel: v.boolean(),
  single: v.boolean(),
  prefix: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.+-]{1,40}$/)),
});

const ReportSchema = v.variant("kind", [
  v.object({
    kind: v.literal("ready"),
    singleMs: v.nullable(v.number()),
    wallMs: v.number(),
    podMs: v.array(v.number()),
    qemuPids: v.array(v.pipe(v.number(), v.integer())),
    restored: v.number(),
    failures: v.array(v.string()),
  }),
  v.object({ kind: v.literal("error"), message: v.string() }),
]);

/** Validates the owner's argument. Pure. */
export function parsePlan(text: string): OwnerPlan {
  const r = v.safeParse(PlanSchema, JSON.parse(text));
  if (!r.success) throw new Error(`Cannot parse plan: ${r.issues[0]?.message ?? "invalid"}`);
  return r.output;
}

/** Validates an owner's report line; an error line becomes a thrown error. Pure. */
export function parseReport(line: string): OwnerReport {
  const r = v.safeParse(ReportSchema, JSON.parse(line));
  if (!r.success) throw new Error(`Cannot parse owner report ${JSON.stringify(line.slice(0, 200))}`);
  if (r.output.kind === "error") throw new Error(`The pod owner failed: ${r.output.message}`);
  return r.output;
}

async function own(plan: OwnerPlan): Promise<void> {
  const pods: StartedPod[] = [];
  const failures: string[] = [];
  const say = (o: unknown) => Deno.stdout.write(new TextEncoder().encode(JSON.stringify(o) + "\n"));
  try {
    let singleMs: number | null = null;
    if (plan.single) {
      const one = await startPod(plan.config, plan.rootfs, `${plan.prefix}-single`);
      singleMs = one.ms;
      await stopPod(one);
    }
    const t0 = performance.now();
    const ids = Array.from({ length: plan.pods }, (_, i) => `${plan.prefix}-${i}`);
    if (plan.parallel) {
      const started = await Promise.allSettled(ids.map((id) => startPod(plan.config, plan.rootfs, id)));
      for (const s of started) {
        if (s.status === "fulfilled") pods.push(s.value);
        else failures.push(message(s.reason));
      }
    } else {
      for (const id of ids) {
        await startPod(plan.config, plan.rootfs, id).then(
          (p) => pods.push(p),
          (e) => failures.push(message(e)),
        );
      }
    }
    if (pods.length === 0) throw new Error(`no pod started: ${failures[0] ?? "?"}`);
    const wallMs = performance.now() - t0;
    const qemuPids = (await Promise.all(pods.map(podPids))).flat();
    let restored = 0;
    for (const pid of qemuPids) if (await restoredFromTemplate(pid)) restored++;
    const report: OwnerReport = {
      kind: "ready",
      singleMs,
      wallMs,
      podMs: pods.map((p) => p.ms),
      qemuPids,
      restored,
      failures,
    };
    await say(report);
    // Keep the pods until the parent closes our stdin.
    for await (const _ of Deno.stdin.readable) { /* wait for EOF */ }
  } catch (e) {
    await say({ kind: "error", message: message(e) });
  } finally {
    for (const p of pods) await stopPod(p);
  }
  await say({ kind: "done" });
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

if (import.meta.main) {
  await own(parsePlan(Deno.args[0] ?? ""));
  Deno.exit(0);
}
