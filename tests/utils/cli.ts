/** Runs the cocoon CLI from source as a subprocess, for integration tests. */
const root = new URL("../../", import.meta.url).pathname;
export const DENO = Deno.execPath();

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function cocoon(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  const out = await new Deno.Command(DENO, {
    args: ["run", "--allow-all", "--quiet", `${root}main.ts`, ...args],
    env: { COCOON_CONFIG: "", ...opts.env },
    cwd: opts.cwd ?? root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

export const repoRoot = root;
