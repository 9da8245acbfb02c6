import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';

import type { DataKeyService } from './data-key.service';

/** Data keys per master version, for `keys:status` and `keys:retire`. */
export interface MasterVersionStatus {
  version: number;
  live: number;
  destroyed: number;
  configured: boolean;
  active: boolean;
  retirable: boolean;
  reason: string;
}

export interface KeyStatus {
  activeVersion: number;
  versions: MasterVersionStatus[];
  live: number;
  destroyed: number;
  /** Live data key versions that a newer version of the same subject supersedes. */
  superseded: number;
}

/** Status and retirement figures of master key versions, read from the live database. */
export class KeyStatusService {
  constructor(
    private readonly orm: MikroORM,
    private readonly dataKeys: DataKeyService,
  ) {}

  /** Data keys per master version and whether each configured version can be removed. */
  async status(): Promise<KeyStatus> {
    const ring = this.dataKeys.ring;
    const counts = new Map((await countByVersion(this.orm)).map((c) => [c.version, c]));
    const versions = [...new Set([...ring.versions(), ...counts.keys()])].sort((a, b) => a - b);
    const rows = versions.map((version): MasterVersionStatus => {
      const { live, destroyed } = counts.get(version) ?? { live: 0, destroyed: 0 };
      const configured = ring.hasVersion(version);
      const active = version === ring.activeVersion;
      const base = { version, live, destroyed, configured, active };
      if (active) return { ...base, retirable: false, reason: 'active: new data keys are wrapped by it' };
      if (!configured && live > 0) {
        return { ...base, retirable: false, reason: `MISSING from MASTER_KEYS: ${live} data keys cannot be unwrapped` };
      }
      if (live > 0) {
        return { ...base, retirable: false, reason: `${live} data keys still wrapped by it: run keys:rotate` };
      }
      if (!configured) return { ...base, retirable: false, reason: 'not in MASTER_KEYS; no data key needs it' };
      return { ...base, retirable: true, reason: 'no data key is wrapped by it' };
    });
    return {
      activeVersion: ring.activeVersion,
      versions: rows,
      live: sum(rows.map((r) => r.live)),
      destroyed: sum(rows.map((r) => r.destroyed)),
      superseded: await countSuperseded(this.orm.em.fork()),
    };
  }
}

/** Live data key versions that a newer version of the same subject supersedes. */
export async function countSuperseded(em: EntityManager): Promise<number> {
  const rows = await em.execute<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM data_keys dk WHERE dk.wrapped IS NOT NULL
     AND EXISTS (SELECT 1 FROM data_keys n WHERE n.subject_id = dk.subject_id AND n.version > dk.version)`,
  );
  return rows[0].n;
}

/** Live and destroyed data keys per master version. */
export async function countByVersion(orm: MikroORM): Promise<{ version: number; live: number; destroyed: number }[]> {
  return orm.em.fork().execute(
    `SELECT master_version AS version, count(*) FILTER (WHERE wrapped IS NOT NULL)::int AS live,
            count(*) FILTER (WHERE wrapped IS NULL)::int AS destroyed
     FROM data_keys GROUP BY master_version ORDER BY master_version`,
  );
}

/** Sum of the given counts. */
export function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
