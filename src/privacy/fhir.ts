import type { ConsentExport, PatientExport } from './export.service';

/** Identifier systems and code systems of the FHIR R4 export. */
export const FHIR_SYSTEMS = {
  mrn: 'urn:hms:fhir:identifier:mrn',
  insuranceMemberId: 'urn:hms:fhir:identifier:insurance-member-id',
  ssn: 'http://hl7.org/fhir/sid/us-ssn',
  icd10: 'http://hl7.org/fhir/sid/icd-10-cm',
  actCode: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
  actReason: 'http://terminology.hl7.org/CodeSystem/v3-ActReason',
  consentScope: 'http://terminology.hl7.org/CodeSystem/consentscope',
  loinc: 'http://loinc.org',
  consentType: 'urn:hms:fhir:CodeSystem:consent-type',
  consentPolicy: 'urn:hms:fhir:consent-policy:',
} as const;

type Resource = Record<string, unknown> & { resourceType: string; id: string };

const GENDER: Record<string, string> = { FEMALE: 'female', MALE: 'male', OTHER: 'other', UNKNOWN: 'unknown' };

// HL7 v3 ActCode information-sensitivity codes for the encounter labels.
const SENSITIVITY: Record<string, { code: string; display: string }> = {
  MENTAL_HEALTH: { code: 'PSY', display: 'psychiatry disorder information sensitivity' },
  SUBSTANCE_USE: { code: 'ETH', display: 'substance abuse information sensitivity' },
  HIV: { code: 'HIV', display: 'HIV/AIDS information sensitivity' },
  GENETIC: { code: 'GDIS', display: 'genetic disease information sensitivity' },
  REPRODUCTIVE: { code: 'SEX', display: 'sexuality and reproductive health information sensitivity' },
};

const CONSENT_SCOPE: Record<string, string> = {
  TREATMENT: 'treatment',
  RESEARCH: 'research',
  MARKETING: 'patient-privacy',
  DATA_SHARING: 'patient-privacy',
  SENSITIVE_DATA: 'patient-privacy',
};

// HL7 v3 ActReason purposes of use, where one fits the consent type.
const CONSENT_PURPOSE: Record<string, string | undefined> = {
  TREATMENT: 'TREAT',
  RESEARCH: 'HRESCH',
  MARKETING: 'HMARKT',
};

const urn = (id: string) => `urn:uuid:${id}`;

function patientResource(p: PatientExport['patient']): Resource {
  const identifier: { use: string; system: string; value: string }[] = [
    { use: 'usual', system: FHIR_SYSTEMS.mrn, value: p.mrn },
  ];
  if (p.ssn) identifier.push({ use: 'official', system: FHIR_SYSTEMS.ssn, value: p.ssn });
  if (p.insuranceMemberId) {
    identifier.push({ use: 'secondary', system: FHIR_SYSTEMS.insuranceMemberId, value: p.insuranceMemberId });
  }
  const telecom = [
    ...(p.phone ? [{ system: 'phone', value: p.phone }] : []),
    ...(p.email ? [{ system: 'email', value: p.email }] : []),
  ];
  const a = p.address;
  const address = a
    ? [
        Object.fromEntries(
          Object.entries({
            line: a.line1 ? [a.line1] : undefined,
            city: a.city ?? undefined,
            postalCode: a.postalCode ?? undefined,
            country: a.country ?? undefined,
          }).filter(([, v]) => v !== undefined),
        ),
      ]
    : [];
  return {
    resourceType: 'Patient',
    id: p.id,
    identifier,
    name: [{ use: 'official', family: p.lastName, given: [p.firstName] }],
    gender: GENDER[p.sex] ?? 'unknown',
    birthDate: p.dateOfBirth,
    ...(telecom.length ? { telecom } : {}),
    ...(address.length && Object.keys(address[0]).length ? { address } : {}),
  };
}

