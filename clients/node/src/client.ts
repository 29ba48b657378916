/**
 * The feedcache client: one TCP (or unix socket) connection to feedcached,
 * speaking msgpack-RPC as docs/PROTOCOL.md ("Transport and framing") says.
 *
 * - Pipelining: every call is sent at once, without waiting for the answers
 *   to earlier ones; calls made in the same tick go out in one write. The
 *   server answers in any order and each answer is matched to its call by
 *   msgid (a uint32, counted up from 1).
 * - Auth: given a token (or a token file), connect() calls `auth` right
 *   after connecting, as the C client's fc_client_auth does, and fails when
 *   the server refuses it.
 * - Timeouts: a call not answered within its timeout rejects with
 *   TimeoutError and its late answer is dropped; the connection stays usable.
 * - A lost connection rejects every call in flight with ConnectionError and
 *   leaves the client closed: connect a new one.
 */
import * as net from "node:net";

import { DecodeError, type Decoder, type Encoder } from "@msgpack/msgpack";

import * as codec from "./codec";
import {
  ConnectionError,
  FeedcacheError,
  ProtocolError,
  TimeoutError,
  errorFromWire,
} from "./errors";
import { readTokenFile } from "./token";
import type {
  AuthResult,
  FanoutDeadLetters,
  FanoutDeadLettersParams,
  FanoutRetryParams,
  FanoutRetryResult,
  FollowParams,
  OkResult,
  Post,
  PostDeleteParams,
  PostPublishParams,
  PostPublishResult,
  PostRef,
  PostUpdateParams,
  Role,
  Stats,
  TimelineGetParams,
  TimelineInvalidateParams,
  TimelinePage,
  WarmParams,
  WarmResult,
  WarmStatus,
  WarmStatusParams,
} from "./types";

export interface ConnectOptions {
  /**
   * Milliseconds: how long connecting (and the auth step) may take, and the
   * default timeout of every call. Default 10000; 0 or Infinity: none.
   */
  timeoutMs?: number;
  /** Authenticate with this token right after connecting. */
  token?: string;
  /** Read the token from this file (`TOKEN` or `ROLE TOKEN`), then authenticate. */
  tokenFile?: string;
}

export interface CallOptions {
  /** This call's timeout in ms, instead of the client's. 0 or Infinity: none. */
  timeoutMs?: number;
  /** Abandons the call: it rejects with the signal's reason, its answer is dropped. */
  signal?: AbortSignal;
}

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const REQUEST = 0;
const RESPONSE = 1;
const NOTIFICATION = 2;
const MAX_MSGID = 0xffffffff;
const DEFAULT_TIMEOUT_MS = 10_000;

function validTimeout(ms: number | undefined, fallback: number): number {
  if (ms === undefined) return fallback;
  if (ms === Infinity || ms === 0) return 0;
  if (!(ms > 0) || !Number.isFinite(ms)) throw new RangeError(`timeoutMs: ${ms} is not a duration`);
  return ms;
}

export class Client {
  private readonly socket: net.Socket;
  private readonly encoder: Encoder = codec.makeEncoder();
  private readonly decoder: Decoder = codec.makeDecoder();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private corked = false;
  private closedWith: FeedcacheError | undefined;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;
  private readonly timeoutMs: number;
  private roleValue: Role | undefined;

