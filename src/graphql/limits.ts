import {
  GraphQLError,
  Kind,
  Lexer,
  Source,
  TokenKind,
  getNamedType,
  getNullableType,
  isCompositeType,
  isInterfaceType,
  isListType,
  isObjectType,
  visit,
  type ASTNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';

/** The configurable limits every GraphQL document and operation must stay within (see README, "Abuse limits"). */
export interface QueryLimits {
  /** Size of the document text in UTF-8 bytes, checked before it is read. */
  maxBytes: number;
  /** Lexical tokens (names, punctuation, values; not comments), checked before parsing. */
  maxTokens: number;
  /** Nesting of fields; the operation's own fields are depth 1. */
  maxDepth: number;
  /** Aliases in the whole document. */
  maxAliases: number;
  /** Cost budget of the operation that runs (see `operationCost`). */
  maxCost: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  maxBytes: 20 * 1024,
  maxTokens: 2000,
  maxDepth: 8,
  maxAliases: 15,
  maxCost: 5000,
};

/** Directives on one field or fragment; graphql defines two that apply there (@include, @skip). */
export const MAX_DIRECTIVES_PER_SELECTION = 3;

/**
 * How often one response name may be selected in one selection set, counting fields reached through fragments.
 * graphql's OverlappingFieldsCanBeMerged compares every pair of same-named fields: hundreds of them cost up to a
 * second of validation (graphql 16.15 then aborts at its own budget). Ten leaves room for clients that add
 * `__typename` and `id` to every colocated fragment. Nested repeats (`p { p { p { id id } p } p }`) are not
 * bounded by this count but by QUERY_MAX_TOKENS and QUERY_MAX_DEPTH: within the defaults they cost at most
 * about 0.1 s of validation.
 */
export const MAX_SAME_NAME_SELECTIONS = 10;

/** Sign-in and card fields: one of them per operation, so one request cannot try many passwords, codes or cards. */
export const SINGLE_USE_FIELDS: readonly string[] = ['login', 'verifyMfa', 'refreshSession', 'tokenizeCard'];

/** Page size a list weighs when no `first` says otherwise, and the most it can weigh (the resolvers' own cap). */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export type LimitName =
  'bytes' | 'tokens' | 'depth' | 'aliases' | 'directives' | 'sameNameSelections' | 'singleUseField' | 'cost';

/** Which limit a document broke, with the measured value: for the server log only, never for the client. */
export interface LimitViolation {
  limit: LimitName;
  actual: number;
  max: number;
}

const INTROSPECTION_ROOTS = new Set(['__schema', '__type']);

function over(limit: LimitName, actual: number, max: number): LimitViolation | null {
  return actual > max ? { limit, actual, max } : null;
}

/**
 * Tokens in `source`, counted the way graphql's parser counts them for `maxTokens`; stops once past `stopAfter`.
 * Throws graphql's syntax error on a character the lexer rejects.
 */
export function countTokens(source: string, stopAfter = Infinity): number {
  const lexer = new Lexer(new Source(source));
  let count = 0;
  while (lexer.advance().kind !== TokenKind.EOF) {
    count += 1;
    if (count > stopAfter) break;
  }
  return count;
}

/** Size and token count of a document's text: cheap, and run before the text is parsed. */
export function checkSource(source: string, limits: QueryLimits): LimitViolation | null {
  const bytes = Buffer.byteLength(source, 'utf8');
  if (bytes > limits.maxBytes) return { limit: 'bytes', actual: bytes, max: limits.maxBytes };
  try {
    return over('tokens', countTokens(source, limits.maxTokens), limits.maxTokens);
  } catch (error) {
    // Not a limit: the parser reports the syntax error (with a generic message, see errors.ts).
    if (error instanceof GraphQLError) return null;
    throw error;
  }
}

/** What one selection set holds, with fragments expanded (each fragment summarised once). */
interface Summary {
  /** Occurrences of each response name at this level, through inline fragments and spreads. */
  names: Map<string, number>;
  /** Deepest field nesting from this level down, not counting inside introspection. */
  depth: number;
  /** Sign-in and card fields, counted with every fragment spread. */
  singleUse: number;
  /** Most occurrences of one response name in any selection set from this level down. */
  sameName: number;
}

const empty = (): Summary => ({ names: new Map(), depth: 0, singleUse: 0, sameName: 0 });

/**
 * Walks selection sets before validation has run, so it survives what validation would refuse: a spread
 * of an unknown fragment or a fragment cycle counts as empty (validation then refuses the document).
 * Fragments are summarised once per mode, so a fragment spread many times costs no more than once.
 */
class SelectionWalker {
  private readonly fragments = new Map<string, FragmentDefinitionNode>();
  private readonly summaries = new Map<string, Summary>();
  private readonly visiting = new Set<string>();

  constructor(document: DocumentNode) {
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) this.fragments.set(definition.name.value, definition);
    }
  }

  walk(selectionSet: SelectionSetNode, inIntrospection: boolean): Summary {
    const summary = empty();
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        this.addField(summary, selection, inIntrospection);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        merge(summary, this.walk(selection.selectionSet, inIntrospection));
      } else {
        merge(summary, this.fragment(selection.name.value, inIntrospection));
      }
    }
    for (const count of summary.names.values()) summary.sameName = Math.max(summary.sameName, count);
    return summary;
  }

  private addField(summary: Summary, field: FieldNode, inIntrospection: boolean): void {
    const name = field.name.value;
    const responseName = field.alias?.value ?? name;
    summary.names.set(responseName, (summary.names.get(responseName) ?? 0) + 1);
    if (SINGLE_USE_FIELDS.includes(name)) summary.singleUse += 1;

    const below = inIntrospection || INTROSPECTION_ROOTS.has(name);
    const child = field.selectionSet ? this.walk(field.selectionSet, below) : empty();

    summary.depth = Math.max(summary.depth, inIntrospection ? 0 : 1 + child.depth);
    summary.singleUse += child.singleUse;
    summary.sameName = Math.max(summary.sameName, child.sameName);
  }

  private fragment(name: string, inIntrospection: boolean): Summary {
    const key = `${name}|${inIntrospection}`;
    const known = this.summaries.get(key);
    if (known) return known;
    const definition = this.fragments.get(name);
    if (!definition || this.visiting.has(key)) return empty();

    this.visiting.add(key);
    const summary = this.walk(definition.selectionSet, inIntrospection);
    this.visiting.delete(key);
    this.summaries.set(key, summary);
    return summary;
  }
}

