// Lint gate of CI (`npm run lint`): security rules and the TypeScript rules. Errors fail the build.
import js from '@eslint/js';
import security from 'eslint-plugin-security';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  security.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Code-injection and unhandled-failure classes, which the type information lets us catch.
      '@typescript-eslint/no-implied-eval': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      'no-eval': 'error',
      'no-new-func': 'error',
      // Flags every `obj[key]`, typed maps included: thousands of false positives, so off. Prototype pollution
      // is guarded where keys come from outside (zod-parsed input, Map instead of object for lookups).
      'security/detect-object-injection': 'off',
      // Tests and scripts build paths from their own temporary directories.
      'security/detect-non-literal-fs-filename': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Migrations are written by MikroORM's generator and are history: their SQL is never edited.
    files: ['migrations/**/*.ts'],
    rules: { 'no-useless-escape': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {
      globals: {
        require: 'readonly',
        module: 'writable',
        process: 'readonly',
        __dirname: 'readonly',
        console: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
