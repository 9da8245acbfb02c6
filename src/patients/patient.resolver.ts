import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';

import { requireRole } from '../access/role.guard';
import type { Role } from '../config/roles';
import { BatchLoader, loaderFor } from '../db/batch-loader';
import type { GraphQLContext } from '../graphql/context';
import { forbidden, notFound } from '../graphql/errors';
import { DateScalar } from '../graphql/scalars';
import { visibilityOf } from '../phi/redaction.policy';
import { PhiCategory } from '../phi/phi.types';
import { Encounter } from './encounter.entity';
import { EncounterInput, PatientInput, PatientPage, PatientUpdateInput } from './patient.inputs';
import { Patient } from './patient.entity';

// Role gates per operation. Care-team, consent and break-glass rules narrow these per patient
// (access-control issue); until then every staff role listed here reaches every patient.
const READ_ROLES: Role[] = ['ADMIN', 'PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING', 'INTEGRATOR', 'PATIENT'];
const LIST_ROLES: Role[] = ['ADMIN', 'PHYSICIAN', 'NURSE', 'RECEPTIONIST', 'BILLING', 'INTEGRATOR'];
const REGISTER_ROLES: Role[] = ['PHYSICIAN', 'NURSE', 'RECEPTIONIST'];

/** Patients: registration, reading, cursor pages and exact-match search. */
@Resolver(() => Patient)
export class PatientResolver {
  @Query(() => Patient, { description: 'One patient; NOT_FOUND when it does not exist or is not yours to see.' })
  async patient(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Patient> {
    const actor = requireRole(ctx, ...READ_ROLES);
    if (actor.role === 'PATIENT' && actor.patientId !== id) throw notFound('Patient');
    return ctx.services.patients.get(ctx.em, id);
  }

  @Query(() => PatientPage, { description: 'Patients in registration order, at most 100 per page.' })
  async patients(
    @Arg('first', () => Int, { defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<PatientPage> {
    requireRole(ctx, ...LIST_ROLES);
    const page = await ctx.services.patients.page(ctx.em, first, after);
    return { nodes: page.nodes, count: page.nodes.length, pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
  }

  @Query(() => [Patient], { description: 'Exact matches through blind indexes; lastName goes with dateOfBirth.' })
  async findPatients(
    @Arg('ssn', () => String, { nullable: true }) ssn: string | null,
    @Arg('email', () => String, { nullable: true }) email: string | null,
    @Arg('mrn', () => String, { nullable: true }) mrn: string | null,
    @Arg('lastName', () => String, { nullable: true }) lastName: string | null,
    @Arg('dateOfBirth', () => DateScalar, { nullable: true }) dateOfBirth: string | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Patient[]> {
    requireRole(ctx, ...LIST_ROLES);
    return ctx.services.patients.search(ctx.em, { ssn, email, mrn, lastName, dateOfBirth });
  }

  @Mutation(() => Patient, { description: 'Registers a patient.' })
  async createPatient(@Arg('input', () => PatientInput) input: PatientInput, @Ctx() ctx: GraphQLContext): Promise<Patient> {
    requireRole(ctx, ...REGISTER_ROLES);
    return ctx.services.patients.create(ctx.em, input);
  }

  @Mutation(() => Patient, { description: 'Changes the given fields of a patient.' })
  async updatePatient(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => PatientUpdateInput) input: PatientUpdateInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Patient> {
    requireRole(ctx, ...REGISTER_ROLES);
    return ctx.services.patients.update(ctx.em, id, input);
  }

  @FieldResolver(() => [Encounter], { description: 'Encounters, newest first; empty for roles that see no clinical data.' })
  async encounters(@Root() patient: Patient, @Ctx() ctx: GraphQLContext): Promise<Encounter[]> {
    if (visibilityOf(ctx.actor?.role, PhiCategory.CLINICAL) === 'NONE') return [];
    const loader = loaderFor(
      ctx.loaders,
      'encountersByPatient',
      () => new BatchLoader<string, Encounter[]>((ids) => ctx.services.patients.encountersOf(ctx.em, ids)),
    );
    return loader.load(patient.id);
  }
}

/** Encounters: recording them, and the patient they belong to. */
@Resolver(() => Encounter)
export class EncounterResolver {
  @Mutation(() => Encounter, { description: 'Records an encounter (clinicians).' })
  async createEncounter(
    @Arg('input', () => EncounterInput) input: EncounterInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Encounter> {
    const actor = requireRole(ctx, 'PHYSICIAN', 'NURSE');
    return ctx.services.patients.createEncounter(ctx.em, actor.userId, input);
  }

  @FieldResolver(() => Patient, { description: 'The patient this encounter belongs to.' })
  async patient(@Root() encounter: Encounter, @Ctx() ctx: GraphQLContext): Promise<Patient> {
    const actor = requireRole(ctx, ...READ_ROLES);
    if (actor.role === 'PATIENT' && actor.patientId !== encounter.patientId) throw forbidden();
    return ctx.services.patients.get(ctx.em, encounter.patientId);
  }
}