  private constructor(socket: net.Socket, timeoutMs: number) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on("error", () => {
      /* reported through the read loop */
    });
    socket.on("close", () => {
      this.fail(new ConnectionError("connection closed"));
      this.resolveClosed();
    });
    void this.readLoop();
  }

  /**
   * Connects to feedcached at host:port (a host name, an IPv4 or an IPv6
   * address), then authenticates when opts has a token or a token file.
   * Rejects with ConnectionError (cannot connect), TimeoutError, or the
   * auth call's error (UnauthorizedError for an unknown token).
   */
  static connect(host: string, port: number, opts: ConnectOptions = {}): Promise<Client> {
    return Client.open({ host, port }, opts);
  }

  /** As connect(), on a unix socket (feedcached's `listen = unix:/path`). */
  static connectUnix(path: string, opts: ConnectOptions = {}): Promise<Client> {
    return Client.open({ path }, opts);
  }

  private static async open(
    where: { host: string; port: number } | { path: string },
    opts: ConnectOptions,
  ): Promise<Client> {
    const timeoutMs = validTimeout(opts.timeoutMs, DEFAULT_TIMEOUT_MS);
    if (opts.token !== undefined && opts.tokenFile !== undefined) {
      throw new TypeError("give token or tokenFile, not both");
    }
    const token = opts.tokenFile !== undefined ? await readTokenFile(opts.tokenFile) : opts.token;
    const started = Date.now();
    const what = "path" in where ? `unix:${where.path}` : `${where.host}:${where.port}`;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(where);
      let timer: NodeJS.Timeout | undefined;
      const done = (err?: FeedcacheError) => {
        if (timer) clearTimeout(timer);
        s.removeAllListeners("connect");
        s.removeAllListeners("error");
        if (err) {
          s.destroy();
          reject(err);
        } else {
          resolve(s);
        }
      };
      s.once("connect", () => done());
      s.once("error", (e: NodeJS.ErrnoException) =>
        done(new ConnectionError(`connect to ${what}: ${e.code ?? e.message}`, { cause: e })),
      );
      if (timeoutMs > 0) {
        timer = setTimeout(
          () => done(new TimeoutError(`connect to ${what}: no connection within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }
    });
    const client = new Client(socket, timeoutMs);
    if (token !== undefined) {
      try {
        const left = timeoutMs > 0 ? Math.max(1, timeoutMs - (Date.now() - started)) : 0;
        await client.auth(token, { timeoutMs: left });
      } catch (e) {
        client.close();
        throw e;
      }
    }
    return client;
  }

  /** The role of the last successful auth on this connection (undefined before). */
  get role(): Role | undefined {
    return this.roleValue;
  }

  /** True once the connection is closed or lost. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Calls sent and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Closes the connection. Calls in flight reject with ConnectionError.
   * The promise resolves once the socket is closed.
   */
  close(): Promise<void> {
    this.fail(new ConnectionError("client closed"));
    this.socket.destroy();
    return this.closedPromise;
  }

  /** Resolves when the connection is closed, by close() or otherwise. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  // --- generic calls -----------------------------------------------------------

  /**
   * Calls any method with a map of named arguments (none: `[]` is sent),
   * resolving with the result as decoded: integers that the server packed in
   * 64 bits are bigints, smaller ones numbers. Rejects with the error class
   * of the answer's code. The typed methods below are built on it.
   */
  call(method: string, params?: object | null, opts: CallOptions = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.closedWith) {
        reject(new ConnectionError(`${method}: ${this.closedWith.message}`, { method }));
        return;
      }
      const timeoutMs = validTimeout(opts.timeoutMs, this.timeoutMs);
      const msgid = this.allocId();
      try {
        const args = params == null ? [] : [codec.toWire(params)];
        this.write([REQUEST, msgid, method, args]);
      } catch (e) {
        reject(e);
        return;
      }
      const p: Pending = { method, resolve, reject, timer: undefined, signal: opts.signal, onAbort: undefined };
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          this.forget(msgid);
          reject(new TimeoutError(`${method}: no answer within ${timeoutMs} ms`, { method }));
        }, timeoutMs);
      }
      if (opts.signal) {
        if (opts.signal.aborted) {
          this.pending.set(msgid, p);
          this.forget(msgid);
          reject(opts.signal.reason);
          return;
        }
        p.onAbort = () => {
          this.forget(msgid);
          reject(opts.signal!.reason);
        };
        opts.signal.addEventListener("abort", p.onAbort, { once: true });
      }
      this.pending.set(msgid, p);
    });
  }

  /**
   * Sends a notification: the server executes the method and sends no
   * answer (so no error either). Throws ConnectionError when closed.
   */
  notify(method: string, params?: object | null): void {
    if (this.closedWith) throw new ConnectionError(`${method}: ${this.closedWith.message}`, { method });
    this.write([NOTIFICATION, method, params == null ? [] : [codec.toWire(params)]]);
  }

  // --- the contract's methods -------------------------------------------------------

  /** `ping`: "pong". Allowed before auth. */
  async ping(opts?: CallOptions): Promise<"pong"> {
    return codec.str(await this.call("ping", null, opts)) as "pong";
  }

  /**
   * `auth`: authenticates this connection; resolves with the token's role.
   * UnauthorizedError for an unknown token, BadRequestError for one that is
   * not 1..256 bytes. Three failures make the server close the connection.
   */
  async auth(token: string, opts?: CallOptions): Promise<AuthResult> {
    const r = codec.plain(await this.call("auth", { token }, opts)) as AuthResult;
    this.roleValue = r.role;
    return r;
  }

  /** `post.publish`: the post, already committed to PostgreSQL, is cached and fanned out. */
  async postPublish(params: PostPublishParams, opts?: CallOptions): Promise<PostPublishResult> {
    return codec.plain(await this.call("post.publish", params, opts)) as PostPublishResult;
  }

  /** `post.update`: the next hydrated read shows the new body. */
  async postUpdate(params: PostUpdateParams, opts?: CallOptions): Promise<OkResult> {
    return codec.plain(await this.call("post.update", params, opts)) as OkResult;
  }

  /** `post.delete`: no later timeline.get returns the post. */
  async postDelete(params: PostDeleteParams, opts?: CallOptions): Promise<OkResult> {
    return codec.plain(await this.call("post.delete", params, opts)) as OkResult;
  }

  /** `follow`: from the next read on, the follower's timeline has the followee's posts. */
  async follow(params: FollowParams, opts?: CallOptions): Promise<OkResult> {
    return codec.plain(await this.call("follow", params, opts)) as OkResult;
  }

  /** `unfollow`: no read after the answer shows the followee's posts. */
  async unfollow(params: FollowParams, opts?: CallOptions): Promise<OkResult> {
    return codec.plain(await this.call("unfollow", params, opts)) as OkResult;
  }

  /**
   * `timeline.get`: one page of the user's home timeline, newest first.
   * With hydrate: false the posts have no body.
   */
  timelineGet(params: TimelineGetParams & { hydrate: false }, opts?: CallOptions): Promise<TimelinePage<PostRef>>;
  timelineGet(params: TimelineGetParams & { hydrate?: true }, opts?: CallOptions): Promise<TimelinePage<Post>>;
  timelineGet(
    params: TimelineGetParams,
    opts?: CallOptions,
  ): Promise<TimelinePage<PostRef & { body?: string }>>;
  async timelineGet(params: TimelineGetParams, opts?: CallOptions): Promise<TimelinePage<PostRef & { body?: string }>> {
    const raw = await this.call("timeline.get", params, opts);
    return codec.timelinePage(raw) as unknown as TimelinePage<PostRef & { body?: string }>;
  }

  /**
   * Walks the timeline from params.cursor (or the first page), yielding page
   * after page until next_cursor is null.
   */
  timelinePages(params: TimelineGetParams & { hydrate: false }, opts?: CallOptions): AsyncGenerator<TimelinePage<PostRef>>;
  timelinePages(params: TimelineGetParams & { hydrate?: true }, opts?: CallOptions): AsyncGenerator<TimelinePage<Post>>;
  timelinePages(
    params: TimelineGetParams,
    opts?: CallOptions,
  ): AsyncGenerator<TimelinePage<PostRef & { body?: string }>>;
  async *timelinePages(
    params: TimelineGetParams,
    opts?: CallOptions,
  ): AsyncGenerator<TimelinePage<PostRef & { body?: string }>> {
    let cursor = params.cursor ?? null;
    for (;;) {
      const page = await this.timelineGet({ ...params, cursor }, opts);
      yield page;
      if (page.next_cursor === null) return;
      cursor = page.next_cursor;
    }
  }

  /** `timeline.invalidate`: drops the user's home feed; the next read rebuilds it. */
  async timelineInvalidate(params: TimelineInvalidateParams, opts?: CallOptions): Promise<OkResult> {
    return codec.plain(await this.call("timeline.invalidate", params, opts)) as OkResult;
  }

  /** `warm`: starts a background job rebuilding home feeds (admin). */
  async warm(params: WarmParams, opts?: CallOptions): Promise<WarmResult> {
    const r = codec.plain(await this.call("warm", params, opts)) as WarmResult;
    return { ...r, job: codec.str(r.job) };
  }

  /** `warm.status`: a warm job's progress. NotFoundError for an unknown job. */
  async warmStatus(params: WarmStatusParams, opts?: CallOptions): Promise<WarmStatus> {
    return codec.plain(await this.call("warm.status", params, opts)) as WarmStatus;
  }

  /** `stats`: the integer counters (see docs/PROTOCOL.md, "stats"). */
  async stats(opts?: CallOptions): Promise<Stats> {
    return codec.plain(await this.call("stats", null, opts)) as Stats;
  }

  /** `fanout.dead_letters` (extension, admin): fan-out jobs that failed for good. */
  async fanoutDeadLetters(params: FanoutDeadLettersParams = {}, opts?: CallOptions): Promise<FanoutDeadLetters> {
    return codec.deadLetters(await this.call("fanout.dead_letters", params, opts)) as unknown as FanoutDeadLetters;
  }

  /** `fanout.retry` (extension, admin): requeues one dead letter, or about 1000 with all: true. */
  async fanoutRetry(params: FanoutRetryParams, opts?: CallOptions): Promise<FanoutRetryResult> {
    return codec.plain(await this.call("fanout.retry", params, opts)) as FanoutRetryResult;
  }

  // --- internals ---------------------------------------------------------------------

  private allocId(): number {
    // Skips ids still in flight after a wrap (4 billion calls later).
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= MAX_MSGID ? 1 : id + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  private write(frame: unknown[]): void {
    const bytes = this.encoder.encode(frame);
    // Calls made in the same tick leave in one write.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(bytes);
  }

  private forget(msgid: number): Pending | undefined {
    const p = this.pending.get(msgid);
    if (!p) return undefined;
    this.pending.delete(msgid);
    if (p.timer) clearTimeout(p.timer);
    if (p.signal && p.onAbort) p.signal.removeEventListener("abort", p.onAbort);
    return p;
  }

  private async readLoop(): Promise<void> {
    try {
      for await (const msg of this.decoder.decodeStream(this.socket)) {
        this.onMessage(msg);
      }
      this.fail(new ConnectionError("connection closed by the server"));
    } catch (e) {
      if (e instanceof FeedcacheError) {
        this.fail(e);
      } else if (e instanceof DecodeError || e instanceof RangeError) {
        this.fail(new ProtocolError(`the server sent bad msgpack: ${(e as Error).message}`, { cause: e }));
      } else {
        const err = e as NodeJS.ErrnoException;
        this.fail(new ConnectionError(`connection lost: ${err.code ?? err.message}`, { cause: e }));
      }
    }
    this.socket.destroy();
  }

  private onMessage(msg: unknown): void {
    if (!Array.isArray(msg) || msg.length !== 4 || msg[0] !== RESPONSE) {
      throw new ProtocolError("the server sent something that is not a msgpack-RPC response");
    }
    const msgid = typeof msg[1] === "bigint" ? Number(msg[1]) : msg[1];
    if (typeof msgid !== "number" || !Number.isInteger(msgid)) {
      throw new ProtocolError("a response without an integer msgid");
    }
    const p = this.forget(msgid);
    if (!p) return; // timed out or abandoned: its late answer is dropped
    const [, , error, result] = msg;
    if (error !== null && error !== undefined) p.reject(errorFromWire(error, p.method));
    else p.resolve(result);
  }

  private fail(err: FeedcacheError): void {
    if (!this.closedWith) this.closedWith = err;
    const calls = [...this.pending.keys()];
    for (const msgid of calls) {
      const p = this.forget(msgid)!;
      const why = `${p.method}: ${err.message}; whether the call took effect is unknown`;
      const o = { method: p.method, cause: err };
      p.reject(err instanceof ProtocolError ? new ProtocolError(why, o) : new ConnectionError(why, o));
    }
  }
}

/** Client.connect(host, port, opts). */
export function connect(host: string, port: number, opts?: ConnectOptions): Promise<Client> {
  return Client.connect(host, port, opts);
}
