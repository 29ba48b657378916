/**
 * Integration tests against the real feedcached instances that
 * tests/clients/test_node_client.sh starts (see its header): every method
 * of the contract with a real result checked, pipelining, each error class
 * the daemons can be made to answer, the retry helper against real
 * OVERLOADED and UNAVAILABLE answers, and connection loss.
 *
 * Outside the wrapper (FC_NODE_INTEGRATION unset) the suite is skipped.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import {
  BadRequestError,
  Client,
  ConnectionError,
  FeedcacheError,
  ForbiddenError,
  InternalError,
  NotFoundError,
  OverloadedError,
  type PostRef,
  UnauthorizedError,
  UnavailableError,
  withRetry,
} from "../src/index";
import { type Env, eventually, integrationEnv, redis, sleep, sql, tokenFile } from "./helpers";

const env = integrationEnv();

// Users and posts of this test, beyond 2^53: they must come back exact.
const BIG_AUTHOR = 9007199254740993n; // 2^53 + 1
const BIG_FOLLOWER = 9007199254740995n;
const BIG_POST = 9223372036854775807n; // 2^63 - 1
const BIG_POST2 = 9223372036854775000n;
const DEMO_USER = 42n;

/** Ids of U's home timeline from PostgreSQL, newest first: the contract's definition. */
function expectedTimeline(e: Env, user: bigint): bigint[] {
  return sql(
    e,
    `SELECT id FROM posts WHERE deleted_at IS NULL AND (author_id = ${user} OR author_id IN
       (SELECT followee_id FROM follows WHERE follower_id = ${user}))
     ORDER BY created_at DESC, id DESC`,
  ).map(BigInt);
}

/** The newest `limit` ids of each user's timeline, in one query (psql is slow to start). */
function expectedTops(e: Env, users: bigint[], limit: number): Map<bigint, bigint[]> {
  const rows = sql(
    e,
    `SELECT u, array_to_string(ARRAY(SELECT id FROM posts WHERE deleted_at IS NULL AND (author_id = u OR author_id IN
       (SELECT followee_id FROM follows WHERE follower_id = u)) ORDER BY created_at DESC, id DESC LIMIT ${limit}), ',')
     FROM unnest(ARRAY[${users.join(",")}]::int8[]) AS u`,
  );
  return new Map(rows.map((r) => {
    const [u, ids] = r.split("|");
    return [BigInt(u!), ids ? ids.split(",").map(BigInt) : []];
  }));
}

function showPage(page: { posts: (PostRef & { body?: string })[]; next_cursor: string | null; source: string; degraded: boolean }): string[] {
  const lines = [
    `source=${page.source} degraded=${page.degraded} next_cursor=${page.next_cursor ?? "null"}`,
  ];
  for (const p of page.posts) {
    const body = p.body === undefined ? "" : ` ${JSON.stringify(p.body.length > 50 ? p.body.slice(0, 50) + "..." : p.body)}`;
    lines.push(`  post ${p.id} by ${p.author_id} at ${new Date(p.created_at).toISOString()}${body}`);
  }
  return lines;
}

