/**
 * A V8 code cache for the bundled agent, made at build time and shipped in the userland
 * (`/cocoon/deno-cache`). Deno keys its code cache by module specifier and source hash, so the
 * bundle is run once at the path the guest uses (`/cocoon/agent.js`): in a private mount namespace
 * (`unshare -m`) whose root is a tmpfs holding bind mounts of the host's top-level directories and
 * the staging userland at `/cocoon`, and `agent.channel=serial` bound over `/proc/cmdline`. The run
 * stops once the agent logs "agent ready" (it cannot open its channel on the host). In the guest, `cocoon-agent-run` copies the cache into the writable
 * `DENO_DIR` before starting deno.
 *
 * Best effort: without `unshare`/mount rights the image is built without a cache.
 *
 * @module
 */
import { join } from "node:path";
import { rootLog } from "../log/logger.ts";
import { errText } from "./_exec.ts";

/** Where the cache lives inside the userland (mounted at /cocoon in the guest). */
const CODE_CACHE_DIR = "deno-cache";

/** The deno flags the guest uses to run the bundle (agent/init/agent_run.sh must match). */
const AGENT_DENO_FLAGS = [
  "run",
  "-A",
  "--no-config",
  "--no-lock",
  "--cached-only",
  "--unstable-net",
  "--unstable-ffi",
] as const;

// $1: new root (tmpfs), $2: userland. Everything mounted here dies with the namespace.
const SETUP = `set -e
R="$1"; U="$2"
mount -t tmpfs -o mode=0755 cocoon-cc "$R"
for e in /*; do
  n="\${e#/}"
  case "$n" in cocoon|run|tmp|"*") continue ;; esac
  if [ -L "$e" ]; then cp -P "$e" "$R/$n"
  elif [ -d "$e" ]; then mkdir "$R/$n"; mount --rbind "$e" "$R/$n"
  fi
done
mkdir "$R/cocoon" "$R/run" "$R/tmp"
mount --bind "$U" "$R/cocoon"
# The agent reads its options from /proc/cmdline: give it the serial channel (never vsock here).
echo "agent.channel=serial" >"$R/run/cmdline"
mount --bind "$R/run/cmdline" "$R/proc/cmdline"
shift 2
exec chroot "$R" "$@"
`;

/**
 * Runs `/cocoon/agent.js` once with `DENO_DIR=/cocoon/deno-cache`, `userland` bound at /cocoon.
 * Returns whether a cache was written.
 */
export async function warmAgentCodeCache(
  userland: string,
  work: string,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<boolean> {
  const log = rootLog().child({ subsystem: "guest" });
  const root = join(work, "cc-root");
  await Deno.mkdir(root, { recursive: true });
  const cacheDir = join(userland, CODE_CACHE_DIR);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("unshare", {
      args: [
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        SETUP,
        "sh",
        root,
        userland,
        "/usr/bin/env",
        "-i",
        "PATH=/cocoon/bin:/usr/bin:/bin",
        "HOME=/tmp",
        `DENO_DIR=/cocoon/${CODE_CACHE_DIR}`,
        "DENO_NO_UPDATE_CHECK=1",
        "DENO_NO_PROMPT=1",
        "NO_COLOR=1",
        "COCOON_AGENT_LOG=info",
        "/cocoon/bin/deno",
        ...AGENT_DENO_FLAGS,
        "/cocoon/agent.js",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    log.warn("no agent code cache: cannot run unshare", { error: errText(e) });
    return false;
  }
  let text = "";
  let ready = false;
  const timer = setTimeout(() => kill(child), opts.timeoutMs ?? 60_000);
  const onAbort = () => kill(child);
  opts.signal?.addEventListener("abort", onAbort);
  try {
    const dec = new TextDecoder();
    for await (const chunk of child.stderr) {
      text += dec.decode(chunk, { stream: true });
      if (!ready && text.includes('"agent ready"')) {
        ready = true;
        // Deno writes the code cache as modules finish evaluating; give it a moment, then stop.
        setTimeout(() => kill(child, "SIGTERM"), 500);
      }
    }
    await child.status;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
    kill(child);
    await child.status.catch(() => {});
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  opts.signal?.throwIfAborted();
  const written = ready && await hasCodeCache(cacheDir);
  if (!written) {
    log.warn("no agent code cache: the warm-up run did not get ready", { stderr: text.slice(-500) });
    await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
  }
  return written;
}

async function hasCodeCache(dir: string): Promise<boolean> {
  try {
    for await (const e of Deno.readDir(dir)) if (e.name.startsWith("v8_code_cache")) return true;
  } catch {
    // no dir
  }
  return false;
}

function kill(child: Deno.ChildProcess, sig: Deno.Signal = "SIGKILL"): void {
  try {
    child.kill(sig);
  } catch {
    // gone
  }
}
