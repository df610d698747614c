/**
 * A strict parser of the Prometheus text exposition format (0.0.4), for tests: it rejects what
 * Prometheus would reject (bad names, bad escapes, unparsable values, samples before their TYPE,
 * a family declared twice or split, duplicate series) and checks histograms (buckets ascending
 * and cumulative, a `+Inf` bucket equal to `_count`, `_sum` present).
 *
 * @module
 */

export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromFamily {
  readonly name: string;
  readonly type: "counter" | "gauge" | "histogram" | "summary" | "untyped";
  readonly help: string;
  readonly samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const TYPES = ["counter", "gauge", "histogram", "summary", "untyped"] as const;

function isType(s: string): s is PromFamily["type"] {
  return (TYPES as readonly string[]).includes(s);
}

function fail(line: number, why: string): never {
  throw new Error(`Invalid exposition at line ${line}: ${why}`);
}

function parseValue(s: string, line: number): number {
  if (s === "+Inf" || s === "Inf") return Infinity;
  if (s === "-Inf") return -Infinity;
  if (s === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) fail(line, `bad value "${s}"`);
  return Number(s);
}

function parseLabels(s: string, line: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let i = 0;
  for (;;) {
    while (s[i] === " ") i++;
    if (s[i] === "}") return { labels, rest: s.slice(i + 1) };
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(s.slice(i));
    if (m === null) fail(line, "bad label");
    const name = m[1]!;
    if (!LABEL.test(name) || name.startsWith("__")) fail(line, `bad label name "${name}"`);
    i += m[0].length;
    let v = "";
    for (;;) {
      const c = s[i];
      if (c === undefined) fail(line, "unterminated label value");
      if (c === '"') break;
      if (c === "\\") {
        const n = s[i + 1];
        if (n === "\\") v += "\\";
        else if (n === '"') v += '"';
        else if (n === "n") v += "\n";
        else fail(line, `bad escape "\\${n ?? ""}"`);
        i += 2;
        continue;
      }
      if (c === "\n") fail(line, "newline in label value");
      v += c;
      i++;
    }
    i++;
    if (name in labels) fail(line, `label "${name}" twice`);
    labels[name] = v;
    while (s[i] === " ") i++;
    if (s[i] === ",") i++;
    else if (s[i] !== "}") fail(line, "expected , or }");
  }
}

function familyOf(sample: string, families: Map<string, PromFamily>): PromFamily | undefined {
  const f = families.get(sample);
  if (f !== undefined && f.type !== "histogram" && f.type !== "summary") return f;
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (!sample.endsWith(suffix)) continue;
    const h = families.get(sample.slice(0, -suffix.length));
    if (h !== undefined && (h.type === "histogram" || (h.type === "summary" && suffix !== "_bucket"))) {
      return h;
    }
  }
  return undefined;
}

/** Parses and checks an exposition. @throws {Error} on the first violation */
export function parsePrometheusText(text: string): Map<string, PromFamily> {
  if (!text.endsWith("\n")) fail(0, "the text must end with a newline");
  const families = new Map<string, PromFamily>();
  const closed = new Set<string>();
  let current: PromFamily | undefined;
  const series = new Set<string>();
  const lines = text.split("\n").slice(0, -1);
  lines.forEach((raw, idx) => {
    const n = idx + 1;
    if (raw.trim() === "") return;
    if (raw.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (m === null) return; // a plain comment
      const [, kind, name, rest] = m;
      if (!NAME.test(name!)) fail(n, `bad metric name "${name}"`);
      if (kind === "TYPE") {
        const type = rest!;
        if (!isType(type)) fail(n, `bad type "${type}"`);
        const prev = families.get(name!);
        if (prev !== undefined && (prev.samples.length > 0 || closed.has(name!))) {
          fail(n, `TYPE of "${name}" after samples`);
        }
        if (prev !== undefined && prev.type !== "untyped") fail(n, `TYPE of "${name}" twice`);
        if (current !== undefined && current.name !== name) closed.add(current.name);
        current = { name: name!, type, help: prev?.help ?? "", samples: [] };
        families.set(name!, current);
      } else {
        const prev = families.get(name!);
        if (prev !== undefined && prev.help !== "") fail(n, `HELP of "${name}" twice`);
        if (current !== undefined && current.name !== name) closed.add(current.name);
        current = prev !== undefined
          ? { ...prev, help: rest! }
          : { name: name!, type: "untyped", help: rest!, samples: [] };
        families.set(name!, current);
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{?)(.*)$/.exec(raw);
    if (m === null) fail(n, "bad sample line");
    const name = m[1]!;
    let rest = m[3]!;
    let labels: Record<string, string> = {};
    if (m[2] === "{") ({ labels, rest } = parseLabels(rest, n));
    const parts = rest.trim().split(/\s+/);
    if (!rest.startsWith(" ") || parts.length < 1 || parts.length > 2) {
      fail(n, "expected ' value [timestamp]'");
    }
    const value = parseValue(parts[0]!, n);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) fail(n, "bad timestamp");
    const fam = familyOf(name, families);
    if (fam === undefined) fail(n, `sample "${name}" has no TYPE before it`);
    if (closed.has(fam.name)) fail(n, `samples of "${fam.name}" are not contiguous`);
    if (current?.name !== fam.name) fail(n, `sample "${name}" outside its family`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) fail(n, `duplicate series ${key}`);
    series.add(key);
    fam.samples.push({ name, labels, value });
  });
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

function checkHistogram(f: PromFamily): void {
  const groups = new Map<string, PromSample[]>();
  for (const s of f.samples) {
    const { le: _le, ...rest } = s.labels;
    const k = JSON.stringify(Object.entries(rest).sort());
    groups.set(k, [...(groups.get(k) ?? []), s]);
  }
  for (const samples of groups.values()) {
    const buckets = samples.filter((s) => s.name === `${f.name}_bucket`);
    const count = samples.find((s) => s.name === `${f.name}_count`);
    const sum = samples.find((s) => s.name === `${f.name}_sum`);
    if (count === undefined || sum === undefined) {
      throw new Error(`Histogram "${f.name}" lacks _count or _sum`);
    }
    let prevLe = -Infinity, prevCount = 0;
    for (const b of buckets) {
      const leText = b.labels["le"];
      if (leText === undefined) throw new Error(`Histogram "${f.name}" has a bucket without le`);
      const le = parseValue(leText, 0);
      if (!(le > prevLe)) throw new Error(`Histogram "${f.name}" buckets are not ascending`);
      if (b.value < prevCount) throw new Error(`Histogram "${f.name}" buckets are not cumulative`);
      prevLe = le;
      prevCount = b.value;
    }
    if (prevLe !== Infinity) throw new Error(`Histogram "${f.name}" lacks the +Inf bucket`);
    if (prevCount !== count.value) throw new Error(`Histogram "${f.name}": +Inf bucket differs from _count`);
  }
}
