import {
  buildSchema,
  getNamedType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isScalarType,
  parse,
  type GraphQLInputType,
  type GraphQLSchema,
  type InputValueDefinitionNode,
  type OperationDefinitionNode,
} from 'graphql';

import { buildExecutableSchema, printAppSchema } from '../../src/graphql/schema';
import { buildGuardPlan, findPhiInOperation, guardPlanFor, STRUCTURED_SCALARS } from '../../src/phi/input-guard';
import { NotPhiInput } from '../../src/phi/phi.decorator';

/** The test's own reading of the marks, independent of the guard's. */
function markOf(node: InputValueDefinitionNode | undefined | null): 'phi' | 'exempt' | undefined {
  const names = node?.directives?.map((d) => d.name.value) ?? [];
  if (names.includes('phi')) return 'phi';
  return names.includes('phiExempt') ? 'exempt' : undefined;
}

function isFreeText(type: GraphQLInputType): boolean {
  const named = getNamedType(type);
  return isScalarType(named) && !(named.name in STRUCTURED_SCALARS);
}

interface Census {
  /** Free-text definitions reached from some field argument without passing a mark: these must be screened. */
  screened: Set<string>;
  /** Every free-text argument and input field definition, with its own mark. */
  all: Map<string, 'phi' | 'exempt' | undefined>;
  /** Exemptions and their reasons. */
  reasons: Map<string, string>;
  /** Input types used (directly or nested) by an argument or input field marked @phi. */
  underPhi: Set<string>;
}

/** Walks every argument of every field and every input field reachable from it, stopping at marks. */
function census(schema: GraphQLSchema): Census {
  const result: Census = { screened: new Set(), all: new Map(), reasons: new Map(), underPhi: new Set() };
  const visitedTypes = new Set<string>();
  const note = (coordinate: string, node: InputValueDefinitionNode | undefined | null) => {
    const exempt = node?.directives?.find((d) => d.name.value === 'phiExempt');
    const reason = exempt?.arguments?.[0]?.value;
    if (exempt) result.reasons.set(coordinate, reason?.kind === 'StringValue' ? reason.value : '');
  };
  const collectUnderPhi = (type: GraphQLInputType) => {
    const named = getNamedType(type);
    if (!isInputObjectType(named) || result.underPhi.has(named.name)) return;
    result.underPhi.add(named.name);
    for (const field of Object.values(named.getFields())) collectUnderPhi(field.type);
  };
  const descend = (type: GraphQLInputType) => {
    const named = getNamedType(type);
    if (!isInputObjectType(named) || visitedTypes.has(named.name)) return;
    visitedTypes.add(named.name);
    for (const field of Object.values(named.getFields())) {
      if (markOf(field.astNode)) continue;
      if (isFreeText(field.type)) result.screened.add(`${named.name}.${field.name}`);
      descend(field.type);
    }
  };
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__')) continue;
    if (isObjectType(type) || isInterfaceType(type)) {
      for (const field of Object.values(type.getFields())) {
        for (const arg of field.args) {
          const coordinate = `${type.name}.${field.name}(${arg.name}:)`;
          note(coordinate, arg.astNode);
          if (isFreeText(arg.type)) result.all.set(coordinate, markOf(arg.astNode));
          if (markOf(arg.astNode) === 'phi') collectUnderPhi(arg.type);
          if (markOf(arg.astNode)) continue;
          if (isFreeText(arg.type)) result.screened.add(coordinate);
          descend(arg.type);
        }
      }
    }
    if (isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) {
        const coordinate = `${type.name}.${field.name}`;
        note(coordinate, field.astNode);
        if (isFreeText(field.type)) result.all.set(coordinate, markOf(field.astNode));
        if (markOf(field.astNode) === 'phi') collectUnderPhi(field.type);
      }
    }
  }
  return result;
}

let schema: GraphQLSchema;
let seen: Census;

beforeAll(async () => {
  schema = await buildExecutableSchema();
  seen = census(schema);
});

