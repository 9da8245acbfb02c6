import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';

import { reach, reachedAccess, reachOne, remember } from '../access/reach';
import { isUuid } from '../db/ids';
import { requireActor } from '../access/role.guard';
import type { DecisionColumns, PatientAccess } from '../access/access.service';
import { allowed } from '../audit/audit.service';
import { BatchLoader, loaderFor } from '../db/batch-loader';
import type { Actor, GraphQLContext } from '../graphql/context';
import { AppError, badUserInput, forbidden } from '../graphql/errors';
import { DateScalar } from '../graphql/scalars';
import { NOT_PHI_INPUT, NotPhiInput, PhiArg } from '../phi/phi.decorator';
import { visibilityFor, visibilityOf } from '../phi/redaction.policy';
import { PhiCategory } from '../phi/phi.types';
import { Encounter } from './encounter.entity';
import { EncounterInput, PatientInput, PatientPage, PatientUpdateInput } from './patient.inputs';
import { Patient } from './patient.entity';
import type { ListScope } from './patient.service';

/** Names of the fields a query selects on the returned object (for the audit row; no values). */
function selectedFields(info: GraphQLResolveInfo, nested?: string): string[] {
  const names: string[] = [];
  for (const node of info.fieldNodes) {
    let selections = node.selectionSet?.selections ?? [];
    if (nested) {
      const inner = selections.find((s) => s.kind === 'Field' && s.name.value === nested);
      selections = inner && inner.kind === 'Field' ? (inner.selectionSet?.selections ?? []) : [];
    }
    for (const s of selections) if (s.kind === 'Field' && !s.name.value.startsWith('__')) names.push(s.name.value);
  }
  return [...new Set(names)];
}

/** Records one audit row per patient whose record this request hands out, before it is returned. */
async function auditReads(
  ctx: GraphQLContext,
  action: string,
  access: Map<string, PatientAccess>,
  fields: string[],
): Promise<void> {
  await ctx.services.audit.record(
    ctx,
    [...access.entries()].map(([patientId, a]) => allowed(action, patientId, a.purpose, fields)),
  );
}

/**
 * The caller's list scope; for roles with decision columns the query also carries each row's access decision,
 * remembered for this request, so `reach` asks no statement of its own for the rows it returns.
 */
function listScope(ctx: GraphQLContext, actor: Actor, shape: 'page' | 'lookup'): ListScope {
  const scope = ctx.services.access.listScope(actor, shape) ?? { sql: 'true', params: [] };
  const columns = decisionColumns(ctx, actor);
  return columns ? { ...scope, columns } : scope;
}

function decisionColumns(ctx: GraphQLContext, actor: Actor): ListScope['columns'] {
  const access = ctx.services.access;
  const columns = access.decisionColumns(actor);
  if (!columns) return undefined;
  return {
    ...columns,
    take: (patientId, values) =>
      remember(ctx, patientId, access.fromColumns(actor, values as unknown as DecisionColumns)),
  };
}

/**
 * `reachOne` and the patient's row. For roles with decision columns both come from one statement; the decision
 * is then made exactly as `reachOne` makes it (a refusal records its DENIED row and answers NOT_FOUND), and an id
 * with no row falls back to `reachOne` and `get`, so a missing patient takes the same path as before.
 */
async function reachAndGet(ctx: GraphQLContext, id: string): Promise<{ access: PatientAccess; patient: Patient }> {
  const actor = ctx.actor;
  const columns = actor && isUuid(id) && reachedAccess(ctx, id) === undefined ? decisionColumns(ctx, actor) : undefined;
  const row = columns ? await ctx.services.patients.row(ctx.em, id, { sql: 'true', params: [], columns }) : null;
  const access = await reachOne(ctx, id);
  return { access, patient: row ?? (await ctx.services.patients.get(ctx.em, id)) };
}

/**
 * Patients: registration, reading, cursor pages and exact-match search. Role gates are shield
 * rules (patient.rules.ts); which patients a caller reaches is the access service's answer, asked
 * on every path, and a patient out of reach answers exactly like one that does not exist.
 */
