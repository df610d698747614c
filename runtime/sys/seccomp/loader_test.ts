import assert from "node:assert/strict";
import { confinedArgv, prepareConfinement } from "./confine.ts";
import { type Jail, JAIL_SYSTEM, jailOptions, NINE_P_CAPS } from "./loader.ts";

const isRoot = Deno.uid() === 0;

async function runJailed(jail: Jail, script: string): Promise<{ out: string; err: string; code: number }> {
  const dir = await Deno.makeTempDir();
  try {
    const c = await prepareConfinement(dir, "insecure_x");
    const argv = confinedArgv(c, ["sh", "-c", script], jail);
    const r = await new Deno.Command(argv[0] ?? "perl", {
      args: argv.slice(1),
      stdout: "piped",
      stderr: "piped",
    })
      .output();
    const d = new TextDecoder();
    return { out: d.decode(r.stdout), err: d.decode(r.stderr), code: r.code };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("jailOptions(): ids are checked, taps need a user", () => {
  assert.deepEqual(jailOptions(undefined), []);
  assert.throws(() => jailOptions({ user: { uid: -1, gid: 0, groups: [] } }), /invalid id -1/);
  assert.throws(() => jailOptions({ taps: ["t"] }), /taps are handed to a user/);
  assert.deepEqual(jailOptions({ user: { uid: 5, gid: 6, groups: [] } }), ["--user", "5:6:"]);
  assert.throws(() => jailOptions({ writable: ["/x"] }), /needs a root/);
});

Deno.test({
  name:
    "loader: the helper runs as its uid with only the kept capabilities, no new privileges, seccomp, in a read-only mount namespace",
  ignore: !isRoot,
  async fn() {
    const vm = await Deno.makeTempDir();
    const outside = await Deno.makeTempDir();
    try {
      const r = await runJailed(
        {
          user: { uid: 1879000001, gid: 1879000001, groups: [] },
          caps: NINE_P_CAPS,
          writable: [vm],
          root: `${vm}/.root`,
          visible: JAIL_SYSTEM,
          cwd: vm,
        },
        `id -u; id -g; grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; pwd;
         touch made && echo vm-writable; touch /usr/x 2>&1 || true; ls ${outside} 2>&1 || true;
         ls /etc /root /home 2>&1 || true; echo > /dev/null && echo devnull-writable`,
      );
      assert.equal(r.code, 0, r.err);
      const lines = r.out.trim().split("\n").map((l) => l.replace(/\s+/g, " "));
      assert.deepEqual(lines.slice(0, 2), ["1879000001", "1879000001"]);
      assert.ok(lines.includes("CapEff: 000000000000000b"), r.out);
      assert.ok(lines.includes("CapBnd: 000000000000000b"), r.out);
      assert.ok(lines.includes("CapAmb: 000000000000000b"), r.out);
      assert.ok(lines.includes("NoNewPrivs: 1"), r.out);
      assert.ok(lines.includes("Seccomp: 2"), r.out);
      assert.ok(lines.includes(vm), r.out);
      assert.ok(lines.includes("vm-writable"), r.out);
      assert.match(r.out, /Read-only file system/);
      assert.match(r.out, new RegExp(`ls: ${outside}: No such file or directory|cannot access '${outside}'`));
      assert.match(r.out, /cannot access '\/root'|\/root: No such file/);
      assert.ok(r.out.includes("devnull-writable"), r.out);
      assert.equal((await Deno.stat(`${vm}/made`)).uid, 1879000001);
      assert.equal(await Deno.stat(`${outside}/x`).then(() => true, () => false), false);
    } finally {
      await Deno.remove(vm, { recursive: true });
      await Deno.remove(outside, { recursive: true });
    }
  },
});

Deno.test({
  name: "loader: without kept capabilities the helper's uid cannot read root's files",
  ignore: !isRoot,
  async fn() {
    const vm = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${vm}/secret`, "s", { mode: 0o600 });
      const r = await runJailed(
        {
          user: { uid: 1879000002, gid: 1879000002, groups: [] },
          writable: [vm],
          root: `${vm}/.root`,
          visible: JAIL_SYSTEM,
        },
        `grep '^CapEff:' /proc/self/status; cat ${vm}/secret 2>&1 || echo refused`,
      );
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /CapEff:\s+0000000000000000/);
      assert.match(r.out, /refused/);
    } finally {
      await Deno.remove(vm, { recursive: true });
    }
  },
});
