import assert from "node:assert/strict";
import { parsePrometheusText } from "./_prom_parser.ts";

const GOOD = `# HELP a_total Things
# TYPE a_total counter
a_total{x="1\\"q\\\\\\n"} 3
a_total{x="2"} 4.5e2
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="+Inf"} 2
h_sum 3.5
h_count 2
`;

Deno.test({
  name: "parsePrometheusText() reads families, labels with escapes and histograms",
  permissions: "none",
  fn() {
    const f = parsePrometheusText(GOOD);
    assert.equal(f.get("a_total")?.type, "counter");
    assert.equal(f.get("a_total")?.samples[0]?.labels["x"], '1"q\\\n');
    assert.equal(f.get("a_total")?.samples[1]?.value, 450);
    assert.equal(f.get("h")?.samples.length, 4);
  },
});

Deno.test({
  name: "parsePrometheusText() rejects malformed expositions",
  permissions: "none",
  fn() {
    const bad: Record<string, string> = {
      "no TYPE": "x 1\n",
      "bad value": "# TYPE x gauge\nx one\n",
      "bad escape": '# TYPE x gauge\nx{a="\\t"} 1\n',
      "duplicate": '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n',
      "split family": "# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx 2\n",
      "no newline": "# TYPE x gauge\nx 1",
      "histogram without +Inf": '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n',
      "histogram not cumulative":
        '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
      "+Inf differs from count": '# TYPE h histogram\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n',
      "bad name": "# TYPE 1x gauge\n",
    };
    for (const [why, text] of Object.entries(bad)) assert.throws(() => parsePrometheusText(text), Error, why);
  },
});
