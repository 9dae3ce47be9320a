// Runs one group of vitest projects from test/projects.mjs: `node scripts/vitest.mjs unit|e2e
// [vitest args]`. For `e2e`, every program the projects need is checked first; when one is
// missing it stops at once, naming it and the install command.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { e2e, unit } from '../test/projects.mjs'
import { missing, needs } from './e2e-needs.mjs'

const [group, ...rest] = process.argv.slice(2)
const projects = { unit, e2e }[group]
if (!projects) {
  console.error('usage: node scripts/vitest.mjs unit|e2e [vitest args]')
  process.exit(2)
}

// Every test file belongs to a project: a suite directory missing from test/projects.mjs would
// otherwise never run, in either group.
const globToRegExp = (g) =>
  new RegExp('^' + g.split('**/').map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')).join('(?:.*/)?') + '$')
const patterns = [...unit, ...e2e].flatMap((p) => p.include.map(globToRegExp))
const files = readdirSync('test', { recursive: true, withFileTypes: true })
  .filter((d) => d.isFile() && /\.test\.tsx?$/.test(d.name))
  .map((d) => `${d.parentPath ?? d.path}/${d.name}`.replaceAll('\\', '/'))
const orphans = files.filter((f) => !patterns.some((re) => re.test(f)))
if (orphans.length) {
  console.error(`test files in no vitest project (add a line to test/projects.mjs):\n  ${orphans.join('\n  ')}`)
  process.exit(1)
}

if (group === 'e2e') {
  const absent = missing([...new Set(projects.flatMap((p) => p.needs ?? []))])
  if (absent.length) {
    const apt = absent.flatMap((n) => needs[n]?.apt ?? [n])
    const users = projects.filter((p) => p.needs?.some((n) => absent.includes(n))).map((p) => p.name)
    console.error(
      `test:e2e: missing ${absent.join(', ')} (needed by the ${users.join(', ')} suite${users.length > 1 ? 's' : ''}).\n` +
        `Install (Debian/Ubuntu, as root): scripts/install-e2e-deps.sh\n` +
        `  or just these: apt-get install -y ${apt.join(' ')}`,
    )
    process.exit(1)
  }
}
const args = ['node_modules/vitest/vitest.mjs', 'run', ...projects.flatMap((p) => ['--project', p.name]), ...rest]
const r = spawnSync(process.execPath, args, { stdio: 'inherit' })
process.exit(r.status ?? 1)
