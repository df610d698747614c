import assert from "node:assert/strict";
import { debianMirror } from "./apt_sources.ts";

Deno.test("debianMirror() takes the release suite's mirror from deb822 sources, skipping security and third parties", () => {
  const sources = `Types: deb
URIs: http://deb.example.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://deb.example.org/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;
  const third = `Types: deb\nURIs: https://vendor.example.org/apt\nSuites: nodistro\nComponents: main\n`;
  assert.deepEqual(
    debianMirror([{ name: "a.sources", text: third }, { name: "debian.sources", text: sources }]),
    { uri: "http://deb.example.org/debian", signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg" },
  );
});

Deno.test("debianMirror() reads one-line sources, with and without options; none found is undefined", () => {
  assert.deepEqual(
    debianMirror([{
      name: "sources.list",
      text: "# x\ndeb http://m.example.org/debian bookworm main contrib\n",
    }]),
    { uri: "http://m.example.org/debian" },
  );
  assert.deepEqual(
    debianMirror([{
      name: "x.list",
      text: "deb [arch=amd64 signed-by=/k.gpg] http://m.example.org/d/ bookworm main\n",
    }]),
    { uri: "http://m.example.org/d", signedBy: "/k.gpg" },
  );
  assert.equal(
    debianMirror([{ name: "y.list", text: "deb http://v.example.org/apt stable-vendor main\n" }]),
    undefined,
  );
});