/** Free-text notes are not carried: no R4 Encounter element holds them; they are in the JSON export. */
function encounterResource(e: PatientExport['encounters'][number], patientId: string): Resource {
  const subject = { reference: urn(patientId) };
  const label = e.sensitivity ? SENSITIVITY[e.sensitivity] : undefined;
  // R4 Encounter.diagnosis references a Condition; each ICD-10 code is a contained Condition.
  const contained = e.diagnosisCodes.map((code, i) => ({
    resourceType: 'Condition',
    id: `dx${i + 1}`,
    code: { coding: [{ system: FHIR_SYSTEMS.icd10, code }] },
    subject,
  }));
  return {
    resourceType: 'Encounter',
    id: e.id,
    ...(label ? { meta: { security: [{ system: FHIR_SYSTEMS.actCode, ...label }] } } : {}),
    ...(contained.length ? { contained } : {}),
    status: 'finished',
    class: { system: FHIR_SYSTEMS.actCode, code: 'AMB', display: 'ambulatory' },
    subject,
    period: { start: e.startedAt },
    reasonCode: [{ text: e.reason }],
    ...(contained.length
      ? { diagnosis: contained.map((c, i) => ({ condition: { reference: `#${c.id}` }, rank: i + 1 })) }
      : {}),
  };
}

function consentResource(c: ConsentExport, current: boolean, patientId: string): Resource {
  const purpose = CONSENT_PURPOSE[c.type];
  return {
    resourceType: 'Consent',
    id: c.id,
    status: c.given && current ? 'active' : 'inactive',
    scope: { coding: [{ system: FHIR_SYSTEMS.consentScope, code: CONSENT_SCOPE[c.type] ?? 'patient-privacy' }] },
    category: [
      { coding: [{ system: FHIR_SYSTEMS.loinc, code: '59284-0', display: 'Patient Consent' }] },
      { coding: [{ system: FHIR_SYSTEMS.consentType, code: c.type }] },
    ],
    patient: { reference: urn(patientId) },
    dateTime: c.at,
    ...(c.policyVersion ? { policy: [{ uri: `${FHIR_SYSTEMS.consentPolicy}${c.policyVersion}` }] } : {}),
    policyRule: { coding: [{ system: FHIR_SYSTEMS.actCode, code: c.given ? 'OPTIN' : 'OPTOUT' }] },
    provision: {
      type: c.given ? 'permit' : 'deny',
      ...(purpose ? { purpose: [{ system: FHIR_SYSTEMS.actReason, code: purpose }] } : {}),
    },
  };
}

/**
 * The export as a FHIR R4 Bundle of type `collection`: one Patient, its Encounters and one Consent per
 * consent record (the newest grant of a type `active`, every other record `inactive`). Entries are
 * addressed by `urn:uuid:` full URLs and reference each other by them.
 */
export function toFhirBundle(doc: PatientExport, bundleId: string): Resource {
  const newestOfType = new Map<string, string>();
  for (const c of doc.consents.history) newestOfType.set(c.type, c.id);
  const resources: Resource[] = [
    patientResource(doc.patient),
    ...doc.encounters.map((e) => encounterResource(e, doc.patient.id)),
    ...doc.consents.history.map((c) => consentResource(c, newestOfType.get(c.type) === c.id, doc.patient.id)),
  ];
  return {
    resourceType: 'Bundle',
    id: bundleId,
    meta: { lastUpdated: doc.generatedAt },
    type: 'collection',
    timestamp: doc.generatedAt,
    entry: resources.map((resource) => ({ fullUrl: urn(resource.id), resource })),
  };
}

/** A JSON Schema document, as shipped in schema/fhir (the subset `validateJson` understands). */
export type JsonSchema = Record<string, unknown>;

