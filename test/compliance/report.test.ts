import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { Control, TestRef } from '../../src/compliance/control.types';
import { CONTROLS } from '../../src/compliance/controls';
import { loadJestResults, type JestResults } from '../../src/compliance/jest-results';
import {
  measureAuditChain,
  measureDataSubjectRequests,
  measureEncryption,
  measureMasterKeys,
} from '../../src/compliance/measurements';
import { buildProcessingRegister, purposesInCode } from '../../src/compliance/processing-register';
import { renderHtml, renderMarkdown } from '../../src/compliance/render';
import { buildReport } from '../../src/compliance/report';
import { readTestTitles } from '../../src/compliance/test-catalog';
import { loadConfig } from '../../src/config/config';
import { createAccount, signIn } from '../support/accounts';
import { startTestApp, testEnv, type TestApp } from '../support/app';
import { rawQuery } from '../support/database';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const JsonResultsReporter = require('../setup/json-reporter.js');

const ROOT = join(__dirname, '..', '..');
const run = promisify(execFile);
const tag = randomBytes(3).toString('hex');
const NO_MEASUREMENTS = { error: 'not measured in this test' };

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'hms-compliance-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A run in which every mapped test exists and passed, except `failing`; titles are taken from the test files. */
function fixture(options: { failing?: TestRef; leaveOut?: string; startTime?: Date } = {}): JestResults {
  const tests = CONTROLS.flatMap((c) => c.tests)
    .filter((ref) => ref.file !== options.leaveOut)
    .map((ref) => {
      const titles = readTestTitles(ROOT, ref.file);
      const ancestor = ref.describe ? titles.describes.find((d) => ref.describe!.test(d))! : 'suite';
      const title = ref.test ? titles.tests.find((x) => ref.test!.test(x))! : 'a test';
      const status = ref === options.failing ? ('failed' as const) : ('passed' as const);
      return { file: ref.file, ancestors: [ancestor], title, fullName: `${ancestor} ${title}`, status, durationMs: 5 };
    });
  const files = [...new Set(tests.map((t) => t.file))];
  return {
    format: 'hms-jest-results',
    version: 1,
    startTime: (options.startTime ?? new Date()).toISOString(),
    endTime: new Date().toISOString(),
    commit: 'f'.repeat(40),
    dirty: false,
    partial: false,
    success: !options.failing,
    numTotalTests: tests.length,
    numFailedTests: options.failing ? 1 : 0,
    suites: files.map((file) => ({ file, status: 'ran' as const, numFailingTests: 0 })),
    tests,
  };
}

/** Writes results into a root of their own (no source tree, so never stale) and loads them as the report does. */
function resultsFrom(results: JestResults, name = `r-${randomBytes(3).toString('hex')}`) {
  const root = join(scratch, name);
  mkdirSync(join(root, 'reports'), { recursive: true });
  writeFileSync(join(root, 'reports', 'jest-results.json'), JSON.stringify(results));
  return loadJestResults(root);
}

function statuses(report: ReturnType<typeof buildReport>): Record<string, string> {
  return Object.fromEntries(report.controls.map((c) => [c.control.id, c.status]));
}

