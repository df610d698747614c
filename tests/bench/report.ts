/**
 * `deno task bench:report`: from bench/results.json, writes docs/bench.svg (every figure that has
 * a goal, as its value over the goal's target, with the goal line at 1) and the table between
 * `<!-- bench:start -->` and `<!-- bench:end -->` in README.md. `deno task bench` runs it at the end.
 *
 * Run: deno run --allow-read --allow-write tests/bench/report.ts [results.json] [README.md] [svg]
 *
 * @module
 */
import * as v from "valibot";
import { type Figure, parseGoal } from "./figures.ts";

export const START_MARKER = "<!-- bench:start -->";
export const END_MARKER = "<!-- bench:end -->";

const FigureSchema = v.object({
  section: v.string(),
  name: v.string(),
  value: v.union([v.number(), v.null()]),
  unit: v.string(),
  goal: v.optional(v.string()),
  met: v.optional(v.boolean()),
});

const ResultsSchema = v.object({
  machine: v.record(v.string(), v.unknown()),
  figures: v.array(FigureSchema),
  skipped: v.optional(v.record(v.string(), v.string()), {}),
  durations: v.optional(v.record(v.string(), v.number()), {}),
  ran: v.optional(v.record(v.string(), v.string()), {}),
});

/** bench/results.json as the report reads it. */
export interface Results {
  readonly machine: Readonly<Record<string, unknown>>;
  readonly figures: readonly Figure[];
  readonly skipped: Readonly<Record<string, string>>;
  /** Seconds each section took. */
  readonly durations: Readonly<Record<string, number>>;
  /** When each section started (ISO-8601); sections named on the command line replace their own. */
  readonly ran: Readonly<Record<string, string>>;
}

/** Validates the JSON text of bench/results.json (NaN was written as null). Pure. */
export function parseResults(text: string): Results {
  const r = v.safeParse(ResultsSchema, JSON.parse(text));
  if (!r.success) {
    const issue = r.issues[0];
    throw new Error(
      `Cannot read benchmark results: ${issue ? `${v.getDotPath(issue) ?? ""} ${issue.message}` : "invalid"}`,
    );
  }
  const figures = r.output.figures.map((f): Figure => ({
    section: f.section,
    name: f.name,
    value: f.value ?? Number.NaN,
    unit: f.unit,
    ...(f.goal !== undefined ? { goal: f.goal } : {}),
    ...(f.met !== undefined ? { met: f.met } : {}),
  }));
  const { machine, skipped, durations, ran } = r.output;
  return { machine, figures, skipped, durations, ran };
}

/** One line describing the machine: cores, CPU, accelerator, QEMU, kernel, date. Pure. */
export function machineLine(m: Readonly<Record<string, unknown>>): string {
  const s = (k: string) => (m[k] === undefined ? "?" : String(m[k]));
  return `${s("cores")} cores (${s("cpu")}), ${s("memoryGiB")} GiB, accelerator ${s("accelerator")}, ` +
    `QEMU ${s("qemu")}, host kernel ${s("kernel")}, Deno ${s("deno")}, run ${s("date")}`;
}

function cell(s: string): string {
  return s.replaceAll("|", "\\|").replaceAll("\n", " ");
}

function showValue(f: Figure): string {
  return Number.isFinite(f.value) ? `${f.value} ${f.unit}` : "n/a";
}

/** The markdown put between the README markers. Pure. */
export function renderMarkdown(r: Results, svgPath = "docs/bench.svg"): string {
  const goals = r.figures.filter((f) => f.goal);
  const sections = Object.entries(r.ran).map(([k, at]) =>
    `${k} ${at.slice(0, 16).replace("T", " ")}Z${
      r.durations[k] !== undefined ? ` (${r.durations[k]} s)` : ""
    }`
  );
  const lines = [
    `Machine: ${machineLine(r.machine)}.`,
    ...(sections.length ? ["", `Sections (start, duration): ${sections.join(", ")}.`] : []),
    "",
    `![benchmark figures over their goals](${svgPath})`,
    "",
    "| figure | value | goal | |",
    "| --- | ---: | --- | --- |",
    ...goals.map((f) =>
      `| ${cell(`${f.section}: ${f.name}`)} | ${cell(showValue(f))} | ${cell(f.goal ?? "")} | ${
        f.met ? "met" : "**missed**"
      } |`
    ),
  ];
  const skipped = Object.entries(r.skipped);
  if (skipped.length) {
    lines.push(
      "",
      "Not measured in this run:",
      "",
      ...skipped.map(([k, why]) => `- ${cell(k)}: ${cell(why)}`),
    );
  }
  const rest = r.figures.filter((f) => !f.goal);
  if (rest.length) {
    lines.push(
      "",
      "<details><summary>All other figures (baselines and details)</summary>",
      "",
      "| figure | value |",
      "| --- | ---: |",
      ...rest.map((f) => `| ${cell(`${f.section}: ${f.name}`)} | ${cell(showValue(f))} |`),
      "",
      "</details>",
    );
  }
  return lines.join("\n");
}

