import type { EntityManager } from '@mikro-orm/postgresql';

import { ConsentType } from '../consent/consent.entity';
import type { ConsentService } from '../consent/consent.service';
import type { PhiVault } from '../keys/phi-vault';
import { Patient, type Sex } from '../patients/patient.entity';
import type { PatientService } from '../patients/patient.service';
import type { ResearchDataset, ResearchRecord } from './research.types';
import * as safeHarbor from './safe-harbor';

/** The method label a dataset carries. */
export const RESEARCH_METHOD = 'HIPAA Safe Harbor, 45 CFR 164.514(b)(2)';

/** The fields a research export reads from each patient, as audit rows name them (never values). */
export const RESEARCH_FIELDS = [
  'dateOfBirth',
  'sex',
  'address.postalCode',
  'encounters.startedAt',
  'encounters.diagnosisCodes',
];

/** A dataset and the patients it was built from (for the audit trail; the ids never leave the server). */
export interface ResearchExport {
  dataset: ResearchDataset;
  patientIds: string[];
}

/**
 * Builds the de-identified research dataset: patients whose newest RESEARCH consent record is a grant and who
 * are not restricted (Art. 18 stops research at once). Only the fields Safe Harbor lets through in generalised
 * form are decrypted: date of birth, sex, postal code and country, encounter dates and diagnosis codes.
 */
export class ResearchExportService {
  constructor(private readonly deps: { consents: ConsentService; patients: PatientService; vault: PhiVault }) {}

  /** The dataset at `now` (ages are computed at that instant). */
  async export(em: EntityManager, now: Date = new Date()): Promise<ResearchExport> {
    const patientIds = await this.consentingPatients(em);
    if (patientIds.length === 0) return { dataset: { method: RESEARCH_METHOD, records: [] }, patientIds };

    const patients = await em.find(Patient, { id: { $in: patientIds } });
    const encounters = await this.deps.patients.encountersOf(em, patientIds);
    const records: ResearchRecord[] = [];
    for (const patient of patients) {
      records.push(await this.record(em, patient, encounters.get(patient.id) ?? [], now));
    }

    // Random pseudonyms, sorted: the order reveals nothing about ids or registration order.
    records.sort((a, b) => (a.pseudonym < b.pseudonym ? -1 : 1));
    return { dataset: { method: RESEARCH_METHOD, records }, patientIds: patients.map((p) => p.id) };
  }

  /** Ids of unrestricted patients whose RESEARCH consent is current, read at the moment of the call. */
  private async consentingPatients(em: EntityManager): Promise<string[]> {
    const candidates = await em.execute<{ id: string }[]>(
      `SELECT p.id FROM patients p WHERE p.restricted_at IS NULL
         AND EXISTS (SELECT 1 FROM consents c WHERE c.patient_id = p.id AND c.type = ?)`,
      [ConsentType.RESEARCH],
    );
    const given = await this.deps.consents.currentlyGiven(
      em,
      candidates.map((c) => c.id),
      [ConsentType.RESEARCH],
    );
    return [...given.keys()];
  }

  private async record(
    em: EntityManager,
    patient: Patient,
    encounters: { startedAt: Date }[],
    now: Date,
  ): Promise<ResearchRecord> {
    const vault = this.deps.vault;
    const dateOfBirth = String(await vault.open(em, patient, 'dateOfBirth'));
    const sex = (await vault.open(em, patient, 'sex')) as Sex;
    const address = (await vault.open(em, patient, 'address')) as { postalCode?: string; country?: string } | null;
    const age = safeHarbor.ageAt(dateOfBirth, now);

    const kept: ResearchRecord['encounters'] = [];
    for (const encounter of [...encounters].sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime())) {
      // Sensitivity-labelled encounters (42 CFR Part 2 and the like) need more than a RESEARCH consent: left out.
      if ((await vault.open(em, encounter, 'sensitivity', 'Encounter')) !== null) continue;
      const codes = await vault.open(em, encounter, 'diagnosisCodes', 'Encounter');
      kept.push({
        year: safeHarbor.yearOf(new Date(encounter.startedAt)),
        diagnosisCodes: safeHarbor.diagnosisCodes(codes),
      });
    }

    return {
      pseudonym: safeHarbor.pseudonym(),
      birthYear: safeHarbor.birthYear(dateOfBirth, age),
      ageGroup: safeHarbor.ageGroup(age),
      sex,
      zip3: safeHarbor.zip3(address?.postalCode, address?.country),
      encounters: kept,
    };
  }
}
