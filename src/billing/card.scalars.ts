import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

/**
 * Input-only scalars for card data. With String, graphql's validation of a literal of the wrong kind
 * (`number: 4242424242424242`) quotes the literal in its message, and outside production errors.ts
 * passes validation messages through; these scalars raise fixed messages instead. Values given as
 * variables are also covered by errors.ts, which replaces every variable-coercion message.
 */
function cardScalar(name: string, description: string, pattern: RegExp): GraphQLScalarType<string, never> {
  const refusal = `${name} must be a string of digits`;
  const parse = (value: unknown): string => {
    if (typeof value !== 'string' || !pattern.test(value)) throw new GraphQLError(refusal);
    return value;
  };
  return new GraphQLScalarType<string, never>({
    name,
    description,
    serialize() {
      throw new GraphQLError(`${name} is an input-only type`);
    },
    parseValue: parse,
    parseLiteral(ast) {
      if (ast.kind !== Kind.STRING) throw new GraphQLError(refusal);
      return parse(ast.value);
    },
  });
}

/** A card number as typed: 12 to 19 digits, spaces or dashes between groups allowed. Never returned. */
export const CardNumberScalar = cardScalar(
  'CardNumber',
  'A card number (12 to 19 digits; spaces and dashes ignored). Input only: never stored, logged or returned.',
  /^[0-9 -]{1,40}$/,
);

/** A card security code (CVC/CVV). Never returned. */
export const CardSecurityCodeScalar = cardScalar(
  'CardSecurityCode',
  'A card security code (3 or 4 digits). Input only: never stored, logged or returned.',
  /^[0-9]{1,8}$/,
);
