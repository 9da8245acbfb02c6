import type { EvaluatedControl } from './evaluate';
import type { Measurements } from './measurements';
import type { ComplianceReport } from './report';

/** A format-neutral block; both renderers escape every text they are given. */
type Block =
  | { kind: 'h'; level: 1 | 2 | 3; text: string }
  | { kind: 'p'; text: string }
  | { kind: 'list'; items: string[] }
  | { kind: 'table'; head: string[]; rows: string[][] };

const h = (level: 1 | 2 | 3, text: string): Block => ({ kind: 'h', level, text });
const p = (text: string): Block => ({ kind: 'p', text });
const list = (items: string[]): Block => ({ kind: 'list', items });
const table = (head: string[], rows: string[][]): Block => ({ kind: 'table', head, rows });

/** The report as blocks: summary, test run, measurements, controls, register. */
function blocks(report: ComplianceReport): Block[] {
  const r = report.results;
  const out: Block[] = [
    h(1, 'Compliance report'),
    p(`Generated ${report.generatedAt} from commit ${report.commit ?? 'unknown (not a git checkout)'}.`),
    p(
      'Statuses come from the results of the last test run (reports/jest-results.json), never from a kept list: ' +
        'PASSED: implemented and every mapped test passed; PARTIAL: partly implemented (see the gap) and every mapped ' +
        'test passed; FAILED: a mapped test failed or a mapped module is missing; NOT RUN: a mapped test did not run ' +
        'or no usable results exist; NOT IMPLEMENTED: nothing in the code implements it.',
    ),
    h(2, 'Summary'),
    table(Object.keys(report.summary), [Object.values(report.summary).map(String)]),
    table(
      ['control', 'framework', 'title', 'status'],
      report.controls.map((c) => [c.control.clause, c.control.framework, c.control.title, c.status]),
    ),
    h(2, 'Test run used'),
    r.startTime
      ? p(
          `Run started ${r.startTime} at commit ${r.commit ?? 'unknown'}: ${r.tests ?? 0} tests, ${r.failed ?? 0} failed.` +
            (r.usable ? '' : ' These results were NOT used.'),
        )
      : p('No test run is available.'),
    ...(r.notes.length > 0 ? [list(r.notes)] : []),
    ...measurementBlocks(report.measurements),
    h(2, 'Controls'),
    ...report.controls.flatMap(controlBlocks),
    ...registerBlocks(report),
  ];
  return out;
}

function controlBlocks(c: EvaluatedControl): Block[] {
  const parent = c.control.parent ? ` (under ${c.control.parent})` : '';
  return [
    h(3, `${c.control.framework} ${c.control.clause}: ${c.control.title}: ${c.status}`),
    p(`Implementation: ${c.control.implementation}${parent}. ${c.control.how}`),
    table(
      ['module', 'exists'],
      c.modules.map((m) => [m.path, m.exists ? 'yes' : 'NO']),
    ),
    table(
      ['tests', 'result', 'matched tests'],
      c.tests.map((t) => [
        t.label,
        t.note ? `${t.result} (${t.note})` : t.result,
        t.matched.map((m) => `${m.status}: ${m.fullName}`).join('; ') || '-',
      ]),
    ),
    ...(c.notes.length > 0 ? [list(c.notes.map((n) => `Note: ${n}`))] : []),
  ];
}

function measurementBlocks(m: Measurements | { error: string }): Block[] {
  if ('error' in m) return [h(2, 'Measurements'), p(`Not measured: ${m.error}`)];
  const e = m.encryption;
  const u = m.ueba;
  return [
    h(2, 'Measurements'),
    p(`Measured ${m.measuredAt} on ${m.database}.`),
    h(3, 'PHI encryption coverage'),
    p(
      e.values === 0
        ? 'No encrypted values are stored: coverage 100% (nothing to check).'
        : `${e.percent}% of ${e.values} stored values in marked columns are ciphertext envelopes; ${e.notEnvelope} are not.`,
    ),
    table(
      ['table.column', 'category', 'values', 'not ciphertext'],
      e.columns.map((c) => [`${c.table}.${c.column}`, c.category, String(c.values), String(c.notEnvelope)]),
    ),
    h(3, 'Master keys and data keys'),
    p(`Active master key version: ${m.masterKeys.activeVersion}. ${m.masterKeys.ageNote}`),
    table(
      [
        'version',
        'configured',
        'active',
        'live data keys',
        'destroyed',
        'oldest live data key',
        'newest live data key',
      ],
      m.masterKeys.versions.map((v) => [
        String(v.version),
        v.configured ? 'yes' : 'NO',
        v.active ? 'yes' : 'no',
        String(v.liveDataKeys),
        String(v.destroyedDataKeys),
        v.oldestDataKeyAt ?? '-',
        v.newestDataKeyAt ?? '-',
      ]),
    ),
    h(3, 'Data-subject requests'),
    p(
      `${m.dataSubjectRequests.open} open, ${m.dataSubjectRequests.overdue} overdue` +
        (m.dataSubjectRequests.oldestOverdueDueAt ? ` (oldest due ${m.dataSubjectRequests.oldestOverdueDueAt}).` : '.'),
    ),
    h(3, 'Audit chain'),
    p(
      m.auditChain.verified
        ? `Verified: ${m.auditChain.rows} rows, ${m.auditChain.checkpointsChecked} checkpoints matched` +
            (m.auditChain.legacyRows > 0
              ? `, ${m.auditChain.legacyRows} rows from before the chain (not verifiable).`
              : '.')
        : `NOT verified: broken at ${m.auditChain.broken ?? 'an unknown row'} (${m.auditChain.rows} rows verified before it).`,
    ),
    h(3, 'UEBA false-positive rate (synthetic test)'),
    p(
      u.measured
        ? `${u.falsePositives}/${u.normalUserDays} normal user-days flagged = ${((u.falsePositiveRate ?? 0) * 100).toFixed(2)}%` +
            (u.incidents !== undefined ? `; incidents flagged ${u.incidentsFlagged}/${u.incidents}` : '') +
            (u.writtenAt ? ` (test run ${u.writtenAt}).` : '.')
        : (u.note ?? 'not measured'),
    ),
  ];
}

