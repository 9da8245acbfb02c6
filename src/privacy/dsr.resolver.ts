import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';

import { forget, reachOne } from '../access/reach';
import { requireActor, requireRole } from '../access/role.guard';
import { allowed } from '../audit/audit.service';
import type { GraphQLContext } from '../graphql/context';
import { badUserInput, forbidden, notFound } from '../graphql/errors';
import { PhiArg } from '../phi/phi.decorator';
import { PhiCategory } from '../phi/phi.types';
import {
  DataSubjectRequest,
  DataSubjectRequestStatus as Status,
  DataSubjectRequestType as Type,
  ExportFormat,
} from './data-subject-request.entity';
import { assertTransition } from './dsr.service';
import { DSR_FILERS, EXPORT_RUNNERS, EXPORT_SECTIONS, PRIVACY_PURPOSE } from './dsr.types';
import { toFhirBundle } from './fhir';

const REQUEST_FIELDS = ['type', 'status', 'dueAt'];

/**
 * The purpose under which the caller acts for this patient, or NOT_FOUND. Privacy staff act for any
 * existing patient without an access decision (so without PHI); everyone else must reach the patient:
 * a PATIENT only their own record, answered for anyone else's exactly like a missing one.
 */
async function purposeFor(ctx: GraphQLContext, patientId: string, roles: readonly string[]): Promise<string> {
  const actor = requireActor(ctx);
  if (!roles.includes(actor.role)) throw forbidden();
  if (actor.role === 'PRIVACY_OFFICER') {
    if (!(await ctx.services.consents.patientExists(ctx.em, patientId))) throw notFound('Patient');
    return PRIVACY_PURPOSE;
  }
  return (await reachOne(ctx, patientId)).purpose;
}

/** Data-subject requests (GDPR Art. 12-20): filing, the privacy officer's decisions, export, restriction. */
@Resolver(() => DataSubjectRequest)
export class DataSubjectRequestResolver {
  @Mutation(() => DataSubjectRequest, {
    description:
      'Everything held about a patient, decrypted, in `data` (JSON string) of the returned request, which is ' +
      'completed at once; never stored. The patient for themself, or a PRIVACY_OFFICER with a fresh second factor.',
  })
  async requestDataExport(
    @Arg('patientId', () => ID) patientId: string,
    @Arg('format', () => ExportFormat) format: ExportFormat,
    @Ctx() ctx: GraphQLContext,
  ): Promise<DataSubjectRequest> {
    const purpose = await purposeFor(ctx, patientId, EXPORT_RUNNERS);
    const actor = requireActor(ctx);
    await ctx.services.dsr.assertFreshStepUp(ctx.em, actor);

    return ctx.em.transactional(async (em) => {
      const { dsr, dataExport, audit } = ctx.services;
      const type = format === ExportFormat.FHIR ? Type.EXPORT : Type.ACCESS;
      const filed = await dsr.file(em, { patientId, type, format }, actor);
      const doc = await dataExport.build(em, patientId);
      const done = await dsr.transition(em, filed, Status.COMPLETED, { decidedBy: null });
      await audit.record({ ...ctx, em }, [
        allowed('dsr.file', patientId, purpose, REQUEST_FIELDS),
        allowed('patient.export', patientId, purpose, EXPORT_SECTIONS),
      ]);
      done.data = JSON.stringify(format === ExportFormat.FHIR ? toFhirBundle(doc, done.id) : doc);
      return done;
    });
  }

