import { Redis } from 'ioredis';
import type { Identity, Store } from 'graphql-rate-limit';

/** One counted call: the window's count including this call, and how long until the window ends. */
export interface Hit {
  count: number;
  resetInMs: number;
}

/** After a refusal: how long until the window ends, and whether this is the window's first refusal. */
export interface Refusal {
  retryAfterMs: number;
  firstInWindow: boolean;
}

/**
 * Fixed-window counters with an atomic increment: concurrent calls for one key, in one process or
 * many, each see a distinct count, so at most `max` of them can see a count within the limit.
 */
export interface CounterStore {
  hit(key: string, windowMs: number): Promise<Hit>;
  /** Marks the key's current window as refused; `firstInWindow` is true exactly once per window. */
  refuse(key: string): Promise<Refusal>;
  close(): Promise<void>;
}

/** The store key of an identity; the braces keep a counter and its refusal mark in one Redis Cluster slot. */
export function storeKey(prefix: string, identity: Identity): string {
  return `${prefix}{${identity.contextIdentity}|${identity.fieldIdentity}}`;
}

/**
 * graphql-rate-limit is handed this `max` for every field; the real limit lives in the store. The
 * library's work per call grows with the timestamps the store returns (it filters and copies them),
 * so the store answers with at most one, whatever the real limit is.
 */
export const LIBRARY_MAX = 1;

/**
 * graphql-rate-limit's Store, made atomic. The library reads the timestamps (`getForIdentity`),
 * decides `read + 1 > max`, then writes them back (`setForIdentity`): two calls that read before
 * either writes both pass, whether they are aliases in one request or requests on two servers.
 * Here the read is the write: `getForIdentity` increments the counter atomically and compares the
 * count, which no other call can share, with the real `max`. It answers with no timestamp while the
 * call is within the limit and one when it is over, and the library is given `LIBRARY_MAX`, so its
 * own comparison reproduces that verdict in constant time (an answer of `count - 1` timestamps made
 * every call cost O(max), which a raised limit turns into megabytes per request). `setForIdentity`
 * does nothing. `readOnly` and `uncountRejected` are therefore unsupported: every call counts,
 * refused ones included (the window still ends when it started, so hammering does not extend it).
 * The library's own answer, `enableBatchRequestCache`, only covers aliases sharing one context
 * object in one process; it does nothing for parallel requests or a second server.
 */
export class AtomicWindowStore implements Store {
  constructor(
    private readonly counters: CounterStore,
    private readonly prefix: string,
    private readonly windowMs: number,
    private readonly max: number,
  ) {}

  async getForIdentity(identity: Identity): Promise<readonly number[]> {
    const { count } = await this.counters.hit(storeKey(this.prefix, identity), this.windowMs);
    return count > this.max ? [Date.now()] : [];
  }

  setForIdentity(): void {
    // The count was written by getForIdentity's increment.
  }
}

/** Single-process counters (no REDIS_URL): each instance counts alone, so limits are per instance. */
export class MemoryCounterStore implements CounterStore {
  private readonly windows = new Map<string, { count: number; resetAt: number; refused: boolean }>();
  private readonly sweeper = setInterval(() => this.sweep(), 60_000).unref();

  async hit(key: string, windowMs: number): Promise<Hit> {
    // No await between read and write: the event loop makes this increment atomic.
    const now = Date.now();
    let window = this.windows.get(key);
    if (!window || window.resetAt <= now) {
      window = { count: 0, resetAt: now + windowMs, refused: false };
      this.windows.set(key, window);
    }
    window.count += 1;
    return { count: window.count, resetInMs: window.resetAt - now };
  }

  async refuse(key: string): Promise<Refusal> {
    const now = Date.now();
    const window = this.windows.get(key);
    if (!window || window.resetAt <= now) return { retryAfterMs: 0, firstInWindow: false };
    const firstInWindow = !window.refused;
    window.refused = true;
    return { retryAfterMs: window.resetAt - now, firstInWindow };
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.windows.clear();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key);
  }
}

// INCR and PEXPIRE in one script: Redis runs it without interleaving any other command. A counter
// without an expiry (left by a crash of an older writer) gets one too, so a key never locks forever.
const HIT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { count, ttl }`;

// The refusal mark lives exactly as long as the counter's window, and SET NX succeeds once in it.
const REFUSE = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return { 0, 0 } end
if redis.call('SET', KEYS[2], '1', 'PX', ttl, 'NX') then return { ttl, 1 } end
return { ttl, 0 }`;

interface RateLimitCommands {
  rateLimitHit(key: string, windowMs: number): Promise<[number, number]>;
  rateLimitRefuse(key: string, mark: string): Promise<[number, number]>;
}

/** Where the shared counters live; `onError` hears connection errors (ioredis reports each reconnect attempt). */
export interface RedisStoreOptions {
  url: string;
  password?: string;
  onError(error: Error): void;
}

/** Counters shared by every instance through Redis; commands time out quickly so a field can fail open or closed. */
export class RedisCounterStore implements CounterStore {
  private readonly redis: Redis & RateLimitCommands;

  constructor(options: RedisStoreOptions) {
    // Values in the URL win over these options (ioredis), so a password in REDIS_URL is used as given.
    // Connecting on first use keeps CLI commands, which build the same services, off Redis.
    const redis = new Redis(options.url, {
      password: options.password,
      lazyConnect: true,
      // A store that does not answer within a second counts as down (fail open or closed per field). Lower
      // values turn event-loop lag under load into false refusals of fail-closed fields.
      commandTimeout: 1000,
      connectTimeout: 2000,
      // After a failed connection the old socket never reports "close", so ioredis would wait this long on close().
      disconnectTimeout: 200,
      maxRetriesPerRequest: 1,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    });
    redis.on('error', options.onError);
    redis.defineCommand('rateLimitHit', { numberOfKeys: 1, lua: HIT });
    redis.defineCommand('rateLimitRefuse', { numberOfKeys: 2, lua: REFUSE });
    this.redis = redis as Redis & RateLimitCommands;
  }

  async hit(key: string, windowMs: number): Promise<Hit> {
    this.assertReachable();
    const [count, ttl] = await this.redis.rateLimitHit(key, windowMs);
    return { count, resetInMs: ttl };
  }

  async refuse(key: string): Promise<Refusal> {
    this.assertReachable();
    const [ttl, first] = await this.redis.rateLimitRefuse(key, `${key}:refused`);
    return { retryAfterMs: ttl, firstInWindow: first === 1 };
  }

  /**
   * Between reconnection attempts a command would wait in ioredis's offline queue until the
   * timeout: answer at once instead, so an outage costs a fail-open field no latency.
   */
  private assertReachable(): void {
    const status = this.redis.status;
    if (status === 'reconnecting' || status === 'close' || status === 'end')
      throw new Error(`Redis connection is ${status}`);
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
