import { badUserInput } from '../graphql/errors';

/** Card brands the API accepts, by the number's issuer prefix (IIN). */
export type CardBrand = 'visa' | 'mastercard' | 'amex' | 'discover' | 'diners' | 'jcb' | 'unionpay';

/** The card data of one `tokenizeCard` call. It lives only for that call: never stored, logged or echoed. */
export interface CardData {
  number: string;
  expMonth: number;
  expYear: number;
  cvc: string;
}

interface BrandRule {
  brand: CardBrand;
  prefix: RegExp;
  lengths: number[];
  cvcLength: number;
}

// Issuer prefixes and lengths as the networks publish them; a number matching none is refused.
const BRANDS: BrandRule[] = [
  { brand: 'amex', prefix: /^3[47]/, lengths: [15], cvcLength: 4 },
  { brand: 'diners', prefix: /^3(?:0[0-5]|[689])/, lengths: [14, 16, 17, 18, 19], cvcLength: 3 },
  { brand: 'jcb', prefix: /^35(?:2[89]|[3-8])/, lengths: [16, 17, 18, 19], cvcLength: 3 },
  { brand: 'visa', prefix: /^4/, lengths: [13, 16, 19], cvcLength: 3 },
  { brand: 'mastercard', prefix: /^(?:5[1-5]|2(?:2[2-9]|[3-6]|7[01]|720))/, lengths: [16], cvcLength: 3 },
  { brand: 'discover', prefix: /^(?:6011|64[4-9]|65)/, lengths: [16, 17, 18, 19], cvcLength: 3 },
  { brand: 'unionpay', prefix: /^62/, lengths: [16, 17, 18, 19], cvcLength: 3 },
];

/** The Luhn (mod 10) check digit test over a string of digits. */
export function luhnValid(digits: string): boolean {
  if (!/^[0-9]+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** The brand of a card number by its prefix and length, or undefined. */
export function cardBrand(digits: string): CardBrand | undefined {
  return BRANDS.find((rule) => rule.prefix.test(digits) && rule.lengths.includes(digits.length))?.brand;
}

// A number written in groups, as printed on cards: 4-4-4-(1..7) or 4-6-(4..5), one separator throughout, and not
// part of a longer token (a UUID's 4-digit groups sit between hex characters and dashes, so they do not count).
const GROUPED =
  /(?<![0-9A-Za-z-])(?:[0-9]{4}([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{1,7}|[0-9]{4}([ -])[0-9]{6}\2[0-9]{4,5})(?![0-9A-Za-z])/g;

/**
 * Whether text holds something that could be a card number: 13 to 19 digits in a row passing the Luhn
 * check (any window of a longer run), or a Luhn-valid number written in card-style groups. Used to keep
 * card numbers out of free-text columns; the tests use it to scan rows and logs.
 */
export function containsCardNumber(text: string): boolean {
  for (const match of text.matchAll(/[0-9]{13,}/g)) {
    const digits = match[0];
    for (let length = 13; length <= 19; length++) {
      for (let start = 0; start + length <= digits.length; start++) {
        if (luhnValid(digits.slice(start, start + length))) return true;
      }
    }
  }
  for (const match of text.matchAll(GROUPED)) {
    const digits = match[0].replace(/[ -]/g, '');
    if (digits.length >= 13 && digits.length <= 19 && luhnValid(digits)) return true;
  }
  return false;
}

/**
 * Validates card data before it goes to the processor: number (digits, length, brand, Luhn), expiry
 * (a real month, not in the past, at most 20 years ahead) and security code (length for the brand).
 * Errors name the field, never its value. Spaces and dashes in the number are accepted and removed.
 */
export function validateCard(card: CardData, now = new Date()): CardData & { brand: CardBrand } {
  const number = typeof card.number === 'string' ? card.number.replace(/[ -]/g, '') : '';
  if (!/^[0-9]{12,19}$/.test(number)) throw badUserInput('Card number must be 12 to 19 digits', 'number');
  const rule = BRANDS.find((r) => r.prefix.test(number));
  if (!rule) throw badUserInput('Card brand is not accepted', 'number');
  if (!rule.lengths.includes(number.length))
    throw badUserInput('Card number has the wrong length for its brand', 'number');
  if (!luhnValid(number)) throw badUserInput('Card number is not valid', 'number');

  if (!Number.isInteger(card.expMonth) || card.expMonth < 1 || card.expMonth > 12)
    throw badUserInput('Expiry month must be 1 to 12', 'expMonth');
  const year = card.expYear < 100 ? 2000 + card.expYear : card.expYear;
  const thisYear = now.getUTCFullYear();
  if (!Number.isInteger(year) || year > thisYear + 20 || year < 2000)
    throw badUserInput('Expiry year is not valid', 'expYear');
  if (year < thisYear || (year === thisYear && card.expMonth < now.getUTCMonth() + 1))
    throw badUserInput('Card has expired', 'expYear');

  const cvc = typeof card.cvc === 'string' ? card.cvc : '';
  if (!new RegExp(`^[0-9]{${rule.cvcLength}}$`).test(cvc))
    throw badUserInput(`Security code must be ${rule.cvcLength} digits for this card`, 'cvc');

  return { number, expMonth: card.expMonth, expYear: year, cvc, brand: rule.brand };
}
