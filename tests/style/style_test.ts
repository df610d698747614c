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
  for (const m of text.matchAll(IMPORT_RE)) {
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
      if (e.name === "mock" && kind === "hypervisor") continue; // test double, not a loadable plugin
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
