import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = join(__dirname, '..', '..');

/** Exit code and output of a command; never throws on a non-zero exit. */
async function exec(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await run(cmd, args, {
      cwd,
      env: { ...process.env, ...env },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, out: failed.stdout + failed.stderr };
  }
}

let copy: string;

/** A copy of the repository's files (tracked, and new ones not ignored) as its own git work tree. */
beforeAll(async () => {
  copy = mkdtempSync(join(tmpdir(), 'hms-gates-'));
  const { out } = await exec('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], repo);
  for (const file of out.split('\0').filter(Boolean)) {
    mkdirSync(dirname(join(copy, file)), { recursive: true });
    cpSync(join(repo, file), join(copy, file));
  }
  symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
  await exec('git', ['init', '-q'], copy);
  await exec('git', ['add', '-A'], copy);
}, 60_000);

afterAll(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe('dependency advisory gate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hms-audit-gate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** An `npm audit --json` (v2) report naming one advisory against a production dependency. */
  function report(severity: string) {
    return {
      auditReportVersion: 2,
      vulnerabilities: {
        'fixture-lib': {
          name: 'fixture-lib',
          severity,
          isDirect: true,
          via: [
            {
              source: 1099999,
              name: 'fixture-lib',
              dependency: 'fixture-lib',
              title: 'Prototype pollution in fixture-lib',
              url: 'https://github.com/advisories/GHSA-aaaa-bbbb-cccc',
              severity,
              range: '<2.0.0',
            },
          ],
          effects: [],
          range: '<2.0.0',
          nodes: ['node_modules/fixture-lib'],
          fixAvailable: false,
        },
      },
      metadata: { vulnerabilities: { [severity]: 1 } },
    };
  }

  function gate(reportBody: unknown, allowList: unknown[] = [], today = '2026-12-04') {
    const name = randomBytes(4).toString('hex');
    writeFileSync(join(dir, `${name}.report.json`), JSON.stringify(reportBody));
    writeFileSync(join(dir, `${name}.allow.json`), JSON.stringify(allowList));
    return exec(
      process.execPath,
      [
        join(copy, '.ci', 'audit-gate.js'),
        '--input',
        join(dir, `${name}.report.json`),
        '--allowlist',
        join(dir, `${name}.allow.json`),
        '--today',
        today,
      ],
      copy,
    );
  }

  const accepted = {
    advisory: 'GHSA-aaaa-bbbb-cccc',
    package: 'fixture-lib',
    reason: 'not reachable: we never pass user input to merge()',
    expires: '2027-01-31',
  };

  it('fails on a planted critical advisory, and on a high one', async () => {
    for (const severity of ['critical', 'high']) {
      const result = await gate(report(severity));
      expect(result.code).toBe(1);
      expect(result.out).toContain(`BLOCKING: ${severity} GHSA-aaaa-bbbb-cccc in fixture-lib`);
    }
  });

  it('passes moderate advisories and an empty report', async () => {
    expect((await gate(report('moderate'))).code).toBe(0);
    expect((await gate({ auditReportVersion: 2, vulnerabilities: {}, metadata: {} })).code).toBe(0);
  });

  it('accepts an allow-listed advisory until its expiry date, and not a day after', async () => {
    const until = await gate(report('critical'), [accepted], '2027-01-31');
    expect(until.code).toBe(0);
    expect(until.out).toContain('accepted until 2027-01-31');
    const after = await gate(report('critical'), [accepted], '2027-02-01');
    expect(after.code).toBe(1);
    expect(after.out).toContain('EXPIRED on 2027-01-31');
  });

  it('refuses an allow-list entry without a reason or an expiry', async () => {
    const { reason: _reason, ...noReason } = accepted;
    expect((await gate(report('critical'), [noReason])).code).toBe(2);
    const { expires: _expires, ...noExpiry } = accepted;
    expect((await gate(report('critical'), [noExpiry])).code).toBe(2);
  });

  it('says so when advisories could not be fetched, and the gate blocks on it where required', async () => {
    const unreachable = { statusCode: 405, message: '405 Method Not Allowed' };
    expect((await gate(unreachable)).code).toBe(3);
  });
});

describe('committed-secret gate', () => {
  it('passes the repository as it is', async () => {
    const result = await exec('bash', ['.ci/security-gates', 'secrets'], copy);
    expect(result).toMatchObject({ code: 0 });
  }, 60_000);

  it('fails on a planted private key and a planted AWS secret, without printing them', async () => {
    // Made at run time, so that this test file itself holds no secret.
    const key = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    }).privateKey;
    const body = key.split('\n')[1];
    const awsId = ['AKIA', 'Z7QWERTYUIOPASDF'].join('');
    const awsSecret = randomBytes(30).toString('base64').slice(0, 40);
    writeFileSync(join(copy, 'src', 'planted-key.pem'), `${key}\n`);
    writeFileSync(
      join(copy, 'src', 'planted-aws.ts'),
      `export const id = '${awsId}';\nexport const aws_secret_access_key = '${awsSecret}';\n`,
    );
    await exec('git', ['add', '-A'], copy);
    try {
      const result = await exec('bash', ['.ci/security-gates', 'secrets'], copy);
      expect(result.code).not.toBe(0);
      expect(result.out).toContain('planted-key.pem');
      expect(result.out).toContain('planted-aws.ts');
      expect(result.out).not.toContain(awsSecret);
      expect(result.out).not.toContain(body.slice(0, 40));
    } finally {
      rmSync(join(copy, 'src', 'planted-key.pem'));
      rmSync(join(copy, 'src', 'planted-aws.ts'));
      await exec('git', ['add', '-A'], copy);
    }
  }, 60_000);
});

describe('security lint gate', () => {
  it('fails on a planted eval of request data and a floating promise; passes clean code', async () => {
    writeFileSync(
      join(copy, 'src', 'planted-lint.ts'),
      [
        'export function run(input: { expression: string }): unknown {',
        '  void Promise.resolve();',
        '  fetchLater();',
        '  return eval(input.expression);',
        '}',
        'async function fetchLater(): Promise<void> {}',
        '',
      ].join('\n'),
    );
    try {
      const planted = await exec('bash', ['.ci/security-gates', 'lint', 'src/planted-lint.ts'], copy);
      expect(planted.code).not.toBe(0);
      expect(planted.out).toMatch(/no-eval/);
      expect(planted.out).toMatch(/no-floating-promises/);
      const clean = await exec('bash', ['.ci/security-gates', 'lint', 'src/db/ids.ts'], copy);
      expect(clean).toMatchObject({ code: 0 });
    } finally {
      rmSync(join(copy, 'src', 'planted-lint.ts'));
    }
  }, 120_000);
});
