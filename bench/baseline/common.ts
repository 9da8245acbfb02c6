import { createServer } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { GraphQLScalarType } from 'graphql';
import { Pool } from 'pg';

/**
 * The SDL both baselines serve: the product's shapes for the operations the benchmark sends (same field names,
 * same nesting), and nothing else. Enums and dates are plain scalars here; the response bytes are the same.
 */
export const BASELINE_SDL = `#graphql
  scalar DateTime
  type Address { line1: String city: String postalCode: String country: String }
  type Encounter {
    id: ID! clinicianId: ID startedAt: DateTime! reason: String notes: String diagnosisCodes: [String!]
    sensitivity: String createdAt: DateTime!
  }
  type Patient {
    id: ID! mrn: String firstName: String lastName: String dateOfBirth: String sex: String ssn: String email: String
    phone: String address: Address insuranceMemberId: String createdAt: DateTime! updatedAt: DateTime!
    encounters: [Encounter!]!
  }
  type PageInfo { endCursor: String hasNextPage: Boolean! }
  type PatientPage { nodes: [Patient!]! count: Int! pageInfo: PageInfo! }
  type AuthPayload { accessToken: String }
  input EncounterInput {
    patientId: ID! reason: String! notes: String diagnosisCodes: [String!]! sensitivity: String startedAt: DateTime
  }
  type Query {
    patients(first: Int! = 20, after: String): PatientPage!
    patient(id: ID!): Patient
    findPatients(ssn: String): [Patient!]!
  }
  type Mutation {
    createEncounter(input: EncounterInput!): Encounter!
    login(email: String!, password: String!): AuthPayload!
  }
`;

export const DateTime = new GraphQLScalarType({
  name: 'DateTime',
  serialize: (value) => (value instanceof Date ? value.toISOString() : String(value)),
  parseValue: (value) => new Date(String(value)),
});

/** Keyset cursor over (created_at, id), the same shape the product uses. */
export function encodeCursor(row: { created_at: Date; id: string }): string {
  return Buffer.from(JSON.stringify([row.created_at.toISOString(), row.id])).toString('base64url');
}

export function decodeCursor(cursor: string): [string, string] {
  return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
}

/** A cursor page from `first + 1` rows read in key order: the extra row only says whether there is more. */
export function pageOf<T extends { created_at: Date; id: string }>(rows: T[], first: number) {
  const nodes = rows.slice(0, first);
  const last = nodes.at(-1);
  return {
    nodes,
    count: nodes.length,
    pageInfo: { endCursor: last ? encodeCursor(last) : null, hasNextPage: rows.length > first },
  };
}

/** A pg pool the size of the product's (MikroORM pool max 10). */
export function pool(): Pool {
  return new Pool({
    connectionString: process.env.DATABASE_URL,
    ...(process.env.DATABASE_PASSWORD ? { password: process.env.DATABASE_PASSWORD } : {}),
    max: 10,
  });
}

/**
 * Serves `resolvers` with bare Apollo Server on express 5 (the product's HTTP stack): JSON body parsing and the
 * GraphQL endpoint, with no authentication, authorization, rate limits, audit or query limits.
 */
export async function serveBaseline(name: string, resolvers: Record<string, unknown>): Promise<void> {
  const app = express();
  const httpServer = createServer(app);
  const apollo = new ApolloServer({ typeDefs: BASELINE_SDL, resolvers: { DateTime, ...resolvers } as never });
  await apollo.start();
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.use('/graphql', express.json({ limit: 262_144 }), expressMiddleware(apollo));
  const port = Number(process.env.PORT ?? 0);
  await new Promise<void>((resolve) => httpServer.listen(port, '127.0.0.1', resolve));
  process.stderr.write(`${name} listening on ${port}\n`);
  const stop = () => {
    void apollo.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
