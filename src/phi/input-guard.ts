import {
  getArgumentValues,
  getNamedType,
  getVariableValues,
  isCompositeType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isScalarType,
  Kind,
  type ConstDirectiveNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLInputType,
  type GraphQLSchema,
  type InputValueDefinitionNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

import { detectPhi, type PhiHitKind } from './phi-detector';
import { PHI_EXEMPT_DIRECTIVE } from './phi.decorator';

/**
 * Scalars that are not free text, and why they are not screened: graphql's own non-strings, values the scalar
 * parses into a fixed format, and ids.
 */
export const STRUCTURED_SCALARS: Readonly<Record<string, string>> = {
  Int: 'a number',
  Float: 'a number',
  Boolean: 'a flag',
  Date: 'an ISO 8601 calendar date; the scalar refuses anything else',
  DateTime: 'an ISO 8601 time stamp, parsed into a Date; the scalar refuses anything else',
  ID: 'a row id: every service checks isUuid (db/ids.ts) before it queries and answers NOT_FOUND otherwise, so a value that is not a UUID is never stored, logged or sent to PostgreSQL',
};

/** How an argument or input field is marked: PHI expected there, or exempt from the screen with a reason. */
export type InputMark = { phi: true } | { exempt: string };

/** The mark an argument or input field carries in the SDL (`@phi` or `@phiExempt(reason:)`), if any. */
export function inputMarkOf(node: InputValueDefinitionNode | undefined | null): InputMark | undefined {
  for (const directive of node?.directives ?? ([] as readonly ConstDirectiveNode[])) {
    if (directive.name.value === 'phi') return { phi: true };
    if (directive.name.value === PHI_EXEMPT_DIRECTIVE) {
      const reason = directive.arguments?.find((a) => a.name.value === 'reason')?.value;
      return { exempt: reason?.kind === Kind.STRING ? reason.value : '' };
    }
  }
  return undefined;
}

/** What to screen in one value: all of it as text (every string in it), or some fields of an input object. */
export type ValueScreen = 'text' | { fields: Map<string, ValueScreen> };

/** Which inputs are screened, computed once per schema. */
export interface GuardPlan {
  /** Screens by argument name, per `Type.field`; fields without a screened argument are absent. */
  fields: Map<string, Map<string, ValueScreen>>;
  /** Whether a field below the root has screened arguments; if not, only root fields are looked at. */
  nested: boolean;
  /** Schema coordinates of every screened definition: `Type.field(arg:)` and `InputType.field`. */
  coordinates: Set<string>;
}

/**
 * Derives the plan from the marks: every argument and input field of a free-text type (String, or a scalar not in
 * STRUCTURED_SCALARS) is screened unless it or an enclosing input field is marked `@phi` or `@phiExempt`.
 */
export function buildGuardPlan(schema: GraphQLSchema): GuardPlan {
  const plan: GuardPlan = { fields: new Map(), nested: false, coordinates: new Set() };
  const byInputType = new Map<string, ValueScreen | null>();

  const screenOf = (type: GraphQLInputType): ValueScreen | null => {
    const named = getNamedType(type);
    if (isScalarType(named)) return named.name in STRUCTURED_SCALARS ? null : 'text';
    if (!isInputObjectType(named)) return null;
    if (byInputType.has(named.name)) return byInputType.get(named.name) ?? null;
    const screen = { fields: new Map<string, ValueScreen>() };
    byInputType.set(named.name, screen);
    for (const field of Object.values(named.getFields())) {
      if (inputMarkOf(field.astNode)) continue;
      const inner = screenOf(field.type);
      if (!inner) continue;
      screen.fields.set(field.name, inner);
      if (inner === 'text') plan.coordinates.add(`${named.name}.${field.name}`);
    }
    if (screen.fields.size === 0) byInputType.set(named.name, null);
    return screen.fields.size > 0 ? screen : null;
  };

  for (const type of Object.values(schema.getTypeMap())) {
    if ((!isObjectType(type) && !isInterfaceType(type)) || type.name.startsWith('__')) continue;
    const root = type === schema.getQueryType() || type === schema.getMutationType();
    for (const field of Object.values(type.getFields())) {
      const args = new Map<string, ValueScreen>();
      for (const arg of field.args) {
        if (inputMarkOf(arg.astNode)) continue;
        const screen = screenOf(arg.type);
        if (!screen) continue;
        args.set(arg.name, screen);
        if (screen === 'text') plan.coordinates.add(`${type.name}.${field.name}(${arg.name}:)`);
      }
      if (args.size === 0) continue;
      plan.fields.set(`${type.name}.${field.name}`, args);
      if (!root) plan.nested = true;
    }
  }
  return plan;
}

const plans = new WeakMap<GraphQLSchema, GuardPlan>();

/** The plan of a schema, built on first use. */
export function guardPlanFor(schema: GraphQLSchema): GuardPlan {
  let plan = plans.get(schema);
  if (!plan) plans.set(schema, (plan = buildGuardPlan(schema)));
  return plan;
}

/** A screened input that holds PHI: its path in the operation and the kinds found, never the value. */
export interface PhiInInput {
  /** e.g. `createInvoice.input.lines[0].description` (schema field names, not aliases). */
  field: string;
  kinds: PhiHitKind[];
}

function screenValue(value: unknown, screen: ValueScreen, path: string): PhiInInput | undefined {
  if (value === null || value === undefined) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = screenValue(value[i], screen, `${path}[${i}]`);
      if (hit) return hit;
    }
    return undefined;
  }
  if (screen === 'text' && typeof value === 'string') {
    const kinds = detectPhi(value);
    return kinds.length > 0 ? { field: path, kinds } : undefined;
  }
  if (typeof value !== 'object') return undefined;
  // An input object's screened fields, or every entry of a free-form (JSON) value screened as text.
  const entries = screen === 'text' ? Object.keys(value).map((k) => [k, screen] as const) : screen.fields;
  for (const [name, inner] of entries) {
    const hit = screenValue((value as Record<string, unknown>)[name], inner, `${path}.${name}`);
    if (hit) return hit;
  }
  return undefined;
}

