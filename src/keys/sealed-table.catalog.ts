import type { MikroORM } from '@mikro-orm/postgresql';

import { phiFieldsOf, sealedEntities, subjectPropertyOf } from '../phi/phi.decorator';

/** Where one sealed entity lives in SQL: its table, id and subject columns, and its sealed columns. */
export interface SealedTable {
  table: string;
  id: string;
  idType: string;
  subject: string;
  subjectType: string;
  columns: { ad: string; sql: string }[];
}

/** The sealed tables of one ORM, read from its metadata once and then cached. */
export class SealedTableCatalog {
  #tables?: SealedTable[];

  constructor(private readonly orm: MikroORM) {}

  /** Table, id, subject and sealed columns of every sealed entity the ORM knows. */
  sealedTables(): SealedTable[] {
    this.#tables ??= sealedEntities()
      .filter((entity) => this.orm.getMetadata().find(entity) !== undefined)
      .map((entity) => {
        const meta = this.orm.getMetadata().get(entity);
        const column = (property: string) => {
          const prop = meta.properties[property as keyof typeof meta.properties];
          if (!prop?.fieldNames?.[0]) throw new Error(`${entity}.${property} is not a mapped column`);
          return { sql: prop.fieldNames[0], type: prop.columnTypes?.[0] ?? 'uuid' };
        };
        const id = column('id');
        const subject = column(subjectPropertyOf(entity));
        return {
          table: meta.tableName,
          id: id.sql,
          idType: sqlType(id.type),
          subject: subject.sql,
          subjectType: sqlType(subject.type),
          columns: phiFieldsOf(entity).map((f) => ({ ad: f.column, sql: column(f.property).sql })),
        };
      });
    return this.#tables;
  }
}

/** Quotes a SQL identifier. */
export function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

function sqlType(columnType: string): string {
  if (!/^[a-z][a-z0-9 ]*$/i.test(columnType)) throw new Error(`unsupported id column type ${columnType}`);
  return columnType;
}
