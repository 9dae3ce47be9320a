// typescript-eslint (flat config). Chosen over Biome because the code's `eslint-disable`
// comments name typescript-eslint rules, and because its type-aware rules (floating and
// misused promises) catch the bug class this library cares about most: a send or a close
// whose promise nobody handles. `reportUnusedDisableDirectives` makes every disable comment
// prove that it still suppresses something.
import comments from '@eslint-community/eslint-plugin-eslint-comments/configs'
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', '.cache/', 'bench/.tmp/', 'bench/profiles/', 'examples/nextjs/.next/', '**/node_modules/', '**/dist/'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  comments.recommended,
  // Every disable comment names its rule and says why (`-- reason`).
  { rules: { '@eslint-community/eslint-comments/require-description': ['error', { ignore: ['eslint-enable'] }] } },
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.mts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // Listeners and timer callbacks may be async where the caller ignores the result.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    rules: {
      // `_`-prefixed names are unused on purpose (omitted by rest destructuring, interface-shaped parameters).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // The code writes `cond && act()` and `a ? b() : c()` as statements.
      '@typescript-eslint/no-unused-expressions': ['error', { allowShortCircuit: true, allowTernary: true }],
      // An empty catch is how the code says "this failure is expected" (with a comment next to it).
      'no-empty': ['error', { allowEmptyCatch: true }],
      // Protocol and CLI checks match control bytes (ANSI escapes, NUL, CR/LF) on purpose.
      'no-control-regex': 'off',
      // `let x!: T` declared before the closures that read it, assigned once below them.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: {
      // Test one-liners also chain with the comma operator: `(clearInterval(t), timers.delete(t))`.
      '@typescript-eslint/no-unused-expressions': 'off',
    },
  },
  {
    // Plain JS (scripts, config, the Bun preload): no type information; Node and runtime globals.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { ...globals.node, Bun: 'readonly', Deno: 'readonly' } },
  },
)
