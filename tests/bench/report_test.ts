import assert from "node:assert/strict";
import { fig } from "./figures.ts";
import {
  END_MARKER,
  goalRatio,
  machineLine,
  parseResults,
  renderMarkdown,
  renderSvg,
  replaceBetweenMarkers,
  type Results,
  START_MARKER,
} from "./report.ts";

const results: Results = {
  machine: {
    cores: 2,
    cpu: "AMD EPYC",
    memoryGiB: 24,
    accelerator: "tcg",
    qemu: "7.2.19",
    kernel: "6.1",
    deno: "2.9.6",
    date: "d",
  },
  figures: [
    fig("start", "P1 cold start / bare boot", 2.6, "x", "<= 1.3"),
    fig("stdout", "P6 container stdout / raw", 0.7, "x", ">= 0.5"),
    fig("start", "bare boot | baseline", 3000, "ms"),
    fig("memory", "never ran", Number.NaN, "MiB", "<= 17"),
  ],
  skipped: { factory: "cocoon factory status failed" },
  durations: { start: 60 },
  ran: { start: "2026-11-23T09:34:47.101Z" },
};

Deno.test({
  name: "parseResults() reads results.json, turning null values into NaN and defaulting skipped",
  permissions: "none",
  fn() {
    const text = JSON.stringify({
      machine: { cores: 2 },
      figures: [{ section: "a", name: "b", value: null, unit: "x" }],
    });
    const r = parseResults(text);
    assert.equal(r.figures.length, 1);
    assert.ok(Number.isNaN(r.figures[0]?.value));
    assert.deepEqual(r.skipped, {});
    assert.deepEqual(r.durations, {});
    const round = parseResults(JSON.stringify(results));
    assert.equal(round.figures[1]?.met, true);
    assert.equal(round.figures[0]?.goal, "<= 1.3");
  },
});

Deno.test({
  name: "parseResults() refuses a figure without a unit",
  permissions: "none",
  fn() {
    assert.throws(
      () => parseResults(JSON.stringify({ machine: {}, figures: [{ section: "a", name: "b", value: 1 }] })),
      /Cannot read benchmark results: figures\.0\.unit/,
    );
  },
});

Deno.test({
  name: "renderMarkdown() lists goal figures with met/missed, skipped sections and the other figures",
  permissions: "none",
  fn() {
    const md = renderMarkdown(results);
    assert.match(md, /accelerator tcg, QEMU 7\.2\.19/);
    assert.match(md, /Sections \(start, duration\): start 2026-11-23 09:34Z \(60 s\)\./);
    assert.match(md, /\| start: P1 cold start \/ bare boot \| 2\.6 x \| <= 1\.3 \| \*\*missed\*\* \|/);
    assert.match(md, /\| stdout: P6 container stdout \/ raw \| 0\.7 x \| >= 0\.5 \| met \|/);
    assert.match(md, /\| memory: never ran \| n\/a \| <= 17 \| \*\*missed\*\* \|/);
    assert.match(md, /- factory: cocoon factory status failed/);
    // A pipe in a name is escaped so the table keeps its columns.
    assert.match(md, /\| start: bare boot \\\| baseline \| 3000 ms \|/);
    assert.match(md, /!\[[^\]]*\]\(docs\/bench\.svg\)/);
  },
});

Deno.test({
  name: "replaceBetweenMarkers() replaces only the marked block, and appends a section when absent",
  permissions: "none",
  fn() {
    const readme = `# T\n\nintro\n\n${START_MARKER}\nold table\n${END_MARKER}\n\n## Next\n`;
    const out = replaceBetweenMarkers(readme, "new table");
    assert.equal(out, `# T\n\nintro\n\n${START_MARKER}\nnew table\n${END_MARKER}\n\n## Next\n`);
    assert.equal(replaceBetweenMarkers(out, "new table"), out);
    const added = replaceBetweenMarkers("# T\n", "x");
    assert.equal(added, `# T\n\n## Benchmarks\n\n${START_MARKER}\nx\n${END_MARKER}\n`);
  },
});

Deno.test({
  name: "goalRatio() is value over target, NaN without a goal or a value",
  permissions: "none",
  fn() {
    assert.equal(goalRatio(fig("a", "b", 2.6, "x", "<= 1.3")), 2);
    assert.equal(goalRatio(fig("a", "b", 0.25, "x", ">= 0.5")), 0.5);
    assert.ok(Number.isNaN(goalRatio(fig("a", "b", 1, "x"))));
    assert.ok(Number.isNaN(goalRatio(fig("a", "b", Number.NaN, "x", "<= 1"))));
  },
});

Deno.test({
  name: "renderSvg() draws one bar per goal figure, colored by met, with a goal line and escaped text",
  permissions: "none",
  fn() {
    const svg = renderSvg(results, { cap: 4 });
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
    const bars = [
      ...svg.matchAll(/<rect x="430" y="[\d.]+" width="([\d.]+)" height="16" fill="(#[0-9a-f]+)"\/>/g),
    ];
    // Two goal figures have values (the NaN one gets no bar); the width is ratio/cap of 360 px.
    assert.deepEqual(bars.map((b) => [Number(b[1]), b[2]]), [[180, "#c0392b"], [126, "#2e8b57"]]);
    assert.match(svg, /stroke-dasharray="4 3"/);
    assert.match(svg, /<line x1="520\.0"/); // the goal line at ratio 1 of cap 4
    assert.match(svg, /goal &lt;= 1\.3, lower is better/);
    assert.match(svg, /goal &gt;= 0\.5, higher is better/);
    assert.doesNotMatch(svg, /<= 1\.3/);
  },
});

Deno.test({
  name: "renderSvg() says so when no figure has a goal, and machineLine() marks unknown fields",
  permissions: "none",
  fn() {
    const svg = renderSvg({ machine: {}, figures: [], skipped: {}, durations: {}, ran: {} });
    assert.match(svg, /no figure with a goal in this run/);
    assert.match(machineLine({ cores: 4 }), /^4 cores \(\?\)/);
  },
});
