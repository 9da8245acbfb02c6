import type { GraphQLResolveInfo } from 'graphql';
import { getGraphQLRateLimiter, InMemoryStore, type Store } from 'graphql-rate-limit';
import { Redis } from 'ioredis';

import { RATE_LIMITS, scaledMax, windowMs } from '../../src/ratelimit/rate-limit.limits';
import {
  AtomicWindowStore,
  LIBRARY_MAX,
  MemoryCounterStore,
  RedisCounterStore,
  storeKey,
  type CounterStore,
} from '../../src/ratelimit/rate-limit.store';
import { clientBucket } from '../../src/ratelimit/rate-limit.subject';
import { describeWithRedis, flushPrefix, REDIS_URL, uniquePrefix } from './rate-limit-support';

const info = { fieldName: 'login' } as GraphQLResolveInfo;
const prefix = uniquePrefix('store');
const opened: CounterStore[] = [];

function redisStore(): RedisCounterStore {
  const store = new RedisCounterStore({ url: REDIS_URL, onError: () => undefined });
  opened.push(store);
  return store;
}

/** How many of `calls` parallel calls graphql-rate-limit lets through with `stores`, the library being given `max`. */
async function passing(stores: Store[], calls: number, max: number, identity = `id-${Math.random()}`): Promise<number> {
  const results = await Promise.all(
    Array.from({ length: calls }, (_, i) => {
      const limiter = getGraphQLRateLimiter({ store: stores[i % stores.length], identifyContext: () => identity });
      return limiter({ parent: null, args: {}, context: {}, info }, { max, window: '1m' });
    }),
  );
  return results.filter((refused) => refused === undefined).length;
}

afterAll(async () => {
  for (const store of opened) await store.close();
  if (process.env.REDIS_URL) await flushPrefix(prefix);
});

describe('counting with graphql-rate-limit', () => {
  it("lets parallel calls past the limit with the library's own store (the read-then-write trap this store exists for)", async () => {
    expect(await passing([new InMemoryStore()], 10, 5)).toBe(10);
  });

  it('lets exactly max of many parallel calls through with the atomic in-process store', async () => {
    const counters = new MemoryCounterStore();
    opened.push(counters);

    expect(await passing([new AtomicWindowStore(counters, prefix, 60_000, 5)], 40, LIBRARY_MAX)).toBe(5);
  });

  it('answers the library with at most one timestamp however high the limit, refusing exactly past max', async () => {
    const counters = new MemoryCounterStore();
    opened.push(counters);
    const store = new AtomicWindowStore(counters, prefix, 60_000, 3);
    const identity = { contextIdentity: `size-${Math.random()}`, fieldIdentity: 'login' };
    const answers: number[] = [];
    for (let i = 0; i < 5; i += 1) answers.push((await store.getForIdentity(identity)).length);
    const raised = new AtomicWindowStore(counters, prefix, 60_000, 50_000_000);
    const busy = { contextIdentity: `busy-${Math.random()}`, fieldIdentity: 'login' };
    for (let i = 0; i < 999; i += 1) await raised.getForIdentity(busy);

    expect(answers).toEqual([0, 0, 0, 1, 1]);
    expect(await raised.getForIdentity(busy)).toEqual([]);
  });

  (process.env.REDIS_URL ? it : it.skip)(
    'lets exactly max through when the calls are spread over two Redis connections (two servers)',
    async () => {
      const stores = [redisStore(), redisStore()].map((counters) => new AtomicWindowStore(counters, prefix, 60_000, 5));

      expect(await passing(stores, 50, LIBRARY_MAX)).toBe(5);
    },
  );

  it('hands the store the same window the table parses, for every limit', async () => {
    const seen: number[] = [];
    const spy: Store = {
      getForIdentity: () => [],
      setForIdentity: (_identity, _timestamps, ms) => void seen.push(ms ?? -1),
    };
    for (const spec of RATE_LIMITS) {
      const limiter = getGraphQLRateLimiter({ store: spy, identifyContext: () => 'x' });
      await limiter({ parent: null, args: {}, context: {}, info }, { max: spec.max, window: spec.window });
    }

    expect(seen).toEqual(RATE_LIMITS.map((spec) => windowMs(spec.window)));
  });
});

const backends: [string, () => CounterStore][] = [['in-process', () => new MemoryCounterStore()]];
if (process.env.REDIS_URL) backends.push(['Redis', () => redisStore()]);

describe.each(backends)('%s counters', (_name, make) => {
  let counters: CounterStore;
  beforeAll(() => {
    counters = make();
    opened.push(counters);
  });
  const key = (tag: string): string => storeKey(prefix, { contextIdentity: tag, fieldIdentity: `f${Math.random()}` });

  it('give every one of many parallel hits its own count', async () => {
    const k = key('distinct');
    const hits = await Promise.all(Array.from({ length: 60 }, () => counters.hit(k, 60_000)));

    expect(hits.map((hit) => hit.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    for (const hit of hits) expect(hit.resetInMs).toBeGreaterThan(0);
    for (const hit of hits) expect(hit.resetInMs).toBeLessThanOrEqual(60_000);
  });

  it('start a new window when the old one ends, without extending it on later hits', async () => {
    const k = key('window');
    await counters.hit(k, 150);
    await new Promise((resolve) => setTimeout(resolve, 80));
    const late = await counters.hit(k, 150);
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(late.count).toBe(2);
    expect((await counters.hit(k, 150)).count).toBe(1);
  });

  it('report the first refusal of a window exactly once, however many arrive together', async () => {
    const k = key('refusal');
    await counters.hit(k, 60_000);
    const refusals = await Promise.all(Array.from({ length: 20 }, () => counters.refuse(k)));

    expect(refusals.filter((r) => r.firstInWindow)).toHaveLength(1);
    for (const r of refusals) expect(r.retryAfterMs).toBeGreaterThan(0);
    for (const r of refusals) expect(r.retryAfterMs).toBeLessThanOrEqual(60_000);
  });
});

describeWithRedis('Redis counters', () => {
  it('give a counter left without an expiry one, so no key locks forever', async () => {
    const raw = new Redis(REDIS_URL);
    const k = storeKey(prefix, { contextIdentity: 'orphan', fieldIdentity: 'login' });
    await raw.set(k, '3');
    const hit = await redisStore().hit(k, 60_000);
    const ttl = await raw.pttl(k);
    raw.disconnect();

    expect(hit.count).toBe(4);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('fail within about a second when Redis is unreachable', async () => {
    const down = new RedisCounterStore({ url: 'redis://127.0.0.1:1', onError: () => undefined });
    opened.push(down);
    const started = Date.now();

    await expect(down.hit('k', 1000)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('limits and subjects', () => {
  it('scale max by the multiplier and never below one call', () => {
    const login = RATE_LIMITS.find((spec) => spec.id === 'login.ip')!;

    expect(scaledMax(login, 1)).toBe(5);
    expect(scaledMax(login, 1000)).toBe(5000);
    expect(scaledMax(login, 0.01)).toBe(1);
  });

  it('count IPv4 per address, mapped IPv4 as IPv4, IPv6 per /64', () => {
    expect(clientBucket('198.51.100.7')).toBe('198.51.100.7');
    expect(clientBucket('::ffff:198.51.100.7')).toBe('198.51.100.7');
    expect(clientBucket('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientBucket('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(clientBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientBucket('::1')).toBe('0:0:0:0::/64');
    expect(clientBucket('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientBucket('')).toBe('unknown');
  });

  it('reject a window the store could not parse', () => {
    expect(() => windowMs('1 minute')).toThrow();
    expect(windowMs('15m')).toBe(900_000);
  });
});
