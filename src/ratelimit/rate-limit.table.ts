import { RATE_LIMITS } from './rate-limit.limits';

/** Markers around the generated table in README.md. */
export const RATE_LIMIT_TABLE_START = '<!-- rate-limit-table:start -->';
export const RATE_LIMIT_TABLE_END = '<!-- rate-limit-table:end -->';

const PER: Record<string, string> = {
  ip: 'client address',
  user: 'signed-in user',
  account: 'account (email)',
  challenge: 'account (MFA challenge)',
};

/** The limits table as Markdown, one row per limit, so the README shows exactly what the rules enforce. */
export function renderRateLimitTable(): string {
  const lines = ['| field | limit | max | window | per | store down |', '|---|---|---|---|---|---|'];
  for (const spec of RATE_LIMITS) {
    const down = spec.whenStoreDown === 'closed' ? 'fail closed' : 'fail open';
    lines.push(`| \`${spec.field}\` | \`${spec.id}\` | ${spec.max} | ${spec.window} | ${PER[spec.per]} | ${down} |`);
  }
  return lines.join('\n');
}
