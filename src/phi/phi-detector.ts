/**
 * The PHI detector for free text that is not stored as PHI (invoice lines, display names, filters, keys): every
 * pattern it knows is in this file. It answers with the kinds it found, never with the matched text, so a caller
 * cannot echo a value by accident.
 *
 * Blind spots (it is a screen, not a proof): names alone, addresses, diagnoses in words, SSNs written without
 * separators and without an "SSN" label, card numbers glued to further digits, national phone formats other than
 * the North American and the trunk-prefixed European ones, birth dates of children under one year next to a name
 * (only a "DOB"/"born" label catches those), and anything spelled out, encoded or split across fields. The
 * authoritative control is that PHI goes only into fields marked `@phi`, which are sealed at rest.
 */

// Every pattern runs over untrusted text up to the body limit: each is written so that a failed match backtracks
// linearly (no two adjacent quantifiers that can take the same characters, bounded repetition, lookbehind-anchored
// starts), and a test times hostile inputs. eslint-plugin-security's unsafe-regex warnings here were checked so.

/** What the detector can find; a refusal names these, never the value. */
export type PhiHitKind = 'SSN' | 'CARD_NUMBER' | 'PHONE' | 'EMAIL' | 'MRN' | 'DOB_WITH_NAME';

/** Options for tests: the clock that decides whether a date is old enough to be a birth date. */
export interface DetectOptions {
  now?: Date;
}

