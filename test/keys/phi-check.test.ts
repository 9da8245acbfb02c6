import { Entity, Enum, PrimaryKey, Property } from '@mikro-orm/core';

import { ENTITIES } from '../../src/db/entities';
import { phiCheck } from '../../src/cli/keys.commands';
import { checkPhiClassification, discoverEntityMetadata, phiSuspicion } from '../../src/keys/phi-check';
import { NotPhi } from '../../src/phi/phi.decorator';

/** A fictional entity someone forgot to mark: only the check function ever sees it. */
@Entity({ tableName: 'fake_intake_forms' })
class FakeIntakeForm {
  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'text' })
  firstName!: string;

  @NotPhi('fixed vocabulary of form layouts')
  @Property({ type: 'text' })
  layoutCode!: string;

  @Enum({ items: ['DRAFT', 'FINAL'] })
  state!: string;

  @Property({ type: 'integer' })
  revisionCount!: number;

  @Property({ type: 'timestamptz' })
  createdAt!: Date;
}

describe('phi:check', () => {
  it('passes on the real entities and classifies their properties', async () => {
    const report = checkPhiClassification(await discoverEntityMetadata());

    expect(report.failures).toEqual([]);
    const of = (entity: string, property: string) =>
      report.entries.find((e) => e.entity === entity && e.property === property);
    expect(of('Patient', 'firstName')).toMatchObject({ classification: 'phi', detail: 'DEMOGRAPHIC' });
    expect(of('Patient', 'mrnBidx')).toMatchObject({ classification: 'blind-index' });
    expect(of('Patient', 'nameDobBidx')).toMatchObject({ classification: 'blind-index' });
    expect(of('User', 'email')).toMatchObject({ classification: 'sealed' });
    expect(of('Session', 'ip')).toMatchObject({ classification: 'not-phi' });
    expect(of('Patient', 'id')).toMatchObject({ classification: 'structural', detail: 'primary key' });
    expect(of('DataKey', 'masterVersion')).toMatchObject({ classification: 'structural' });
    expect(of('Encounter', 'createdAt')).toMatchObject({ classification: 'structural' });
    expect(new Set(report.entries.map((e) => e.entity))).toEqual(new Set(ENTITIES.map((entity) => entity.name)));
  });

  it('fails on an unmarked firstName and names it', async () => {
    const report = checkPhiClassification(await discoverEntityMetadata([FakeIntakeForm]));

    expect(report.failures.map((f) => `${f.entity}.${f.property}`)).toEqual(['FakeIntakeForm.firstName']);
    expect(report.failures[0].failure).toMatch(/name/);
    const of = (property: string) => report.entries.find((e) => e.property === property);
    expect(of('layoutCode')).toMatchObject({ classification: 'not-phi', detail: 'fixed vocabulary of form layouts' });
    expect(of('state')).toMatchObject({ classification: 'unclassified' });
    expect(of('state')?.failure).toBeUndefined();
    expect(of('revisionCount')).toMatchObject({ classification: 'structural' });
    expect(of('createdAt')).toMatchObject({ classification: 'structural' });
  });

  it('flags free-text columns whatever their name, but not ids, enums or timestamps', () => {
    const prop = (name: string, columnType: string, extra = {}) => ({
      name,
      kind: 'scalar',
      columnTypes: [columnType],
      ...extra,
    });

    expect(phiSuspicion(prop('misc', 'text'))).toMatch(/free-form/);
    expect(phiSuspicion(prop('extra', 'jsonb'))).toMatch(/free-form/);
    expect(phiSuspicion(prop('insuranceMemberId', 'uuid'))).toMatch(/identifier/);
    expect(phiSuspicion(prop('dischargeDate', 'date'))).toMatch(/date/);
    expect(phiSuspicion(prop('clinicianId', 'text'))).toBeUndefined();
    expect(phiSuspicion(prop('status', 'text', { enum: true }))).toBeUndefined();
    expect(phiSuspicion(prop('lastSeenAt', 'timestamptz'))).toBeUndefined();
  });

  it('the command prints every entity and exits 0 on the real entities', async () => {
    const lines: string[] = [];

    const code = await phiCheck({ args: [], out: (line) => lines.push(line) });

    expect(code).toBe(0);
    expect(lines).toContain('Patient (patients)');
    expect(lines.some((l) => /^\s+firstName\s+PHI DEMOGRAPHIC/.test(l))).toBe(true);
    expect(lines[lines.length - 1]).toMatch(/^phi:check: \d+ properties in \d+ entities: .*; 0 failures$/);
  });
});
