import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

const CALENDAR_DATE = /^(\d{4})(?:-(\d{2})-(\d{2}))?$/;

function parseCalendarDate(value: unknown): string {
  if (typeof value !== 'string') throw new GraphQLError('Date must be a string in ISO 8601 form YYYY-MM-DD');
  const match = CALENDAR_DATE.exec(value);
  if (!match || !match[2]) throw new GraphQLError('Date must be in ISO 8601 form YYYY-MM-DD');
  const parsed = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== value) {
    throw new GraphQLError('Date is not a real calendar date');
  }
  return value;
}

/**
 * A calendar date in ISO 8601 (`YYYY-MM-DD`). Output may use ISO 8601's reduced precision
 * (`YYYY`) when a role is shown only the year of a date.
 */
export const DateScalar = new GraphQLScalarType<string, string>({
  name: 'Date',
  description: 'Calendar date, ISO 8601 YYYY-MM-DD (or YYYY where only the year may be shown).',
  serialize(value) {
    if (typeof value === 'string' && CALENDAR_DATE.test(value)) return value;
    if (value instanceof Date) return value.toISOString().slice(0, 10);
    throw new GraphQLError('Date cannot represent this value');
  },
  parseValue: parseCalendarDate,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('Date must be a string in ISO 8601 form YYYY-MM-DD');
    return parseCalendarDate(ast.value);
  },
});

/** An instant in ISO 8601 with time zone, always emitted in UTC (`2026-12-03T16:43:53.000Z`). */
export const DateTimeScalar: GraphQLScalarType<Date, string> = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'Instant in time, ISO 8601 with time zone; emitted in UTC.',
  serialize(value) {
    const date = value instanceof Date ? value : new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime cannot represent this value');
    return date.toISOString();
  },
  parseValue(value): Date {
    const date = typeof value === 'string' ? new Date(value) : new Date(NaN);
    if (typeof value !== 'string' || !/T.*(Z|[+-]\d{2}:\d{2})$/.test(value) || Number.isNaN(date.getTime())) {
      throw new GraphQLError('DateTime must be ISO 8601 with a time zone');
    }
    return date;
  },
  parseLiteral(ast): Date {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string');
    return DateTimeScalar.parseValue(ast.value);
  },
});
