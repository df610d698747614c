import assert from "node:assert/strict";
import { fakeEnv } from "../sys/_fake.ts";
import { createContainer } from "./create.ts";
import { OomWatcher } from "./oom.ts";
import { startContainer } from "./start.ts";
import { ContainerTable } from "./state.ts";
import { waitProcess } from "./wait.ts";

const spec = { process: { args: ["sh"] }, root: { path: "rootfs" } };

Deno.test({
  name: "OomWatcher queues the container when oom_kill grows, also when the init itself was killed",
  permissions: "none",
  async fn() {
    const env = fakeEnv();
    const table = new ContainerTable();
    using oom = new OomWatcher(env, table, { intervalMs: 60_000 });
    const c = await createContainer(env, table, { id: "c1", bundle: "/b", spec });
    await startContainer(env, table, "c1");
    const events = "/sys/fs/cgroup/pod/c1/memory.events";
    env.fs.files.set(`/proc/${c.init.pid}/cgroup`, "0::/pod/c1\n");
    env.fs.files.set(events, "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
    await oom.poll();
    // A child is OOM-killed: the init lives on.
    env.fs.files.set(events, "max 3\noom 1\noom_kill 1\n");
    await oom.poll();
    assert.equal(await oom.next(), "c1");
    await oom.poll();
    // Now the init is the victim: its /proc entry is gone before any poll saw the counter grow.
    env.fs.files.delete(`/proc/${c.init.pid}/cgroup`);
    env.fs.files.set(events, "max 9\noom 2\noom_kill 2\n");
    const order: string[] = [];
    const wait = waitProcess(table, "c1", "").then((code) => order.push(`exit ${code}`));
    const next = oom.next().then((id) => order.push(`oom ${id}`));
    env.waiter.exit(c.init.pid, { kind: "signaled", signal: 9 });
    await Promise.all([wait, next]);
    assert.deepEqual(order, ["oom c1", "exit 137"]);
  },
});

Deno.test({
  name: "OomWatcher.next() rejects with Cancelled when its signal aborts",
  permissions: "none",
  async fn() {
    const env = fakeEnv();
    using oom = new OomWatcher(env, new ContainerTable(), { intervalMs: 60_000 });
    const ac = new AbortController();
    const p = oom.next({ signal: ac.signal });
    ac.abort();
    await assert.rejects(p, { code: "Cancelled" });
  },
});
