import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isObjectType } from 'graphql';

import { ruleTree } from '../../src/access/permissions';
import { buildAppSchema, printAppSchema } from '../../src/graphql/schema';
import { RATE_LIMITS } from '../../src/ratelimit/rate-limit.limits';
import { limitsInRule } from '../../src/ratelimit/rate-limit.rules';
import {
  RATE_LIMIT_TABLE_END,
  RATE_LIMIT_TABLE_START,
  renderRateLimitTable,
} from '../../src/ratelimit/rate-limit.table';

const README = join(__dirname, '..', '..', 'README.md');

/** The text between the README's markers, without the markers and surrounding blank lines. */
function readmeTable(): string {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf(RATE_LIMIT_TABLE_START);
  const end = text.indexOf(RATE_LIMIT_TABLE_END);
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return text.slice(start + RATE_LIMIT_TABLE_START.length, end).trim();
}

/** Table fields the schema has now (requestDataExport and tokenizeCard join when they land). */
async function fieldsInSchema(): Promise<Set<string>> {
  const schema = await buildAppSchema();
  const present = new Set<string>();
  for (const spec of RATE_LIMITS) {
    const [typeName, fieldName] = spec.field.split('.');
    const type = schema.getType(typeName);
    if (isObjectType(type) && type.getFields()[fieldName]) present.add(spec.field);
  }
  return present;
}

describe('the limits table', () => {
  it('is exactly the table in README.md (regenerate it with renderRateLimitTable)', () => {
    expect(readmeTable()).toBe(renderRateLimitTable());
  });

  it('holds at least the defaults the issue asks for', () => {
    const byId = Object.fromEntries(RATE_LIMITS.map((spec) => [spec.id, spec]));

    expect(byId['login.ip']).toMatchObject({ max: 5, window: '1m', per: 'ip', whenStoreDown: 'closed' });
    expect(byId['login.account']).toMatchObject({ max: 5, window: '15m', per: 'account', whenStoreDown: 'closed' });
    expect(byId['verifyMfa.account']).toMatchObject({ per: 'challenge', whenStoreDown: 'closed' });
    expect(byId['refreshSession.ip']).toMatchObject({ whenStoreDown: 'closed' });
    expect(byId['patients.user']).toMatchObject({ window: '1m', per: 'user', whenStoreDown: 'open' });
    expect(byId['findPatients.user']).toMatchObject({ per: 'user' });
    expect(byId['breakGlass.user']).toBeDefined();
    expect(byId['requestDataExport.user']).toMatchObject({ whenStoreDown: 'closed' });
    expect(byId['tokenizeCard.user']).toMatchObject({ whenStoreDown: 'closed' });
  });

  it("is enforced by every listed field's shield rule, once per limit, for each field the schema has", async () => {
    const tree = ruleTree();
    const present = await fieldsInSchema();

    for (const field of present) {
      const [typeName, fieldName] = field.split('.');
      const applied = limitsInRule(tree[typeName]?.[fieldName]).map((spec) => spec.id);
      expect({ field, applied }).toEqual({
        field,
        applied: RATE_LIMITS.filter((s) => s.field === field).map((s) => s.id),
      });
    }
    for (const field of [
      'Mutation.login',
      'Mutation.verifyMfa',
      'Mutation.refreshSession',
      'Query.patients',
      'Query.findPatients',
    ]) {
      expect(present.has(field)).toBe(true);
    }
  });

  it('is applied by no rule to a field it does not list', () => {
    const tree = ruleTree();
    for (const [typeName, fields] of Object.entries(tree)) {
      for (const [fieldName, entry] of Object.entries(fields)) {
        for (const spec of limitsInRule(entry)) expect(spec.field).toBe(`${typeName}.${fieldName}`);
      }
    }
  });

  it('shows in the emitted SDL as @rateLimit on each field, with the directive declared', async () => {
    const sdl = await printAppSchema();
    const present = await fieldsInSchema();

    expect(sdl).toContain(
      'directive @rateLimit(max: Int!, per: String!, window: String!) repeatable on FIELD_DEFINITION',
    );
    for (const spec of RATE_LIMITS.filter((s) => present.has(s.field))) {
      const [typeName, fieldName] = spec.field.split('.');
      const block = sdl.slice(sdl.indexOf(`type ${typeName} {`), sdl.indexOf('\n}', sdl.indexOf(`type ${typeName} {`)));
      const line = block.split('\n').find((l) => l.startsWith(`  ${fieldName}(`) || l.startsWith(`  ${fieldName}:`));
      expect(line).toContain(`@rateLimit(max: ${spec.max}, window: "${spec.window}", per: "${spec.per}")`);
    }
  });
});
