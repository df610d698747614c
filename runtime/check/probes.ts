/**
 * Host probes for `cocoon check`: each returns a {@link HostCheck}. They only look (stat, open,
 * read /proc and /sys, run `--version`); nothing is changed on the host.
 *
 * @module
 */
import { dirname } from "node:path";
import type { HostCheck } from "../../plugins/types.ts";
import { DEFAULT_VIRTIOFSD_ROOT, privateArgv, probeVirtiofsd } from "../sys/virtiofsd.ts";
import type { ResolvedConfig } from "../config/schema.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

/** Runs `cmd args` and returns the first line of its output, or undefined when it cannot run. */
export async function firstLine(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
      .output();
    const text = new TextDecoder().decode(out.stdout.length ? out.stdout : out.stderr).trim();
    return out.success ? text.split("\n")[0] : undefined;
  } catch {
    return undefined;
  }
}

/** Finds an executable on PATH (or checks an absolute path). */
export async function which(cmd: string): Promise<string | undefined> {
  if (cmd.includes("/")) return (await isExecutable(cmd)) ? cmd : undefined;
  for (const dir of (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    if (dir && await isExecutable(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  }
  return undefined;
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    const st = await Deno.stat(p);
    return st.isFile && ((st.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

async function openable(path: string): Promise<string> {
  try {
    const f = await Deno.open(path, { read: true, write: true });
    f.close();
    return "";
  } catch (e) {
    return e instanceof Error ? e.name : String(e);
  }
}

export async function probeVhostVsock(): Promise<HostCheck> {
  const err = await openable("/dev/vhost-vsock");
  if (err === "") {
    return {
      name: "vhost-vsock",
      status: "ok",
      detail: "/dev/vhost-vsock usable: agent channel can be vsock",
    };
  }
  return {
    name: "vhost-vsock",
    status: "info",
    detail: `no usable /dev/vhost-vsock (${err}): the agent channel is virtio-serial over a unix socket`,
  };
}

export async function probeVhostNet(): Promise<HostCheck> {
  const err = await openable("/dev/vhost-net");
  return err === "" ? { name: "vhost-net", status: "ok", detail: "/dev/vhost-net usable" } : {
    name: "vhost-net",
    status: "info",
    detail: `no usable /dev/vhost-net (${err}): taps use QEMU's userspace virtio-net`,
  };
}

export async function probeTun(): Promise<HostCheck> {
  const err = await openable("/dev/net/tun");
  return err === "" ? { name: "tun/tap", status: "ok", detail: "/dev/net/tun usable" } : {
    name: "tun/tap",
    status: "warn",
    detail: `/dev/net/tun not usable (${err}): only internetworking_model = "none" works`,
    fix: "load the tun module or create /dev/net/tun (mknod /dev/net/tun c 10 200)",
  };
}

export async function probeUserNamespaces(): Promise<HostCheck> {
  const max = (await readText("/proc/sys/user/max_user_namespaces"))?.trim();
  const clone = (await readText("/proc/sys/kernel/unprivileged_userns_clone"))?.trim();
  if (max === "0") {
    return { name: "user namespaces", status: "warn", detail: "disabled (user.max_user_namespaces = 0)" };
  }
  return {
    name: "user namespaces",
    status: "ok",
    detail: `enabled (max ${max ?? "?"}${clone === "0" ? ", unprivileged clone off" : ""})`,
  };
}

export async function probeCgroups(): Promise<HostCheck> {
  const mounts = (await readText("/proc/self/mounts")) ?? "";
  const v2 = mounts.split("\n").filter((l) => l.split(" ")[2] === "cgroup2").map((l) => l.split(" ")[1]);
  const v1 = mounts.split("\n").filter((l) => l.split(" ")[2] === "cgroup").length;
  const mode = v2.includes("/sys/fs/cgroup")
    ? "v2 (unified)"
    : v1 > 0
    ? (v2.length ? "hybrid v1 + v2" : "v1")
    : "none";
  return {
    name: "cgroups",
    status: mode === "none" ? "warn" : "ok",
    detail: `${mode}${v2.length ? `, cgroup2 at ${v2.join(", ")}` : ""}`,
  };
}

/** Which kernel an image boots (from the manifest beside it), and how to get the other one. */
async function kernelDetail(path: string): Promise<string> {
  const text = await readText(`${dirname(path)}/manifest.json`);
  let k: { package?: unknown; release?: unknown; flavour?: unknown } = {};
  try {
    const m: unknown = JSON.parse(text ?? "");
    if (
      typeof m === "object" && m !== null && "kernel" in m && typeof m.kernel === "object" &&
      m.kernel !== null
    ) {
      k = m.kernel;
    }
  } catch {
    return path; // not an image built by `cocoon guest build`
  }
  const release = typeof k.release === "string" ? k.release : "?";
  return k.flavour === "tuned"
    ? `${path}: tuned ${release} (built from ${
      String(k.package)
    } with Cocoon's options); Debian's prebuilt kernel: cocoon guest build --kernel debian`
    : `${path}: Debian's ${release}; the tuned kernel boots faster and smaller: cocoon guest build --kernel tuned (builds it once, about a quarter of an hour on 2 cores)`;
}

export async function probeGuestImage(cfg: ResolvedConfig): Promise<HostCheck[]> {
  const h = cfg.hypervisor;
  const out: HostCheck[] = [];
  const fix = "run `cocoon guest build`";
  for (const [what, path] of [["guest kernel", h.kernel], ["guest initrd", h.initrd]] as const) {
    out.push(
      await exists(path)
        ? { name: what, status: "ok", detail: what === "guest kernel" ? await kernelDetail(path) : path }
        : { name: what, status: "fail", detail: `missing: ${path}`, fix },
    );
  }
  if (h.image !== "") {
    out.push(
      await exists(h.image)
        ? { name: "guest image", status: "ok", detail: h.image }
        : { name: "guest image", status: "fail", detail: `missing: ${h.image}`, fix },
    );
  }
  return out;
}

export async function probeSharedFs(cfg: ResolvedConfig): Promise<HostCheck> {
  const h = cfg.hypervisor;
  const auto = h.sharedFsAuto;
  if (auto !== undefined) {
    // shared_fs = "auto": loadConfig already decided; say what and why, and how to get the faster one.
    if (h.sharedFs === "virtio-fs") {
      return { name: "shared fs", status: "ok", detail: `auto: virtio-fs (${auto})` };
    }
    return cfg.factory.enableTemplate
      ? { name: "shared fs", status: "ok", detail: `auto: virtio-9p (${auto})` }
      : {
        name: "shared fs",
        status: "warn",
        detail: `auto: virtio-9p (${auto}); virtio-fs is faster`,
        fix: VIRTIOFSD_FIX,
      };
  }
  if (h.sharedFs !== "virtio-fs") return { name: "shared fs", status: "ok", detail: h.sharedFs };
  const bin = h.virtioFsDaemon.split(" ")[0] ?? "";
  if (await isExecutable(bin)) return { name: "shared fs", status: "ok", detail: `virtio-fs with ${bin}` };
  const found = await probeVirtiofsd(privateArgv(DEFAULT_VIRTIOFSD_ROOT));
  return found !== undefined
    ? {
      name: "shared fs",
      status: "ok",
      detail: `virtio-fs with virtiofsd ${found.version} (private install)`,
    }
    : {
      name: "shared fs",
      status: "fail",
      detail: `virtio-fs needs virtiofsd, not found at "${bin}" nor under "${DEFAULT_VIRTIOFSD_ROOT}"`,
      fix: `${VIRTIOFSD_FIX}, or set shared_fs = "virtio-9p"`,
    };
}

/** How to get a virtiofsd on Debian 12 (Debian 13's, privately, through its own loader). */
const VIRTIOFSD_FIX = "install virtiofsd: `apt-get install virtiofsd` (Debian 13 and later); on Debian 12, " +
  "Debian 13's privately under /var/cache/cocoon/virtiofsd: " +
  "`deno run --allow-all runtime/cli/install_virtiofsd.ts` (dev.sh setup runs it)";

export async function probePeers(): Promise<HostCheck[]> {
  const out: HostCheck[] = [];
  for (
    const [name, args] of [["containerd", ["--version"]], ["podman", ["--version"]], ["runc", [
      "--version",
    ]]] as const
  ) {
    const path = await which(name);
    const ver = path ? await firstLine(path, [...args]) : undefined;
    out.push({ name, status: "info", detail: path ? `${ver ?? "present"} (${path})` : "not installed" });
  }
  return out;
}
