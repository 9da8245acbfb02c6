/** The frameworks the compliance report covers. */
export type Framework = 'HIPAA' | 'GDPR' | 'PCI DSS';

/**
 * How much of a control the code implements, by our own reading: `partial` and `not-implemented` carry the reason
 * in `gap`. The test results decide whether what is implemented works; this field says what is not there at all.
 */
export type Implementation = 'implemented' | 'partial' | 'not-implemented';

/**
 * Tests that prove a control: the tests of `file` whose own title matches `test`, under a describe block whose
 * title matches `describe` (either may be left out, not both). Every matched test must pass.
 */
export interface TestRef {
  file: string;
  test?: RegExp;
  describe?: RegExp;
}

/** One requirement of one framework, mapped to the code that implements it and the tests that prove it. */
export interface Control {
  /** Stable id, e.g. `HIPAA-164.312(a)(2)(iii)`. */
  id: string;
  framework: Framework;
  /** The clause as the framework numbers it, e.g. `164.312(a)(2)(iii)`, `Art. 17`, `Req. 8`. */
  clause: string;
  title: string;
  /** Id of the control this one details (HIPAA implementation specifications under their standard). */
  parent?: string;
  implementation: Implementation;
  /** Repository paths (files or folders) that implement the control; the report checks that each exists. */
  modules: string[];
  tests: TestRef[];
  /** How the code meets the control, in a sentence or two. */
  how: string;
  /** What is missing, for `partial` and `not-implemented`; a limit worth knowing otherwise. */
  gap?: string;
}
