import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The titles written in one test file: its `describe(` blocks and its `it(`/`test(` cases. */
export interface TestFileTitles {
  file: string;
  exists: boolean;
  describes: string[];
  tests: string[];
}

// `describe(`, `it(` or `test(` (not a method such as `regex.test(`), optionally `.each(...)`, `.skip`, `.only`,
// `.concurrent`, then a quoted title. The title's two alternatives are disjoint (an escape starts with a backslash,
// a plain character is anything else), so matching stays linear.
const CALL =
  /(?<![\w$.])(describe|it|test)(?:\.(?:only|skip|concurrent))?(?:\.each\([^)]*\))?\(\s*(['"`])((?:\\.|(?!\2)[^\\])*)\2/g;

/**
 * Reads the titles of a test file from its source, without running it, so a mapping can be checked against the
 * tests that exist. Titles built at run time (template expressions, `.each` placeholders) keep their source text.
 */
export function readTestTitles(root: string, file: string): TestFileTitles {
  const path = join(root, file);
  if (!existsSync(path)) return { file, exists: false, describes: [], tests: [] };
  const source = readFileSync(path, 'utf8');
  const titles: TestFileTitles = { file, exists: true, describes: [], tests: [] };
  for (const match of source.matchAll(CALL)) {
    const title = unescape(match[3]);
    if (match[1] === 'describe') titles.describes.push(title);
    else titles.tests.push(title);
  }
  return titles;
}

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}
