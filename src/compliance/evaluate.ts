import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { Control, TestRef } from './control.types';
import type { JestResults, JestTestResult, ResultsSource } from './jest-results';

/** What one test reference found in the run. */
export type RefResult = 'passed' | 'failed' | 'not run' | 'not found';

/** The verdict on a control. */
export type ControlStatus = 'PASSED' | 'PARTIAL' | 'FAILED' | 'NOT RUN' | 'NOT IMPLEMENTED';

export interface EvaluatedRef {
  ref: TestRef;
  /** The reference as printed: file, describe pattern, test pattern. */
  label: string;
  result: RefResult;
  /** The matched tests with their status in the run. */
  matched: { fullName: string; status: string }[];
  note?: string;
}

export interface EvaluatedControl {
  control: Control;
  status: ControlStatus;
  modules: { path: string; exists: boolean }[];
  tests: EvaluatedRef[];
  notes: string[];
}

/**
 * The verdict on each control from the code (do its modules exist), the mapping (is it implemented) and the run:
 * PASSED when implemented and every mapped test passed; PARTIAL when partly implemented and every mapped test
 * passed; FAILED when a module is missing, a mapped test failed or its file could not run; NOT RUN when a mapped
 * test did not run or was not found (or no usable results exist); NOT IMPLEMENTED when nothing implements it.
 */
export function evaluateControls(
  root: string,
  controls: readonly Control[],
  source: ResultsSource,
): EvaluatedControl[] {
  return controls.map((control) => {
    const modules = control.modules.map((path) => ({ path, exists: existsSync(join(root, path)) }));
    const tests = control.tests.map((ref) => evaluateRef(ref, source.usable ? source.results : undefined));
    const notes: string[] = [];
    if (control.gap) notes.push(control.gap);
    for (const m of modules.filter((m) => !m.exists)) notes.push(`module ${m.path} does not exist`);
    if (!source.usable) notes.push(`no usable test results: ${source.reason}`);
    return { control, status: statusOf(control, modules, tests), modules, tests, notes };
  });
}

function statusOf(control: Control, modules: { exists: boolean }[], tests: EvaluatedRef[]): ControlStatus {
  if (control.implementation === 'not-implemented') return 'NOT IMPLEMENTED';
  if (modules.some((m) => !m.exists) || tests.some((t) => t.result === 'failed')) return 'FAILED';
  if (tests.length === 0 || tests.some((t) => t.result !== 'passed')) return 'NOT RUN';
  return control.implementation === 'partial' ? 'PARTIAL' : 'PASSED';
}

/** The tests of a run that a reference names, and what they say together. */
export function evaluateRef(ref: TestRef, results: JestResults | undefined): EvaluatedRef {
  const label = refLabel(ref);
  if (!results) return { ref, label, result: 'not run', matched: [] };
  const matched = results.tests.filter((test) => refMatches(ref, test));
  const summary = matched.map((test) => ({ fullName: test.fullName, status: test.status }));
  const suite = results.suites.find((s) => s.file === ref.file);
  if (suite?.status === 'error' && matched.length === 0) {
    return { ref, label, result: 'failed', matched: summary, note: 'the test file failed to run' };
  }
  if (!suite) return { ref, label, result: 'not run', matched: summary, note: 'the test file was not part of the run' };
  if (matched.length === 0)
    return { ref, label, result: 'not found', matched: summary, note: 'no test of the run matches' };
  if (matched.some((test) => test.status === 'failed')) return { ref, label, result: 'failed', matched: summary };
  if (matched.some((test) => test.status !== 'passed')) {
    return { ref, label, result: 'not run', matched: summary, note: 'skipped or pending in the run' };
  }
  return { ref, label, result: 'passed', matched: summary };
}

/** Whether a test of the run is one the reference names. */
export function refMatches(ref: TestRef, test: Pick<JestTestResult, 'file' | 'ancestors' | 'title'>): boolean {
  if (test.file !== ref.file) return false;
  if (ref.test && !ref.test.test(test.title)) return false;
  if (ref.describe && !test.ancestors.some((a) => ref.describe?.test(a))) return false;
  return Boolean(ref.test || ref.describe);
}

/** `file > describe /.../ > test /.../`. */
export function refLabel(ref: TestRef): string {
  return [ref.file, ref.describe && `describe /${ref.describe.source}/`, ref.test && `test /${ref.test.source}/`]
    .filter(Boolean)
    .join(' > ');
}
