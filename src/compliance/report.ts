import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Control } from './control.types';
import { CONTROLS } from './controls';
import { evaluateControls, type ControlStatus, type EvaluatedControl } from './evaluate';
import { loadJestResults, type ResultsSource } from './jest-results';
import type { Measurements } from './measurements';
import type { ProcessingRegister } from './processing-register';
import { renderHtml, renderMarkdown } from './render';

/** Everything the compliance report shows, before it is rendered. */
export interface ComplianceReport {
  generatedAt: string;
  /** The commit of the tree the report was made from (null outside a git checkout). */
  commit: string | null;
  results: {
    usable: boolean;
    /** Why the results were not used; warnings about results that were. */
    notes: string[];
    startTime?: string;
    commit?: string | null;
    tests?: number;
    failed?: number;
  };
  controls: EvaluatedControl[];
  summary: Record<ControlStatus, number>;
  /** The measurements, or why they could not be taken. */
  measurements: Measurements | { error: string };
  register?: ProcessingRegister;
}

/** Builds the report from the mapping, the results of the last jest run and the measurements. */
export function buildReport(input: {
  root: string;
  controls?: readonly Control[];
  results?: ResultsSource;
  measurements: Measurements | { error: string };
  register?: ProcessingRegister;
  now?: Date;
}): ComplianceReport {
  const source = input.results ?? loadJestResults(input.root);
  const controls = evaluateControls(input.root, input.controls ?? CONTROLS, source);
  const summary: Record<ControlStatus, number> = {
    PASSED: 0,
    PARTIAL: 0,
    FAILED: 0,
    'NOT RUN': 0,
    'NOT IMPLEMENTED': 0,
  };
  for (const c of controls) summary[c.status] += 1;
  const run = source.results;
  return {
    generatedAt: (input.now ?? new Date()).toISOString(),
    commit: currentCommit(input.root),
    results: {
      usable: source.usable,
      notes: source.usable ? source.warnings : [source.reason],
      ...(run
        ? { startTime: run.startTime, commit: run.commit, tests: run.numTotalTests, failed: run.numFailedTests }
        : {}),
    },
    controls,
    summary,
    measurements: input.measurements,
    register: input.register,
  };
}

/** Writes compliance-report.md and compliance-report.html into `dir` (reports/ by default); returns their paths. */
export function writeReport(dir: string, report: ComplianceReport): { markdown: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const markdown = join(dir, 'compliance-report.md');
  const html = join(dir, 'compliance-report.html');
  writeFileSync(markdown, renderMarkdown(report));
  writeFileSync(html, renderHtml(report));
  return { markdown, html };
}

function currentCommit(root: string): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}