/**
 * Checks `value` against a schema from `schemas` (keyed by file name, e.g. `Bundle.schema.json`) and
 * returns every violation as `path: message`; empty when valid. Understands the subset the shipped
 * FHIR schemas use: type, properties, required, additionalProperties: false, items, minItems,
 * maxItems, enum, const, pattern, minLength, minimum, oneOf, anyOf and $ref (`#/$defs/X` or `File.schema.json#/$defs/X`).
 */
export function validateJson(value: unknown, file: string, schemas: Record<string, JsonSchema>): string[] {
  const errors: string[] = [];
  const resolve = (ref: string, base: string): [JsonSchema, string] => {
    const [target, pointer = ''] = ref.split('#');
    const doc = target ? target : base;
    let node: unknown = schemas[doc];
    if (node === undefined) throw new Error(`unknown schema ${doc}`);
    for (const part of pointer.split('/').filter(Boolean)) node = (node as Record<string, unknown>)[part];
    if (node === undefined) throw new Error(`unresolved $ref ${ref}`);
    return [node as JsonSchema, doc];
  };
  const typeOf = (v: unknown): string =>
    v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v;

  const check = (v: unknown, schema: JsonSchema, base: string, path: string, out: string[]): void => {
    if (typeof schema.$ref === 'string') {
      const [target, doc] = resolve(schema.$ref, base);
      check(v, target, doc, path, out);
    }
    if (Array.isArray(schema.oneOf)) {
      const passing = (schema.oneOf as JsonSchema[]).filter((option) => {
        const inner: string[] = [];
        check(v, option, base, path, inner);
        return inner.length === 0;
      });
      if (passing.length !== 1) out.push(`${path}: matches ${passing.length} of the allowed shapes, not exactly one`);
    }
    if (Array.isArray(schema.anyOf)) {
      const passes = (option: JsonSchema) => {
        const inner: string[] = [];
        check(v, option, base, path, inner);
        return inner.length === 0;
      };
      if (!(schema.anyOf as JsonSchema[]).some(passes)) out.push(`${path}: matches none of the allowed shapes`);
    }
    const actual = typeOf(v);
    if (typeof schema.type === 'string') {
      const ok = schema.type === actual || (schema.type === 'number' && actual === 'integer');
      if (!ok) {
        out.push(`${path}: expected ${schema.type}, got ${actual}`);
        return;
      }
    }
    if ('const' in schema && v !== schema.const) out.push(`${path}: must be ${JSON.stringify(schema.const)}`);
    if (Array.isArray(schema.enum) && !schema.enum.includes(v)) {
      out.push(`${path}: must be one of ${schema.enum.join(', ')}`);
    }
    if (typeof v === 'string') {
      if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(v)) {
        out.push(`${path}: does not match ${schema.pattern}`);
      }
      if (typeof schema.minLength === 'number' && v.length < schema.minLength) out.push(`${path}: too short`);
    }
    if (typeof v === 'number' && typeof schema.minimum === 'number' && v < schema.minimum) {
      out.push(`${path}: below ${schema.minimum}`);
    }
    if (Array.isArray(v)) {
      if (typeof schema.minItems === 'number' && v.length < schema.minItems) {
        out.push(`${path}: at least ${schema.minItems} item(s)`);
      }
      if (typeof schema.maxItems === 'number' && v.length > schema.maxItems) {
        out.push(`${path}: at most ${schema.maxItems} item(s)`);
      }
      if (schema.items) v.forEach((item, i) => check(item, schema.items as JsonSchema, base, `${path}[${i}]`, out));
    }
    if (actual === 'object') {
      const obj = v as Record<string, unknown>;
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      for (const name of (schema.required ?? []) as string[]) {
        if (obj[name] === undefined) out.push(`${path}.${name}: required`);
      }
      for (const [name, child] of Object.entries(obj)) {
        if (properties[name]) check(child, properties[name], base, `${path}.${name}`, out);
        else if (schema.additionalProperties === false) out.push(`${path}.${name}: not allowed here`);
      }
    }
  };

  check(value, resolve('#', file)[0], file, '$', errors);
  return errors;
}
