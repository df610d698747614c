/**
 * The network namespace a holder makes for a container that asks for a new one (a `network`
 * namespace without a path) and has host hooks: Docker configures the container's interface from
 * its prestart hook (`libnetwork-setkey`), which joins `/proc/<state pid>/ns/net`. A holder is not
 * in that namespace, so a small keeper process (`nsenter --net=... sleep infinity`) is, and its pid
 * is the hooks' state pid. After the hooks, the VM is started in the namespace and the network
 * model connects whatever the hooks put there (eth0, address, routes, MTU) to the guest.
 *
 * The name is derived from the sandbox directory, so a delete without the holder finds it.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { RuntimeError } from "../errors.ts";

export interface PodNetns {
  readonly name: string;
  readonly path: string;
  /** The keeper process in the namespace (the hooks' state pid). */
  readonly pid: number;
  close(): Promise<void>;
}

/** The netns name for a sandbox directory (15 characters at most, like an interface name). Pure. */
function podNetnsName(sandboxDir: string): string {
  return `cocoon-${createHash("sha256").update(sandboxDir).digest("hex").slice(0, 8)}`;
}

async function ip(args: string[]): Promise<{ ok: boolean; err: string }> {
  const o = await new Deno.Command("ip", { args, stdin: "null", stdout: "null", stderr: "piped" }).output();
  return { ok: o.success, err: new TextDecoder().decode(o.stderr).trim() };
}

/** Creates the namespace (lo up) and its keeper. */
export async function createPodNetns(sandboxDir: string): Promise<PodNetns> {
  const name = podNetnsName(sandboxDir);
  const path = `/run/netns/${name}`;
  await removePodNetns(sandboxDir);
  const add = await ip(["netns", "add", name]);
  if (!add.ok) throw new RuntimeError("Internal", `Cannot create network namespace "${name}": ${add.err}`);
  await ip(["-n", name, "link", "set", "lo", "up"]);
  const keeper = new Deno.Command("nsenter", {
    args: [`--net=${path}`, "--", "sleep", "infinity"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  keeper.unref();
  return {
    name,
    path,
    pid: keeper.pid,
    close: async () => {
      try {
        keeper.kill("SIGKILL");
      } catch {
        // gone
      }
      await keeper.status.catch(() => {});
      await ip(["netns", "del", name]);
    },
  };
}

/** Removes the namespace of `sandboxDir` and kills its keeper, if any (delete without a holder). */
export async function removePodNetns(sandboxDir: string): Promise<void> {
  const name = podNetnsName(sandboxDir);
  const path = `/run/netns/${name}`;
  let ino: number | null;
  try {
    ino = (await Deno.stat(path)).ino;
  } catch {
    return;
  }
  // Whatever still runs in it (the keeper; a VMM whose holder died) ends with it.
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    const link = await Deno.readLink(`/proc/${e.name}/ns/net`).catch(() => "");
    if (ino !== null && link === `net:[${ino}]`) {
      try {
        Deno.kill(Number(e.name), "SIGKILL");
      } catch {
        // gone
      }
    }
  }
  await ip(["netns", "del", name]);
}
