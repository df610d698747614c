/**
 * Code blocks of the README, so that tests run what the README tells users to paste.
 *
 * @module
 */
const README = new URL("../../README.md", import.meta.url);

/** The first fenced block of `lang` that contains `marker`. */
export async function readmeBlock(lang: string, marker: string): Promise<string> {
  const text = await Deno.readTextFile(README);
  for (const m of text.matchAll(/```(\w+)\n([\s\S]*?)```/g)) {
    if (m[1] === lang && (m[2] ?? "").includes(marker)) return m[2] ?? "";
  }
  throw new Error(`README.md has no \`\`\`${lang} block containing "${marker}"`);
}