// US social security number: area 001-665, 667-899 (never 000, 666 or 9xx), group 01-99, serial 0001-9999; the
// same separator twice. A bare nine-digit run counts only after an "SSN" label.
const SSN = /(?<![0-9A-Za-z-])(?!000|666|9[0-9]{2})[0-9]{3}([- ])(?!00)[0-9]{2}\1(?!0000)[0-9]{4}(?![0-9A-Za-z-])/;
const SSN_LABELLED = /\b(?:SSN|social security(?: number| no\.?)?)\s*(?:[:#]\s*)?(?!000|666|9[0-9]{2})[0-9]{9}\b/i;

// Runs of digit groups separated by one space or dash, not inside a longer token (a UUID's groups sit between hex
// letters, an invoice number's after a dash-joined prefix).
const DIGIT_RUN = /(?<![0-9A-Za-z])[0-9]+(?:[ -][0-9]+)*(?![0-9A-Za-z])/g;

// An address is looked for around each `@` (a scan from every position would be quadratic on long text).
const EMAIL_LOCAL_END = /[A-Za-z0-9._%+-]/;
const EMAIL_DOMAIN = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;

const PHONE_PATTERNS = [
  // E.164, optionally grouped: +14155550123, +44 20 7946 0958, +49 (30) 1234567.
  /(?<![0-9A-Za-z+])\+[1-9](?:[ .()-]{0,2}[0-9]){7,14}(?![0-9])/,
  // North American: (415) 555-0123, 415-555-0123, 415.555.0123, 415 555 0123.
  /(?<![0-9A-Za-z-])(?:\([0-9]{3}\) ?|[0-9]{3}[-. ])[0-9]{3}[-. ][0-9]{4}(?![0-9A-Za-z-])/,
  // Trunk-prefixed European: 020 7946 0958, 030 1234567, 0151-12345678.
  /(?<![0-9A-Za-z-])0[1-9][0-9]{1,3}[ /-][0-9]{3,4}[ -]?[0-9]{2,4}(?![0-9A-Za-z-])/,
  // Any number after a phone label.
  /\b(?:phone|tel|telephone|mobile|cell|fax)\b\.?\s*(?:[:#]\s*)?\+?[0-9][0-9 ().-]{5,}[0-9]/i,
];

// The MRNs this system assigns (MRN + nine digits), and any id with a digit after a medical-record label.
const MRN = /\bMRN-?[0-9]{6,10}\b/i;
const MRN_LABELLED =
  /\b(?:MRN|medical\s+record(?:\s+(?:number|no\.?|#))?)\s*(?:[:#.-]\s*)?(?=[A-Z0-9-]*[0-9])[A-Z0-9][A-Z0-9-]{3,19}\b/i;

const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\\.?';
// Calendar dates: ISO (not inside a time stamp), day/month/year with / . or -, and written months.
const DATE = new RegExp(
  [
    '\\b(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])\\b(?!T|:)',
    '\\b[0-9]{1,2}[./-][0-9]{1,2}[./-](?:19|20)[0-9]{2}\\b',
    `\\b[0-9]{1,2}\\s+${MONTH}\\s+(?:19|20)[0-9]{2}\\b`,
    `\\b${MONTH}\\s+[0-9]{1,2},?\\s+(?:19|20)[0-9]{2}\\b`,
  ].join('|'),
  'gi',
);
const DOB_LABEL = /\b(?:DOB|D\.O\.B|born|birthday|birthdate|date of birth|geb|geboren)(?![A-Za-z])/gi;
// Two or more capitalised words in a row (Jane Doe, Mary Ann Smith), or "Doe, Jane".
const NAME = /\b[A-Z][a-z'’-]+(?:,?\s+[A-Z][a-z'’-]+)+\b/g;
// Capitalised words that are not names: a name needs two capitalised words outside this list.
const NOT_NAMES = new Set(
  (
    'january february march april may june july august september october november december ' +
    'monday tuesday wednesday thursday friday saturday sunday jan feb mar apr jun jul aug sep sept oct nov dec ' +
    'invoice service services consultation consult fee fees visit follow up lab laboratory test tests room ward ' +
    'outpatient inpatient emergency surgery therapy session physiotherapy radiology imaging blood panel annual ' +
    'checkup check review payment refund policy version audit report export the and for of on at to in with by ' +
    'from dr mr mrs ms department clinic hospital care unit night day team general practice'
  ).split(' '),
);
// Words (and, first, characters) between a date and a name or label within which they are "next to" each other.
const NEAR_WORDS = 3;
const NEAR_CHARS = 80;
// Dates, labels and names looked at per value: pairing them is quadratic, and real free text has a handful.
const MAX_SPANS = 200;

/** The Luhn (mod 10) check over a string of digits. */
function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1 && (d *= 2) > 9) d -= 9;
    sum += d;
  }
  return sum % 10 === 0;
}

/** Whether `lengths` (digits per group) is how card numbers are written: one block, 4-4-4-(1..7) or 4-6-(4..5). */
function cardShaped(lengths: number[]): boolean {
  const [a, b, c, d] = lengths;
  if (lengths.length === 1) return a >= 13 && a <= 19;
  if (lengths.length === 4) return a === 4 && b === 4 && c === 4 && d >= 1 && d <= 7;
  return lengths.length === 3 && a === 4 && b === 6 && (c === 4 || c === 5);
}

/**
 * A Luhn-valid 13-19 digit number, written as one block or in card-style groups with one separator throughout,
 * anywhere in a run of digit groups ("ref 12 4242 4242 4242 4242" counts; a list of dates or codes does not).
 */
function hasCardNumber(text: string): boolean {
  for (const match of text.matchAll(DIGIT_RUN)) {
    const groups = match[0].split(/[ -]/);
    const separators = match[0].replace(/[0-9]/g, '');
    for (let first = 0; first < groups.length; first++) {
      for (const count of [1, 3, 4]) {
        const part = groups.slice(first, first + count);
        if (part.length !== count || new Set(separators.slice(first, first + count - 1)).size > 1) continue;
        if (cardShaped(part.map((g) => g.length)) && luhnValid(part.join(''))) return true;
      }
    }
  }
  return false;
}

interface Span {
  start: number;
  end: number;
}

function spans(pattern: RegExp, text: string, keep: (m: RegExpMatchArray) => boolean = () => true): Span[] {
  const found: Span[] = [];
  for (const m of text.matchAll(pattern)) {
    if (keep(m)) found.push({ start: m.index!, end: m.index! + m[0].length });
    if (found.length >= MAX_SPANS) break;
  }
  return found;
}

/** Whether two spans are at most NEAR_WORDS words apart. */
function near(a: Span, b: Span, text: string): boolean {
  const [from, to] = a.end <= b.start ? [a.end, b.start] : b.end <= a.start ? [b.end, a.start] : [0, 0];
  if (to - from > NEAR_CHARS) return false;
  return (
    text
      .slice(from, to)
      .split(/\s+/)
      .filter((w) => /[A-Za-z0-9]/.test(w)).length <= NEAR_WORDS
  );
}

/** The year of a date match: every DATE form holds one four-digit year. */
function yearOf(date: string): number {
  return Number(/\b(?:19|20)[0-9]{2}\b/.exec(date)?.[0]);
}

function hasEmail(text: string): boolean {
  for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', at + 1)) {
    if (at > 0 && EMAIL_LOCAL_END.test(text[at - 1]) && EMAIL_DOMAIN.test(text.slice(at + 1, at + 256))) return true;
  }
  return false;
}

function isName(candidate: string): boolean {
  const words = candidate.split(/[,\s]+/).filter(Boolean);
  return words.filter((w) => !NOT_NAMES.has(w.toLowerCase())).length >= 2;
}

/**
 * A date next to a birth-date label (any date), or next to a name-like pair of capitalised words (a date at least a
 * year old, so that a service date written after a service's name does not count).
 */
function hasDobWithName(text: string, now: Date): boolean {
  const dates = spans(DATE, text);
  if (dates.length === 0) return false;
  const labels = spans(DOB_LABEL, text);
  if (dates.some((d) => labels.some((l) => near(d, l, text)))) return true;
  const oldEnough = dates.filter((d) => yearOf(text.slice(d.start, d.end)) <= now.getUTCFullYear() - 1);
  if (oldEnough.length === 0) return false;
  const names = spans(NAME, text, (m) => isName(m[0]));
  return oldEnough.some((d) => names.some((n) => near(d, n, text)));
}

/** The kinds of PHI found in `text`, in a fixed order; empty when none. Never returns or logs the text. */
export function detectPhi(text: string, options: DetectOptions = {}): PhiHitKind[] {
  const kinds: PhiHitKind[] = [];
  if (text.length < 5) return kinds;
  if (SSN.test(text) || SSN_LABELLED.test(text)) kinds.push('SSN');
  if (hasCardNumber(text)) kinds.push('CARD_NUMBER');
  if (PHONE_PATTERNS.some((p) => p.test(text))) kinds.push('PHONE');
  if (hasEmail(text)) kinds.push('EMAIL');
  if (MRN.test(text) || MRN_LABELLED.test(text)) kinds.push('MRN');
  if (hasDobWithName(text, options.now ?? new Date())) kinds.push('DOB_WITH_NAME');
  return kinds;
}
