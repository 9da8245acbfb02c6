#!/usr/bin/env node
// Fails on any high or critical advisory against a production dependency, unless an allow-list entry with a
// reason and an unexpired date accepts it. Usage:
//   node .ci/audit-gate.js [--input <npm audit --json output>] [--allowlist <file>] [--today YYYY-MM-DD]
// Without --input it runs `npm audit --omit=dev --json`. Exit codes: 0 pass, 1 blocking advisories,
// 2 a malformed allow-list, 3 advisories could not be fetched (the caller decides whether that blocks).
'use strict';
const { execFileSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const BLOCKING = new Set(['high', 'critical']);

function arg(name) {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
}

function loadAllowList(file) {
  const entries = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(entries)) throw new Error('the allow-list must be a JSON array');
  for (const e of entries) {
    const complete =
      typeof e.advisory === 'string' &&
      typeof e.package === 'string' &&
      typeof e.reason === 'string' &&
      e.reason.trim().length >= 10 &&
      /^\d{4}-\d{2}-\d{2}$/.test(e.expires ?? '');
    if (!complete) {
      throw new Error(
        `allow-list entry ${JSON.stringify(e)} needs advisory, package, a reason and expires (YYYY-MM-DD)`,
      );
    }
  }
  return entries;
}

function runNpmAudit() {
  try {
    return execFileSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    // npm audit exits non-zero when it finds anything; its report is still on stdout.
    if (error.stdout) return error.stdout;
    throw error;
  }
}

/** Every (package, advisory) pair at high or critical severity in an npm audit v2 report. */
function blockingFindings(report) {
  const findings = [];
  for (const [name, vulnerability] of Object.entries(report.vulnerabilities ?? {})) {
    for (const via of vulnerability.via ?? []) {
      if (typeof via !== 'object' || !BLOCKING.has(via.severity)) continue;
      const advisory = (via.url ?? '').split('/').pop() || String(via.source);
      findings.push({ package: name, advisory, severity: via.severity, title: via.title ?? '' });
    }
  }
  return findings;
}

function main() {
  const allowListFile = arg('--allowlist') ?? join(__dirname, 'audit-allowlist.json');
  const today = arg('--today') ?? new Date().toISOString().slice(0, 10);
  let allowList;
  try {
    allowList = loadAllowList(allowListFile);
  } catch (error) {
    console.error(`audit gate: ${error.message}`);
    return 2;
  }
  const input = arg('--input');
  let report;
  try {
    report = JSON.parse(input ? readFileSync(input, 'utf8') : runNpmAudit());
  } catch (error) {
    console.error(`audit gate: npm audit gave no report (${error.message})`);
    return 3;
  }
  if (!report.vulnerabilities) {
    console.error(
      `audit gate: advisories could not be fetched (${report.statusCode ?? ''} ${report.message ?? 'no report'})`,
    );
    return 3;
  }
  let blocking = 0;
  for (const finding of blockingFindings(report)) {
    const accepted = allowList.find((e) => e.advisory === finding.advisory && e.package === finding.package);
    const label = `${finding.severity} ${finding.advisory} in ${finding.package}: ${finding.title}`;
    if (accepted && accepted.expires >= today) {
      console.log(`accepted until ${accepted.expires}: ${label} (${accepted.reason})`);
    } else {
      blocking += 1;
      console.error(accepted ? `allow-list entry EXPIRED on ${accepted.expires}: ${label}` : `BLOCKING: ${label}`);
    }
  }
  console.log(blocking ? `audit gate: ${blocking} blocking advisories` : 'audit gate: no blocking advisories');
  return blocking ? 1 : 0;
}

process.exitCode = main();
