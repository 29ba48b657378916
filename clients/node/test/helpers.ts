/**
 * Test helpers: the environment tests/clients/test_node_client.sh sets up,
 * PostgreSQL through psql, Redis through redis-cli, and a fake msgpack-RPC
 * server for the unit tests.
 */
import { execFileSync } from "node:child_process";
import * as net from "node:net";
import { join } from "node:path";

import { decodeMulti, encode } from "@msgpack/msgpack";

export interface Env {
  addr: { host: string; port: number };
  unavailable: { host: string; port: number };
  victim: { host: string; port: number };
  victimPid: number;
  tokens: string;
  pg: string;
  prefix: string;
  redisUrl: string;
}

function hostPort(v: string): { host: string; port: number } {
  const i = v.lastIndexOf(":");
  return { host: v.slice(0, i), port: Number(v.slice(i + 1)) };
}

/**
 * The integration environment, or undefined when the tests run outside the
 * wrapper (then they skip). With FC_NODE_INTEGRATION=1 a missing variable is
 * an error, so the wrapper can never pass by skipping.
 */
export function integrationEnv(): Env | undefined {
  const e = process.env;
  if (e.FC_NODE_INTEGRATION !== "1") return undefined;
  const need = [
    "FC_NODE_ADDR",
    "FC_NODE_UNAVAILABLE_ADDR",
    "FC_NODE_VICTIM_ADDR",
    "FC_NODE_VICTIM_PID",
    "FC_NODE_TOKENS",
    "FC_NODE_PG",
    "FC_NODE_KEY_PREFIX",
    "FEEDCACHE_TEST_REDIS_URL",
  ];
  const missing = need.filter((k) => !e[k]);
  if (missing.length) throw new Error(`FC_NODE_INTEGRATION=1 but ${missing.join(", ")} unset`);
  return {
    addr: hostPort(e.FC_NODE_ADDR!),
    unavailable: hostPort(e.FC_NODE_UNAVAILABLE_ADDR!),
    victim: hostPort(e.FC_NODE_VICTIM_ADDR!),
    victimPid: Number(e.FC_NODE_VICTIM_PID),
    tokens: e.FC_NODE_TOKENS!,
    pg: e.FC_NODE_PG!,
    prefix: e.FC_NODE_KEY_PREFIX!,
    redisUrl: e.FEEDCACHE_TEST_REDIS_URL!,
  };
}

export function tokenFile(env: Env, name: "read" | "write" | "admin" | "bad"): string {
  return join(env.tokens, `${name}.token`);
}

/** Runs SQL on the test database; returns psql's unaligned output lines. */
export function sql(env: Env, query: string): string[] {
  const out = execFileSync("psql", ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", env.pg, "-c", query], {
    encoding: "utf8",
    env: { ...process.env, PGOPTIONS: "-c client_min_messages=warning" },
  });
  return out.split("\n").filter((l) => l !== "");
}

/** Runs a Redis command with redis-cli on the test Redis (single or cluster). */
export function redis(env: Env, ...args: string[]): string {
  const url = new URL(env.redisUrl.replace(/^redis-cluster:/, "redis:").replace(/,.*$/, ""));
  const base = ["-h", url.hostname, "-p", url.port || "6379"];
  if (env.redisUrl.startsWith("redis-cluster:")) base.unshift("-c");
  else if (url.pathname.length > 1) base.push("-n", url.pathname.slice(1));
  if (url.password) base.push("--no-auth-warning", "-a", decodeURIComponent(url.password));
  if (url.username) base.push("--user", decodeURIComponent(url.username));
  return execFileSync("redis-cli", [...base, ...args], { encoding: "utf8" }).trim();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls fn until it returns a value that is not undefined, or throws after ms. */
export async function eventually<T>(what: string, ms: number, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(25);
  }
}

// --- a fake server ----------------------------------------------------------------

export type Request = [0, number, string, unknown[]];

export interface FakeServer {
  port: number;
  sockets: net.Socket[];
  close(): Promise<void>;
}

/**
 * A TCP server on 127.0.0.1 that decodes the client's frames and hands each
 * to onRequest(socket, request, all requests so far on that socket).
 */
const servers: FakeServer[] = [];

/** Closes every fake server still open (an after() hook: a failed test leaves none behind). */
export async function closeFakeServers(): Promise<void> {
  await Promise.all(servers.splice(0).map((s) => s.close()));
}

export async function fakeServer(
  onRequest: (sock: net.Socket, req: Request, seen: Request[]) => void,
): Promise<FakeServer> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((sock) => {
    sockets.push(sock);
    sock.on("error", () => {});
    let buf = Buffer.alloc(0);
    const seen: Request[] = [];
    sock.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      // Frames are small here: decode whole frames, keep a partial tail.
      for (let end = 1; end <= buf.length; end++) {
        let msgs: unknown[];
        try {
          msgs = [...decodeMulti(buf.subarray(0, end), { useBigInt64: true })];
        } catch {
          continue;
        }
        for (const m of msgs) {
          seen.push(m as Request);
          onRequest(sock, m as Request, seen);
        }
        buf = buf.subarray(end);
        end = 0;
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  let closed: Promise<void> | undefined;
  const fake: FakeServer = {
    port,
    sockets,
    close: () =>
      (closed ??= new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      })),
  };
  servers.push(fake);
  return fake;
}

export function respond(sock: net.Socket, msgid: number, error: unknown, result: unknown): void {
  sock.write(encode([1, msgid, error, result], { useBigInt64: true }));
}
