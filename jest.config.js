/** Jest runs every suite against real PostgreSQL: a database per worker, migrated once per run. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  setupFiles: ['<rootDir>/test/setup/env.ts'],
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
  testTimeout: 60000,
  maxWorkers: 2,
  // reports/jest-results.json (test/setup/json-reporter.js) is what `npm run compliance:report` reads.
  reporters: ['default', '<rootDir>/test/setup/json-reporter.js'],
};
