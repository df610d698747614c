/**
 * The installed Cocoon program, which every test that runs Cocoon as a program (OCI CLI, podman,
 * containerd and its shim, CRI, the sandboxer, the API, the factory) must run: what users run is
 * what `compile.sh --install PREFIX` produced, never `deno run main.ts`.
 *
 * `bash dev.sh test` installs into a temporary prefix and sets `COCOON_BIN` to its `bin/cocoon`;
 * to run such a test file by hand: `bash compile.sh --install /tmp/cocoon-test && COCOON_BIN=/tmp/cocoon-test/bin/cocoon deno test -A FILE`.
 *
 * @module
 */

/** Path of the installed `cocoon` (`$COCOON_BIN`). */
export function cocoonBin(): string {
  const bin = Deno.env.get("COCOON_BIN");
  if (bin === undefined || bin === "" || !bin.startsWith("/")) {
    throw new Error(
      "COCOON_BIN is not set: program-level tests run the installed program. Run them through " +
        "`bash dev.sh test`, or `bash compile.sh --install /tmp/cocoon-test` and set " +
        "COCOON_BIN=/tmp/cocoon-test/bin/cocoon",
    );
  }
  return bin;
}

/** The directory holding the installed `cocoon` and `containerd-shim-cocoon-v2` (for a PATH). */
export function cocoonBinDir(): string {
  const bin = cocoonBin();
  return bin.slice(0, bin.lastIndexOf("/"));
}

/** The installed library: `PREFIX/lib/cocoon/mod.js` (mod.ts bundled), importable from anywhere. */
export function installedLibrary(): string {
  const bin = cocoonBinDir();
  return `${bin.slice(0, bin.lastIndexOf("/"))}/lib/cocoon/mod.js`;
}

/** Path of the installed shim (`containerd-shim-cocoon-v2` beside `cocoon`). */
export function shimBin(): string {
  return `${cocoonBinDir()}/containerd-shim-cocoon-v2`;
}

/**
 * Writes an executable `path` that runs the installed `target` (same name dispatch: the link is
 * named like the program) with `env` added: how a test points podman, containerd's runc shim or
 * containerd at the installed program with its own private configuration.
 */
export async function writeProgramWrapper(
  path: string,
  target: string,
  env: Readonly<Record<string, string>> = {},
): Promise<void> {
  const exports = Object.entries(env).map(([k, v]) => `export ${k}='${v.replaceAll("'", "'\\''")}'\n`).join(
    "",
  );
  await Deno.writeTextFile(path, `#!/bin/sh\n${exports}exec '${target}' "$@"\n`);
  await Deno.chmod(path, 0o755);
}