describe('which inputs the PHI screen covers', () => {
  it("screens exactly the free-text inputs that are neither PHI-marked nor exempt (the guard's plan is the census)", () => {
    expect([...guardPlanFor(schema).coordinates].sort()).toEqual([...seen.screened].sort());
  });

  it('accounts for every free-text argument and input field: marked PHI, exempt, screened, or under a PHI mark', () => {
    const unaccounted = [...seen.all.keys()].filter((c) => !seen.all.get(c) && !seen.screened.has(c));
    // What is left belongs to input types that sit under a @phi mark (a patient's address) and nowhere else.
    const outsidePhi = unaccounted.filter((coordinate) => !seen.underPhi.has(coordinate.split('.')[0]));
    expect(outsidePhi).toEqual([]);
    expect(unaccounted).toContain('AddressInput.line1');
  });

  it('gives every exemption a reason', () => {
    expect(seen.reasons.size).toBeGreaterThan(0);
    for (const [coordinate, reason] of seen.reasons)
      expect({ coordinate, reason: reason.trim().length > 0 }).toEqual({ coordinate, reason: true });
    expect(() => NotPhiInput('  ')).toThrow('NotPhiInput needs a reason');
  });

  it('screens the free text the issue names', () => {
    for (const coordinate of [
      'InvoiceLineInput.description',
      'CreateUserInput.displayName',
      'ConsentInput.policyVersion',
      'AuditEventFilter.action',
      'SecurityEventFilter.eventType',
      'Mutation.payInvoice(idempotencyKey:)',
    ]) {
      expect({ coordinate, screened: seen.screened.has(coordinate) }).toEqual({ coordinate, screened: true });
    }
  });

  it('exempts credentials, tokens, codes, card data and cursors, and marks PHI arguments and sealed reasons', () => {
    const marks = Object.fromEntries(seen.all);
    for (const coordinate of [
      'Mutation.login(password:)',
      'Mutation.login(email:)',
      'CreateUserInput.password',
      'Mutation.refreshSession(refreshToken:)',
      'Mutation.verifyMfa(code:)',
      'Mutation.stepUpMfa(recoveryCode:)',
      'CardInput.number',
      'CardInput.cvc',
      'Query.patients(after:)',
    ]) {
      expect({ coordinate, mark: marks[coordinate] }).toEqual({ coordinate, mark: 'exempt' });
    }
    for (const coordinate of [
      'Query.findPatients(ssn:)',
      'Query.findPatients(email:)',
      'Query.findPatients(lastName:)',
      'Mutation.breakGlass(reason:)',
      'Mutation.requestErasure(reason:)',
      'Mutation.rejectDataSubjectRequest(reason:)',
    ]) {
      expect({ coordinate, mark: marks[coordinate] }).toEqual({ coordinate, mark: 'phi' });
    }
  });

  it('keeps the hot read path out of the walk: patients(first:) has no screened argument and no nested field does', () => {
    const plan = guardPlanFor(schema);
    expect(plan.fields.has('Query.patients')).toBe(false);
    expect(plan.nested).toBe(false);
  });

  it('shows the marks and the exemptions with their reasons in the published SDL', async () => {
    const sdl = await printAppSchema();
    expect(sdl).toMatch(/ssn: String @phi\(category: IDENTIFIER\)/);
    expect(sdl).toMatch(/password: String! @phiExempt\(reason: "a credential: /);
    expect(sdl).toMatch(/directive @phiExempt\(reason: String!\) on ARGUMENT_DEFINITION \| INPUT_FIELD_DEFINITION/);
  });
});

describe('the walk over an operation', () => {
  const small = buildSchema(`
    directive @phi(category: String) on ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION
    directive @phiExempt(reason: String!) on ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION
    type Query { search(q: String, ssn: String @phi(category: "IDENTIFIER")): [Thing] }
    interface Node { id: ID! }
    type Thing implements Node { id: ID! notes(filter: Filter): [String] }
    input Filter { text: String, tags: [[String!]], child: Filter, secret: String @phiExempt(reason: "test"), at: Int }
  `);
  const find = (document: string, variables?: Record<string, unknown>) => {
    const parsed = parse(document);
    const operation = parsed.definitions.find((d) => d.kind === 'OperationDefinition') as OperationDefinitionNode;
    return findPhiInOperation(small, parsed, operation, variables);
  };

  it('plans arguments of nested fields and recursive input objects', () => {
    const plan = buildGuardPlan(small);
    expect([...plan.coordinates].sort()).toEqual(['Filter.tags', 'Filter.text', 'Query.search(q:)']);
    expect(plan.nested).toBe(true);
  });

  it('finds PHI in nested fields, fragments, lists of lists and recursive inputs, and names the path', () => {
    const hit = find(
      `query($t: String) { s: search(q: "knee") { ...F } }
       fragment F on Node { ... on Thing { notes(filter: { child: { tags: [["a"], ["b", $t]] } }) } }`,
      { t: 'jane.doe@example.org' },
    );
    expect(hit).toEqual({ field: 'search.notes.filter.child.tags[1][1]', kinds: ['EMAIL'] });
  });

  it('leaves PHI-marked and exempt inputs alone and ignores variables that do not coerce', () => {
    expect(find(`{ search(ssn: "123-45-6789") { id } }`)).toBeUndefined();
    expect(find(`{ search { notes(filter: { secret: "123-45-6789" }) } }`)).toBeUndefined();
    expect(find(`query($q: String) { search(q: $q) { id } }`, { q: 42 })).toBeUndefined();
    expect(find(`query($q: String) { search(q: $q) { id } }`, { q: '123-45-6789' })).toEqual({
      field: 'search.q',
      kinds: ['SSN'],
    });
  });
});
