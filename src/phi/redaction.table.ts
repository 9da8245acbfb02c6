import { ROLES } from '../config/roles';
import { PhiCategory } from './phi.types';
import { REDACTION_POLICY } from './redaction.policy';

/** Markers around the generated table in README.md. */
export const REDACTION_TABLE_START = '<!-- redaction-table:start -->';
export const REDACTION_TABLE_END = '<!-- redaction-table:end -->';

/**
 * The redaction policy as a Markdown table, one row per role in the contract's order and one
 * column per PHI category, so the README shows exactly what the code enforces.
 */
export function renderRedactionTable(): string {
  const categories = Object.values(PhiCategory);
  const lines = [`| role | ${categories.join(' | ')} |`, `|---|${categories.map(() => '---|').join('')}`];
  for (const role of ROLES) {
    lines.push(`| ${role} | ${categories.map((category) => REDACTION_POLICY[role][category]).join(' | ')} |`);
  }
  return lines.join('\n');
}
