import { isUuid } from '../db/ids';
import type { GraphQLContext } from '../graphql/context';
import { notFound } from '../graphql/errors';
import type { PatientAccess } from './access.service';

const DECISIONS = 'patientAccessDecisions';
const DENIED = 'patientAccessDenied';

function decisions(ctx: GraphQLContext): Map<string, PatientAccess | null> {
  let map = ctx.loaders.get(DECISIONS) as Map<string, PatientAccess | null> | undefined;
  if (!map) {
    map = new Map();
    ctx.loaders.set(DECISIONS, map);
  }
  return map;
}

/** The caller's access to each of these patients, decided once per request; unreachable ones are absent. */
export async function reach(ctx: GraphQLContext, patientIds: string[]): Promise<Map<string, PatientAccess>> {
  const known = decisions(ctx);
  const unknown = [...new Set(patientIds)].filter((id) => !known.has(id));
  if (unknown.length > 0) {
    const decided = ctx.actor
      ? await ctx.services.access.decide(ctx.em, ctx.actor, unknown)
      : new Map<string, PatientAccess>();
    for (const id of unknown) known.set(id, decided.get(id) ?? null);
  }
  const out = new Map<string, PatientAccess>();
  for (const id of patientIds) {
    const access = known.get(id);
    if (access) out.set(id, access);
  }
  return out;
}

/**
 * The caller's access to one patient, or NOT_FOUND, answered exactly like a patient that does not exist. Resolvers
 * ask this before loading the patient: for a caller whose access rests on a relation (care team, consent, self),
 * an id that exists out of reach and an id that does not exist then take the same path, DENIED row included, so
 * neither the answer nor its timing tells them apart.
 */
export async function reachOne(ctx: GraphQLContext, patientId: string): Promise<PatientAccess> {
  if (!isUuid(patientId)) throw notFound('Patient');
  const access = (await reach(ctx, [patientId])).get(patientId);
  if (!access) {
    await recordDenied(ctx, patientId);
    throw notFound('Patient');
  }
  return access;
}

/**
 * Records the refusal of a patient asked for by id: one DENIED audit row (action `patient.access`)
 * per request and patient. It is written outside the caller's transaction (a fresh EntityManager),
 * so it survives the rollback the NOT_FOUND causes; if it cannot be written the answer is still
 * NOT_FOUND, never an error that would tell this patient apart from a missing one. Ids that
 * cannot exist (not UUIDs) are not recorded. Blind spot: patients dropped from a list or search
 * (`reach`) are not asked for by id and raise no row; the list scope keeps them out of the query.
 */
async function recordDenied(ctx: GraphQLContext, patientId: string): Promise<void> {
  if (!isUuid(patientId)) return;
  const recorded = deniedInRequest(ctx);
  if (recorded.has(patientId)) return;
  recorded.add(patientId);
  try {
    await ctx.services.audit.record({ ...ctx, em: ctx.services.orm.em.fork() }, [
      { action: 'patient.access', patientId, purpose: null, outcome: 'DENIED' },
    ]);
  } catch (error) {
    ctx.log.error({ err: error, patientId }, 'could not record a refused patient access');
  }
}

function deniedInRequest(ctx: GraphQLContext): Set<string> {
  let set = ctx.loaders.get(DENIED) as Set<string> | undefined;
  if (!set) {
    set = new Set();
    ctx.loaders.set(DENIED, set);
  }
  return set;
}

/**
 * Records a decision made elsewhere in this request (the decision columns a list or search selected beside its
 * rows: AccessService.decisionColumns); `null` means out of reach. A decision already made is kept.
 */
export function remember(ctx: GraphQLContext, patientId: string, access: PatientAccess | null): void {
  const known = decisions(ctx);
  if (!known.has(patientId)) known.set(patientId, access);
}

/** A decision already made in this request (synchronous, for field-level redaction); undefined otherwise. */
export function reachedAccess(ctx: GraphQLContext, patientId: string): PatientAccess | undefined {
  return decisions(ctx).get(patientId) ?? undefined;
}

/** Drops this request's decision for a patient after something it depends on changed (consent, care team, break-glass). */
export function forget(ctx: GraphQLContext, patientId: string): void {
  decisions(ctx).delete(patientId);
}
