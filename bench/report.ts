import type { LoadResult } from './load';
import type { Scenario } from './scenarios';

/** Throughput (requests/s) and latency percentiles (ms) of one server in one scenario. */
export interface Figures {
  rps: number;
  p50: number;
  p99: number;
}

/** One scenario's entry in the report: the product and both baselines, and the ratios between them. */
export interface ScenarioReport {
  id: number;
  key: string;
  title: string;
  product: Figures | null;
  baseline: Figures | null;
  cryptoFloor: Figures | null;
  /** product / B0 throughput. */
  throughputRatio: number | null;
  /** product / B1 throughput. */
  floorRatio: number | null;
  /** Answers that were not plain successes, per server (GraphQL errors other than RATE_LIMITED, non-2xx, socket). */
  failures: { product: number; baseline: number; cryptoFloor: number };
  skipped?: string;
  /** Scenario 5: argon2id hashes/s with the same parameters and concurrency, and logins/s against it. */
  rawHashRate?: number;
  toHashRate?: number;
  /** Scenario 6: how many of the product's answers were RATE_LIMITED, and the rate of those that were not. */
  limited?: number;
  servedRps?: number;
  /** Scenario 7: product throughput against scenario 1's. */
  toScenario1?: number;
  /** Scenario 7: logins/s that ran beside, per server. */
  loginsBeside?: { product: number; baseline: number; cryptoFloor: number };
}

export interface Goal {
  goal: string;
  value: number | null;
  target: string;
  result: 'PASS' | 'MISS' | 'SKIP';
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Rounds of one server combined: mean throughput, median latency percentiles. */
export function combine(rounds: LoadResult[]): Figures | null {
  if (rounds.length === 0) return null;
  return {
    rps: rounds.reduce((sum, r) => sum + r.rps, 0) / rounds.length,
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
  };
}

/** Failures in a set of rounds; RATE_LIMITED answers are counted apart (scenario 6 reports them). */
export function failures(rounds: LoadResult[]): number {
  return rounds.reduce((sum, r) => sum + r.errors + r.non2xx + (r.graphqlErrors - r.limited), 0);
}

export function emptyReport(scenario: Scenario): ScenarioReport {
  return {
    id: scenario.id,
    key: scenario.key,
    title: scenario.title,
    product: null,
    baseline: null,
    cryptoFloor: null,
    throughputRatio: null,
    floorRatio: null,
    failures: { product: 0, baseline: 0, cryptoFloor: 0 },
  };
}

const ratio = (a: number | undefined | null, b: number | undefined | null) => (a != null && b ? a / b : null);

/** Fills the ratios of a scenario report from its figures. */
export function withRatios(report: ScenarioReport): ScenarioReport {
  report.throughputRatio = ratio(report.product?.rps, report.baseline?.rps);
  report.floorRatio = ratio(report.product?.rps, report.cryptoFloor?.rps);
  return report;
}

function check(goal: string, value: number | null, target: string, ok: (v: number) => boolean, skip = false): Goal {
  return { goal, value, target, result: skip || value === null ? 'SKIP' : ok(value) ? 'PASS' : 'MISS' };
}

/** The goals of issue 11, each with PASS, MISS or SKIP (not measured in this run). */
export function goals(reports: ScenarioReport[], rssAfter6: number | null): Goal[] {
  const by = (id: number) => reports.find((r) => r.id === id);
  const out: Goal[] = [];
  for (const id of [1, 2, 3, 4]) {
    const r = by(id);
    out.push(check(`(${id}) throughput / B1`, r?.floorRatio ?? null, '>= 0.70', (v) => v >= 0.7));
    out.push(check(`(${id}) throughput / B0`, r?.throughputRatio ?? null, '>= 0.40', (v) => v >= 0.4));
  }
  out.push(check('(1) p99 at 8 connections, ms', by(1)?.product?.p99 ?? null, '< 100', (v) => v < 100));
  out.push(check('(5) logins/s / raw argon2 hashes/s', by(5)?.toHashRate ?? null, '>= 0.90', (v) => v >= 0.9));
  out.push(check('(7) throughput / (1) throughput', by(7)?.toScenario1 ?? null, '>= 0.75', (v) => v >= 0.75));
  out.push(check('RSS after (6) settles, MiB', rssAfter6, '< 300', (v) => v < 300));
  return out;
}

const num = (v: number | null | undefined, digits = 0) =>
  v == null ? '-' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const cell = (f: Figures | null) => (f ? `${num(f.rps)} r/s ${num(f.p50, 1)}/${num(f.p99, 1)} ms` : '-');

/** The human-readable table: one line per scenario and server, then the goals. */
export function table(reports: ScenarioReport[], goalList: Goal[], extra: string[]): string {
  const lines: string[] = [];
  lines.push('scenario | product | B0 bare | B1 crypto floor | /B0 | /B1 | notes');
  lines.push('---|---|---|---|---|---|---');
  for (const r of reports) {
    const notes: string[] = [];
    if (r.skipped) notes.push(`skipped: ${r.skipped}`);
    if (r.rawHashRate != null) notes.push(`raw argon2 ${num(r.rawHashRate, 1)}/s, logins/hash ${num(r.toHashRate, 2)}`);
    if (r.limited != null) notes.push(`limited ${r.limited}, served ${num(r.servedRps, 1)} r/s`);
    if (r.toScenario1 != null) notes.push(`/(1) ${num(r.toScenario1, 2)}`);
    const failed = r.failures.product + r.failures.baseline + r.failures.cryptoFloor;
    if (failed > 0)
      notes.push(`FAILED ANSWERS p/B0/B1 ${r.failures.product}/${r.failures.baseline}/${r.failures.cryptoFloor}`);
    lines.push(
      `(${r.id}) ${r.title} | ${cell(r.product)} | ${cell(r.baseline)} | ${cell(r.cryptoFloor)} | ` +
        `${num(r.throughputRatio, 2)} | ${num(r.floorRatio, 2)} | ${notes.join('; ')}`,
    );
  }
  lines.push('', ...extra, '', 'goal | value | target | result', '---|---|---|---');
  for (const g of goalList) lines.push(`${g.goal} | ${num(g.value, 2)} | ${g.target} | ${g.result}`);
  return `${lines.join('\n')}\n`;
}