describe('the control mapping', () => {
  it('covers every HIPAA technical safeguard, GDPR article and PCI DSS requirement the issue names', () => {
    expect(CONTROLS.map((c) => c.clause)).toEqual([
      '164.312(a)(1)',
      '164.312(a)(2)(i)',
      '164.312(a)(2)(ii)',
      '164.312(a)(2)(iii)',
      '164.312(a)(2)(iv)',
      '164.312(b)',
      '164.312(c)(1)',
      '164.312(c)(2)',
      '164.312(d)',
      '164.312(e)(1)',
      '164.312(e)(2)(ii)',
      ...['5(1)(e)', '7', '12', '15', '16', '17', '18', '20', '25', '30', '32'].map((a) => `Art. ${a}`),
      ...['3', '4', '8', '10'].map((r) => `Req. ${r}`),
    ]);
    expect(new Set(CONTROLS.map((c) => c.id)).size).toBe(CONTROLS.length);
    for (const c of CONTROLS.filter((c) => c.parent)) expect(CONTROLS.map((x) => x.id)).toContain(c.parent);
  });

  it('names only module paths that exist', () => {
    const missing = CONTROLS.flatMap((c) =>
      c.modules.filter((m) => !existsSync(join(ROOT, m))).map((m) => `${c.id} ${m}`),
    );
    expect(missing).toEqual([]);
  });

  it('names only tests written in the test files, so a renamed test cannot leave a control silently unproven', () => {
    const broken: string[] = [];
    for (const c of CONTROLS) {
      expect({ id: c.id, tests: c.tests.length > 0 || c.implementation === 'not-implemented' }).toEqual({
        id: c.id,
        tests: true,
      });
      for (const ref of c.tests) {
        const titles = readTestTitles(ROOT, ref.file);
        if (!titles.exists) broken.push(`${c.id}: ${ref.file} does not exist`);
        if (!ref.test && !ref.describe) broken.push(`${c.id}: ${ref.file} names no test`);
        if (ref.test && !titles.tests.some((t) => ref.test!.test(t))) broken.push(`${c.id}: ${ref.test}`);
        if (ref.describe && !titles.describes.some((d) => ref.describe!.test(d)))
          broken.push(`${c.id}: ${ref.describe}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('reads describe and test titles from source, and not method calls such as regex.test(', () => {
    const titles = readTestTitles(ROOT, 'test/compliance/report.test.ts');
    expect(titles.describes).toContain('the control mapping');
    expect(titles.tests).toContain('names only module paths that exist');
    const source = readFileSync(join(ROOT, 'test/compliance/report.test.ts'), 'utf8');
    expect(titles.tests).toHaveLength(source.match(/^\s*it\(/gm)!.length);
    expect(readTestTitles(ROOT, 'test/none/missing.test.ts').exists).toBe(false);
  });
});

describe('the report generator', () => {
  it('marks every control PASSED, or PARTIAL where the code implements only part, when every mapped test passed', () => {
    const report = buildReport({ root: ROOT, results: resultsFrom(fixture()), measurements: NO_MEASUREMENTS });
    for (const c of report.controls) {
      expect([c.control.id, c.status]).toEqual([
        c.control.id,
        c.control.implementation === 'partial' ? 'PARTIAL' : 'PASSED',
      ]);
    }
  });

  it('marks exactly the control whose mapped test failed as FAILED', () => {
    const rectification = CONTROLS.find((c) => c.id === 'GDPR-16')!.tests[0];
    const report = buildReport({
      root: ROOT,
      results: resultsFrom(fixture({ failing: rectification })),
      measurements: NO_MEASUREMENTS,
    });
    const failed = report.controls.filter((c) => c.status === 'FAILED').map((c) => c.control.id);
    expect(failed).toEqual(['GDPR-16']);
    expect(report.summary.FAILED).toBe(1);
    expect(renderMarkdown(report)).toMatch(/GDPR Art\. 16: Right to rectification: FAILED/);
  });

  it('marks every control NOT RUN when the results file is missing, and says to run the tests', () => {
    const source = loadJestResults(join(scratch, 'empty'));
    const report = buildReport({ root: ROOT, results: source, measurements: NO_MEASUREMENTS });
    expect(new Set(Object.values(statuses(report)))).toEqual(new Set(['NOT RUN']));
    expect(report.results.notes.join(' ')).toMatch(/npm test/);
    expect(renderMarkdown(report)).toMatch(/no test results/);
  });

  it('marks every control NOT RUN when the results are older than the source tree', () => {
    const root = join(scratch, 'stale');
    mkdirSync(join(root, 'src'), { recursive: true });
    const results = fixture({ startTime: new Date(Date.now() - 60_000) });
    mkdirSync(join(root, 'reports'));
    writeFileSync(join(root, 'reports', 'jest-results.json'), JSON.stringify(results));
    writeFileSync(join(root, 'src', 'changed.ts'), 'export {};\n');
    const before = new Date(Date.now() - 120_000);
    utimesSync(join(root, 'src', 'changed.ts'), before, before);
    expect(loadJestResults(root).usable).toBe(true);

    const now = new Date();
    utimesSync(join(root, 'src', 'changed.ts'), now, now);
    const source = loadJestResults(root);
    expect(source.usable).toBe(false);
    const report = buildReport({ root: ROOT, results: source, measurements: NO_MEASUREMENTS });
    expect(new Set(Object.values(statuses(report)))).toEqual(new Set(['NOT RUN']));
    expect(report.results.notes[0]).toMatch(/older than the source tree \(src\/changed\.ts/);
  });

  it('tells a test file left out of the run (not run) from a test pattern that matches nothing (not found)', () => {
    const results = fixture({ leaveOut: 'test/auth/sessions.test.ts' });
    results.tests = results.tests.filter(
      (t) => !(t.file === 'test/privacy/dsr.test.ts' && /calendar month/.test(t.title)),
    );
    const report = buildReport({ root: ROOT, results: resultsFrom(results), measurements: NO_MEASUREMENTS });
    const logoff = report.controls.find((c) => c.control.id === 'HIPAA-164.312(a)(2)(iii)')!;
    expect(logoff.status).toBe('NOT RUN');
    expect(logoff.tests.map((t) => t.result)).toEqual(['not run', 'not run', 'not run']);
    const dsr = report.controls.find((c) => c.control.id === 'GDPR-12')!;
    expect(dsr.status).toBe('NOT RUN');
    expect(dsr.tests.map((t) => t.result)).toContain('not found');
  });

  it('never marks a control implemented in part as PASSED, nor one not implemented at all', () => {
    const controls: Control[] = [
      { ...CONTROLS[0], id: 'X-none', implementation: 'not-implemented', gap: 'nothing does this' },
      { ...CONTROLS[0], id: 'X-part', implementation: 'partial', gap: 'half of it' },
    ];
    const report = buildReport({
      root: ROOT,
      controls,
      results: resultsFrom(fixture()),
      measurements: NO_MEASUREMENTS,
    });
    expect(statuses(report)).toEqual({ 'X-none': 'NOT IMPLEMENTED', 'X-part': 'PARTIAL' });
    expect(renderMarkdown(report)).toContain('Note: nothing does this');
  });

  it('fails a control whose module does not exist, even when its tests passed', () => {
    const controls: Control[] = [{ ...CONTROLS[0], modules: ['src/nowhere/gone.ts'] }];
    const report = buildReport({
      root: ROOT,
      controls,
      results: resultsFrom(fixture()),
      measurements: NO_MEASUREMENTS,
    });
    expect(report.controls[0].status).toBe('FAILED');
    expect(report.controls[0].notes).toContain('module src/nowhere/gone.ts does not exist');
  });

  it('escapes every text in the HTML, which loads nothing from outside and runs no script', () => {
    const hostile = '<script>alert("x")</script>';
    const controls: Control[] = [
      {
        id: 'X',
        framework: 'GDPR',
        clause: `Art. ${hostile}`,
        title: '<img src=x onerror=alert(1)>',
        implementation: 'partial',
        modules: ['src/<b>bold</b>.ts'],
        tests: [{ file: 'test/a&b.test.ts', test: /<i>/ }],
        how: `"quoted" & 'single'`,
        gap: '<iframe src="https://example.test">',
      },
    ];
    const report = buildReport({
      root: ROOT,
      controls,
      results: resultsFrom(fixture()),
      measurements: NO_MEASUREMENTS,
    });
    const html = renderHtml(report);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('&quot;quoted&quot; &amp; &#39;single&#39;');
    expect(html).not.toMatch(/<script|<img|<iframe|<b>|<i>/);
    expect(html).not.toMatch(/<[^>]+\s(src|href)=/);
    const markdown = renderMarkdown(report);
    expect(markdown).not.toMatch(/(^|[^\\])<(script|img|iframe)/);
  });
});

describe('the jest reporter', () => {
  it('writes every test with file, full name, status and duration, the start time and the commit, and no failure text', () => {
    const outputFile = join(scratch, 'reporter', 'jest-results.json');
    const reporter = new JsonResultsReporter({ rootDir: ROOT, testPathPattern: '' }, { outputFile });
    const failure = `Expected 219-09-9999 ${tag}`;
    reporter.onRunComplete(new Set(), {
      startTime: Date.parse('2026-01-02T03:04:05.000Z'),
      success: false,
      numTotalTests: 2,
      numFailedTests: 1,
      testResults: [
        {
          testFilePath: join(ROOT, 'test', 'auth', 'login.test.ts'),
          numFailingTests: 1,
          failureMessage: failure,
          testResults: [
            { ancestorTitles: ['sign-in'], title: 'a', fullName: 'sign-in a', status: 'passed', duration: 12 },
            {
              ancestorTitles: ['sign-in'],
              title: 'b',
              fullName: 'sign-in b',
              status: 'failed',
              duration: 3,
              failureMessages: [failure],
            },
          ],
        },
      ],
    });
    const text = readFileSync(outputFile, 'utf8');
    expect(text).not.toContain(tag);
    const written = JSON.parse(text) as JestResults;
    expect(written).toMatchObject({
      format: 'hms-jest-results',
      startTime: '2026-01-02T03:04:05.000Z',
      partial: false,
    });
    expect(written.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(written.suites).toEqual([{ file: 'test/auth/login.test.ts', status: 'ran', numFailingTests: 1 }]);
    expect(written.tests).toEqual([
      {
        file: 'test/auth/login.test.ts',
        ancestors: ['sign-in'],
        title: 'a',
        fullName: 'sign-in a',
        status: 'passed',
        durationMs: 12,
      },
      {
        file: 'test/auth/login.test.ts',
        ancestors: ['sign-in'],
        title: 'b',
        fullName: 'sign-in b',
        status: 'failed',
        durationMs: 3,
      },
    ]);
  });

  it('writes a run of only some files beside the results of the last full run, never over them', () => {
    const rootDir = join(scratch, 'reporter-root');
    const aggregated = { startTime: Date.now(), numTotalTests: 0, numFailedTests: 0, testResults: [] };
    new JsonResultsReporter({ rootDir, testPathPattern: 'test/auth' }).onRunComplete(new Set(), aggregated);
    expect(existsSync(join(rootDir, 'reports', 'jest-results.partial.json'))).toBe(true);
    expect(existsSync(join(rootDir, 'reports', 'jest-results.json'))).toBe(false);
    new JsonResultsReporter({ rootDir, testPathPattern: '' }).onRunComplete(new Set(), aggregated);
    const full = JSON.parse(readFileSync(join(rootDir, 'reports', 'jest-results.json'), 'utf8')) as JestResults;
    expect(full).toMatchObject({ partial: false, commit: null, success: true, tests: [] });
  });
});

describe('the register of processing activities', () => {
  const config = loadConfig(
    testEnv('postgresql://postgres@127.0.0.1:5432/none', {
      RETENTION_MEDICAL_RECORD_YEARS: '12',
      PAYMENT_PROCESSOR: 'stripe',
      STRIPE_SECRET_KEY: `sk_test_${randomBytes(12).toString('hex')}`,
      SIEM_ENDPOINT: 'https://siem.example.test/ingest',
      SIEM_AUTH_TOKEN: randomBytes(24).toString('base64url'),
    }),
  );

  it('lists every PHI category with the fields marked with it and the roles that may see it', () => {
    const register = buildProcessingRegister(ROOT, config);
    const identifiers = register.categories.find((c) => c.category === 'IDENTIFIER')!;
    expect(identifiers.fields).toEqual(expect.arrayContaining(['Patient.ssn', 'Patient.mrn']));
    expect(identifiers.recipients).toEqual(expect.arrayContaining(['PHYSICIAN', 'RECEPTIONIST (partial)']));
    expect(identifiers.recipients).not.toContain('AUDITOR');
    expect(register.categories.map((c) => c.category)).toEqual([
      'IDENTIFIER',
      'CONTACT',
      'DEMOGRAPHIC',
      'CLINICAL',
      'FINANCIAL',
    ]);
    expect(register.sealedPersonalData.map((s) => s.field)).toContain('User.email');
  });

  it('names every purpose of use in the code and in the audit trail, flagging one it cannot describe', () => {
    expect(purposesInCode(ROOT)).toEqual(
      expect.arrayContaining([
        'TREATMENT',
        'EMERGENCY',
        'OPERATIONS',
        'PAYMENT',
        'DATA_SHARING',
        'SELF_ACCESS',
        'PRIVACY',
        'RESEARCH',
      ]),
    );
    const register = buildProcessingRegister(ROOT, config, ['TREATMENT', `NEW_${tag.toUpperCase()}`]);
    expect(register.purposes.find((p) => p.purpose === 'TREATMENT')).toMatchObject({ source: 'code, audit trail' });
    expect(register.purposes.find((p) => p.purpose === `NEW_${tag.toUpperCase()}`)).toMatchObject({
      source: 'audit trail',
      description: expect.stringMatching(/no description/),
    });
  });

  it('takes retention periods and processors from the configuration, and names no secret', () => {
    const register = buildProcessingRegister(ROOT, config);
    expect(register.retention.find((r) => r.category === 'MEDICAL_RECORD')?.period).toBe(
      '12 years from the last encounter',
    );
    expect(register.processors.map((p) => p.processor)).toEqual([
      expect.stringMatching(/^Stripe \(api\.stripe\.com\)/),
      'HTTP siem.example.test',
    ]);
    const rendered = JSON.stringify(register);
    expect(rendered).not.toContain(config.billing.stripeSecretKey);
    expect(rendered).not.toContain(config.siem.authToken);
    expect(register.missing.join(' ')).toMatch(/data protection officer/);
  });
});

describe('measurements against a real database', () => {
  let app: TestApp;
  let patientIds: string[];
  const planted = `Plaintext${tag}`;

  beforeAll(async () => {
    app = await startTestApp();
    const desk = await signIn(app, await createAccount(app, 'RECEPTIONIST'));
    patientIds = [];
    for (const n of [1, 2]) {
      const created = await app.gql(
        'mutation($i: PatientInput!) { createPatient(input: $i) { id } }',
        {
          i: {
            firstName: `Ines${n}${tag}`,
            lastName: `Valdorr${tag}`,
            dateOfBirth: '1968-04-11',
            sex: 'FEMALE',
            email: `ines${n}.${tag}@example.test`,
          },
        },
        desk.accessToken,
      );
      expect(created.body.errors).toBeUndefined();
      patientIds.push(created.body.data!.createPatient.id);
    }
  });
  afterAll(() => app.close());

  it('finds every stored value of every marked column to be ciphertext after patients were created through the API', async () => {
    const coverage = await measureEncryption(app.services.orm);
    expect(coverage.percent).toBe(100);
    expect(coverage.notEnvelope).toBe(0);
    const firstNames = coverage.columns.find((c) => c.table === 'patients' && c.column === 'first_name');
    expect(firstNames).toMatchObject({ category: 'DEMOGRAPHIC', values: 2, notEnvelope: 0 });
    expect(coverage.columns.find((c) => c.table === 'users' && c.column === 'email')).toMatchObject({
      category: 'sealed',
    });
  });

  it('counts data keys per master key version and says that the master key’s own age is not recorded', async () => {
    const figures = await measureMasterKeys(app.services.orm.em.fork(), app.services.dataKeys.ring);
    expect(figures.activeVersion).toBe(1);
    expect(figures.versions).toHaveLength(1);
    expect(figures.versions[0]).toMatchObject({ version: 1, configured: true, active: true, destroyedDataKeys: 0 });
    expect(figures.versions[0].liveDataKeys).toBeGreaterThanOrEqual(3); // two patients and the receptionist
    expect(figures.ageNote).toMatch(/not recorded/);
  });

  it('counts a data-subject request past its due date as overdue until it is completed', async () => {
    const officer = await signIn(app, await createAccount(app, 'PRIVACY_OFFICER'));
    const filed = await app.gql(
      'mutation($p: ID!, $r: String!) { requestErasure(patientId: $p, reason: $r) { id } }',
      { p: patientIds[0], r: 'Written request received' },
      officer.accessToken,
    );
    expect(filed.body.errors).toBeUndefined();
    const em = app.services.orm.em.fork();
    expect(await measureDataSubjectRequests(em)).toEqual({ open: 1, overdue: 0, oldestOverdueDueAt: null });
    await rawQuery(app.db.url, `UPDATE data_subject_requests SET due_at = now() - interval '2 days'`);
    expect(await measureDataSubjectRequests(em)).toMatchObject({ open: 1, overdue: 1 });
    await rawQuery(app.db.url, `UPDATE data_subject_requests SET status = 'REJECTED'`);
    expect(await measureDataSubjectRequests(em)).toEqual({ open: 0, overdue: 0, oldestOverdueDueAt: null });
  });

  it('reports the audit chain verified, and not verified once a row was edited behind its back', async () => {
    const clean = await measureAuditChain(app.services.orm.em.fork(), app.services.auditIntegrity);
    expect(clean).toMatchObject({ verified: true });
    expect(clean.rows).toBeGreaterThan(0);
    await rawQuery(app.db.url, 'ALTER TABLE audit_events DISABLE TRIGGER USER');
    try {
      await rawQuery(
        app.db.url,
        `UPDATE audit_events SET purpose = 'RESEARCH' WHERE seq = (SELECT min(seq) FROM audit_events)`,
      );
    } finally {
      await rawQuery(app.db.url, 'ALTER TABLE audit_events ENABLE TRIGGER USER');
    }
    const broken = await measureAuditChain(app.services.orm.em.fork(), app.services.auditIntegrity);
    expect(broken.verified).toBe(false);
    expect(broken.broken).toMatch(/edited/);
  });

  it('drops below 100% when plaintext is planted in a PHI column with its CHECK constraint dropped', async () => {
    await expect(
      rawQuery(app.db.url, 'UPDATE patients SET first_name = $1 WHERE id = $2', [planted, patientIds[1]]),
    ).rejects.toThrow(/envelope_check/);
    await rawQuery(app.db.url, 'ALTER TABLE patients DROP CONSTRAINT patient_first_name_envelope_check');
    await rawQuery(app.db.url, 'UPDATE patients SET first_name = $1 WHERE id = $2', [planted, patientIds[1]]);

    const coverage = await measureEncryption(app.services.orm);
    expect(coverage.percent).toBeLessThan(100);
    expect(coverage.notEnvelope).toBe(1);
    expect(coverage.columns.filter((c) => c.notEnvelope > 0)).toEqual([
      { table: 'patients', column: 'first_name', category: 'DEMOGRAPHIC', values: 2, notEnvelope: 1 },
    ]);
  });

  it('writes both reports through the CLI command with these figures, and never the planted value', async () => {
    const out = join(scratch, 'cli');
    const env = {
      ...testEnv(app.db.url),
      MASTER_KEYS: app.config.keys.masterKeys,
      AUDIT_HMAC_KEY: app.config.keys.auditHmacKey.toString('base64'),
      LOG_LEVEL: 'silent',
      PATH: process.env.PATH,
    };
    const script = join(ROOT, 'src', 'cli', 'main.ts');
    const register = join(ROOT, 'test', 'setup', 'swc-register.js');
    const { stdout } = await run(process.execPath, ['-r', register, script, 'compliance:report', '--out', out], {
      env,
      cwd: ROOT,
    });
    expect(stdout).toMatch(/wrote .*compliance-report\.md and .*compliance-report\.html/);
    const markdown = readFileSync(join(out, 'compliance-report.md'), 'utf8');
    const html = readFileSync(join(out, 'compliance-report.html'), 'utf8');
    expect(markdown).toMatch(/of \d+ stored values in marked columns are ciphertext envelopes; 1 are not/);
    expect(markdown).toMatch(/\| patients\.first_name \| DEMOGRAPHIC \| 2 \| 1 \|/);
    expect(markdown).toMatch(/NOT verified: broken at row \d+/);
    expect(markdown).toMatch(/0 open, 0 overdue/);
    expect(markdown).toMatch(/Record of processing activities/);
    expect(markdown).toMatch(/\| EMERGENCY \|/);
    expect(html).toMatch(/^<!DOCTYPE html>/);
    for (const text of [markdown, html]) {
      expect(text).not.toContain(planted);
      expect(text).not.toContain(app.config.keys.auditHmacKey.toString('base64'));
    }
    for (const c of CONTROLS) expect(markdown).toContain(`${c.framework} ${c.clause}: ${c.title}: `);
  });
});
