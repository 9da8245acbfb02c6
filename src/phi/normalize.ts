import type { BlindIndexNormalizer } from './phi.types';

/**
 * Canonical forms for exact-match search: the blind index is computed over these, so a search
 * typed as `123 45 6789` or `Jane.Doe@Example.org ` finds what was stored as `123-45-6789`.
 */
export function normalizeForIndex(normalizer: BlindIndexNormalizer, value: string): string {
  switch (normalizer) {
    case 'ssn':
      return value.replace(/[\s-]/g, '');
    case 'email':
      return value.trim().toLowerCase();
    case 'phone':
      return value.replace(/[\s\-().]/g, '');
    case 'mrn':
      return value.replace(/[\s-]/g, '').toUpperCase();
    case 'name':
      return value.normalize('NFKC').trim().replace(/\s+/g, ' ').toLowerCase();
    case 'date':
      return value.trim();
  }
}
