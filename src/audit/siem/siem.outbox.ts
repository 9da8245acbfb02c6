import { isIP } from 'node:net';
import type { EntityManager } from '@mikro-orm/postgresql';

import { allPhiFields } from '../../phi/phi.decorator';

/** The producing streams; order is kept within a stream, never across streams. */
export const SIEM_STREAMS = ['security', 'checkpoint'] as const;
export type SiemStream = (typeof SIEM_STREAMS)[number];

export type SiemSeverity = 'INFO' | 'LOW' | 'MEDIUM' | 'HIGH' | 'CRITICAL';

/** An event for the SIEM: ids and codes only. `id` is stable, so the SIEM can drop a redelivered copy. */
export interface SiemEvent {
  id: string;
  stream: SiemStream;
  eventType: string;
  severity: SiemSeverity;
  /** When the event happened; the insert's clock_timestamp() when omitted. */
  at?: Date;
  actorId?: string | null;
  patientId?: string | null;
  details?: Record<string, unknown>;
}

const enqueueListeners = new Set<() => void>();

/** Called after each enqueue in this process, so that a local exporter wakes early. Returns an unsubscribe. */
export function onSiemEnqueued(listener: () => void): () => void {
  enqueueListeners.add(listener);
  return () => enqueueListeners.delete(listener);
}

/**
 * Puts an event in the outbox in `em`'s transaction (the caller's, when there is one): it is exported if and only
 * if that transaction commits. Enqueueing the same event id twice keeps the first. Details are checked by
 * `sanitizeSiemDetails` first. Never waits for the SIEM.
 */
export async function enqueueSiem(em: EntityManager, event: SiemEvent): Promise<void> {
  const { details } = sanitizeSiemDetails(event.details ?? {});
  await em.execute(
    `INSERT INTO siem_outbox (stream, event_id, event_type, severity, at, actor_id, patient_id, details, created_at)
     VALUES (?, ?, ?, ?, coalesce(?::timestamptz, clock_timestamp()), ?, ?, ?::jsonb, clock_timestamp())
     ON CONFLICT (event_id) DO NOTHING`,
    [
      event.stream,
      event.id,
      event.eventType,
      event.severity,
      event.at ?? null,
      event.actorId ?? null,
      event.patientId ?? null,
      JSON.stringify(details),
    ],
  );
  // The row becomes visible at commit, which may come later: the exporter's poll covers a wake that came too early.
  for (const listener of enqueueListeners) listener();
}

/** Placeholder for a detail value that is not an id or a code. */
export const REDACTED = '[redacted]';

/** Keys that name personal data or secrets: their values never leave, whatever they look like. */
const SENSITIVE_KEYS = new Set(
  [
    'name',
    'firstName',
    'lastName',
    'fullName',
    'displayName',
    'email',
    'phone',
    'ssn',
    'mrn',
    'address',
    'dateOfBirth',
    'dob',
    'notes',
    'reason',
    'diagnosisCodes',
    'insuranceMemberId',
    'password',
    'token',
    'accessToken',
    'refreshToken',
    'secret',
    'number',
    'cvc',
    'pan',
    'key',
  ].map((k) => k.toLowerCase()),
);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A code or a prefixed id: starts with a letter, no spaces, no `@`, short (BREAK_GLASS, Mutation.login, user:<uuid>). */
const CODE = /^[A-Za-z][A-Za-z0-9_.:/-]{0,127}$/;
/** A short code that starts with a digit but holds a letter: a window such as `15m`, never a bare number string. */
const SHORT_CODE = /^(?=.*[A-Za-z])[0-9][A-Za-z0-9_.-]{0,7}$/;
/** A hash, signature or public key: long base64url or hex (an SSN, phone or card number is far shorter). */
const DIGEST = /^[A-Za-z0-9_-]{40,512}$/;
/** A UTC time stamp as toISOString writes it. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$/;
/** Keys whose values are counters written as digit strings (bigint sequence numbers and row counts). */
const COUNTER_KEY = /^(?:seq|sequence|count|[a-z][A-Za-z]*Count)$/;
const MAX_DEPTH = 4;

/** The stream an event type belongs to: checkpoints have their own, so that security events never wait on them. */
export function siemStreamOf(eventType: string): SiemStream {
  return eventType === 'AUDIT_CHECKPOINT' ? 'checkpoint' : 'security';
}

/**
 * The guard on what reaches the SIEM: keeps uuids, codes, IP addresses, UTC time stamps, digests and signatures,
 * booleans, small numbers and digit strings under counter keys (`seq`, `rowCount`), and replaces anything else
 * (free text, e-mail addresses, digit strings such as an SSN, phone or card number, values under a key that names
 * PHI) with `[redacted]`, returning the redacted paths (never the values).
 * Blind spots: a code-shaped value under a neutral key (an MRN written `MRN-0042`, a birth date written as a full
 * time stamp) passes. The authoritative rule is that producers pass ids and codes only; the tests check producers.
 */
export function sanitizeSiemDetails(input: Record<string, unknown>): {
  details: Record<string, unknown>;
  redacted: string[];
} {
  const redacted: string[] = [];
  const visit = (value: unknown, path: string, depth: number, key = ''): unknown => {
    if (value === null || typeof value === 'boolean') return value;
    if (typeof value === 'number') {
      if (Number.isFinite(value) && Math.abs(value) < 1e9) return value;
    } else if (typeof value === 'string') {
      if (value === '' || UUID.test(value) || CODE.test(value) || isIP(value) !== 0) return value;
      if (SHORT_CODE.test(value) || DIGEST.test(value) || TIMESTAMP.test(value)) return value;
      if (COUNTER_KEY.test(key) && /^\d{1,19}$/.test(value)) return value;
    } else if (Array.isArray(value) && depth < MAX_DEPTH) {
      return value.slice(0, 100).map((item, i) => visit(item, `${path}[${i}]`, depth + 1));
    } else if (typeof value === 'object' && value !== undefined && depth < MAX_DEPTH) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        const at = path ? `${path}.${key}` : key;
        if (!CODE.test(key) || isSensitiveKey(key)) {
          redacted.push(at);
          out[CODE.test(key) ? key : `key${Object.keys(out).length}`] = REDACTED;
        } else {
          out[key] = visit(item, at, depth + 1, key);
        }
      }
      return out;
    }
    redacted.push(path);
    return REDACTED;
  };
  const details = visit(input, '', 0) as Record<string, unknown>;
  return { details, redacted };
}

function isSensitiveKey(key: string): boolean {
  const lowered = key.toLowerCase();
  if (SENSITIVE_KEYS.has(lowered)) return true;
  return allPhiFields().some((field) => field.property.toLowerCase() === lowered);
}
