/**
 * feedcache: a Promise client for feedcached's msgpack-RPC (docs/PROTOCOL.md).
 *
 *   import { Client } from "feedcache";
 *   const c = await Client.connect("127.0.0.1", 7400, { timeoutMs: 2000, tokenFile: "/etc/feedcache/token" });
 *   const page = await c.timelineGet({ user_id: 42n, limit: 20 });
 *   await c.close();
 */
export { Client, connect } from "./client";
export type { CallOptions, ConnectOptions } from "./client";
export {
  BadRequestError,
  ClientErrorCode,
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
} from "./errors";
export type { FeedcacheErrorOptions } from "./errors";
export { defaultRetryOn, withRetry } from "./retry";
export type { RetryOptions } from "./retry";
export { parseTokenFile, readTokenFile } from "./token";
export type {
  AuthParams,
  AuthResult,
  DeadLetter,
  FanoutDeadLetters,
  FanoutDeadLettersParams,
  FanoutRetryParams,
  FanoutRetryResult,
  FollowParams,
  Id,
  NoParams,
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
  TimelineSource,
  WarmParams,
  WarmResult,
  WarmState,
  WarmStatus,
  WarmStatusParams,
} from "./types";