function merge(into: Summary, from: Summary): void {
  for (const [name, count] of from.names) into.names.set(name, (into.names.get(name) ?? 0) + count);
  into.depth = Math.max(into.depth, from.depth);
  into.singleUse += from.singleUse;
  into.sameName = Math.max(into.sameName, from.sameName);
}

/** Aliases in the document and the most directives on one node, counted on the text as written. */
function countAliasesAndDirectives(document: DocumentNode): { aliases: number; directives: number } {
  let aliases = 0;
  let directives = 0;
  const countDirectives = (node: ASTNode & { directives?: readonly unknown[] }): void => {
    directives = Math.max(directives, node.directives?.length ?? 0);
  };
  visit(document, {
    Field(node) {
      if (node.alias) aliases += 1;
      countDirectives(node);
    },
    FragmentSpread: countDirectives,
    InlineFragment: countDirectives,
    OperationDefinition: countDirectives,
    FragmentDefinition: countDirectives,
    VariableDefinition: countDirectives,
  });
  return { aliases, directives };
}

/**
 * The limits that need only the parsed document, safe to run before graphql's validation: depth, aliases,
 * directives, same-name selections, sign-in and card fields per operation. Introspection (`__schema`,
 * `__type`) does not count towards depth, or graphql's own introspection query (depth 15) would be refused;
 * graphql's MaxIntrospectionDepthRule (a specified rule) bounds its nesting of lists instead.
 */
