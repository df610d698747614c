/**
 * A local OCI image for the shim tests, built without a registry: one uncompressed layer (a
 * busybox rootfs), its config (PATH set), a manifest and an index in an OCI layout tar that
 * `ctr image import` takes.
 *
 * @module
 */
import { makeBusyboxRootfs } from "../../agent/testing/rootfs.ts";

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Builds `<dir>/image.tar` (OCI layout) named `name`. Returns its path. */
export async function buildBusyboxImage(
  dir: string,
  name: string,
  opts: { entrypoint?: readonly string[]; file?: string } = {},
): Promise<string> {
  const work = `${dir}/image-build`;
  const blobs = `${work}/oci/blobs/sha256`;
  await Deno.mkdir(blobs, { recursive: true });
  const rootfs = await makeBusyboxRootfs(work);
  await run("tar", ["--numeric-owner", "-C", rootfs, "-cf", `${work}/layer.tar`, "."]);
  const layer = await Deno.readFile(`${work}/layer.tar`);
  const layerDigest = await sha256(layer);
  await Deno.writeFile(`${blobs}/${layerDigest}`, layer);
  const blob = async (doc: unknown) => {
    const bytes = new TextEncoder().encode(JSON.stringify(doc));
    const digest = await sha256(bytes);
    await Deno.writeFile(`${blobs}/${digest}`, bytes);
    return { digest: `sha256:${digest}`, size: bytes.length };
  };
  const config = await blob({
    architecture: "amd64",
    os: "linux",
    config: {
      Env: ["PATH=/bin:/sbin:/usr/bin"],
      ...(opts.entrypoint ? { Entrypoint: [...opts.entrypoint] } : { Cmd: ["/bin/sh"] }),
      WorkingDir: "/",
    },
    rootfs: { type: "layers", diff_ids: [`sha256:${layerDigest}`] },
  });
  const manifest = await blob({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: `sha256:${layerDigest}`,
      size: layer.length,
    }],
  });
  await Deno.writeTextFile(`${work}/oci/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeTextFile(
    `${work}/oci/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        ...manifest,
        platform: { architecture: "amd64", os: "linux" },
        annotations: { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest" },
      }],
    }),
  );
  const tar = `${dir}/${opts.file ?? "image.tar"}`;
  await run("tar", ["-C", `${work}/oci`, "-cf", tar, "."]);
  await Deno.remove(work, { recursive: true });
  return tar;
}
