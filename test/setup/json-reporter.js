// A jest reporter beside the default one: writes reports/jest-results.json, the result of every test of the run
// (full name, file, status, duration), the run's start time and the git commit. `npm run compliance:report` reads
// it; it holds no failure messages (they can quote values). A run of only some files (`jest test/x`) goes to
// reports/jest-results.partial.json instead, so that it does not replace the results of the last full run.
const { execFileSync } = require('node:child_process');
const { mkdirSync, renameSync, writeFileSync } = require('node:fs');
const { join, relative } = require('node:path');

class JsonResultsReporter {
  constructor(globalConfig, options = {}) {
    this.globalConfig = globalConfig;
    this.outputFile = options.outputFile;
  }

  onRunComplete(_contexts, results) {
    const rootDir = this.globalConfig.rootDir;
    const partial = Boolean(this.globalConfig.testPathPattern) || (this.globalConfig.nonFlagArgs ?? []).length > 0;
    const outputFile =
      this.outputFile ?? join(rootDir, 'reports', partial ? 'jest-results.partial.json' : 'jest-results.json');
    const file = (path) => relative(rootDir, path).split('\\').join('/');
    const report = {
      format: 'hms-jest-results',
      version: 1,
      startTime: new Date(results.startTime).toISOString(),
      endTime: new Date().toISOString(),
      commit: git(rootDir, ['rev-parse', 'HEAD']),
      // Uncommitted changes at the end of the run: the commit alone does not describe the tree that was tested.
      dirty: dirty(git(rootDir, ['status', '--porcelain', '--untracked-files=no'])),
      partial,
      // jest sets results.success only after the reporters ran.
      success: results.numFailedTests === 0 && !results.numFailedTestSuites && !results.numRuntimeErrorTestSuites,
      numTotalTests: results.numTotalTests,
      numFailedTests: results.numFailedTests,
      suites: results.testResults.map((suite) => ({
        file: file(suite.testFilePath),
        // A suite that could not run (syntax error, failing beforeAll) has no test results of its own.
        status: suite.testExecError || (suite.failureMessage && suite.numFailingTests === 0) ? 'error' : 'ran',
        numFailingTests: suite.numFailingTests,
      })),
      tests: results.testResults.flatMap((suite) =>
        suite.testResults.map((test) => ({
          file: file(suite.testFilePath),
          ancestors: test.ancestorTitles,
          title: test.title,
          fullName: test.fullName,
          status: test.status,
          durationMs: test.duration ?? null,
        })),
      ),
    };
    mkdirSync(join(outputFile, '..'), { recursive: true });
    const temporary = `${outputFile}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(report, null, 1)}\n`);
    renameSync(temporary, outputFile);
  }
}

/** Output of a read-only git command, or null outside a repository (a source archive). */
function git(cwd, args) {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** True or false from `git status --porcelain`, null when git could not tell. */
function dirty(status) {
  return status === null ? null : status !== '';
}

module.exports = JsonResultsReporter;
