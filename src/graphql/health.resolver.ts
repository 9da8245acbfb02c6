import { Query, Resolver } from 'type-graphql';

/** The public liveness query: answers without touching the database or revealing anything. */
@Resolver()
export class HealthResolver {
  @Query(() => String, { description: 'Answers "ok" while the API process is up.' })
  health(): string {
    return 'ok';
  }
}
