import type * as Jose from 'jose' with { 'resolution-mode': 'import' };

/** The jose module's exports, typed from its ESM declarations. */
export type JoseModule = typeof Jose;

let loaded: JoseModule | undefined;

/**
 * Loads jose 6, which ships only as ESM, from this CommonJS build. Node >= 20.19 (our `engines`
 * floor) loads ESM through `require`; the native loader is taken from `process.getBuiltinModule`
 * because jest 29 replaces `require` and `createRequire` with its own CommonJS-only loader, and
 * one code path for production and tests beats a test-only branch. Known shortcoming: a jest
 * config that transforms jose (or ESM tests) would let this become a plain `import`.
 */
export function jose(): JoseModule {
  if (!loaded) {
    const { createRequire } = process.getBuiltinModule('node:module');
    loaded = createRequire(__filename)('jose') as JoseModule;
  }
  return loaded;
}
