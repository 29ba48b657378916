/**
 * Params and results of every RPC method, as docs/PROTOCOL.md ("Methods")
 * describes them. Keys keep the wire's snake_case names, so the contract
 * reads the same here.
 *
 * Integers:
 * - Ids (post, author, user, follower and followee ids) are int64 in
 *   1..2^63-1 and may exceed Number.MAX_SAFE_INTEGER (2^53-1). They are
 *   accepted as `bigint` or as a safe-integer `number` (an unsafe number has
 *   already lost digits, so it is refused with a RangeError before anything
 *   is sent), and always returned as `bigint`, whatever their size.
 * - Every other integer (created_at, counts, stats counters, ms times) is a
 *   `number`: the contract bounds them far below 2^53 (created_at is at most
 *   253402300799999). Should a value ever be larger, it is returned as a
 *   `bigint` rather than rounded.
 */

/** An id as a caller may give it. */
export type Id = bigint | number;

/** `{}`: methods that take no argument send `[]`. */
export type NoParams = Record<string, never>;

export interface OkResult {
  ok: true;
}

// --- auth ---------------------------------------------------------------------

export type Role = "read" | "write" | "admin";

export interface AuthParams {
  token: string;
}
export interface AuthResult {
  role: Role;
}

// --- post.* ---------------------------------------------------------------------

export interface PostPublishParams {
  id: Id;
  author_id: Id;
  /** ms since the Unix epoch, 0..253402300799999, the value in PostgreSQL. */
  created_at: number | bigint;
  /** When given, the post hash is cached (write-through). At most 1 MiB. */
  body?: string;
}
export interface PostPublishResult {
  queued: true;
  mode: "fanout" | "celebrity";
}

export interface PostUpdateParams {
  id: Id;
  body: string;
}

export interface PostDeleteParams {
  id: Id;
  author_id: Id;
}

// --- follow / unfollow ------------------------------------------------------------

export interface FollowParams {
  follower_id: Id;
  followee_id: Id;
}

// --- timeline.* -------------------------------------------------------------------

export interface TimelineGetParams {
  user_id: Id;
  /** 1..200, default 20. */
  limit?: number;
  /** The previous page's next_cursor (opaque). */
  cursor?: string | null;
  /** Default true: posts carry their body. */
  hydrate?: boolean;
}

/** A post of a page read with hydrate=false. */
export interface PostRef {
  id: bigint;
  author_id: bigint;
  /** ms since the Unix epoch. */
  created_at: number;
}

/** A post of a hydrated page. */
export interface Post extends PostRef {
  body: string;
}

export type TimelineSource = "cache" | "rebuilt" | "db";

export interface TimelinePage<P extends PostRef = Post> {
  /** Newest first by (created_at, id). */
  posts: P[];
  /** null on the last page. */
  next_cursor: string | null;
  source: TimelineSource;
  /** A backend was unavailable and the page may lack posts. */
  degraded: boolean;
}

export interface TimelineInvalidateParams {
  user_id: Id;
}

// --- warm, warm.status --------------------------------------------------------------

interface WarmCommon {
  /** Users per second; default the server's warm_rate. */
  rate?: number;
}
export type WarmParams =
  | (WarmCommon & { user_ids: Id[]; active_within_s?: undefined })
  | (WarmCommon & { active_within_s: number; user_ids?: undefined });

export interface WarmResult {
  job: string;
  users: number;
}

export interface WarmStatusParams {
  job: string;
}

export type WarmState = "running" | "paused" | "finished" | "failed";

export interface WarmStatus {
  done: number;
  total: number;
  state: WarmState;
  /** Extension: when the job started, ms since the epoch. */
  started_ms?: number;
  /** Extension: when it last reported, ms since the epoch. */
  updated_ms?: number;
  /** Extension: why it failed (state "failed"). */
  error?: string;
}

// --- stats ------------------------------------------------------------------------

/** The keys the contract promises; the server may send more (extensions). */
export interface Stats {
  feed_cache_hits: number;
  feed_cache_misses: number;
  post_cache_hits: number;
  post_cache_misses: number;
  feed_rebuilds: number;
  pg_fallbacks: number;
  fanout_posts: number;
  fanout_deliveries: number;
  fanout_queue_depth: number;
  /** Extension: the sum of fan-out lags in ms. */
  fanout_lag_ms_total?: number;
  [key: string]: number | undefined;
}

// --- fanout.* (extensions) ----------------------------------------------------------

export interface FanoutDeadLettersParams {
  /** 1..1000, default 100. */
  limit?: number;
  /** A dead-letter id: list those after it (the previous answer's `next`). */
  after?: string | null;
}

export interface DeadLetter {
  /** The dead letter's own id: `1700000000000-0` (shard 0) or `3/1700000000000-0`. */
  id: string;
  /** The original job's stream id. */
  job: string | null;
  /** The job type; null for a malformed job. */
  type: string | null;
  post: bigint | null;
  author: bigint | null;
  attempts: number | null;
  reason: string | null;
  at_ms: number | null;
}

export interface FanoutDeadLetters {
  /** Dead letters in every shard. */
  total: number;
  dead_letters: DeadLetter[];
  /** Set when more may follow: pass it as `after`. */
  next: string | null;
}

export type FanoutRetryParams = { id: string; all?: undefined } | { all: true; id?: undefined };

export interface FanoutRetryResult {
  requeued: number;
  remaining: number;
}
