import type { Actor } from '../graphql/context';

/** Sign-in, sessions and tokens. (Being implemented: see the identity issue.) */
export class AuthService {
  /** The verified caller for an `Authorization` header, or null for anonymous requests. */
  async authenticate(_authorization: string | undefined): Promise<Actor | null> {
    return null;
  }

  /** Creates the bootstrap admin on first start when configured. */
  async bootstrap(): Promise<void> {}
}
