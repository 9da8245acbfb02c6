import { isUuid, timeOrderedUuid } from '../../src/db/ids';

describe('time-ordered ids (UUID version 7)', () => {
  it('are UUIDs of version 7 and the RFC variant, carrying the time in their first 48 bits', () => {
    const now = Date.UTC(2026, 11, 4, 12, 30, 15, 123);
    const id = timeOrderedUuid(now);

    expect(isUuid(id)).toBe(true);
    expect(id[14]).toBe('7');
    expect(['8', '9', 'a', 'b']).toContain(id[19]);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(now);
  });

  it('sort by time, as PostgreSQL compares uuids (byte by byte), whatever their random part', () => {
    const start = Date.now();
    const ids = Array.from({ length: 50 }, (_, i) => timeOrderedUuid(start + i));

    expect([...ids].sort()).toEqual(ids);
  });

  it('do not repeat, across many refills of the random pool, within one millisecond', () => {
    const now = Date.now();
    const ids = new Set(Array.from({ length: 20_000 }, () => timeOrderedUuid(now)));

    expect(ids.size).toBe(20_000);
  });
});
