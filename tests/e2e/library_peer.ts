/**
 * The second process of library_vm_test.ts: a program that imports only mod.ts, fetches a sandbox
 * another process created and released, checks it is alive (status, a process in a container, the
 * hot-plugged device), then deletes it. Prints one JSON line with what it saw.
 *
 * library_vm_test.ts copies it into a directory of its own with the import pointing at the installed
 * library (PREFIX/lib/cocoon/mod.js) and runs it there without this checkout's deno.json.
 *
 * Usage: deno run -A peer.ts <configuration.toml> <sandbox id> <container id>
 */
import { fetchSandbox } from "../../mod.ts";

const [configPath, id, container] = Deno.args;
if (configPath === undefined || id === undefined || container === undefined) {
  throw new Error("usage: library_peer.ts <configuration.toml> <sandbox id> <container id>");
}
const sb = await fetchSandbox(id, { configPath });
const status = await sb.status();
// (sleeps first: the agent loses the exit of an exec'd process that ends before it watches it)
const p = await sb.enterContainer(container, { args: ["sh", "-c", "sleep 1; echo from-peer"] });
const out = await new Response(p.io.stdout).text();
const exit = await p.wait();
const devices = (await sb.listDevices()).map((d) => d.id);
const interfaces = (await sb.listInterfaces()).map((i) => i.name);
await sb.delete({ force: true });
await Deno.stdout.write(
  new TextEncoder().encode(
    JSON.stringify({
      state: status.state.kind,
      pids: status.pids,
      containers: status.containers.map((c) => `${c.id}:${c.state.kind}`).sort(),
      out,
      exit,
      devices,
      interfaces,
      deleted: true,
    }) + "\n",
  ),
);
