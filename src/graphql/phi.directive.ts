import { DirectiveLocation, GraphQLDirective, GraphQLEnumType, GraphQLNonNull } from 'graphql';

import { PhiCategory } from '../phi/phi.types';

const categoryEnum = new GraphQLEnumType({
  name: 'PhiCategory',
  values: Object.fromEntries(Object.values(PhiCategory).map((c) => [c, { value: c }])),
});

/** Declares `@phi` in the SDL so integrators' tools accept the mark on PHI fields. */
export const phiDirective = new GraphQLDirective({
  name: 'phi',
  description:
    'Protected health information of the given category: encrypted at rest, audited when read, and redacted for roles whose policy does not grant the category.',
  locations: [
    DirectiveLocation.FIELD_DEFINITION,
    DirectiveLocation.INPUT_FIELD_DEFINITION,
    DirectiveLocation.ARGUMENT_DEFINITION,
  ],
  args: { category: { type: new GraphQLNonNull(categoryEnum) } },
});
