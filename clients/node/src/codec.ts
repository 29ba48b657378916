/**
 * Integers between JavaScript and the wire.
 *
 * The codec runs with useBigInt64: a bigint is sent as a msgpack int64 or
 * uint64, and a msgpack int64/uint64 arrives as a bigint. feedcached (like
 * most msgpack encoders) packs every integer in its smallest form, so a
 * small id arrives as a plain number and a large one as a bigint: the
 * result normalisers below give each field one type (ids: bigint; other
 * integers: number, unless one ever passes 2^53).
 *
 * Outgoing: with useBigInt64 @msgpack/msgpack would send a number beyond
 * 32 bits as a float64, which the contract refuses for integers ("floats are
 * not integers"); toWire turns such numbers into bigints first, and refuses
 * integers past 2^53 given as numbers (their last digits are already lost).
 */
import { Decoder, Encoder } from "@msgpack/msgpack";

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

export function makeEncoder(): Encoder {
  return new Encoder({ useBigInt64: true, ignoreUndefined: true });
}

export function makeDecoder(): Decoder {
  return new Decoder({ useBigInt64: true });
}

function wireInt(v: number, path: string): number | bigint {
  if (!Number.isSafeInteger(v)) {
    throw new RangeError(
      `${path}: ${v} is beyond Number.MAX_SAFE_INTEGER and has lost precision; pass a bigint`,
    );
  }
  // int32/uint32 go out as they are; wider ones as int64 (not float64).
  return v >= -0x80000000 && v <= 0xffffffff ? v : BigInt(v);
}

/**
 * A copy of v ready for the encoder: integer numbers outside 32 bits become
 * bigints, unsafe integer numbers and out-of-range bigints throw RangeError,
 * keys whose value is undefined are dropped (the contract reads nil and an
 * absent key alike).
 */
export function toWire(v: unknown, path = "params"): unknown {
  switch (typeof v) {
    case "number":
      return Number.isInteger(v) ? wireInt(v, path) : v;
    case "bigint":
      if (v < INT64_MIN || v > UINT64_MAX) {
        throw new RangeError(`${path}: ${v} does not fit in 64 bits`);
      }
      return v;
    case "object":
      if (v === null || v instanceof Uint8Array) return v;
      if (Array.isArray(v)) return v.map((x, i) => toWire(x, `${path}[${i}]`));
      if (v instanceof Map) {
        const out = new Map<unknown, unknown>();
        for (const [k, x] of v) if (x !== undefined) out.set(k, toWire(x, `${path}.${String(k)}`));
        return out;
      }
      {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) {
          if (x !== undefined) out[k] = toWire(x, path === "params" ? k : `${path}.${k}`);
        }
        return out;
      }
    default:
      return v;
  }
}

/** A non-id integer: a number, or a bigint when it does not fit one exactly. */
export function num(v: unknown): number {
  if (typeof v === "bigint") {
    return (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v) as unknown as number;
  }
  return v as number;
}

export function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

/** An id: always a bigint. */
export function id(v: unknown): bigint {
  if (typeof v === "bigint") return v;
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  throw new TypeError(`expected an integer id, got ${typeof v}`);
}

export function idOrNull(v: unknown): bigint | null {
  return v === null || v === undefined ? null : id(v);
}

export function str(v: unknown): string {
  if (v instanceof Uint8Array) return Buffer.from(v).toString("utf8");
  return v as string;
}

export function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : str(v);
}

/** Non-id integers to numbers, everywhere in v (for results without ids). */
export function plain(v: unknown): unknown {
  if (typeof v === "bigint") return num(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object" && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new TypeError(`${what}: expected a map`);
  }
  return v as Record<string, unknown>;
}

/** A post of timeline.get: ids as bigint, created_at as number, other keys kept. */
export function post(v: unknown): Record<string, unknown> {
  const o = asObject(v, "post");
  const out: Record<string, unknown> = { ...(plain(o) as Record<string, unknown>) };
  out.id = id(o.id);
  out.author_id = id(o.author_id);
  out.created_at = num(o.created_at);
  if ("body" in o) out.body = str(o.body);
  return out;
}

export function timelinePage(v: unknown): Record<string, unknown> {
  const o = asObject(v, "timeline.get result");
  const out = plain(o) as Record<string, unknown>;
  out.posts = (Array.isArray(o.posts) ? o.posts : []).map(post);
  out.next_cursor = strOrNull(o.next_cursor);
  return out;
}

export function deadLetter(v: unknown): Record<string, unknown> {
  const o = asObject(v, "dead letter");
  const out = plain(o) as Record<string, unknown>;
  out.id = str(o.id);
  out.job = strOrNull(o.job);
  out.type = strOrNull(o.type);
  out.post = idOrNull(o.post);
  out.author = idOrNull(o.author);
  out.attempts = numOrNull(o.attempts);
  out.reason = strOrNull(o.reason);
  out.at_ms = numOrNull(o.at_ms);
  return out;
}

export function deadLetters(v: unknown): Record<string, unknown> {
  const o = asObject(v, "fanout.dead_letters result");
  const out = plain(o) as Record<string, unknown>;
  out.dead_letters = (Array.isArray(o.dead_letters) ? o.dead_letters : []).map(deadLetter);
  out.next = strOrNull(o.next);
  return out;
}
