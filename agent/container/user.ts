/**
 * User names in an exec'd process (`process.user.username`, e.g. from `cocoon exec --user app`):
 * resolved in the guest from the container's own /etc/passwd and /etc/group, as runc resolves them
 * in the container, since the host does not see the container's files. `name`, `name:group`,
 * `uid:group` and `name:gid` forms; numeric parts stay numeric. The resolved process carries uid/gid
 * and no username. Pure except for reading the two files.
 *
 * @module
 */
import { RuntimeError } from "../../runtime/errors.ts";
import type { AgentFs } from "./env.ts";

interface Entry {
  readonly name: string;
  readonly id: number;
  readonly gid: number;
}

/** Lines `name:x:id:gid:...` (passwd) or `name:x:id:...` (group, gid = id). Pure. */
export function parseIdFile(text: string): Entry[] {
  const out: Entry[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const [name, , id, gid] = line.split(":");
    if (!name || id === undefined || !/^\d+$/.test(id)) continue;
    out.push({
      name,
      id: Number(id),
      gid: gid !== undefined && /^\d+$/.test(gid) ? Number(gid) : Number(id),
    });
  }
  return out;
}

/**
 * The process with `user.username` ("user[:group]") resolved against the container root `rootfs`.
 * @throws {RuntimeError} `NotFound` when a name is not in the container's files
 */
export async function resolveProcessUser(
  fs: AgentFs,
  rootfs: string,
  process: Readonly<Record<string, unknown>>,
  what: string,
): Promise<Readonly<Record<string, unknown>>> {
  const user = process["user"];
  if (typeof user !== "object" || user === null || Array.isArray(user)) return process;
  const spec: unknown = Reflect.get(user, "username");
  if (typeof spec !== "string" || spec === "") return process;
  const [u = "", g] = spec.split(":", 2);
  const numeric = (s: string) => /^\d+$/.test(s);
  const read = (p: string) => fs.readTextFile(`${rootfs}${p}`).then(parseIdFile, () => [] as Entry[]);
  let uid: number;
  let gid: number;
  if (numeric(u)) {
    uid = Number(u);
    gid = (await read("/etc/passwd")).find((e) => e.id === uid)?.gid ?? 0;
  } else {
    const e = (await read("/etc/passwd")).find((x) => x.name === u);
    if (e === undefined) {
      throw new RuntimeError("NotFound", `Cannot ${what}: no user "${u}" in the container's /etc/passwd`);
    }
    uid = e.id;
    gid = e.gid;
  }
  if (g !== undefined && g !== "") {
    if (numeric(g)) gid = Number(g);
    else {
      const e = (await read("/etc/group")).find((x) => x.name === g);
      if (e === undefined) {
        throw new RuntimeError("NotFound", `Cannot ${what}: no group "${g}" in the container's /etc/group`);
      }
      gid = e.id;
    }
  }
  const { username: _, ...rest } = Object.fromEntries(Object.entries(user));
  return { ...process, user: { ...rest, uid, gid } };
}