/**
 * Finds the first screened argument value of an operation that holds PHI: literals, variables (coerced as
 * execution will) and defaults, under aliases, fragments and nested input objects and lists. Fields skipped by
 * `@skip`/`@include` are screened too. Answers undefined when the variables do not coerce: execution refuses
 * those before any resolver runs.
 */
export function findPhiInOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  rawVariables: Record<string, unknown> | undefined,
): PhiInInput | undefined {
  const plan = guardPlanFor(schema);
  const root = schema.getRootType(operation.operation);
  if (plan.fields.size === 0 || !root) return undefined;
  let variables: Record<string, unknown> | null | undefined;
  const variablesOf = () => {
    if (variables === undefined) {
      const result = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {});
      variables = result.coerced ?? null;
    }
    return variables;
  };
  const seenFragments = new Set<string>();
  const fragment = (name: string) =>
    document.definitions.find(
      (d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === name,
    );

  const walk = (set: SelectionSetNode, parent: GraphQLCompositeType, prefix: string): PhiInInput | undefined => {
    for (const selection of set.selections) {
      let hit: PhiInInput | undefined;
      if (selection.kind === Kind.FIELD) {
        if (!isObjectType(parent) && !isInterfaceType(parent)) continue;
        const field = parent.getFields()[selection.name.value];
        if (!field) continue;
        const path = prefix ? `${prefix}.${field.name}` : field.name;
        const screens = plan.fields.get(`${parent.name}.${field.name}`);
        if (screens) {
          const coerced = variablesOf();
          if (coerced === null) return undefined;
          let args: Record<string, unknown>;
          try {
            args = getArgumentValues(field, selection, coerced);
          } catch {
            continue; // execution refuses the same arguments before the resolver runs
          }
          for (const [name, screen] of screens) {
            hit ??= screenValue(args[name], screen, `${path}.${name}`);
          }
        }
        const type = getNamedType(field.type);
        if (!hit && plan.nested && selection.selectionSet && isCompositeType(type)) {
          hit = walk(selection.selectionSet, type, path);
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
        if (isCompositeType(type)) hit = walk(selection.selectionSet, type, prefix);
      } else if (!seenFragments.has(selection.name.value)) {
        seenFragments.add(selection.name.value);
        const definition = fragment(selection.name.value);
        const type = definition && schema.getType(definition.typeCondition.name.value);
        if (definition && isCompositeType(type)) hit = walk(definition.selectionSet, type, prefix);
      }
      if (hit) return hit;
    }
    return undefined;
  };
  return walk(operation.selectionSet, root, '');
}
