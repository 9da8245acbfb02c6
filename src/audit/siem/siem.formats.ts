import { hostname } from 'node:os';

import type { SiemSeverity, SiemStream } from './siem.outbox';

/** An outbox row as the exporter reads it: what every format is built from. */
export interface OutboxEvent {
  /** Outbox position, increasing within a stream (the SIEM may check order with it). */
  sequence: string;
  id: string;
  stream: SiemStream;
  eventType: string;
  severity: SiemSeverity;
  at: Date;
  actorId: string | null;
  patientId: string | null;
  details: Record<string, unknown>;
}

/**
 * The JSON document for one event: `{ id, event_type, severity, source: "HMS", timestamp, details }`, plus
 * `stream`, `sequence`, `actor_id` and `patient_id` (opaque ids, null when none).
 */
export function toJsonEvent(event: OutboxEvent): Record<string, unknown> {
  return {
    id: event.id,
    event_type: event.eventType,
    severity: event.severity,
    source: 'HMS',
    timestamp: event.at.toISOString(),
    stream: event.stream,
    sequence: event.sequence,
    actor_id: event.actorId,
    patient_id: event.patientId,
    details: event.details,
  };
}

const OCSF_SEVERITY: Record<SiemSeverity, { id: number; name: string }> = {
  INFO: { id: 1, name: 'Informational' },
  LOW: { id: 2, name: 'Low' },
  MEDIUM: { id: 3, name: 'Medium' },
  HIGH: { id: 4, name: 'High' },
  CRITICAL: { id: 5, name: 'Critical' },
};

/** Sign-in outcomes: OCSF "Authentication" (3002, Logon failed). Every other event is a "Detection Finding" (2004). */
export const OCSF_AUTHENTICATION_EVENTS = new Set(['SIGN_IN_FAILED', 'ACCOUNT_LOCKED', 'MFA_FAILED']);

/**
 * The OCSF 1.1 form. Mapping: sign-in failures and lockouts are class Authentication (3002, category 3 Identity &
 * Access Management, activity 1 Logon, status 2 Failure, `user.uid` the account); every other event, checkpoints
 * included, is a Detection Finding (2004, category 2 Findings, activity 1 Create) with `finding_info.uid` the event
 * id, `finding_info.title` and `types` the event type, and `actor.user.uid` the actor. In both, `metadata.uid` is
 * the event id (the de-duplication key), `severity_id` maps INFO..CRITICAL to 1..5, `time` is epoch milliseconds,
 * and the patient id and details go in `unmapped`.
 */
export function toOcsfEvent(event: OutboxEvent): Record<string, unknown> {
  const severity = OCSF_SEVERITY[event.severity] ?? { id: 99, name: 'Other' };
  const time = event.at.getTime();
  const base = {
    activity_id: 1,
    severity_id: severity.id,
    severity: severity.name,
    time,
    message: event.eventType,
    metadata: {
      version: '1.1.0',
      uid: event.id,
      product: { name: 'HMS', vendor_name: 'HMS' },
      log_name: event.stream,
      sequence: Number(event.sequence),
    },
    unmapped: { event_type: event.eventType, patient_id: event.patientId, details: event.details },
  };
  if (OCSF_AUTHENTICATION_EVENTS.has(event.eventType)) {
    return {
      ...base,
      class_uid: 3002,
      class_name: 'Authentication',
      category_uid: 3,
      category_name: 'Identity & Access Management',
      type_uid: 300201,
      activity_name: 'Logon',
      status_id: 2,
      status: 'Failure',
      user: { uid: event.actorId },
    };
  }
  return {
    ...base,
    class_uid: 2004,
    class_name: 'Detection Finding',
    category_uid: 2,
    category_name: 'Findings',
    type_uid: 200401,
    activity_name: 'Create',
    finding_info: { uid: event.id, title: event.eventType, types: [event.eventType], created_time: time },
    ...(event.actorId ? { actor: { user: { uid: event.actorId } } } : {}),
  };
}

/** CEF header fields: backslash and pipe escaped; line breaks, which the header may not hold, become spaces. */
export function cefHeaderEscape(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/[\r\n]+/g, ' ');
}

/** CEF extension values: backslash and equals escaped, line breaks written as \n and \r. */
export function cefExtensionEscape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

const CEF_SEVERITY: Record<SiemSeverity, number> = { INFO: 1, LOW: 3, MEDIUM: 5, HIGH: 8, CRITICAL: 10 };

/**
 * One CEF:0 record. Extensions: `rt` (epoch ms), `externalId` (event id), `suid` (actor), `cs1` patientId,
 * `cs2` stream, `cn1` sequence, `msg` the details as JSON.
 */
export function toCef(event: OutboxEvent): string {
  const header = [
    'CEF:0',
    'HMS',
    'HMS API',
    '1.0',
    cefHeaderEscape(event.eventType),
    cefHeaderEscape(event.eventType),
    String(CEF_SEVERITY[event.severity] ?? 5),
  ].join('|');
  const ext: [string, string][] = [
    ['rt', String(event.at.getTime())],
    ['externalId', event.id],
    ...(event.actorId ? ([['suid', event.actorId]] as [string, string][]) : []),
    ...(event.patientId
      ? ([
          ['cs1Label', 'patientId'],
          ['cs1', event.patientId],
        ] as [string, string][])
      : []),
    ['cs2Label', 'stream'],
    ['cs2', event.stream],
    ['cn1Label', 'sequence'],
    ['cn1', event.sequence],
    ['msg', JSON.stringify(event.details)],
  ];
  return `${header}|${ext.map(([k, v]) => `${k}=${cefExtensionEscape(v)}`).join(' ')}`;
}

/** RFC 5424 severity by event severity, under facility 13 (log audit). */
const SYSLOG_SEVERITY: Record<SiemSeverity, number> = { INFO: 6, LOW: 5, MEDIUM: 4, HIGH: 3, CRITICAL: 2 };
const FACILITY_LOG_AUDIT = 13;
const HOST = (hostname().replace(/[^\x21-\x7e]/g, '') || '-').slice(0, 255);

/** An RFC 5424 syslog message carrying one CEF record. */
export function toSyslogMessage(event: OutboxEvent): string {
  const pri = FACILITY_LOG_AUDIT * 8 + (SYSLOG_SEVERITY[event.severity] ?? 5);
  const msgId = event.eventType.replace(/[^\x21-\x7e]/g, '').slice(0, 32) || '-';
  return `<${pri}>1 ${event.at.toISOString()} ${HOST} hms-api ${process.pid} ${msgId} - ${toCef(event)}`;
}

export type SyslogFraming = 'octet' | 'newline';

/** TCP framing (RFC 6587): octet counting (`LEN SP MSG`) or a trailing line feed (CEF escaping keeps MSG on one line). */
export function frameSyslog(message: string, framing: SyslogFraming): string {
  return framing === 'octet' ? `${Buffer.byteLength(message, 'utf8')} ${message}` : `${message}\n`;
}
