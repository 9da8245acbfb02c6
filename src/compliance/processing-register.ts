import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Config } from '../config/config';
import { ENTITIES } from '../db/entities';
import { phiFieldsOf } from '../phi/phi.decorator';
import { PhiCategory } from '../phi/phi.types';
import { REDACTION_POLICY } from '../phi/redaction.policy';
import { retentionPolicy } from '../privacy/retention.policy';

/**
 * GDPR Art. 30 record of processing activities, generated from the code on every report: the data categories
 * from the PHI marks, the purposes of use the audit trail names, the recipients from the redaction policy, the
 * processors from the configuration and the retention periods from the retention policy. What the code cannot
 * know (controller and DPO contacts, third-country transfers) is listed as missing, not invented.
 */
export interface ProcessingRegister {
  dataSubjects: string[];
  categories: { category: string; fields: string[]; recipients: string[] }[];
  sealedPersonalData: { field: string; reason: string }[];
  purposes: { purpose: string; description: string; source: string }[];
  processors: { role: string; processor: string }[];
  retention: { category: string; period: string; basis: string }[];
  missing: string[];
}

/** Purposes of use as the audit trail records them; a purpose found in the code without a line here says so. */
const PURPOSE_DESCRIPTIONS: Record<string, string> = {
  TREATMENT: 'care of the patient by their care team',
  EMERGENCY: 'break-glass access to a patient outside the care team',
  OPERATIONS: 'hospital operations: registration, administration, front desk',
  PAYMENT: 'invoicing and card payments',
  DATA_SHARING: 'sharing with integrators under the patient’s DATA_SHARING consent',
  SELF_ACCESS: 'the patient reading their own data',
  PRIVACY: 'handling data-subject requests and consents by the privacy office',
  RESEARCH: 'de-identified research dataset under the patient’s RESEARCH consent',
};

const PURPOSE_IN_CODE = [
  /export type Purpose = ([^;]+);/g,
  /allowed\(\s*'[^']+',\s*[^,()]+,\s*'([A-Z_]+)'/g,
  /purpose:\s*'([A-Z_]+)'/g,
  /PURPOSE\s*=\s*'([A-Z_]+)'/g,
];

/** Purposes of use written in the source under src/ (the `Purpose` type and literal purposes of audit rows). */
export function purposesInCode(root: string): string[] {
  const found = new Set<string>();
  const visit = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith('.ts')) {
        const source = readFileSync(path, 'utf8');
        for (const pattern of PURPOSE_IN_CODE) {
          for (const match of source.matchAll(pattern)) {
            for (const literal of match[1].matchAll(/'?([A-Z][A-Z_]+)'?/g)) found.add(literal[1]);
          }
        }
      }
    }
  };
  visit(join(root, 'src'));
  return [...found].sort();
}

/** The register for one deployment's configuration; `observedPurposes` are those in its audit trail. */
export function buildProcessingRegister(
  root: string,
  config: Pick<Config, 'retention' | 'billing' | 'siem'>,
  observedPurposes: readonly string[] = [],
): ProcessingRegister {
  const marked = ENTITIES.flatMap((entity) => phiFieldsOf(entity.name));
  const inCode = purposesInCode(root);
  const purposes = [...new Set([...inCode, ...observedPurposes])].sort().map((purpose) => ({
    purpose,
    description: PURPOSE_DESCRIPTIONS[purpose] ?? 'no description in the register: add one to processing-register.ts',
    source: [inCode.includes(purpose) && 'code', observedPurposes.includes(purpose) && 'audit trail']
      .filter(Boolean)
      .join(', '),
  }));
  const policy = retentionPolicy(config);
  return {
    dataSubjects: ['patients', 'staff and patient accounts (users)'],
    categories: Object.values(PhiCategory).map((category) => ({
      category,
      fields: marked.filter((f) => f.category === category).map((f) => `${f.entity}.${f.property}`),
      recipients: Object.entries(REDACTION_POLICY)
        .filter(([, row]) => row[category] !== 'NONE')
        .map(([role, row]) => (row[category] === 'FULL' ? role : `${role} (partial)`)),
    })),
    sealedPersonalData: marked
      .filter((f) => !f.category)
      .map((f) => ({ field: `${f.entity}.${f.property}`, reason: f.sealedReason ?? '' })),
    purposes,
    processors: [
      {
        role: 'payment processor',
        processor:
          config.billing.processor === 'stripe'
            ? `Stripe (${new URL(config.billing.stripeApiUrl ?? 'https://api.stripe.com').host}): card data at tokenization, charges and refunds`
            : 'none: the in-process sandbox (refused in production)',
      },
      {
        role: 'SIEM',
        processor:
          [
            config.siem.endpoint && `HTTP ${new URL(config.siem.endpoint).host}`,
            config.siem.syslog && `syslog ${new URL(config.siem.syslog.url).host}`,
          ]
            .filter(Boolean)
            .join(', ') || 'none configured: security events stay in the outbox',
      },
    ],
    retention: [
      ...[policy.medicalRecord, policy.hipaaDocumentation, policy.billingRecord, policy.auditTrail].map((r) => ({
        category: r.category,
        period: `${r.years} years from ${r.from}`,
        basis: r.reason,
      })),
      {
        category: 'SECURITY_EVENTS',
        period: `${policy.securityEventDays} days`,
        basis: 'RETENTION_SECURITY_EVENT_DAYS',
      },
      {
        category: 'ENDED_SESSIONS',
        period: `${policy.sessionDays} days after their end`,
        basis: 'RETENTION_SESSION_DAYS',
      },
    ],
    missing: [
      'name and contact details of the controller, its representative and the data protection officer (Art. 30(1)(a))',
      'transfers to third countries and their safeguards (Art. 30(1)(e))',
      'organisational security measures (Art. 30(1)(g)); the technical ones are the controls of this report',
    ],
  };
}
