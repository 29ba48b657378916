/**
 * Client token files, read as the C client reads them (fc_token_read in
 * include/feedcache/client.h): the first line that is not blank and does
 * not start with '#' holds the token, alone (`TOKEN`) or as a line copied
 * from the server's auth_tokens_file (`ROLE TOKEN`, ROLE read, write or
 * admin). White space around it is dropped. Error messages never quote the
 * file's text.
 */
import { readFile } from "node:fs/promises";

const ROLES = new Set(["read", "write", "admin"]);

/** The token in a token file's text; `where` names the file in errors. */
export function parseTokenFile(text: string, where = "token file"): string {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const fields = lines[i]!.split(/[ \t\r\v\f]+/).filter((f) => f !== "");
    if (fields.length === 0 || fields[0]!.startsWith("#")) continue;
    if (fields.length === 1) return fields[0]!;
    if (fields.length === 2 && ROLES.has(fields[0]!)) return fields[1]!;
    throw new Error(`${where}:${i + 1}: expected TOKEN or 'ROLE TOKEN'`);
  }
  throw new Error(`${where}: no token in it`);
}

/** Reads a token file (see parseTokenFile). */
export async function readTokenFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new Error(`token file ${path}: ${code}`);
  }
  return parseTokenFile(text, `token file ${path}`);
}
