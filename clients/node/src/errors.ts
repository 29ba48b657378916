/**
 * Errors: one class per error code of the contract (docs/PROTOCOL.md,
 * "Errors"), all under FeedcacheError, plus three client-side classes for
 * what happens on this side of the wire (the connection, a timeout, a frame
 * that is not a response).
 *
 *   FeedcacheError                 code, message, retryAfterMs, method
 *   ├── BadRequestError            BAD_REQUEST
 *   ├── NotFoundError              NOT_FOUND
 *   ├── OverloadedError            OVERLOADED   (retryAfterMs set)
 *   ├── UnavailableError           UNAVAILABLE  (retryAfterMs set)
 *   ├── UnauthorizedError          UNAUTHORIZED
 *   ├── ForbiddenError             FORBIDDEN
 *   ├── InternalError              INTERNAL
 *   ├── ConnectionError            ECONNECTION  (client side: connect failed, connection lost or closed)
 *   ├── TimeoutError               ETIMEDOUT    (client side: no answer within timeoutMs)
 *   └── ProtocolError              EPROTO       (client side: the server sent something that is not a response)
 *
 * A code the client does not know (a newer server) gives a plain
 * FeedcacheError with that code. `fromServer` tells the two families apart:
 * the client-side codes start with E and can never be a server code.
 */

/** The error codes of the contract. */
export const ErrorCode = {
  BAD_REQUEST: "BAD_REQUEST",
  NOT_FOUND: "NOT_FOUND",
  OVERLOADED: "OVERLOADED",
  UNAVAILABLE: "UNAVAILABLE",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  INTERNAL: "INTERNAL",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes of the errors raised by the client itself. */
export const ClientErrorCode = {
  CONNECTION: "ECONNECTION",
  TIMEOUT: "ETIMEDOUT",
  PROTOCOL: "EPROTO",
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export interface FeedcacheErrorOptions {
  /** The server's retry_after_ms, when the error map has one. */
  retryAfterMs?: number | undefined;
  /** The RPC method of the call that failed. */
  method?: string | undefined;
  cause?: unknown;
}

export class FeedcacheError extends Error {
  /** The contract's code (BAD_REQUEST...), or ECONNECTION/ETIMEDOUT/EPROTO. */
  readonly code: string;
  /**
   * The server's `retry_after_ms`: set where the contract says retrying
   * makes sense (OVERLOADED, UNAVAILABLE), undefined otherwise.
   */
  readonly retryAfterMs: number | undefined;
  /** The method of the failed call, when the error belongs to one. */
  readonly method: string | undefined;
  /** True for an error map sent by feedcached, false for client-side errors. */
  readonly fromServer: boolean;

  constructor(code: string, message: string, opts: FeedcacheErrorOptions = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.retryAfterMs = opts.retryAfterMs;
    this.method = opts.method;
    this.fromServer = !code.startsWith("E");
  }
}

export class BadRequestError extends FeedcacheError {
  constructor(message: string, opts?: FeedcacheErrorOptions) {
    super(ErrorCode.BAD_REQUEST, message, opts);
  }
}
export class NotFoundError extends FeedcacheError {
  constructor(message: string, opts?: FeedcacheErrorOptions) {
    super(ErrorCode.NOT_FOUND, message, opts);
  }
}
export class OverloadedError extends FeedcacheError {
  constructor(message: string, opts?: FeedcacheErrorOptions) {
    super(ErrorCode.OVERLOADED, message, opts);
  }
}
export class UnavailableError extends FeedcacheError {
  constructor(message: string, opts?: FeedcacheErrorOptions) {
    super(ErrorCode.UNAVAILABLE, message, opts);
  }
}
export class UnauthorizedError extends FeedcacheError {
  constructor(message: string, opts?: FeedcacheErrorOptions) {
    super(ErrorCode.UNAUTHORIZED, message, opts);
  }
}
export class ForbiddenError extends FeedcacheError {
  constructor(message: string, opts?: FeedcacheErrorOptions) {
    super(ErrorCode.FORBIDDEN, message, opts);
  }
}
export class InternalError extends FeedcacheError {
  constructor(message: string, opts?: FeedcacheErrorOptions) {
    super(ErrorCode.INTERNAL, message, opts);
  }
}

/**
 * The connection could not be made, was lost, or was closed (by close(), or
 * by the server: three failed auth calls, idle_timeout...). Calls in flight
 * when it went are rejected with it; whether they took effect is unknown.
 * The client is unusable afterwards: connect a new one.
 */
export class ConnectionError extends FeedcacheError {
  constructor(message: string, opts?: FeedcacheErrorOptions) {
    super(ClientErrorCode.CONNECTION, message, opts);
  }
}

/**
 * No answer within the timeout. The connection stays usable (a late answer
 * is dropped); the call may still take effect on the server.
 */
export class TimeoutError extends FeedcacheError {
  constructor(message: string, opts?: FeedcacheErrorOptions) {
    super(ClientErrorCode.TIMEOUT, message, opts);
  }
}

/** The server sent something that is not a msgpack-RPC response; the connection is closed. */
export class ProtocolError extends FeedcacheError {
  constructor(message: string, opts?: FeedcacheErrorOptions) {
    super(ClientErrorCode.PROTOCOL, message, opts);
  }
}

type ServerErrorClass = new (message: string, opts?: FeedcacheErrorOptions) => FeedcacheError;

const BY_CODE: Record<ErrorCode, ServerErrorClass> = {
  BAD_REQUEST: BadRequestError,
  NOT_FOUND: NotFoundError,
  OVERLOADED: OverloadedError,
  UNAVAILABLE: UnavailableError,
  UNAUTHORIZED: UnauthorizedError,
  FORBIDDEN: ForbiddenError,
  INTERNAL: InternalError,
};

function text(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v instanceof Uint8Array) return Buffer.from(v).toString("utf8");
  return undefined;
}

function getKey(map: unknown, key: string): unknown {
  if (map instanceof Map) return map.get(key);
  if (map !== null && typeof map === "object") return (map as Record<string, unknown>)[key];
  return undefined;
}

/**
 * The error of a response (`{"code", "message", "retry_after_ms"?}`) as the
 * matching class. Anything else in that slot (a string, as some msgpack-RPC
 * servers send) becomes a FeedcacheError with code "UNKNOWN".
 */
export function errorFromWire(err: unknown, method?: string): FeedcacheError {
  const code = text(getKey(err, "code"));
  const message = text(getKey(err, "message")) ?? text(err) ?? "(no message)";
  const ra = getKey(err, "retry_after_ms");
  let retryAfterMs: number | undefined;
  if (typeof ra === "number" && Number.isFinite(ra)) retryAfterMs = ra;
  else if (typeof ra === "bigint") retryAfterMs = Number(ra);
  const opts = { retryAfterMs, method };
  if (code === undefined) return new FeedcacheError("UNKNOWN", message, opts);
  const cls = (BY_CODE as Record<string, ServerErrorClass | undefined>)[code];
  return cls ? new cls(message, opts) : new FeedcacheError(code, message, opts);
}