@Resolver(() => Patient)
export class PatientResolver {
  @Query(() => Patient, { description: 'One patient; NOT_FOUND when it does not exist or is not yours to see.' })
  async patient(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: GraphQLContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<Patient> {
    const { access, patient } = await reachAndGet(ctx, id);
    await auditReads(ctx, 'patient.read', new Map([[patient.id, access]]), selectedFields(info));
    return patient;
  }

  @Query(() => PatientPage, { description: 'Patients you may reach, in registration order, at most 100 per page.' })
  async patients(
    @Arg('first', () => Int, { defaultValue: 20 }) first: number,
    @NotPhiInput(NOT_PHI_INPUT.cursor) @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<PatientPage> {
    const actor = requireActor(ctx);
    const page = await ctx.services.patients.page(ctx.em, first, after, listScope(ctx, actor, 'page'));
    const nodes = await this.reachable(ctx, page.nodes, selectedFields(info, 'nodes'));
    return { nodes, count: nodes.length, pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
  }

  @Query(() => [Patient], {
    description:
      'Exact matches among patients you may reach (case, spaces and dashes ignored); lastName goes with dateOfBirth.',
  })
  async findPatients(
    @PhiArg(PhiCategory.IDENTIFIER) @Arg('ssn', () => String, { nullable: true }) ssn: string | null,
    @PhiArg(PhiCategory.CONTACT) @Arg('email', () => String, { nullable: true }) email: string | null,
    @PhiArg(PhiCategory.CONTACT) @Arg('phone', () => String, { nullable: true }) phone: string | null,
    @PhiArg(PhiCategory.IDENTIFIER) @Arg('mrn', () => String, { nullable: true }) mrn: string | null,
    @PhiArg(PhiCategory.DEMOGRAPHIC) @Arg('lastName', () => String, { nullable: true }) lastName: string | null,
    @PhiArg(PhiCategory.DEMOGRAPHIC)
    @Arg('dateOfBirth', () => DateScalar, { nullable: true })
    dateOfBirth: string | null,
    @Ctx() ctx: GraphQLContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<Patient[]> {
    const actor = requireActor(ctx);
    // A match confirms the value searched for, so each criterion needs a role that sees its category.
    const criteria: [unknown, PhiCategory][] = [
      [ssn, PhiCategory.IDENTIFIER],
      [mrn, PhiCategory.IDENTIFIER],
      [email, PhiCategory.CONTACT],
      [phone, PhiCategory.CONTACT],
      [lastName ?? dateOfBirth, PhiCategory.DEMOGRAPHIC],
    ];
    if (criteria.some(([value, category]) => value != null && visibilityOf(actor.role, category) === 'NONE'))
      throw forbidden();
    const rows = await ctx.services.patients.search(
      ctx.em,
      { ssn, email, phone, mrn, lastName, dateOfBirth },
      listScope(ctx, actor, 'lookup'),
    );
    return this.reachable(ctx, rows, selectedFields(info));
  }

  /** Keeps the rows the caller reaches (the list scope already should; its decisions are reused) and audits them. */
  private async reachable(ctx: GraphQLContext, rows: Patient[], fields: string[]): Promise<Patient[]> {
    const access = await reach(
      ctx,
      rows.map((p) => p.id),
    );
    await auditReads(ctx, 'patient.read', access, fields);
    return rows.filter((p) => access.has(p.id));
  }

  @Mutation(() => Patient, { description: 'Registers a patient; a registering clinician joins the care team.' })
  async createPatient(
    @Arg('input', () => PatientInput) input: PatientInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Patient> {
    const actor = requireActor(ctx);
    const clinician = actor.role === 'PHYSICIAN' || actor.role === 'NURSE' ? actor.userId : undefined;
    // The record, the registering clinician's care-team membership and the audit row commit together or not at all.
    return ctx.em.transactional(async (em) => {
      const tctx = { ...ctx, em };
      const patient = await ctx.services.patients.create(em, input, clinician);
      const access = await reachOne(tctx, patient.id);
      await ctx.services.audit.record(tctx, [
        allowed('patient.create', patient.id, access.purpose, Object.keys(input)),
      ]);
      return patient;
    });
  }

  @Mutation(() => Patient, {
    description:
      'Changes the given fields of a patient you may reach. With rectificationRequestId, the change carries out ' +
      "that open RECTIFICATION request of this patient (GDPR Art. 16): the request's sealed text is the reason, the " +
      'audit row says patient.rectify, and the request is completed with the names of the fields changed.',
  })
  async updatePatient(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => PatientUpdateInput) input: PatientUpdateInput,
    @Arg('rectificationRequestId', () => ID, { nullable: true }) rectificationRequestId: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Patient> {
    const actor = requireActor(ctx);
    const access = await reachOne(ctx, id); // a missing patient is NOT_FOUND from update(), in the transaction
    return ctx.em.transactional(async (em) => {
      const request = rectificationRequestId
        ? await ctx.services.dsr.get(em, rectificationRequestId, true).catch((error: unknown) => {
            if (error instanceof AppError && error.code === 'NOT_FOUND') return null;
            throw error;
          })
        : null;
      if (rectificationRequestId && (request?.type !== 'RECTIFICATION' || request.patientId !== id)) {
        throw badUserInput('Not a rectification request of this patient', 'rectificationRequestId');
      }
      const patient = await ctx.services.patients.update(em, id, input);
      const fields = Object.keys(input);
      const entries = [allowed(request ? 'patient.rectify' : 'patient.update', id, access.purpose, fields)];
      if (request) {
        await ctx.services.dsr.complete(em, request, { decidedBy: actor.userId, rectifiedFields: fields });
        entries.push(allowed('dsr.complete', id, access.purpose, ['type', 'status', 'rectifiedFields']));
      }
      await ctx.services.audit.record({ ...ctx, em }, entries);
      return patient;
    });
  }

  @FieldResolver(() => [Encounter], {
    description:
      'Encounters, newest first: empty for roles that see no clinical data; sensitive ones only with consent or break-glass.',
  })
  async encounters(@Root() patient: Patient, @Ctx() ctx: GraphQLContext): Promise<Encounter[]> {
    const access = await reachOne(ctx, patient.id);
    if (visibilityFor(ctx.actor?.role, access.relation, PhiCategory.CLINICAL) === 'NONE') return [];
    const loader = loaderFor(
      ctx.loaders,
      'encountersByPatient',
      () => new BatchLoader<string, Encounter[]>((ids) => ctx.services.patients.encountersOf(ctx.em, ids)),
    );
    const encounters = await loader.load(patient.id);
    if (access.sensitive) return encounters;
    const visible: Encounter[] = [];
    for (const encounter of encounters) {
      if (
        !encounter.sensitivity ||
        (await ctx.services.vault.open(ctx.em, encounter, 'sensitivity', 'Encounter')) === null
      ) {
        visible.push(encounter);
      }
    }
    return visible;
  }
}

/** Encounters: recording them, and the patient they belong to. */
@Resolver(() => Encounter)
export class EncounterResolver {
  @Mutation(() => Encounter, {
    description: 'Records an encounter for a patient on your care team (or under break-glass).',
  })
  async createEncounter(
    @Arg('input', () => EncounterInput) input: EncounterInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Encounter> {
    const actor = requireActor(ctx);
    const { access, patient } = await reachAndGet(ctx, input.patientId);
    if (access.relation !== 'CARE_TEAM' && access.relation !== 'BREAK_GLASS') throw forbidden();
    return ctx.em.transactional(async (em) => {
      const encounter = await ctx.services.patients.createEncounter(em, actor.userId, input, patient);
      await ctx.services.audit.record({ ...ctx, em }, [
        allowed('encounter.create', patient.id, access.purpose, Object.keys(input)),
      ]);
      return encounter;
    });
  }

  @FieldResolver(() => Patient, { description: 'The patient this encounter belongs to.' })
  async patient(
    @Root() encounter: Encounter,
    @Ctx() ctx: GraphQLContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<Patient> {
    const { access, patient } = await reachAndGet(ctx, encounter.patientId);
    await auditReads(ctx, 'patient.read', new Map([[patient.id, access]]), selectedFields(info));
    return patient;
  }
}