export function checkDocument(document: DocumentNode, limits: QueryLimits): LimitViolation | null {
  const { aliases, directives } = countAliasesAndDirectives(document);
  const syntactic =
    over('aliases', aliases, limits.maxAliases) ?? over('directives', directives, MAX_DIRECTIVES_PER_SELECTION);
  if (syntactic) return syntactic;

  const walker = new SelectionWalker(document);
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    const summary = walker.walk(definition.selectionSet, false);
    const violation =
      over('depth', summary.depth, limits.maxDepth) ??
      over('sameNameSelections', summary.sameName, MAX_SAME_NAME_SELECTIONS) ??
      over('singleUseField', summary.singleUse, 1);
    if (violation) return violation;
  }
  return null;
}

/** A `first` argument's value as a page size, capped; undefined when the field takes none. */
function pageSize(
  field: FieldNode,
  definition: GraphQLField<unknown, unknown>,
  operation: OperationDefinitionNode,
  variables: Readonly<Record<string, unknown>>,
): number | undefined {
  const argument = definition.args.find((arg) => arg.name === 'first');
  if (!argument) return undefined;
  let value: unknown = argument.defaultValue;
  const given = field.arguments?.find((arg) => arg.name.value === 'first')?.value;
  if (given?.kind === Kind.INT) value = Number(given.value);
  if (given?.kind === Kind.VARIABLE) {
    const name = given.name.value;
    const declared = operation.variableDefinitions?.find((def) => def.variable.name.value === name)?.defaultValue;
    if (Object.hasOwn(variables, name)) value = variables[name];
    else if (declared?.kind === Kind.INT) value = Number(declared.value);
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) return DEFAULT_PAGE_SIZE;
  return Math.min(Math.max(value, 0), MAX_PAGE_SIZE);
}

/**
 * The cost of running `operation` of a validated document: every field counts 1 per value it may produce,
 * and a list of objects produces as many values as its page size: its own `first`, else the `first` of
 * the connection field it sits in (`patients(first) { nodes }`), else 20; `first` counts at most 100.
 * Nested lists multiply. A list of scalars counts 1 (one column). `__schema`/`__type` count 1 each: their
 * nesting is bounded by graphql's MaxIntrospectionDepthRule. `@skip`/`@include` are ignored, so the cost is
 * an upper bound.
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Readonly<Record<string, unknown>> = {},
): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const fragmentCosts = new Map<string, number>();

  const costOf = (selectionSet: SelectionSetNode, parent: GraphQLCompositeType, inheritedPage?: number): number => {
    let cost = 0;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        cost += fieldCost(selection, parent, inheritedPage);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parent;
        if (type && isCompositeType(type)) cost += costOf(selection.selectionSet, type, inheritedPage);
      } else {
        const key = `${selection.name.value}|${inheritedPage ?? ''}`;
        let known = fragmentCosts.get(key);
        if (known === undefined) {
          // A validated document has no fragment cycles; the placeholder keeps a broken one finite anyway.
          fragmentCosts.set(key, 0);
          const definition = fragments.get(selection.name.value);
          const type = definition && schema.getType(definition.typeCondition.name.value);
          const valid = definition && type && isCompositeType(type);
          known = valid ? costOf(definition.selectionSet, type, inheritedPage) : 0;
          fragmentCosts.set(key, known);
        }
        cost += known;
      }
    }
    return cost;
  };

  const fieldCost = (field: FieldNode, parent: GraphQLCompositeType, inheritedPage?: number): number => {
    // Unions have no fields of their own, and `__typename`, `__schema`, `__type` are not among getFields().
    const fields = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields() : {};
    const definition = fields[field.name.value];
    if (!definition || !field.selectionSet) return 1;
    const type = getNamedType(definition.type);
    if (!isCompositeType(type)) return 1;
    const page = pageSize(field, definition, operation, variables);
    if (isListType(getNullableType(definition.type))) {
      return (page ?? inheritedPage ?? DEFAULT_PAGE_SIZE) * (1 + costOf(field.selectionSet, type, undefined));
    }
    return 1 + costOf(field.selectionSet, type, page);
  };

  const root = schema.getRootType(operation.operation);
  return root ? costOf(operation.selectionSet, root, undefined) : 0;
}

/** The cost limit for the operation that runs. */
export function checkCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Readonly<Record<string, unknown>> | undefined,
  limits: QueryLimits,
): LimitViolation | null {
  return over('cost', operationCost(schema, document, operation, variables ?? {}), limits.maxCost);
}
