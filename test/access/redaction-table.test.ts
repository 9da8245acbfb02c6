import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { REDACTION_TABLE_END, REDACTION_TABLE_START, renderRedactionTable } from '../../src/phi/redaction.table';

const README = join(__dirname, '..', '..', 'README.md');

/** The text between the README's markers, without the markers and surrounding blank lines. */
function readmeTable(): string {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf(REDACTION_TABLE_START);
  const end = text.indexOf(REDACTION_TABLE_END);
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  expect(text.indexOf(REDACTION_TABLE_START, start + 1)).toBe(-1);
  return text.slice(start + REDACTION_TABLE_START.length, end).trim();
}

describe('the redaction table in README.md', () => {
  it('is exactly the table rendered from REDACTION_POLICY (regenerate it with renderRedactionTable)', () => {
    expect(readmeTable()).toBe(renderRedactionTable());
  });

  it('renders every role of the contract and every PHI category, each cell FULL, PARTIAL or NONE', () => {
    const [header, rule, ...rows] = renderRedactionTable().split('\n');

    expect(header).toBe('| role | IDENTIFIER | CONTACT | DEMOGRAPHIC | CLINICAL | FINANCIAL |');
    expect(rule).toBe('|---|---|---|---|---|---|');
    expect(rows.map((row) => row.split('|')[1].trim())).toEqual([
      'ADMIN',
      'PHYSICIAN',
      'NURSE',
      'RECEPTIONIST',
      'BILLING',
      'AUDITOR',
      'PRIVACY_OFFICER',
      'INTEGRATOR',
      'PATIENT',
    ]);
    for (const row of rows) {
      const cells = row.split('|').slice(2, -1);
      expect(cells).toHaveLength(5);
      for (const cell of cells) expect(cell).toMatch(/^ (FULL|PARTIAL|NONE) $/);
    }
  });
});
