/**
 * The pure parts of the benchmark suite: a figure, its goal and whether it is met, medians and
 * ratios, and the text line `deno task bench` prints for a figure. No I/O here.
 *
 * @module
 */

/** One measured figure of a section. */
export interface Figure {
  readonly section: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  /** A goal on the value, `<= 1.3` or `>= 0.5`. */
  readonly goal?: string;
  readonly met?: boolean;
}

/** A figure without its section, as the bench modules return them. */
export interface Row {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly goal?: string;
}

/** A parsed goal: the value must be at most (`<=`) or at least (`>=`) `target`. */
export interface Goal {
  readonly op: "<=" | ">=";
  readonly target: number;
}

/** Parses `<= 1.3` / `>= 0.5`; undefined for anything else. */
export function parseGoal(goal: string): Goal | undefined {
  const m = /^\s*(<=|>=)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(goal);
  if (!m?.[1] || m[2] === undefined) return undefined;
  return { op: m[1] === "<=" ? "<=" : ">=", target: Number(m[2]) };
}

/** Whether `value` meets `goal`; false for a value that is not finite or a goal that does not parse. */
export function meets(value: number, goal: string): boolean {
  const g = parseGoal(goal);
  if (!g || !Number.isFinite(value)) return false;
  return g.op === "<=" ? value <= g.target : value >= g.target;
}

/** A figure of `section`, with `met` worked out when it has a goal. */
export function fig(section: string, name: string, value: number, unit: string, goal?: string): Figure {
  return { section, name, value, unit, ...(goal ? { goal, met: meets(value, goal) } : {}) };
}

/** Rows of a bench module as figures of `section`. */
export function figures(section: string, rows: readonly Row[]): Figure[] {
  return rows.map((r) => fig(section, r.name, r.value, r.unit, r.goal));
}

/** Median of `a` (NaN when empty). */
export function median(a: readonly number[]): number {
  if (a.length === 0) return Number.NaN;
  const s = [...a].sort((x, y) => x - y);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] ?? Number.NaN : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** `num / den`, NaN when either is not a positive finite number. */
export function ratio(num: number, den: number): number {
  return Number.isFinite(num) && Number.isFinite(den) && den > 0 && num >= 0 ? num / den : Number.NaN;
}

/** Median of the per-pair ratios `num[i] / den[i]` (pairs ran back to back under the same load). */
export function pairedRatio(num: readonly number[], den: readonly number[]): number {
  const n = Math.min(num.length, den.length);
  const rs: number[] = [];
  for (let i = 0; i < n; i++) rs.push(ratio(num[i] ?? Number.NaN, den[i] ?? Number.NaN));
  return median(rs.filter(Number.isFinite));
}

/** Rounds to `digits` decimals. */
export function round(v: number, digits = 2): number {
  const k = 10 ** digits;
  return Math.round(v * k) / k;
}

/** KiB to MiB, one decimal. */
export function kibToMib(kib: number): number {
  return round(kib / 1024, 1);
}

/** The line `deno task bench` prints for a figure, its name padded to `width`. */
export function formatFigure(f: Figure, width: number): string {
  const goal = f.goal ? `goal ${f.goal}: ${f.met ? "met" : "MISSED"}` : "";
  return `${`${f.section}/${f.name}`.padEnd(width)}  ${String(f.value).padStart(12)} ${
    f.unit.padEnd(6)
  } ${goal}`
    .trimEnd();
}