describe("against a real feedcached", { skip: env ? false : "FC_NODE_INTEGRATION is not set (run tests/clients/test_node_client.sh)" }, () => {
  const e = env!;
  let admin: Client;
  let writer: Client;
  let reader: Client;
  const now = Date.now();

  before(async () => {
    admin = await Client.connect(e.addr.host, e.addr.port, { timeoutMs: 10_000, tokenFile: tokenFile(e, "admin") });
    writer = await Client.connect(e.addr.host, e.addr.port, { timeoutMs: 10_000, tokenFile: tokenFile(e, "write") });
    reader = await Client.connect(e.addr.host, e.addr.port, { timeoutMs: 10_000, tokenFile: tokenFile(e, "read") });
    sql(e, `INSERT INTO users (id, handle) VALUES (${BIG_AUTHOR}, 'big_author'), (${BIG_FOLLOWER}, 'big_follower')`);
  });

  after(async () => {
    await Promise.all([admin?.close(), writer?.close(), reader?.close()]);
  });

  it("auth: token files in both formats give their roles", () => {
    assert.equal(admin.role, "admin");
    assert.equal(writer.role, "write", "write.token holds a 'ROLE TOKEN' line");
    assert.equal(reader.role, "read", "read.token holds the token alone");
  });

  it("auth: an unknown token (token file) is UnauthorizedError; before auth only ping answers", async () => {
    await assert.rejects(
      Client.connect(e.addr.host, e.addr.port, { tokenFile: tokenFile(e, "bad") }),
      (err: UnauthorizedError) => {
        assert.ok(err instanceof UnauthorizedError);
        assert.ok(err instanceof FeedcacheError);
        assert.equal(err.code, "UNAUTHORIZED");
        assert.equal(err.retryAfterMs, undefined);
        assert.equal(err.method, "auth");
        return true;
      },
    );
    const anon = await Client.connect(e.addr.host, e.addr.port);
    try {
      assert.equal(await anon.ping(), "pong");
      await assert.rejects(anon.stats(), UnauthorizedError);
    } finally {
      await anon.close();
    }
  });

  it("FORBIDDEN: the read role may not publish", async () => {
    await assert.rejects(
      reader.postPublish({ id: 1n, author_id: 1n, created_at: now }),
      (err: ForbiddenError) => err instanceof ForbiddenError && err.code === "FORBIDDEN",
    );
    // ... but may read.
    const page = await reader.timelineGet({ user_id: DEMO_USER, limit: 1 });
    assert.equal(page.posts.length, 1);
  });

  it("ping", async () => {
    assert.equal(await admin.ping(), "pong");
  });

  it("timeline.get: one page of a demo user, newest first, as in PostgreSQL", async (t) => {
    const page = await reader.timelineGet({ user_id: DEMO_USER, limit: 5 });
    for (const line of showPage(page)) t.diagnostic(line);
    const want = expectedTimeline(e, DEMO_USER).slice(0, 5);
    assert.deepEqual(page.posts.map((p) => p.id), want);
    assert.ok(["cache", "rebuilt", "db"].includes(page.source));
    assert.equal(page.degraded, false);
    assert.equal(typeof page.next_cursor, "string");
    for (const p of page.posts) {
      assert.equal(typeof p.id, "bigint");
      assert.equal(typeof p.author_id, "bigint");
      assert.equal(typeof p.created_at, "number");
      assert.equal(typeof p.body, "string");
    }
    const [body] = sql(e, `SELECT body FROM posts WHERE id = ${page.posts[0]!.id}`);
    assert.equal(page.posts[0]!.body, body);
  });

  it("the README example (examples/timeline.ts) prints a page", (t) => {
    const out = execFileSync(
      process.execPath,
      [join(__dirname, "..", "examples", "timeline.js"), `${e.addr.host}:${e.addr.port}`, String(DEMO_USER), tokenFile(e, "read")],
      { encoding: "utf8" },
    );
    for (const line of out.trimEnd().split("\n")) t.diagnostic(line);
    const lines = out.trimEnd().split("\n");
    assert.match(lines[0]!, /^source=(cache|rebuilt|db) degraded=false next_cursor=\S+$/);
    assert.equal(lines.length, 6);
    const want = expectedTimeline(e, DEMO_USER).slice(0, 5);
    lines.slice(1).forEach((l, i) => assert.ok(l.startsWith(`${want[i]} by `), l));
  });

  it("timeline.get: a cursor walk with hydrate false yields the whole timeline once, in order", async () => {
    const want = expectedTimeline(e, DEMO_USER);
    assert.ok(want.length > 400, `demo user has ${want.length} posts in the timeline`);
    const got: bigint[] = [];
    let pages = 0;
    for await (const page of reader.timelinePages({ user_id: DEMO_USER, limit: 200, hydrate: false })) {
      pages++;
      for (const p of page.posts) {
        assert.ok(!("body" in p), "hydrate false: no body");
        got.push(p.id);
      }
      if (page.next_cursor !== null) assert.equal(page.posts.length, 200);
    }
    assert.equal(pages, Math.ceil(want.length / 200));
    assert.deepEqual(got, want);
  });

  it("BAD_REQUEST: a malformed cursor, a limit out of range", async () => {
    await assert.rejects(
      reader.timelineGet({ user_id: DEMO_USER, cursor: "not-a-cursor" }),
      (err: BadRequestError) => {
        assert.ok(err instanceof BadRequestError);
        assert.equal(err.code, "BAD_REQUEST");
        assert.match(err.message, /cursor/);
        return true;
      },
    );
    await assert.rejects(reader.timelineGet({ user_id: DEMO_USER, limit: 500 }), /limit/);
    // A cursor made for another user.
    const page = await reader.timelineGet({ user_id: DEMO_USER, limit: 1 });
    await assert.rejects(reader.timelineGet({ user_id: 43n, cursor: page.next_cursor! }), BadRequestError);
  });

  it("NOT_FOUND: an unknown method, an unknown warm job", async () => {
    await assert.rejects(admin.call("no.such.method"), (err: NotFoundError) => {
      assert.ok(err instanceof NotFoundError);
      assert.match(err.message, /unknown method/);
      return true;
    });
    await assert.rejects(admin.warmStatus({ job: "no-such-job" }), NotFoundError);
  });

  it("pipelining: a hundred calls in flight on one connection, each answer to its call", async () => {
    // With the adaptive limit, feedcached pauses a connection that holds
    // half of a busy limit instead of shedding its calls: all 105 answer.
    const users = Array.from({ length: 20 }, (_, i) => BigInt(100 + i));
    const alone = new Map<bigint, bigint[]>();
    for (const u of users) {
      alone.set(u, (await reader.timelineGet({ user_id: u, limit: 5, hydrate: false })).posts.map((p) => p.id));
    }
    const calls: Promise<[bigint | "pong", unknown]>[] = [];
    for (let round = 0; round < 5; round++) {
      for (const u of users) {
        calls.push(reader.timelineGet({ user_id: u, limit: 5, hydrate: false }).then((p) => [u, p.posts.map((x) => x.id)]));
      }
      calls.push(reader.ping().then((p) => ["pong", p]));
    }
    assert.equal(reader.inFlight, calls.length, "all sent before any answer");
    const results = await Promise.all(calls);
    assert.equal(results.length, 105);
    for (const [u, r] of results) {
      if (u === "pong") assert.equal(r, "pong");
      else assert.deepEqual(r, alone.get(u));
    }
  });

  it("pipelining 200 calls on one connection, past its share of the limit: paused, not shed; all succeed", async (t) => {
    // Warm feeds (a warm job first): cold ones would meet PostgreSQL's
    // queue bound (UNAVAILABLE). With the adaptive limit, a connection
    // holding half of a busy limit is paused until its calls end, not
    // answered OVERLOADED; withRetry stays as a client would use it, and
    // counts what it retried.
    const users = Array.from({ length: 200 }, (_, i) => BigInt(400 + i));
    const { job } = await admin.warm({ user_ids: users, rate: 100_000 });
    await eventually("warm job", 30_000, async () =>
      (await admin.warmStatus({ job })).state === "finished" ? true : undefined,
    );
    let shed = 0;
    const codes = new Map<string, number>();
    let waited = 0;
    let maxWait = 0;
    const t0 = Date.now();
    const pages = await Promise.all(
      users.map((u) =>
        withRetry(() => reader.timelineGet({ user_id: u, limit: 3, hydrate: false }), {
          maxAttempts: 50,
          deadlineMs: 60_000,
          onRetry: (err, _attempt, ms) => {
            assert.ok(err instanceof OverloadedError || err instanceof UnavailableError, String(err));
            shed++;
            const code = (err as FeedcacheError).code;
            codes.set(code, (codes.get(code) ?? 0) + 1);
            waited += ms;
            maxWait = Math.max(maxWait, ms);
          },
        }),
      ),
    );
    t.diagnostic(`${users.length} calls in ${Date.now() - t0} ms; retries: ${[...codes].map(([c, n]) => `${c} ${n}`).join(", ")}; waits ${waited} ms in all, ${maxWait} ms at most`);
    const want = expectedTops(e, users, 3);
    pages.forEach((p, i) => assert.deepEqual(p.posts.map((x) => x.id), want.get(users[i]!)));
    assert.equal(shed, 0, "200 at once on one connection at an idle service: none shed");
  });

  it("post.publish: a post inserted in PostgreSQL shows on its author's timeline, ids beyond 2^53 exact", async () => {
    sql(e, `INSERT INTO posts (id, author_id, created_at, body) VALUES
            (${BIG_POST2}, ${BIG_AUTHOR}, to_timestamp(${now - 1000} / 1000.0), 'older post'),
            (${BIG_POST}, ${BIG_AUTHOR}, to_timestamp(${now} / 1000.0), 'hello from node')`);
    const r1 = await writer.postPublish({ id: BIG_POST2, author_id: BIG_AUTHOR, created_at: now - 1000, body: "older post" });
    const r2 = await writer.postPublish({ id: BIG_POST, author_id: BIG_AUTHOR, created_at: now, body: "hello from node" });
    assert.deepEqual(r1, { queued: true, mode: "fanout" });
    assert.deepEqual(r2, { queued: true, mode: "fanout" });
    const page = await reader.timelineGet({ user_id: BIG_AUTHOR });
    assert.deepEqual(page.posts, [
      { id: BIG_POST, author_id: BIG_AUTHOR, created_at: now, body: "hello from node" },
      { id: BIG_POST2, author_id: BIG_AUTHOR, created_at: now - 1000, body: "older post" },
    ]);
    assert.equal(page.next_cursor, null);
  });

  it("post.publish: a celebrity's post (>= 300 followers) is merged at read time", async () => {
    const id = 8_000_000_000_001n;
    const [celeb] = sql(e, `SELECT followee_id FROM follows WHERE followee_id <= 5
                            GROUP BY 1 HAVING count(*) >= 300 ORDER BY count(*) DESC LIMIT 1`);
    assert.ok(celeb, "the demo data has a celebrity");
    const author = Number(celeb); // a small id may be given as a number
    sql(e, `INSERT INTO posts (id, author_id, created_at, body) VALUES (${id}, ${author}, to_timestamp(${now} / 1000.0), 'breaking')`);
    const r = await writer.postPublish({ id, author_id: author, created_at: now, body: "breaking" });
    assert.deepEqual(r, { queued: true, mode: "celebrity" });
    const [follower] = sql(e, `SELECT follower_id FROM follows WHERE followee_id = ${author} ORDER BY follower_id LIMIT 1`);
    const page = await reader.timelineGet({ user_id: BigInt(follower!), limit: 3 });
    assert.equal(page.posts[0]!.id, id);
  });

  it("follow, then unfollow: the follower's timeline gains and loses the followee's posts", async () => {
    const before = await reader.timelineGet({ user_id: BIG_FOLLOWER });
    assert.deepEqual(before.posts, [], "a user with no follows and no posts has an empty timeline");
    sql(e, `INSERT INTO follows (follower_id, followee_id) VALUES (${BIG_FOLLOWER}, ${BIG_AUTHOR})`);
    assert.deepEqual(await writer.follow({ follower_id: BIG_FOLLOWER, followee_id: BIG_AUTHOR }), { ok: true });
    const followed = await reader.timelineGet({ user_id: BIG_FOLLOWER });
    assert.deepEqual(followed.posts.map((p) => p.id), [BIG_POST, BIG_POST2]);
    sql(e, `DELETE FROM follows WHERE follower_id = ${BIG_FOLLOWER} AND followee_id = ${BIG_AUTHOR}`);
    assert.deepEqual(await writer.unfollow({ follower_id: BIG_FOLLOWER, followee_id: BIG_AUTHOR }), { ok: true });
    const unfollowed = await reader.timelineGet({ user_id: BIG_FOLLOWER });
    assert.deepEqual(unfollowed.posts, []);
  });

  it("post.update: the next hydrated read shows the new body", async () => {
    sql(e, `UPDATE posts SET body = 'edited from node' WHERE id = ${BIG_POST}`);
    assert.deepEqual(await writer.postUpdate({ id: BIG_POST, body: "edited from node" }), { ok: true });
    const page = await reader.timelineGet({ user_id: BIG_AUTHOR, limit: 1 });
    assert.equal(page.posts[0]!.body, "edited from node");
  });

  it("post.delete: no later read returns the post", async () => {
    sql(e, `UPDATE posts SET deleted_at = now() WHERE id = ${BIG_POST2}`);
    assert.deepEqual(await writer.postDelete({ id: BIG_POST2, author_id: BIG_AUTHOR }), { ok: true });
    const page = await reader.timelineGet({ user_id: BIG_AUTHOR });
    assert.deepEqual(page.posts.map((p) => p.id), [BIG_POST]);
  });

  it("timeline.invalidate: the next read rebuilds the feed; notifications are executed in order", async () => {
    const u = 7n;
    await reader.timelineGet({ user_id: u });
    assert.equal((await reader.timelineGet({ user_id: u })).source, "cache");
    assert.deepEqual(await writer.timelineInvalidate({ user_id: u }), { ok: true });
    assert.equal((await reader.timelineGet({ user_id: u })).source, "rebuilt");
    // The same as a notification: executed, never answered. The ping behind
    // it on the same connection is answered after it was taken up (arrival
    // order), though its Redis write may still be on the way: poll.
    assert.equal((await reader.timelineGet({ user_id: u })).source, "cache");
    writer.notify("timeline.invalidate", { user_id: u });
    assert.equal(await writer.ping(), "pong");
    await eventually("the notified invalidate", 5000, async () =>
      (await reader.timelineGet({ user_id: u })).source === "rebuilt" ? true : undefined,
    );
  });

  it("warm and warm.status: a job over given ids and one over active users finish", async () => {
    const byIds = await admin.warm({ user_ids: [10n, 11, 12, 12n] });
    assert.equal(byIds.users, 3, "distinct ids");
    assert.equal(typeof byIds.job, "string");
    const [active] = sql(e, "SELECT count(*) FROM users WHERE last_active_at >= now() - interval '1 day'");
    const byActivity = await admin.warm({ active_within_s: 86400, rate: 100_000 });
    assert.equal(byActivity.users, Number(active));
    for (const job of [byIds.job, byActivity.job]) {
      const st = await eventually(`warm job ${job}`, 30_000, async () => {
        const s = await reader.warmStatus({ job });
        assert.ok(["running", "paused", "finished"].includes(s.state), `state ${s.state} ${s.error ?? ""}`);
        return s.state === "finished" ? s : undefined;
      });
      assert.equal(st.done, st.total);
      assert.equal(typeof st.started_ms, "number");
      assert.ok(st.updated_ms! >= st.started_ms!);
    }
  });

  it("stats: the contract's counters, as numbers", async () => {
    const s = await reader.stats();
    for (const k of [
      "feed_cache_hits", "feed_cache_misses", "post_cache_hits", "post_cache_misses", "feed_rebuilds",
      "pg_fallbacks", "fanout_posts", "fanout_deliveries", "fanout_queue_depth",
    ]) {
      assert.equal(typeof s[k], "number", k);
    }
    assert.ok(s.feed_cache_hits > 0 && s.feed_cache_misses > 0 && s.feed_rebuilds > 0);
  });

  it("fanout.dead_letters and fanout.retry: a malformed job, listed and requeued; an unknown id is NOT_FOUND", async () => {
    redis(e, "XADD", `${e.prefix}{fanout}`, "*", "t", "x", "junk", "1");
    const dead = await eventually("the malformed job dead-lettered", 15_000, async () => {
      const r = await admin.fanoutDeadLetters({ limit: 10 });
      return r.dead_letters.find((d) => d.reason?.includes("malformed"));
    });
    // A job without a post or author: those are nil (its type is what the job had).
    assert.equal(dead.post, null);
    assert.equal(dead.author, null);
    assert.equal(typeof dead.id, "string");
    assert.equal(typeof dead.at_ms, "number");
    const list = await admin.fanoutDeadLetters();
    assert.ok(list.total >= 1);
    assert.equal(list.next, null);
    const r = await admin.fanoutRetry({ id: dead.id });
    assert.equal(r.requeued, 1);
    assert.equal(typeof r.remaining, "number");
    await assert.rejects(admin.fanoutRetry({ id: "1-1" }), (err: NotFoundError) => {
      assert.ok(err instanceof NotFoundError);
      assert.equal(err.code, "NOT_FOUND");
      return true;
    });
    await assert.rejects(reader.fanoutDeadLetters(), ForbiddenError);
  });

  it("three failed auth calls: the server closes the connection, calls in flight get ConnectionError", async () => {
    const c = await Client.connect(e.addr.host, e.addr.port);
    await assert.rejects(c.auth("wrong-1"), UnauthorizedError);
    await assert.rejects(c.auth("wrong-2"), UnauthorizedError);
    const third = c.auth("wrong-3");
    const behind = c.ping();
    await assert.rejects(third, UnauthorizedError);
    await assert.rejects(behind, ConnectionError);
    await c.whenClosed();
    assert.equal(c.closed, true);
    await assert.rejects(c.ping(), ConnectionError);
  });

  describe("with Redis down (the 'unavailable' feedcached)", () => {
    let c: Client;
    before(async () => {
      c = await Client.connect(e.unavailable.host, e.unavailable.port, { timeoutMs: 10_000 });
    });
    after(() => c?.close());

    it("UNAVAILABLE with retry_after_ms; withRetry waits as asked, then gives up", async () => {
      const params = { id: 5n, author_id: 5n, created_at: now };
      await assert.rejects(c.postPublish(params), (err: UnavailableError) => {
        assert.ok(err instanceof UnavailableError);
        assert.equal(err.code, "UNAVAILABLE");
        assert.ok(err.retryAfterMs! >= 500 && err.retryAfterMs! <= 1500, `retryAfterMs ${err.retryAfterMs}`);
        return true;
      });
      const waits: number[] = [];
      const t0 = Date.now();
      let tries = 0;
      await assert.rejects(
        withRetry(
          () => {
            tries++;
            return c.postPublish(params);
          },
          { maxAttempts: 2, onRetry: (_err, _n, ms) => waits.push(ms) },
        ),
        UnavailableError,
      );
      assert.equal(tries, 2);
      assert.equal(waits.length, 1);
      assert.ok(waits[0]! >= 500 && waits[0]! <= 1500);
      assert.ok(Date.now() - t0 >= waits[0]!, "waited at least retry_after_ms");
    });

    it("reads are served from PostgreSQL (source db)", async () => {
      const page = await c.timelineGet({ user_id: DEMO_USER, limit: 3 });
      assert.equal(page.source, "db");
      assert.deepEqual(page.posts.map((p) => p.id), expectedTimeline(e, DEMO_USER).slice(0, 3));
    });

    it("OVERLOADED past max_inflight (1): pipelined reads are shed; withRetry gets them all through", async () => {
      const users = Array.from({ length: 12 }, (_, i) => BigInt(200 + i));
      const outcomes = await Promise.allSettled(users.map((u) => c.timelineGet({ user_id: u, limit: 20 })));
      const shed = outcomes.filter((o) => o.status === "rejected").map((o) => (o as PromiseRejectedResult).reason);
      assert.ok(shed.length > 0, "some calls shed");
      assert.ok(shed.length < users.length, "some calls admitted");
      for (const err of shed) {
        assert.ok(err instanceof OverloadedError, String(err));
        assert.equal(err.code, "OVERLOADED");
        assert.ok(err.retryAfterMs! >= 50 && err.retryAfterMs! <= 7500, `retryAfterMs ${err.retryAfterMs}`);
      }
      const pages = await Promise.all(
        users.slice(0, 4).map((u) => withRetry(() => c.timelineGet({ user_id: u, limit: 20 }), { maxAttempts: 30, deadlineMs: 60_000 })),
      );
      const want = expectedTops(e, users.slice(0, 4), 20);
      pages.forEach((p, i) => assert.deepEqual(p.posts.map((x) => x.id), want.get(users[i]!)));
    });

    it("INTERNAL when PostgreSQL rejects the page query", async () => {
      sql(e, "ALTER TABLE posts RENAME COLUMN body TO body_gone");
      try {
        await assert.rejects(
          withRetry(() => c.timelineGet({ user_id: DEMO_USER, limit: 3 }), { maxAttempts: 20 }),
          (err: InternalError) => {
            assert.ok(err instanceof InternalError, String(err));
            assert.equal(err.code, "INTERNAL");
            assert.equal(err.retryAfterMs, undefined);
            return true;
          },
        );
      } finally {
        sql(e, "ALTER TABLE posts RENAME COLUMN body_gone TO body");
      }
    });
  });

  it("connection loss: the daemon killed with calls in flight; every one rejects with ConnectionError", async () => {
    const c = await Client.connect(e.victim.host, e.victim.port);
    assert.equal(await c.ping(), "pong");
    const calls = Array.from({ length: 50 }, (_, i) => c.timelineGet({ user_id: BigInt(300 + i) }));
    process.kill(e.victimPid, "SIGKILL");
    const outcomes = await Promise.allSettled(calls);
    for (const o of outcomes) {
      assert.equal(o.status, "rejected");
      assert.ok((o as PromiseRejectedResult).reason instanceof ConnectionError);
    }
    await c.whenClosed();
    await assert.rejects(c.ping(), ConnectionError);
    await sleep(50);
    await assert.rejects(Client.connect(e.victim.host, e.victim.port), (err: ConnectionError) => {
      assert.ok(err instanceof ConnectionError);
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
  });
});