function registerBlocks(report: ComplianceReport): Block[] {
  const reg = report.register;
  if (!reg) return [];
  return [
    h(2, 'Record of processing activities (GDPR Art. 30, generated from the code)'),
    p(`Data subjects: ${reg.dataSubjects.join('; ')}.`),
    table(
      ['PHI category', 'fields', 'recipients (roles; care team, break-glass and the patient see all)'],
      reg.categories.map((c) => [c.category, c.fields.join(', ') || '-', c.recipients.join(', ') || '-']),
    ),
    table(
      ['sealed personal data (not PHI)', 'why sealed'],
      reg.sealedPersonalData.map((s) => [s.field, s.reason]),
    ),
    table(
      ['purpose of use', 'description', 'found in'],
      reg.purposes.map((x) => [x.purpose, x.description, x.source]),
    ),
    table(
      ['processor role', 'processor'],
      reg.processors.map((x) => [x.role, x.processor]),
    ),
    table(
      ['category', 'kept', 'basis'],
      reg.retention.map((x) => [x.category, x.period, x.basis]),
    ),
    p('Not in the code, to be completed by the controller:'),
    list(reg.missing),
  ];
}

/** Markdown: every text on one line, with the characters Markdown would read as markup or HTML escaped. */
export function renderMarkdown(report: ComplianceReport): string {
  const text = (s: string) => s.replace(/\r?\n/g, ' ').replace(/([\\`*<>[\]|])/g, '\\$1');
  const lines: string[] = [];
  for (const b of blocks(report)) {
    if (b.kind === 'h') lines.push(`${'#'.repeat(b.level)} ${text(b.text)}`, '');
    else if (b.kind === 'p') lines.push(text(b.text), '');
    else if (b.kind === 'list') lines.push(...b.items.map((i) => `- ${text(i)}`), '');
    else if (b.rows.length === 0) lines.push('(none)', '');
    else {
      lines.push(`| ${b.head.map(text).join(' | ')} |`, `|${b.head.map(() => '---|').join('')}`);
      lines.push(...b.rows.map((row) => `| ${row.map(text).join(' | ')} |`), '');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

const STATUS_CLASS: Record<string, string> = {
  PASSED: 'ok',
  PARTIAL: 'partial',
  FAILED: 'bad',
  'NOT RUN': 'warn',
  'NOT IMPLEMENTED': 'bad',
};

/** A self-contained HTML page: inline style, no script, no external resource; every text escaped. */
export function renderHtml(report: ComplianceReport): string {
  const cell = (s: string) => {
    const cls = STATUS_CLASS[s];
    return cls ? `<td class="${cls}">${escapeHtml(s)}</td>` : `<td>${escapeHtml(s)}</td>`;
  };
  const body = blocks(report).map((b) => {
    if (b.kind === 'h') return `<h${b.level}>${escapeHtml(b.text)}</h${b.level}>`;
    if (b.kind === 'p') return `<p>${escapeHtml(b.text)}</p>`;
    if (b.kind === 'list') return `<ul>${b.items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>`;
    if (b.rows.length === 0) return '<p>(none)</p>';
    const head = `<tr>${b.head.map((x) => `<th>${escapeHtml(x)}</th>`).join('')}</tr>`;
    return `<table>${head}${b.rows.map((row) => `<tr>${row.map(cell).join('')}</tr>`).join('')}</table>`;
  });
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<title>Compliance report</title>',
    '<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin:.5em 0 1em}' +
      'td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left;vertical-align:top}th{background:#eee}' +
      '.ok{background:#d9f2d9}.partial{background:#fff3c4}.warn{background:#ffe0b3}.bad{background:#f8c9c9}</style>',
    '</head><body>',
    ...body,
    '</body></html>',
    '',
  ].join('\n');
}
