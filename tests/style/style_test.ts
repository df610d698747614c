/**
 * House-style checks that keep the tree honest (firecracker keeps such suites too): the dependency
 * direction between the core and plugins, no console output outside the CLI, no `any`, and every
 * plugin folder of the same shape with a valid manifest.
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) {
      if (["node_modules", "gen", ".git", "dist", "fixtures", ".cache"].includes(e.name)) continue;
      yield* walk(p);
    } else if (e.isFile && p.endsWith(".ts")) yield p;
  }
}

async function sources(...dirs: string[]): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const d of dirs) {
    try {
      for await (const p of walk(`${root}${d}`)) m.set(p.slice(root.length), await Deno.readTextFile(p));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return m;
}

const IMPORT_RE = /(?:import|export)\s[^;]*?from\s+"([^"]+)"|import\(\s*"([^"]+)"\s*\)/g;

function imports(text: string): { spec: string; typeOnly: boolean }[] {
  const out: { spec: string; typeOnly: boolean }[] = [];
  // Doc comments show imports in their examples: only code lines count.
  const code = text.split("\n").filter((l) => !/^\s*(\*|\/\/|\/\*)/.test(l)).join("\n");
  for (const m of code.matchAll(IMPORT_RE)) {
    const spec = m[1] ?? m[2] ?? "";
    out.push({ spec, typeOnly: /^(?:import|export)\s+type\s/.test(m[0]) });
  }
  return out;
}

function resolve(from: string, spec: string): string {
  return new URL(spec, `file:///${from}`).pathname.slice(1);
}

Deno.test("runtime/ reaches concrete plugins only through runtime/plugins/registry.ts", async () => {
  const bad: string[] = [];
  for (const [file, text] of await sources("runtime")) {
    if (file.endsWith("_test.ts")) continue;
    for (const { spec } of imports(text)) {
      if (!spec.startsWith(".")) continue;
      const target = resolve(file, spec);
      if (
        target.startsWith("plugins/") && target !== "plugins/types.ts" &&
        file !== "runtime/plugins/registry.ts"
      ) {
        bad.push(`${file} imports ${target}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("plugins/ import values only from the contract, runtime/log, errors, ids and sys", async () => {
  const allowed = ["plugins/", "runtime/log/", "runtime/errors.ts", "runtime/ids.ts", "runtime/sys/"];
  const bad: string[] = [];
  for (const [file, text] of await sources("plugins")) {
    if (file.endsWith("_test.ts") || file.includes("/_test")) continue;
    const own = file.split("/").slice(0, 3).join("/") + "/";
    for (const { spec, typeOnly } of imports(text)) {
      if (!spec.startsWith(".")) continue;
      const target = resolve(file, spec);
      if (typeOnly || target.startsWith(own) || target === "plugins/types.ts") continue;
      if (
        !allowed.some((a) => target.startsWith(a)) ||
        (target.startsWith("plugins/") && !target.startsWith(own))
      ) {
        bad.push(`${file} imports ${target}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});

Deno.test("no console.* outside runtime/cli, tests and benchmarks", async () => {
  const bad: string[] = [];
  for (const [file, text] of await sources("runtime", "plugins", "agent")) {
    if (file.startsWith("runtime/cli/") || file.endsWith("_test.ts") || file.includes("/bench")) continue;
    text.split("\n").forEach((line, i) => {
      if (/\bconsole\.(log|error|warn|info|debug)\(/.test(line) && !line.trim().startsWith("//")) {
        bad.push(`${file}:${i + 1}`);
      }
    });
  }
  assert.deepEqual(bad, []);
});

Deno.test("no `any` in hand-written code", async () => {
  const bad: string[] = [];
  for (const [file, text] of await sources("runtime", "plugins", "agent", "tests")) {
    if (file === "tests/style/style_test.ts") continue;
    text.split("\n").forEach((line, i) => {
      if (
        /(:\s+any\b|\bas any\b|<any>)/.test(line) && !/deno-lint-ignore/.test(text.split("\n")[i - 1] ?? "")
      ) {
        bad.push(`${file}:${i + 1}`);
      }
    });
  }
  assert.deepEqual(bad, []);
});

Deno.test("every plugin folder has mod.ts and manifest.ts and a valid default export", async () => {
  const { validatePluginModule } = await import("../../runtime/plugins/manifest.ts");
  for (const kind of ["hypervisor", "network", "storage", "store", "factory"]) {
    let entries: Deno.DirEntry[] = [];
    try {
      entries = [...Deno.readDirSync(`${root}plugins/${kind}`)];
    } catch {
      continue;
    }
    for (const e of entries.filter((x) => x.isDirectory)) {
      const dir = `${root}plugins/${kind}/${e.name}`;
      const files = [...Deno.readDirSync(dir)].map((x) => x.name);
      assert.ok(files.includes("mod.ts"), `${dir} has no mod.ts`);
      assert.ok(files.includes("manifest.ts"), `${dir} has no manifest.ts`);
      const m = validatePluginModule(await import(`${dir}/mod.ts`), `${dir}/mod.ts`);
      assert.equal(m.manifest.kind, kind, `${dir}: manifest kind`);
      assert.equal(m.manifest.name, e.name, `${dir}: manifest name`);
    }
  }
});

Deno.test("program-level tests run the installed program, never main.ts from source", async () => {
  // A test that starts Cocoon as a program must run what `compile.sh --install` produced
  // (tests/utils/program.ts), as podman, containerd and users do. The library (mod.ts) may be
  // imported from source; main.ts may not be run.
  const offenders: string[] = [];
  const runsSource = [
    /\$\{[A-Za-z_]+\}\/?main\.ts/, // `${ROOT}main.ts` handed to a process
    /"\.\.\/\.\.\/main\.ts"/, // new URL("../../main.ts", ...)
    /"run",\s*"--allow-all"/, // deno run of a module
    /exec[^\n]*deno[^\n]*main\.ts/, // a launcher script running the source
  ];
  for (const [path, text] of await sources("tests/e2e", "tests/integration", "tests/utils")) {
    if (path === "tests/integration/compile_test.ts") continue; // builds the program itself
    for (const re of runsSource) if (re.test(text)) offenders.push(`${path} (${re.source})`);
  }
  assert.deepEqual(offenders, [], "use cocoonBin()/shimBin() from tests/utils/program.ts");
});

/** The import graph of the hand-written product code (tests excluded), type-only edges included. */
async function importGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const [file, text] of await sources("runtime", "plugins", "agent")) {
    if (file.endsWith("_test.ts") || file.includes("/_test") || file.includes("/testing/")) continue;
    const out: string[] = [];
    for (const { spec } of imports(text)) if (spec.startsWith(".")) out.push(resolve(file, spec));
    graph.set(file, out);
  }
  for (const f of ["main.ts", "mod.ts"]) {
    const text = await Deno.readTextFile(`${root}${f}`);
    graph.set(f, imports(text).filter((i) => i.spec.startsWith(".")).map((i) => resolve(f, i.spec)));
  }
  return graph;
}

/** Every strongly connected component of more than one file (Tarjan's algorithm). Pure. */
export function cyclesOf(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), out: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

Deno.test("cyclesOf finds a cycle and only a cycle", () => {
  const g = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]);
  assert.deepEqual(cyclesOf(g), [["a", "b", "c"]]);
  assert.deepEqual(cyclesOf(new Map([["a", ["b"]], ["b", []]])), []);
});

Deno.test("no import cycle in runtime/, plugins/, agent/, main.ts and mod.ts", async () => {
  assert.deepEqual(cyclesOf(await importGraph()), []);
});

Deno.test("runtime/factory takes VM configurations and never imports runtime/sandbox", async () => {
  const bad: string[] = [];
  for (const [file, text] of await sources("runtime/factory")) {
    if (file.endsWith("_test.ts")) continue;
    for (const { spec } of imports(text)) {
      if (spec.startsWith(".") && resolve(file, spec).startsWith("runtime/sandbox/")) {
        bad.push(`${file} imports ${spec}`);
      }
    }
  }
  assert.deepEqual(bad, []);
});
