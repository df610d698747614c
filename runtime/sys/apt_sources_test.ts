import assert from "node:assert/strict";
import { debianMirror } from "./apt_sources.ts";

Deno.test("debianMirror() takes the release suite's mirror from deb822 sources, skipping security and third parties", () => {
  const sources = `Types: deb
URIs: http://mirror.test/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.test/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;
  const third = `Types: deb\nURIs: https://vendor.test/apt\nSuites: nodistro\nComponents: main\n`;
  assert.deepEqual(
    debianMirror([{ name: "a.sources", text: third }, { name: "debian.sources", text: sources }]),
    { uri: "http://mirror.test/debian", signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg" },
  );
});

Deno.test("debianMirror() reads one-line sources, with and without options; none found is undefined", () => {
  assert.deepEqual(
    debianMirror([{ name: "sources.list", text: "# x\ndeb http://m.test/debian bookworm main contrib\n" }]),
    { uri: "http://m.test/debian" },
  );
  assert.deepEqual(
    debianMirror([{
      name: "x.list",
      text: "deb [arch=amd64 signed-by=/k.gpg] http://m.test/d/ bookworm main\n",
    }]),
    { uri: "http://m.test/d", signedBy: "/k.gpg" },
  );
  assert.equal(
    debianMirror([{ name: "y.list", text: "deb http://v.test/apt stable-vendor main\n" }]),
    undefined,
  );
});
