import { detectPhi, type PhiHitKind } from '../../src/phi/phi-detector';

// A fixed clock: "a year old" below means before 2026.
const now = new Date('2026-12-04T12:00:00Z');
const kinds = (text: string) => detectPhi(text, { now });

const POSITIVE: Record<PhiHitKind, string[]> = {
  SSN: ['123-45-6789', 'patient 123 45 6789 seen', 'ssn:078051120', 'Social security number 219099999'],
  CARD_NUMBER: [
    '4242424242424242',
    'card 4111 1111 1111 1111 used',
    '5555-5555-5555-4444',
    'ref 12 4242 4242 4242 4242',
    '378282246310005',
  ],
  PHONE: ['+14155550123', 'call +44 20 7946 0958', '(415) 555-0123', '415-555-0123', '030 1234567', 'tel: 5550123'],
  EMAIL: ['jane.doe@example.org', 'write to j.o+hms@mail.example.co.uk please'],
  MRN: ['MRN000123456', 'mrn-123456789', 'MRN: A12-3456', 'medical record number 98765X'],
  DOB_WITH_NAME: [
    'Jane Doe 1980-04-12',
    'Doe, Jane born 12/04/1980',
    'DOB 2026-03-01',
    'date of birth: 4 Dec 1975',
    'Mary Ann Smith, December 4, 1975',
  ],
};

describe('the PHI detector', () => {
  for (const [kind, examples] of Object.entries(POSITIVE)) {
    it.each(examples)(`finds ${kind} in %j`, (text) => {
      expect(kinds(text)).toContain(kind);
    });
  }

  it.each([
    ['invoice numbers', 'INV-2026-000123'],
    ['ICD-10 codes', 'J45.909'],
    ['ICD-10 codes in a list', 'Z88.0, E11.65, J45.909'],
    ['dates alone', '2026-12-04'],
    ['a service date after a service name', 'Physiotherapy Session 2026-11-02'],
    ['amounts', '1,234.56'],
    ['amounts with a currency', 'EUR 120.00'],
    ['large amounts', 'USD 1 234 567.89'],
    ['UUIDs', '123e4567-e89b-12d3-a456-426614174000'],
    ['UUIDs of digits', '12345678-1234-1234-1234-123456789012'],
    ['ISO time stamps', '2026-12-04T10:20:30.123Z'],
    ['short numbers', '42'],
    ['a nine-digit number without label', 'Order 123456789'],
    ['SSNs with a never-issued area', '000-12-3456 666-12-3456 912-34-5678'],
    ['SSNs with group 00 or serial 0000', '123-00-4567 123-45-0000'],
    ['a 16-digit number that fails the Luhn check', '4242424242424241'],
    ['an idempotency key', 'pay-7f0c3a52-9b1e-4c55-8d3a-2f7f8a1e9b10'],
    ['a policy version', 'v2026.1-rc_3'],
    ['an audit action', 'patient.read'],
    ['a display name', 'Dr. Ada Lovelace'],
    ['a medical record request without an id', 'medical record request'],
    ['an address-like @ without a domain', 'meet @ 10'],
    ['a price-list line', 'Consultation Fee, 45 minutes, room 12'],
  ])('does not fire on %s (%j)', (_what, text) => {
    expect(kinds(text)).toEqual([]);
  });

  it('answers kinds only, each once, in a fixed order', () => {
    expect(kinds('jane@example.org, 123-45-6789, again 123-45-6789 and +14155550123')).toEqual([
      'SSN',
      'PHONE',
      'EMAIL',
    ]);
  });

  it('needs the birth date to be a year old when only a name is near, but not after a DOB label', () => {
    expect(kinds('Jane Doe 2026-06-01')).toEqual([]);
    expect(kinds('Jane Doe DOB 2026-06-01')).toEqual(['DOB_WITH_NAME']);
    expect(kinds('Jane Doe, admitted on Monday and discharged later, 1980-04-12')).toEqual([]);
  });

  it('stays fast on long hostile input', () => {
    const hostile = [
      'a'.repeat(100_000) + '@',
      'x@a1.'.repeat(20_000),
      '1 '.repeat(50_000),
      '1'.repeat(100_000) + 'a',
      `SSN${' '.repeat(100_000)}x`,
      `MRN${' '.repeat(100_000)}x`,
      `tel${' '.repeat(100_000)}x`,
      'Jane Doe 1980-01-01 '.repeat(5_000),
      'Aa-'.repeat(30_000),
    ];
    const started = process.hrtime.bigint();
    for (const text of hostile) detectPhi(text, { now });
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(2_000);
  });
});