/**
 * `readme` with `content` between the markers; the markers are added in a "Benchmarks" section at
 * the end when absent. Pure.
 */
export function replaceBetweenMarkers(readme: string, content: string): string {
  const start = readme.indexOf(START_MARKER);
  const end = readme.indexOf(END_MARKER);
  const block = `${START_MARKER}\n${content}\n${END_MARKER}`;
  if (start >= 0 && end > start) {
    return readme.slice(0, start) + block + readme.slice(end + END_MARKER.length);
  }
  const sep = readme.endsWith("\n") ? "\n" : "\n\n";
  return `${readme}${sep}## Benchmarks\n\n${block}\n`;
}

function esc(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

/** A figure's value over its goal's target (1 = on the goal line); NaN when it has none. Pure. */
export function goalRatio(f: Figure): number {
  const g = f.goal ? parseGoal(f.goal) : undefined;
  if (!g || !Number.isFinite(f.value) || g.target === 0) return Number.NaN;
  return f.value / g.target;
}

/**
 * The chart: one horizontal bar per figure with a goal, its length the value over the goal's target
 * (log-free, capped at `cap`), green when met, red when missed, and the goal line at 1. Pure.
 */
export function renderSvg(r: Results, opts: { cap?: number } = {}): string {
  const cap = opts.cap ?? 4;
  const goals = r.figures.filter((f) => f.goal);
  const labelW = 430;
  const barW = 360;
  const rowH = 26;
  const top = 46;
  const width = labelW + barW + 270;
  const height = top + Math.max(goals.length, 1) * rowH + 40;
  const x = (ratio: number) => labelW + (Math.min(ratio, cap) / cap) * barW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">Cocoon benchmark figures over their goals (1 = goal)</text>`,
    `<text x="10" y="36" fill="#555">${esc(machineLine(r.machine))}</text>`,
  ];
  goals.forEach((f, i) => {
    const y = top + i * rowH;
    const ratio = goalRatio(f);
    const g = f.goal ? parseGoal(f.goal) : undefined;
    const color = f.met ? "#2e8b57" : "#c0392b";
    out.push(
      `<text x="${labelW - 8}" y="${y + 16}" text-anchor="end">${
        esc(trim(`${f.section}: ${f.name}`, 64))
      }</text>`,
    );
    if (Number.isFinite(ratio)) {
      const w = Math.max(1, x(ratio) - labelW);
      out.push(
        `<rect x="${labelW}" y="${y + 5}" width="${w.toFixed(1)}" height="${rowH - 10}" fill="${color}"/>`,
      );
      if (ratio > cap) {
        out.push(`<text x="${labelW + barW - 4}" y="${y + 16}" text-anchor="end" fill="#fff">»</text>`);
      }
    }
    const dir = g?.op === ">=" ? "higher is better" : "lower is better";
    out.push(
      `<text x="${labelW + barW + 8}" y="${y + 16}">${
        esc(`${showValue(f)} (goal ${f.goal ?? ""}, ${dir})`)
      }</text>`,
    );
  });
  const gx = x(1).toFixed(1);
  const bottom = top + Math.max(goals.length, 1) * rowH;
  out.push(
    `<line x1="${gx}" y1="${top - 2}" x2="${gx}" y2="${
      bottom + 2
    }" stroke="#222" stroke-width="2" stroke-dasharray="4 3"/>`,
    `<text x="${gx}" y="${bottom + 16}" text-anchor="middle">goal</text>`,
    `<text x="${labelW}" y="${bottom + 16}" text-anchor="middle" fill="#555">0</text>`,
    `<text x="${labelW + barW}" y="${bottom + 16}" text-anchor="middle" fill="#555">${cap}x goal</text>`,
  );
  if (goals.length === 0) {
    out.push(`<text x="${labelW}" y="${top + 16}">no figure with a goal in this run</text>`);
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}

function trim(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** Reads the results and writes the SVG and the README section. */
export async function writeReport(
  paths: { results?: string; readme?: string; svg?: string } = {},
): Promise<void> {
  const results = parseResults(await Deno.readTextFile(paths.results ?? "bench/results.json"));
  const svg = paths.svg ?? "docs/bench.svg";
  const readme = paths.readme ?? "README.md";
  await Deno.mkdir(svg.slice(0, Math.max(svg.lastIndexOf("/"), 0)) || ".", { recursive: true });
  await Deno.writeTextFile(svg, renderSvg(results));
  await Deno.writeTextFile(
    readme,
    replaceBetweenMarkers(await Deno.readTextFile(readme), renderMarkdown(results, svg)),
  );
}

if (import.meta.main) {
  const [results, readme, svg] = Deno.args;
  await writeReport({
    ...(results ? { results } : {}),
    ...(readme ? { readme } : {}),
    ...(svg ? { svg } : {}),
  });
}
