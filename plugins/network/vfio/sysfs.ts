/**
 * The sysfs operations of the vfio model behind a small interface, so unit tests use an in-memory
 * tree and the real one runs small commands.
 *
 * @module
 */
import { RuntimeError } from "../../../runtime/errors.ts";
import type { NetSys } from "../../../runtime/sys/ip_command.ts";

export interface VfioSysfs {
  /** Entry names of a directory; [] when it does not exist. */
  list(path: string): Promise<string[]>;
  /** Target of a symlink; undefined when there is none. */
  link(path: string): Promise<string | undefined>;
  exists(path: string): Promise<boolean>;
  write(path: string, text: string): Promise<void>;
}

/**
 * The real sysfs, through commands: Deno asks for --allow-all to read /sys/kernel itself, so
 * `ls`, `readlink` and `sh -c 'printf ... > file'` do it and the manifest lists them.
 */
export function hostSysfs(sys: NetSys): VfioSysfs {
  const run = async (cmd: string, args: string[]) => {
    try {
      return await sys.run(cmd, args);
    } catch (e) {
      throw new RuntimeError("FailedPrecondition", `Cannot read sysfs: "${cmd}" cannot run`, { cause: e });
    }
  };
  return {
    async list(path) {
      const r = await run("ls", ["-1", "--", path]);
      return r.code === 0 ? r.stdout.split("\n").filter((x) => x !== "").sort() : [];
    },
    async link(path) {
      const r = await run("readlink", ["--", path]);
      return r.code === 0 && r.stdout.trim() !== "" ? r.stdout.trim() : undefined;
    },
    async exists(path) {
      return (await run("ls", ["-d", "--", path])).code === 0;
    },
    async write(path, text) {
      const r = await run("sh", ["-c", 'printf %s "$1" > "$2"', "sh", text, path]);
      if (r.code !== 0) {
        throw new RuntimeError("Internal", `Cannot write "${path}": ${r.stderr.trim().slice(0, 300)}`);
      }
    },
  };
}

/** Last path element of a symlink target (`../../../bus/pci/drivers/ixgbevf` -> `ixgbevf`). */
export function baseName(p: string): string {
  return p.replace(/\/+$/, "").split("/").pop() ?? "";
}
