/**
 * The management HTTP API on real QEMU (TCG here): two sandboxes made through mod.ts and released,
 * `cocoon api` (a separate process) serving a unix socket and localhost TCP; over HTTP: list and
 * inspect with VMM figures, pause and resume, exec with streamed NDJSON output and exit code, a 409
 * naming the owner while this test process holds a sandbox, `/metrics` parsed by a strict
 * Prometheus text parser, `cocoon metrics`, the dashboard in headless Chromium (the live rows
 * appear, the chart gets new samples; screenshot, kept in docs/dashboard.png with COCOON_UPDATE_DOCS=1), `cocoon exec-guest` (the
 * debug shell on its virtio-serial port, and its refusal when the console is off), then delete
 * over HTTP.
 * Nothing is left: no QEMU, API process, socket or state directory.
 *
 * Skipped unless RUNTIME_E2E=1 (or COCOON_E2E=1) and the host can boot guests; the dashboard step is
 * skipped, saying so, when /usr/bin/chromium is missing (`apt-get install chromium`).
 */
import assert from "node:assert/strict";
import { apiFetch, readToken, tokenFileOf } from "../utils/api_client.ts";
import { chromium } from "playwright-core";
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";
import { createSandbox, fetchSandbox, type Sandbox } from "../../mod.ts";
import { parsePrometheusText } from "../../runtime/api/http/_prom_parser.ts";
import { ensureGuestImage } from "../utils/guest.ts";
import { hostCanBoot, qemuPids, scrub, socketsUnder } from "./sandbox_util.ts";
import { cocoonBin } from "../utils/program.ts";

const enabled = (Deno.env.get("RUNTIME_E2E") === "1" || Deno.env.get("COCOON_E2E") === "1") &&
  await hostCanBoot();
const CHROMIUM = Deno.env.get("COCOON_CHROMIUM") ?? "/usr/bin/chromium";
const haveChromium = await Deno.stat(CHROMIUM).then((s) => s.isFile, () => false);
const ROOT = new URL("../../", import.meta.url).pathname;
// The committed screenshot is refreshed only on request (COCOON_UPDATE_DOCS=1): a test run leaves
// the tree as it found it.
const UPDATE_DOCS = Deno.env.get("COCOON_UPDATE_DOCS") === "1";
const SCREENSHOT = UPDATE_DOCS ? `${ROOT}docs/dashboard.png` : `/tmp/cocoon-dashboard-${Deno.pid}.png`;
const dec = new TextDecoder();

interface ApiProcess {
  readonly child: Deno.ChildProcess;
  readonly tcp: string;
  /** The API's bearer token (from the file `cocoon api` names). */
  readonly token: string;
  readonly unix: string;
  readonly stderr: string[];
}

