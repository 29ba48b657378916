/**
 * Unit tests: no feedcached needed. The codec's integers, the error
 * classes, token files, the retry helper (with a fake clock and sleep), and
 * the client against a fake server (pipelining with answers out of order,
 * split frames, timeouts, connection loss, bad frames).
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";

import { decode, encode } from "@msgpack/msgpack";

import * as codec from "../src/codec";
import {
  BadRequestError,
  Client,
  ConnectionError,
  ErrorCode,
  FeedcacheError,
  ForbiddenError,
  InternalError,
  NotFoundError,
  OverloadedError,
  ProtocolError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
  errorFromWire,
  parseTokenFile,
  withRetry,
} from "../src/index";
import { closeFakeServers, fakeServer, respond, sleep } from "./helpers";

describe("codec", () => {
  it("sends ids beyond 32 bits as msgpack integers, never floats", () => {
    const wire = codec.toWire({ a: 5, b: 2 ** 40, c: -(2 ** 40), d: 2n ** 63n - 1n, e: 1.5, f: undefined });
    assert.deepEqual(wire, { a: 5, b: 2n ** 40n, c: -(2n ** 40n), d: 2n ** 63n - 1n, e: 1.5 });
    const bytes = codec.makeEncoder().encode(wire);
    // 2^40 is packed as uint64 (0xcf), not float64 (0xcb).
    const alone = Buffer.from(codec.makeEncoder().encode(codec.toWire(2 ** 40)));
    assert.equal(alone[0], 0xcf);
    const back = codec.makeDecoder().decode(bytes) as Record<string, unknown>;
    assert.equal(back.b, 2n ** 40n);
    assert.equal(back.d, 2n ** 63n - 1n);
    assert.equal(back.e, 1.5);
    assert.ok(!("f" in back));
  });

  it("refuses numbers that lost precision and bigints past 64 bits", () => {
    assert.throws(() => codec.toWire({ id: 2 ** 60 }), /id: .*pass a bigint/);
    assert.throws(() => codec.toWire({ ids: [1, 2 ** 55] }), /ids\[1\]/);
    assert.throws(() => codec.toWire({ id: 2n ** 64n }), RangeError);
    assert.throws(() => codec.toWire({ id: -(2n ** 63n) - 1n }), RangeError);
  });

  it("returns ids as bigint whatever their size, other integers as number", () => {
    const small = codec.post({ id: 7, author_id: 3, created_at: 1700000000000, body: "x" });
    assert.deepEqual(small, { id: 7n, author_id: 3n, created_at: 1700000000000, body: "x" });
    const big = codec.post({ id: 2n ** 63n - 1n, author_id: 2n ** 53n + 1n, created_at: 1700000000000n });
    assert.equal(big.id, 9223372036854775807n);
    assert.equal(big.author_id, 9007199254740993n);
    assert.equal(big.created_at, 1700000000000);
    assert.equal(codec.num(2n ** 60n), 2n ** 60n, "a non-id beyond 2^53 stays exact (bigint)");
    const page = codec.timelinePage({ posts: [], next_cursor: null, source: "cache", degraded: false });
    assert.deepEqual(page, { posts: [], next_cursor: null, source: "cache", degraded: false });
  });

  it("round-trips int64 extremes through @msgpack/msgpack", () => {
    const v = [2n ** 63n - 1n, -(2n ** 63n), 2n ** 64n - 1n];
    assert.deepEqual(decode(encode(v, { useBigInt64: true }), { useBigInt64: true }), v);
  });
});

describe("errors", () => {
  const cases: [string, new (...a: never[]) => FeedcacheError][] = [
    ["BAD_REQUEST", BadRequestError],
    ["NOT_FOUND", NotFoundError],
    ["OVERLOADED", OverloadedError],
    ["UNAVAILABLE", UnavailableError],
    ["UNAUTHORIZED", UnauthorizedError],
    ["FORBIDDEN", ForbiddenError],
    ["INTERNAL", InternalError],
  ];
  for (const [code, cls] of cases) {
    it(`maps ${code} to ${cls.name}`, () => {
      const e = errorFromWire({ code, message: "m", retry_after_ms: 750 }, "timeline.get");
      assert.ok(e instanceof cls);
      assert.ok(e instanceof FeedcacheError);
      assert.ok(e instanceof Error);
      assert.equal(e.code, code);
      assert.equal(e.message, "m");
      assert.equal(e.retryAfterMs, 750);
      assert.equal(e.method, "timeline.get");
      assert.equal(e.fromServer, true);
      assert.equal(e.name, cls.name);
    });
  }

  it("keeps codes it does not know, and odd error values", () => {
    const e = errorFromWire({ code: "SOMETHING_NEW", message: "later" });
    assert.equal(e.constructor, FeedcacheError);
    assert.equal(e.code, "SOMETHING_NEW");
    assert.equal(e.retryAfterMs, undefined);
    const s = errorFromWire("plain string");
    assert.equal(s.code, "UNKNOWN");
    assert.equal(s.message, "plain string");
    assert.equal(Object.keys(ErrorCode).length, 7);
  });

  it("gives client-side errors E codes", () => {
    assert.equal(new ConnectionError("x").code, "ECONNECTION");
    assert.equal(new TimeoutError("x").fromServer, false);
    assert.equal(new ProtocolError("x").code, "EPROTO");
  });
});

describe("token files", () => {
  it("reads TOKEN and ROLE TOKEN, skipping comments and blank lines", () => {
    assert.equal(parseTokenFile("abc123\n"), "abc123");
    assert.equal(parseTokenFile("# a comment\n\n  admin   s3cret \r\n"), "s3cret");
    assert.equal(parseTokenFile("write w\nread r\n"), "w", "the first line wins");
  });

  it("refuses odd lines and empty files without quoting them", () => {
    assert.throws(() => parseTokenFile("owner s3cret\n", "f"), (e: Error) => {
      assert.match(e.message, /^f:1: expected TOKEN or 'ROLE TOKEN'$/);
      assert.ok(!e.message.includes("s3cret"));
      return true;
    });
    assert.throws(() => parseTokenFile("# only\n\n", "f"), /f: no token in it/);
  });
});

describe("withRetry", () => {
  function fake() {
    let t = 1000;
    const slept: number[] = [];
    return {
      slept,
      now: () => t,
      sleep: async (ms: number) => {
        slept.push(ms);
        t += ms;
      },
    };
  }
  const overloaded = (ms: number) => new OverloadedError("shed", { retryAfterMs: ms });

  it("waits what retry_after_ms asks, then succeeds", async () => {
    const f = fake();
    const seen: number[] = [];
    const r = await withRetry(
      async (attempt) => {
        seen.push(attempt);
        if (attempt === 1) throw overloaded(300);
        if (attempt === 2) throw new UnavailableError("down", { retryAfterMs: 1200 });
        return "ok";
      },
      { now: f.now, sleep: f.sleep },
    );
    assert.equal(r, "ok");
    assert.deepEqual(seen, [1, 2, 3]);
    assert.deepEqual(f.slept, [300, 1200]);
  });

  it("does not retry errors without retry_after_ms", async () => {
    const f = fake();
    let n = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw new BadRequestError("limit: must be in 1..200");
        },
        { now: f.now, sleep: f.sleep },
      ),
      BadRequestError,
    );
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw new ConnectionError("lost");
        },
        { now: f.now, sleep: f.sleep },
      ),
      ConnectionError,
    );
    assert.equal(n, 2);
    assert.deepEqual(f.slept, []);
  });

  it("stops after maxAttempts, throwing the last error", async () => {
    const f = fake();
    let n = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw overloaded(100 * n);
        },
        { maxAttempts: 3, now: f.now, sleep: f.sleep },
      ),
      (e: OverloadedError) => e.retryAfterMs === 300,
    );
    assert.equal(n, 3);
    assert.deepEqual(f.slept, [100, 200]);
  });

  it("never waits less than asked: a longer wait than maxDelayMs ends the retries", async () => {
    const f = fake();
    await assert.rejects(
      withRetry(() => Promise.reject(overloaded(6000)), { maxDelayMs: 5000, now: f.now, sleep: f.sleep }),
      OverloadedError,
    );
    assert.deepEqual(f.slept, []);
  });

  it("raises short waits to minDelayMs", async () => {
    const f = fake();
    let n = 0;
    await withRetry(
      async () => {
        if (n++ === 0) throw overloaded(10);
      },
      { minDelayMs: 250, now: f.now, sleep: f.sleep },
    );
    assert.deepEqual(f.slept, [250]);
  });

  it("gives up when the next wait would end past the deadline", async () => {
    const f = fake();
    let n = 0;
    await assert.rejects(
      withRetry(
        async () => {
          n++;
          throw overloaded(400);
        },
        { deadlineMs: 1000, maxAttempts: 100, now: f.now, sleep: f.sleep },
      ),
      OverloadedError,
    );
    assert.deepEqual(f.slept, [400, 400]);
    assert.equal(n, 3);
  });

  it("takes retryOn and onRetry", async () => {
    const f = fake();
    const log: string[] = [];
    let n = 0;
    const r = await withRetry(
      async () => {
        if (n++ < 2) throw new ConnectionError("lost");
        return n;
      },
      {
        retryOn: (e) => e instanceof ConnectionError,
        minDelayMs: 50,
        onRetry: (e, attempt, ms) => log.push(`${(e as FeedcacheError).code}#${attempt}:${ms}`),
        now: f.now,
        sleep: f.sleep,
      },
    );
    assert.equal(r, 3);
    assert.deepEqual(log, ["ECONNECTION#1:50", "ECONNECTION#2:50"]);
  });

  it("really sleeps by default, and an abort signal ends the wait", async () => {
    const t0 = Date.now();
    let n = 0;
    await withRetry(async () => {
      if (n++ === 0) throw overloaded(60);
    });
    assert.ok(Date.now() - t0 >= 55, "slept about retry_after_ms");
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("stop")), 20);
    await assert.rejects(withRetry(() => Promise.reject(overloaded(5000)), { signal: ac.signal }), /stop/);
  });
});

describe("client against a fake server", () => {
  // A failed test leaves its server open; closing it also ends its clients' connections.
  after(closeFakeServers);

  it("pipelines: many calls in flight, answers out of order matched by msgid", async () => {
    const N = 300;
    const srv = await fakeServer((sock, _req, seen) => {
      if (seen.length < N) return;
      // Every request is in: answer in reverse order, each with its own msgid.
      for (const [, msgid, method, params] of [...seen].reverse()) {
        const p = (params[0] ?? {}) as { user_id?: bigint | number };
        respond(sock, msgid, null, { method, user: p.user_id ?? null, msgid });
      }
    });
    const c = await Client.connect("127.0.0.1", srv.port);
    const calls = Array.from({ length: N }, (_, i) => c.call("timeline.get", { user_id: i + 1 }));
    assert.equal(c.inFlight, N);
    const got = (await Promise.all(calls)) as { user: number; msgid: number }[];
    got.forEach((r, i) => assert.equal(r.user, i + 1));
    assert.equal(new Set(got.map((r) => r.msgid)).size, N, "distinct msgids");
    assert.equal(c.inFlight, 0);
    await c.close();
    await srv.close();
  });

  it("decodes answers split into single bytes and several in one chunk", async () => {
    const srv = await fakeServer((sock, [, msgid], seen) => {
      if (seen.length === 1) {
        const bytes = encode([1, msgid, null, { posts: [], next_cursor: "c".repeat(300), source: "cache", degraded: false }]);
        // One byte per write, with pauses: the client sees many partial chunks.
        void (async () => {
          for (const [i, b] of bytes.entries()) {
            sock.write(Buffer.from([b]));
            if (i % 50 === 0) await sleep(1);
          }
        })();
      } else {
        respond(sock, msgid, null, "pong");
      }
    });
    const c = await Client.connect("127.0.0.1", srv.port);
    const page = await c.timelineGet({ user_id: 1 });
    assert.equal(page.next_cursor, "c".repeat(300));
    assert.deepEqual(await Promise.all([c.ping(), c.ping(), c.ping()]), ["pong", "pong", "pong"]);
    await c.close();
    await srv.close();
  });

  it("sends [] for no arguments, [{map}] otherwise, and notifications as [2, method, params]", async () => {
    const frames: unknown[] = [];
    const srv = await fakeServer((sock, req) => {
      frames.push(req);
      if (req[0] === 0) respond(sock, req[1], null, "pong");
    });
    const c = await Client.connect("127.0.0.1", srv.port);
    c.notify("timeline.invalidate", { user_id: 2n ** 62n });
    await c.ping();
    assert.deepEqual(frames, [
      [2, "timeline.invalidate", [{ user_id: 2n ** 62n }]],
      [0, 1, "ping", []],
    ]);
    await c.close();
    await srv.close();
  });

  it("rejects a server error with its class, code, message and retryAfterMs", async () => {
    const srv = await fakeServer((sock, [, msgid]) =>
      respond(sock, msgid, { code: "OVERLOADED", message: "over the limit", retry_after_ms: 140 }, null),
    );
    const c = await Client.connect("127.0.0.1", srv.port);
    await assert.rejects(c.stats(), (e: OverloadedError) => {
      assert.ok(e instanceof OverloadedError);
      assert.equal(e.code, "OVERLOADED");
      assert.equal(e.message, "over the limit");
      assert.equal(e.retryAfterMs, 140);
      assert.equal(e.method, "stats");
      return true;
    });
    assert.equal(c.closed, false, "an error answer leaves the connection usable");
    await c.close();
    await srv.close();
  });

  it("times a call out, keeps the connection usable and drops the late answer", async () => {
    let first: number | undefined;
    const srv = await fakeServer((sock, [, msgid, method]) => {
      if (method === "stats") {
        first = msgid;
        return; // answered late, below
      }
      if (first !== undefined) respond(sock, first, null, { late: 1 });
      respond(sock, msgid, null, "pong");
    });
    const c = await Client.connect("127.0.0.1", srv.port, { timeoutMs: 5000 });
    await assert.rejects(c.stats({ timeoutMs: 50 }), (e: TimeoutError) => e instanceof TimeoutError && e.code === "ETIMEDOUT");
    assert.equal(c.inFlight, 0);
    assert.equal(await c.ping(), "pong");
    assert.equal(c.closed, false);
    await c.close();
    await srv.close();
  });

  it("abandons a call on an abort signal", async () => {
    const srv = await fakeServer(() => {});
    const c = await Client.connect("127.0.0.1", srv.port);
    const ac = new AbortController();
    const p = c.ping({ signal: ac.signal });
    ac.abort(new Error("user gave up"));
    await assert.rejects(p, /user gave up/);
    assert.equal(c.inFlight, 0);
    await c.close();
    await srv.close();
  });

  it("rejects every call in flight with ConnectionError when the connection is lost", async () => {
    const srv = await fakeServer((sock, _req, seen) => {
      if (seen.length === 10) sock.destroy();
    });
    const c = await Client.connect("127.0.0.1", srv.port);
    const calls = Array.from({ length: 10 }, () => c.ping().then(
      () => "resolved",
      (e: unknown) => e,
    ));
    for (const r of await Promise.all(calls)) {
      assert.ok(r instanceof ConnectionError, `got ${String(r)}`);
      assert.match((r as Error).message, /^ping: .*whether the call took effect is unknown$/);
    }
    await c.whenClosed();
    assert.equal(c.closed, true);
    await assert.rejects(c.ping(), ConnectionError);
    assert.throws(() => c.notify("ping"), ConnectionError);
    await srv.close();
  });

  it("closes on a frame that is not a response (ProtocolError)", async () => {
    const srv = await fakeServer((sock) => sock.write(encode(["not", "a", "response"])));
    const c = await Client.connect("127.0.0.1", srv.port);
    await assert.rejects(c.ping(), ProtocolError);
    await c.whenClosed();
    await srv.close();
  });

  it("closes on bytes that are not msgpack (ProtocolError)", async () => {
    const srv = await fakeServer((sock) => sock.write(Buffer.from([0xc1, 0xc1, 0xc1])));
    const c = await Client.connect("127.0.0.1", srv.port);
    await assert.rejects(c.ping(), ProtocolError);
    await srv.close();
  });

  it("close() rejects the calls in flight", async () => {
    const srv = await fakeServer(() => {});
    const c = await Client.connect("127.0.0.1", srv.port);
    const p = assert.rejects(c.ping(), (e: ConnectionError) => e instanceof ConnectionError && /client closed/.test(e.message));
    await c.close();
    await p;
    await srv.close();
  });

  it("fails to connect with ConnectionError, and with TimeoutError", async () => {
    const srv = await fakeServer(() => {});
    const port = srv.port;
    await srv.close();
    await assert.rejects(Client.connect("127.0.0.1", port), (e: ConnectionError) => {
      assert.ok(e instanceof ConnectionError);
      assert.match(e.message, /ECONNREFUSED/);
      return true;
    });
    // A server that accepts but never answers auth: the connect timeout covers it.
    const mute = await fakeServer(() => {});
    const t0 = Date.now();
    await assert.rejects(Client.connect("127.0.0.1", mute.port, { timeoutMs: 100, token: "t" }), TimeoutError);
    assert.ok(Date.now() - t0 < 2000);
    await mute.close();
    await sleep(1);
  });
});
