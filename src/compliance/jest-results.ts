import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** One test of a run, as test/setup/json-reporter.js writes it. */
export interface JestTestResult {
  file: string;
  ancestors: string[];
  title: string;
  fullName: string;
  status: 'passed' | 'failed' | 'pending' | 'skipped' | 'todo' | 'disabled' | 'focused';
  durationMs: number | null;
}

/** reports/jest-results.json. */
export interface JestResults {
  format: 'hms-jest-results';
  version: 1;
  startTime: string;
  endTime: string;
  commit: string | null;
  dirty: boolean | null;
  partial: boolean;
  success: boolean;
  numTotalTests: number;
  numFailedTests: number;
  suites: { file: string; status: 'ran' | 'error'; numFailingTests: number }[];
  tests: JestTestResult[];
}

/** The results the report may use, or why there are none: every control is then "not run". */
export type ResultsSource =
  | { usable: true; results: JestResults; path: string; warnings: string[] }
  | { usable: false; reason: string; results?: JestResults; path: string };

/** Where `npm test` leaves the results (test/setup/json-reporter.js). */
export const JEST_RESULTS_FILE = join('reports', 'jest-results.json');

/** Folders whose files a test run covers: a file changed after the run makes the results stale. */
export const SOURCE_TREE = ['src', 'test', 'migrations', 'package.json', 'jest.config.js'];

/**
 * Reads the results of the last jest run and decides whether they describe the tree in `root`: they are refused
 * when missing, unreadable, or older than the newest file of the source tree. A run of only some files, or of a
 * working tree with uncommitted changes, is used with a warning.
 */
export function loadJestResults(root: string, path = join(root, JEST_RESULTS_FILE)): ResultsSource {
  if (!existsSync(path)) {
    return { usable: false, path, reason: `no test results at ${JEST_RESULTS_FILE}: run \`npm test\` first` };
  }
  let results: JestResults;
  try {
    results = JSON.parse(readFileSync(path, 'utf8')) as JestResults;
  } catch {
    return { usable: false, path, reason: `${JEST_RESULTS_FILE} is not valid JSON` };
  }
  if (results.format !== 'hms-jest-results' || !Array.isArray(results.tests) || !Array.isArray(results.suites)) {
    return { usable: false, path, reason: `${JEST_RESULTS_FILE} was not written by test/setup/json-reporter.js` };
  }
  const started = Date.parse(results.startTime);
  const newest = newestFile(root, SOURCE_TREE);
  if (!Number.isFinite(started)) return { usable: false, path, results, reason: 'the run has no valid start time' };
  if (newest && newest.mtimeMs > started) {
    return {
      usable: false,
      path,
      results,
      reason:
        `the results are older than the source tree (${newest.file} changed at ${new Date(newest.mtimeMs).toISOString()}, ` +
        `after the run started at ${results.startTime}): run \`npm test\` again`,
    };
  }
  const warnings: string[] = [];
  if (results.partial) warnings.push('the run covered only some test files: tests of other files count as not run');
  if (results.dirty) warnings.push('the run was of a working tree with uncommitted changes to tracked files');
  return { usable: true, path, results, warnings };
}

/** The most recently modified file under the given paths of `root` (node_modules and dot folders skipped). */
export function newestFile(root: string, paths: readonly string[]): { file: string; mtimeMs: number } | undefined {
  let newest: { file: string; mtimeMs: number } | undefined;
  const visit = (relative: string): void => {
    const absolute = join(root, relative);
    if (!existsSync(absolute)) return;
    const stat = statSync(absolute);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(absolute)) {
        if (!entry.startsWith('.') && entry !== 'node_modules') visit(join(relative, entry));
      }
    } else if (!newest || stat.mtimeMs > newest.mtimeMs) {
      newest = { file: relative.split('\\').join('/'), mtimeMs: stat.mtimeMs };
    }
  };
  for (const path of paths) visit(path);
  return newest;
}