async function startApi(configPath: string, unix: string): Promise<ApiProcess> {
  const child = new Deno.Command(cocoonBin(), {
    args: [
      "--config",
      configPath,
      "api",
      "--listen",
      `unix://${unix}`,
      "--listen",
      "tcp://127.0.0.1:0",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  const ready = Promise.withResolvers<string>();
  let tokenFile: string | null = null;
  void (async () => {
    let buf = "";
    for await (const chunk of child.stderr) {
      buf += dec.decode(chunk, { stream: true });
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) {
        stderr.push(l);
        const m = /^cocoon api: listening on .*tcp:\/\/(127\.0\.0\.1:\d+)/.exec(l);
        tokenFile ??= tokenFileOf(l);
        if (m) ready.resolve(m[1]!);
      }
    }
    ready.reject(new Error(`cocoon api exited: ${stderr.slice(-5).join("\n")}`));
  })();
  const timer = setTimeout(() => ready.reject(new Error("cocoon api did not listen in 60 s")), 60_000);
  try {
    const tcp = `http://${await ready.promise}`;
    if (tokenFile === null) throw new Error(`cocoon api named no token file: ${stderr.join("\n")}`);
    return { child, tcp, token: await readToken(tokenFile), unix, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** One HTTP/1.1 request over the unix socket; the status and the body. */
async function unixRequest(
  path: string,
  method: string,
  url: string,
): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ transport: "unix", path });
  await conn.write(
    new TextEncoder().encode(`${method} ${url} HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n`),
  );
  const raw = await new Response(conn.readable).text();
  const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
  let body = raw.slice(head.length + 4);
  if (/transfer-encoding: chunked/i.test(head)) {
    let out = "";
    for (;;) {
      const nl = body.indexOf("\r\n");
      const n = parseInt(body.slice(0, nl), 16);
      if (!(n > 0)) break;
      out += body.slice(nl + 2, nl + 2 + n);
      body = body.slice(nl + 2 + n + 2);
    }
    body = out;
  }
  return { status: Number(head.split(" ")[1]), body };
}

async function json(r: Response): Promise<Record<string, unknown>> {
  const x: unknown = await r.json();
  assert.ok(typeof x === "object" && x !== null && !Array.isArray(x));
  return Object.fromEntries(Object.entries(x));
}

function stateOf(v: Record<string, unknown>): unknown {
  const s = v["state"];
  return typeof s === "object" && s !== null && "kind" in s ? s.kind : undefined;
}

Deno.test({
  name:
    "HTTP API on real QEMU: list, pause/resume, exec, 409 owner, /metrics, cocoon metrics, dashboard, delete",
  ignore: !enabled,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const image = await ensureGuestImage();
    const dir = await Deno.makeTempDir({ prefix: "cocoon-http-e2e-" });
    const tag = crypto.randomUUID().slice(0, 6);
    const ids = [`web-${tag}`, `batch-${tag}`];
    const configPath = `${dir}/configuration.toml`;
    let api: ApiProcess | undefined;
    const held: Sandbox[] = [];
    try {
      await Deno.writeTextFile(
        configPath,
        [
          "[hypervisor.qemu]",
          `kernel = ${JSON.stringify(image.kernel)}`,
          `initrd = ${JSON.stringify(image.initrd)}`,
          `image = ${JSON.stringify(image.rootfs ?? "")}`,
          `accelerator = "${Deno.env.get("COCOON_TEST_ACCEL") === "kvm" ? "kvm" : "tcg"}"`,
          'shared_fs = "virtio-9p"',
          "[runtime]",
          `state_dir = ${JSON.stringify(`${dir}/run`)}`,
          'store = "fs"',
          'internetworking_model = "none"',
          "[agent]",
          "dial_timeout = 90",
          "debug_console_enabled = true",
          "",
        ].join("\n"),
      );
      const rootfs = await makeBusyboxRootfs(dir);
      for (const [i, id] of ids.entries()) {
        const sb = await createSandbox({ id, configPath, vcpus: 1, memoryMiB: i === 0 ? 512 : 256 });
        held.push(sb);
        await sb.createContainer({ id: `${id}-c`, rootfs, args: ["sh", "-c", "while :; do sleep 1; done"] });
        await sb.startContainer(`${id}-c`);
      }
      for (const sb of held.splice(0)) await sb.release();
      const [web, batch] = ids as [string, string];

      api = await startApi(configPath, `${dir}/api.sock`);
      const base = api.tcp;
      const token = api.token;
      const fetch = apiFetch(token);

      // List over TCP and over the unix socket: both sandboxes, ready, nobody holding them, VMM figures.
      const list = await json(await fetch(`${base}/v1/sandboxes`));
      const sandboxes = list["sandboxes"];
      assert.ok(Array.isArray(sandboxes));
      assert.deepEqual(sandboxes.map((s) => s.id).sort(), [...ids].sort());
      for (const s of sandboxes) {
        assert.equal(s.state.kind, "ready");
        assert.deepEqual(s.owner, { kind: "none" });
        assert.ok(s.vmm.rssBytes > 16 << 20, `VMM RSS of ${s.id}: ${s.vmm.rssBytes}`);
        assert.ok(s.vmm.cpuSeconds > 0);
        assert.ok(s.startSeconds > 0 && s.uptimeSeconds >= 0);
      }
      const overUnix = await unixRequest(api.unix, "GET", `/v1/sandboxes/${web}`);
      assert.equal(overUnix.status, 200);
      assert.equal(JSON.parse(overUnix.body).memoryMiB, 512);
      assert.equal((await unixRequest(api.unix, "GET", "/v1/sandboxes/nope")).status, 404);

      // Pause and resume the whole VM.
      await t.step("pause and resume over HTTP", async () => {
        const p = await fetch(`${base}/v1/sandboxes/${web}/pause`, { method: "POST" });
        assert.equal(p.status, 200);
        assert.equal(stateOf(await json(p)), "paused");
        const again = await fetch(`${base}/v1/sandboxes/${web}/pause`, { method: "POST" });
        assert.equal(again.status, 409);
        await again.body?.cancel();
        const r = await fetch(`${base}/v1/sandboxes/${web}/resume`, { method: "POST" });
        assert.equal(stateOf(await json(r)), "ready");
      });

      await t.step("exec streams NDJSON output and the exit code", async () => {
        const r = await fetch(`${base}/v1/sandboxes/${web}/containers/${web}-c/exec`, {
          method: "POST",
          body: JSON.stringify({
            args: ["sh", "-c", "sleep 1; echo out-$GREETING; echo err >&2; exit 7"],
            env: { GREETING: "http" },
          }),
        });
        assert.equal(r.status, 200);
        const events = (await r.text()).trim().split("\n").map((l) => JSON.parse(l));
        assert.equal(events[0].kind, "started");
        const text = (k: string) => events.filter((e) => e.kind === k).map((e) => e.data).join("");
        assert.equal(text("stdout"), "out-http\n");
        assert.equal(text("stderr"), "err\n");
        assert.deepEqual(events.at(-1), { kind: "exit", status: 7 });
      });

      await t.step("a sandbox held by another process is refused with 409 naming it", async () => {
        const mine = await fetchSandbox(batch, { configPath });
        try {
          const r = await fetch(`${base}/v1/sandboxes/${batch}/pause`, { method: "POST" });
          assert.equal(r.status, 409);
          const e = (await json(r))["error"];
          assert.ok(typeof e === "object" && e !== null && "owner" in e);
          assert.deepEqual(e.owner, {
            kind: "process",
            pid: Deno.pid,
            role: "program",
            command: (await Deno.readTextFile("/proc/self/cmdline")).split("\0").filter((a) => a).join(" ")
              .slice(
                0,
                160,
              ),
          });
          const v = await json(await fetch(`${base}/v1/sandboxes/${batch}`));
          const owner = v["owner"];
          assert.ok(
            typeof owner === "object" && owner !== null && "kind" in owner && owner.kind === "process",
          );
        } finally {
          await mine.release();
        }
        // Released: the API can act again. It stays paused for the dashboard.
        const p = await fetch(`${base}/v1/sandboxes/${batch}/pause`, { method: "POST" });
        assert.equal(stateOf(await json(p)), "paused");
      });

      await t.step("/metrics parses and carries VMM, guest and start latency figures", async () => {
        const r = await fetch(`${base}/metrics`);
        assert.equal(r.status, 200);
        const f = parsePrometheusText(await r.text());
        const sample = (fam: string, labels: Record<string, string>, name = fam) =>
          f.get(fam)?.samples.find((s) =>
            s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
          )
            ?.value;
        assert.ok((sample("cocoon_sandbox_vmm_rss_bytes", { sandbox: web }) ?? 0) > 16 << 20);
        assert.ok((sample("cocoon_sandbox_vmm_cpu_seconds_total", { sandbox: web }) ?? 0) > 0);
        assert.equal(sample("cocoon_sandbox_guest_stats_up", { sandbox: web }), 1);
        assert.ok((sample("cocoon_container_pids", { sandbox: web, container: `${web}-c` }) ?? 0) >= 1);
        assert.ok(
          (sample("cocoon_container_cpu_seconds_total", { sandbox: web, container: `${web}-c` }) ?? -1) >= 0,
        );
        assert.equal(sample("cocoon_sandboxes", { state: "paused" }), 1);
        assert.equal(
          sample("cocoon_sandbox_start_seconds", { le: "+Inf" }, "cocoon_sandbox_start_seconds_bucket"),
          2,
        );
      });

      await t.step("cocoon metrics prints the sandbox's figures", async () => {
        const run = (json: boolean) =>
          new Deno.Command(cocoonBin(), {
            args: [
              "--config",
              configPath,
              "metrics",
              ...(json ? ["--json"] : []),
              web,
            ],
            stdout: "piped",
            stderr: "piped",
          }).output();
        const j = await run(true);
        assert.equal(j.code, 0, dec.decode(j.stderr));
        const m = JSON.parse(dec.decode(j.stdout));
        assert.equal(m.sandbox.id, web);
        assert.ok(m.sandbox.vmm.rssBytes > 0);
        assert.equal(m.guest[0].containerId, `${web}-c`);
        const txt = await run(false);
        assert.match(
          dec.decode(txt.stdout),
          new RegExp(`^sandbox\\s+${web}\\n[\\s\\S]*vmm rss\\s+\\d+\\.\\d MiB`),
        );
      });

      await t.step(
        "cocoon exec-guest runs a shell in the guest, and is refused when the console is off",
        async () => {
          const run = (config: string, input: string) => {
            const c = new Deno.Command(cocoonBin(), {
              args: ["--config", config, "exec-guest", web],
              stdin: "piped",
              stdout: "piped",
              stderr: "piped",
            }).spawn();
            const w = c.stdin.getWriter();
            void w.write(new TextEncoder().encode(input)).then(() => w.close());
            return c.output();
          };
          const r = await run(
            configPath,
            "echo guest-$(cat /proc/sys/kernel/ostype); grep -qx cocoon.debug /sys/class/virtio-ports/*/name && echo port-ok; exit 3\n",
          );
          const out = dec.decode(r.stdout);
          assert.equal(r.code, 3, `${out}\n${dec.decode(r.stderr)}`);
          assert.match(out, /guest-Linux\n/);
          assert.match(out, /port-ok\n/);
          const off = `${dir}/no-console.toml`;
          await Deno.writeTextFile(
            off,
            (await Deno.readTextFile(configPath)).replace("debug_console_enabled = true", ""),
          );
          const refused = await run(off, "exit 0\n");
          assert.notEqual(refused.code, 0);
          assert.match(
            dec.decode(refused.stderr),
            /debug console is off: set \[agent\] debug_console_enabled = true/,
          );
        },
      );

      await t.step({
        name: haveChromium
          ? "dashboard in headless Chromium shows the live sandboxes and a chart that updates"
          : `dashboard in headless Chromium (skipped: ${CHROMIUM} is missing: apt-get install chromium)`,
        ignore: !haveChromium,
        fn: async () => {
          const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
          try {
            const page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
            // the dashboard's way in: the token once in the URL, then an HttpOnly cookie
            await page.goto(`${base}/?token=${token}`);
            assert.equal(new URL(page.url()).search, "", "the token left the address bar");
            for (const id of ids) await page.waitForSelector(`tr[data-sandbox="${id}"]`, { timeout: 20_000 });
            assert.equal(await page.getAttribute(`tr[data-sandbox="${batch}"]`, "data-state"), "paused");
            assert.equal(await page.getAttribute(`tr[data-sandbox="${web}"]`, "data-state"), "ready");
            const samples = async () => Number(await page.getAttribute("svg#mem", "data-samples"));
            await page.waitForFunction(
              `Number(document.querySelector("svg#cpu")?.getAttribute("data-samples")) >= 3`,
            );
            const first = await samples();
            const d1 = await page.getAttribute(`svg#mem path[data-sandbox="${web}"]`, "d");
            // Load in the guest, so the CPU line moves too.
            const busy = fetch(`${base}/v1/sandboxes/${web}/containers/${web}-c/exec`, {
              method: "POST",
              body: JSON.stringify({
                args: ["sh", "-c", "i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done"],
              }),
            }).then((r) => r.text());
            await page.waitForFunction(
              `Number(document.querySelector("svg#mem")?.getAttribute("data-samples")) >= ${first + 6}`,
              undefined,
              { timeout: 30_000 },
            );
            const d2 = await page.getAttribute(`svg#mem path[data-sandbox="${web}"]`, "d");
            assert.ok(
              d1 !== null && d2 !== null && d2 !== d1,
              "the memory chart was redrawn with new samples",
            );
            assert.ok((d2.match(/L/g) ?? []).length >= 4, "the line has several points");
            assert.ok(
              await page.$(`svg#cpu path[data-sandbox="${web}"]`),
              "the CPU chart has the sandbox's line",
            );
            await page.screenshot({ path: SCREENSHOT, fullPage: true });
            assert.ok((await Deno.stat(SCREENSHOT)).size > 10_000, "the screenshot has content");
            if (!UPDATE_DOCS) await Deno.remove(SCREENSHOT);
            await busy;
          } finally {
            await browser.close();
          }
        },
      });

      await t.step("delete over HTTP removes the sandboxes and their VMs", async () => {
        for (const id of ids) {
          const r = await fetch(`${base}/v1/sandboxes/${id}?force=true`, { method: "DELETE" });
          assert.equal(r.status, 204, await r.text());
        }
        assert.deepEqual((await json(await fetch(`${base}/v1/sandboxes`)))["sandboxes"], []);
        for (const id of ids) assert.deepEqual(await qemuPids(id), []);
      });
    } finally {
      for (const sb of held) await sb.delete({ force: true }).catch(() => {});
      if (api !== undefined) {
        api.child.kill("SIGTERM");
        const st = await api.child.status;
        assert.equal(st.code, 0, api.stderr.slice(-10).join("\n"));
      }
      for (const id of ids) await scrub(dir, id);
      const left = await socketsUnder(dir);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      assert.deepEqual(left, [], "no socket is left");
    }
  },
});
