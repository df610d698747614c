import assert from "node:assert/strict";
import {
  fig,
  figures,
  formatFigure,
  kibToMib,
  median,
  meets,
  pairedRatio,
  parseGoal,
  ratio,
  round,
} from "./figures.ts";

Deno.test({
  name: "parseGoal() reads <= and >= goals and refuses anything else",
  permissions: "none",
  fn() {
    assert.deepEqual(parseGoal("<= 1.3"), { op: "<=", target: 1.3 });
    assert.deepEqual(parseGoal(">= 0.5"), { op: ">=", target: 0.5 });
    assert.deepEqual(parseGoal("<=17"), { op: "<=", target: 17 });
    assert.equal(parseGoal("< 3"), undefined);
    assert.equal(parseGoal("<= fast"), undefined);
    assert.equal(parseGoal(""), undefined);
  },
});

Deno.test({
  name: "meets() holds at the target, fails past it, and fails for NaN or a bad goal",
  permissions: "none",
  fn() {
    assert.equal(meets(1.3, "<= 1.3"), true);
    assert.equal(meets(1.31, "<= 1.3"), false);
    assert.equal(meets(0.5, ">= 0.5"), true);
    assert.equal(meets(0.49, ">= 0.5"), false);
    assert.equal(meets(Number.NaN, "<= 1"), false);
    assert.equal(meets(Number.NaN, ">= 1"), false);
    assert.equal(meets(0, "about 1"), false);
  },
});

Deno.test({
  name: "fig() sets met only when a goal is given",
  permissions: "none",
  fn() {
    assert.deepEqual(fig("s", "n", 2, "x"), { section: "s", name: "n", value: 2, unit: "x" });
    assert.deepEqual(fig("s", "n", 2, "x", "<= 4"), {
      section: "s",
      name: "n",
      value: 2,
      unit: "x",
      goal: "<= 4",
      met: true,
    });
    assert.deepEqual(figures("p", [{ name: "a", value: 5, unit: "x", goal: "<= 4" }]), [
      { section: "p", name: "a", value: 5, unit: "x", goal: "<= 4", met: false },
    ]);
  },
});

Deno.test({
  name: "median(), ratio() and pairedRatio() handle odd, even, empty and zero inputs",
  permissions: "none",
  fn() {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
    assert.equal(ratio(3, 2), 1.5);
    assert.ok(Number.isNaN(ratio(1, 0)));
    assert.ok(Number.isNaN(ratio(Number.NaN, 1)));
    // Per-pair ratios 2, 3, 4: the median is 3, not median(num)/median(den) = 20/6.
    assert.equal(pairedRatio([2, 30, 20], [1, 10, 5]), 3);
    assert.equal(pairedRatio([2, 4], [1]), 2);
  },
});

Deno.test({
  name: "round(), kibToMib() and formatFigure() render figures",
  permissions: "none",
  fn() {
    assert.equal(round(1.23456), 1.23);
    assert.equal(round(1.23456, 3), 1.235);
    assert.equal(kibToMib(1536), 1.5);
    const line = formatFigure(fig("start", "P1", 1.5, "x", "<= 1.3"), 12);
    assert.match(line, /^start\/P1 {5}/);
    assert.match(line, /1\.5 x {6}goal <= 1\.3: MISSED$/);
    assert.doesNotMatch(formatFigure(fig("a", "b", 1, "ms"), 4), /goal/);
  },
});