  @Mutation(() => DataSubjectRequest, {
    description: 'Files an erasure request (Art. 17); a PRIVACY_OFFICER approves it.',
  })
  async requestErasure(
    @Arg('patientId', () => ID) patientId: string,
    @PhiArg(PhiCategory.CLINICAL) @Arg('reason', () => String) reason: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<DataSubjectRequest> {
    return this.fileRequest(ctx, patientId, Type.ERASURE, reason);
  }

  @Mutation(() => DataSubjectRequest, {
    description:
      'Files a rectification request (Art. 16); staff correct the record with updatePatient(rectificationRequestId).',
  })
  async requestRectification(
    @Arg('patientId', () => ID) patientId: string,
    @PhiArg(PhiCategory.CLINICAL) @Arg('reason', () => String) reason: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<DataSubjectRequest> {
    return this.fileRequest(ctx, patientId, Type.RECTIFICATION, reason);
  }

  @Mutation(() => DataSubjectRequest, {
    description: 'Files a restriction request (Art. 18); a PRIVACY_OFFICER applies it with restrictProcessing.',
  })
  async requestRestriction(
    @Arg('patientId', () => ID) patientId: string,
    @PhiArg(PhiCategory.CLINICAL) @Arg('reason', () => String) reason: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<DataSubjectRequest> {
    return this.fileRequest(ctx, patientId, Type.RESTRICTION, reason);
  }

  private async fileRequest(ctx: GraphQLContext, patientId: string, type: Type, reason: string) {
    const purpose = await purposeFor(ctx, patientId, DSR_FILERS);
    const actor = requireActor(ctx);
    return ctx.em.transactional(async (em) => {
      const filed = await ctx.services.dsr.file(em, { patientId, type, reason }, actor);
      await ctx.services.audit.record({ ...ctx, em }, [
        allowed('dsr.file', patientId, purpose, [...REQUEST_FIELDS, 'reason']),
      ]);
      return filed;
    });
  }

  @Query(() => [DataSubjectRequest], {
    description:
      'Requests, overdue open ones first, then by due date (at most 500). PRIVACY_OFFICER: every request; ' +
      'PATIENT: their own only.',
  })
  async dataSubjectRequests(
    @Arg('status', () => Status, { nullable: true }) status: Status | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<DataSubjectRequest[]> {
    const actor = requireRole(ctx, 'PRIVACY_OFFICER', 'PATIENT');
    if (actor.role === 'PATIENT' && !actor.patientId) return [];
    const patientId = actor.role === 'PATIENT' ? actor.patientId : null;

    const requests = await ctx.services.dsr.list(ctx.em, { status, patientId });

    const purpose = actor.role === 'PATIENT' ? 'SELF_ACCESS' : PRIVACY_PURPOSE;
    const patients = [...new Set(requests.map((r) => r.patientId))];
    await ctx.services.audit.record(
      ctx,
      patients.map((id) => allowed('dsr.read', id, purpose, REQUEST_FIELDS)),
    );
    return requests;
  }

  @Mutation(() => DataSubjectRequest, { description: 'Takes a RECEIVED request into review (PRIVACY_OFFICER).' })
  async startReview(@Arg('requestId', () => ID) requestId: string, @Ctx() ctx: GraphQLContext) {
    return this.decide(ctx, requestId, 'dsr.review', (em, request) =>
      ctx.services.dsr.transition(em, request, Status.IN_REVIEW),
    );
  }

  @Mutation(() => DataSubjectRequest, { description: 'Rejects an open request with a reason (PRIVACY_OFFICER).' })
  async rejectDataSubjectRequest(
    @Arg('requestId', () => ID) requestId: string,
    @PhiArg(PhiCategory.CLINICAL) @Arg('reason', () => String) reason: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<DataSubjectRequest> {
    const actor = requireRole(ctx, 'PRIVACY_OFFICER');
    return this.decide(ctx, requestId, 'dsr.reject', (em, request) =>
      ctx.services.dsr.reject(em, request, actor.userId, reason),
    );
  }

  @Mutation(() => DataSubjectRequest, {
    description:
      'Approves and carries out an erasure (Art. 17): a PRIVACY_OFFICER other than the one who filed it, with a ' +
      'fresh second factor. `certificate` says what was erased and what a legal duty keeps, signed by the server.',
  })
  async approveErasure(@Arg('requestId', () => ID) requestId: string, @Ctx() ctx: GraphQLContext) {
    const actor = requireRole(ctx, 'PRIVACY_OFFICER');
    await ctx.services.dsr.assertFreshStepUp(ctx.em, actor);
    const done = await this.decide(ctx, requestId, 'dsr.complete', async (em, request) => {
      if (request.type !== Type.ERASURE) throw badUserInput('Only an ERASURE request is approved here', 'requestId');
      // Four eyes: an officer who filed an erasure on a patient's behalf does not also approve it.
      if (request.requestedBy === actor.userId) throw forbidden();
      const reviewed =
        request.status === Status.RECEIVED ? await ctx.services.dsr.transition(em, request, Status.IN_REVIEW) : request;
      // Checked before anything is erased: a rejected or completed request never erases.
      assertTransition(reviewed.type, reviewed.status, Status.COMPLETED);
      const certificate = await ctx.services.erasure.erase(em, reviewed, actor);
      return ctx.services.dsr.transition(em, reviewed, Status.COMPLETED, {
        decidedBy: actor.userId,
        certificate: certificate as unknown as Record<string, unknown>,
      });
    });
    forget(ctx, done.patientId);
    return done;
  }

  @Mutation(() => DataSubjectRequest, {
    description:
      'Restricts processing of a patient (Art. 18): only treatment (care team, break-glass), the patient ' +
      'themself and legal access remain. Completes the open RESTRICTION request, or records one.',
  })
  async restrictProcessing(
    @Arg('patientId', () => ID) patientId: string,
    @PhiArg(PhiCategory.CLINICAL) @Arg('reason', () => String) reason: string,
    @Ctx() ctx: GraphQLContext,
  ): Promise<DataSubjectRequest> {
    const actor = requireRole(ctx, 'PRIVACY_OFFICER');
    const done = await ctx.em.transactional(async (em) => {
      const { dsr } = ctx.services;
      const [row] = await em.execute<{ restricted_at: Date | null }[]>(
        'SELECT restricted_at FROM patients WHERE id = ? FOR NO KEY UPDATE',
        [patientId],
      );
      if (!row) throw notFound('Patient');
      if (row.restricted_at) throw badUserInput('Processing of this patient is already restricted', 'patientId');

      await em.execute('UPDATE patients SET restricted_at = clock_timestamp() WHERE id = ?', [patientId]);
      const [open] = await dsr.openOf(em, patientId, Type.RESTRICTION);
      const request = open ?? (await dsr.file(em, { patientId, type: Type.RESTRICTION, reason }, actor));
      const completed = await dsr.complete(em, request, { decidedBy: actor.userId });
      await ctx.services.audit.record({ ...ctx, em }, [
        allowed('patient.restrict', patientId, PRIVACY_PURPOSE, ['restrictedAt']),
        allowed('dsr.complete', patientId, PRIVACY_PURPOSE, REQUEST_FIELDS),
      ]);
      return completed;
    });
    forget(ctx, patientId);
    return done;
  }

  @Mutation(() => Boolean, {
    description:
      'Lifts a restriction of processing (PRIVACY_OFFICER). Refused while an erasure keeps data under a ' +
      'legal retention duty: that data stays restricted until the retention sweep removes it.',
  })
  async liftRestriction(@Arg('patientId', () => ID) patientId: string, @Ctx() ctx: GraphQLContext): Promise<boolean> {
    requireRole(ctx, 'PRIVACY_OFFICER');
    if (!(await ctx.services.consents.patientExists(ctx.em, patientId))) throw notFound('Patient');
    await ctx.em.transactional(async (em) => {
      const held = await em.execute('SELECT 1 FROM erasure_holds WHERE patient_id = ? LIMIT 1', [patientId]);
      if (held.length > 0) throw badUserInput('This patient was erased; what is kept stays restricted', 'patientId');
      const lifted = await em.execute(
        'UPDATE patients SET restricted_at = NULL WHERE id = ? AND restricted_at IS NOT NULL RETURNING id',
        [patientId],
      );
      if (lifted.length === 0) throw badUserInput('Processing of this patient is not restricted', 'patientId');
      await ctx.services.audit.record({ ...ctx, em }, [
        allowed('patient.unrestrict', patientId, PRIVACY_PURPOSE, ['restrictedAt']),
      ]);
    });
    forget(ctx, patientId);
    return true;
  }

  /** A PRIVACY_OFFICER's decision on one request: locked, changed and audited in one transaction. */
  private async decide(
    ctx: GraphQLContext,
    requestId: string,
    action: string,
    change: (em: GraphQLContext['em'], request: DataSubjectRequest) => Promise<DataSubjectRequest>,
  ): Promise<DataSubjectRequest> {
    requireRole(ctx, 'PRIVACY_OFFICER');
    return ctx.em.transactional(async (em) => {
      const request = await ctx.services.dsr.get(em, requestId, true);
      const changed = await change(em, request);
      // A decision on a RECEIVED request passes through IN_REVIEW: both steps are in the trail.
      const reviewed = request.status === Status.RECEIVED && changed.status !== Status.IN_REVIEW;
      await ctx.services.audit.record({ ...ctx, em }, [
        ...(reviewed ? [allowed('dsr.review', changed.patientId, PRIVACY_PURPOSE, REQUEST_FIELDS)] : []),
        allowed(action, changed.patientId, PRIVACY_PURPOSE, REQUEST_FIELDS),
      ]);
      return changed;
    });
  }

  @FieldResolver(() => String, {
    nullable: true,
    description: 'The finished export as a JSON string; only in the response of requestDataExport, never stored.',
  })
  data(@Root() request: DataSubjectRequest): string | null {
    return request.data ?? null;
  }

  @FieldResolver(() => String, {
    nullable: true,
    description: 'Signed erasure certificate (JSON string): erased and kept categories, legal grounds; no PHI.',
  })
  certificate(@Root() request: DataSubjectRequest): string | null {
    return request.certificate ? JSON.stringify(request.certificate) : null;
  }

  @FieldResolver(() => Boolean, { description: 'Open and past its due date.' })
  overdue(@Root() request: DataSubjectRequest): boolean {
    const open = request.status === Status.RECEIVED || request.status === Status.IN_REVIEW;
    return open && request.dueAt.getTime() < Date.now();
  }

  @FieldResolver(() => String, {
    nullable: true,
    description:
      "The requester's text: for PRIVACY_OFFICER, the patient and whoever filed it; null after erasure destroyed the key.",
  })
  async reason(@Root() request: DataSubjectRequest, @Ctx() ctx: GraphQLContext): Promise<string | null> {
    return this.mayReadText(ctx, request) ? ctx.services.dsr.openText(ctx.em, request, 'reason') : null;
  }

  @FieldResolver(() => String, {
    nullable: true,
    description: 'Why the request was rejected (same readers as reason).',
  })
  async rejectionReason(@Root() request: DataSubjectRequest, @Ctx() ctx: GraphQLContext): Promise<string | null> {
    return this.mayReadText(ctx, request) ? ctx.services.dsr.openText(ctx.em, request, 'rejectionReason') : null;
  }

  private mayReadText(ctx: GraphQLContext, request: DataSubjectRequest): boolean {
    const actor = ctx.actor;
    if (!actor) return false;
    return (
      actor.role === 'PRIVACY_OFFICER' ||
      (actor.role === 'PATIENT' && actor.patientId === request.patientId) ||
      actor.userId === request.requestedBy
    );
  }
}
