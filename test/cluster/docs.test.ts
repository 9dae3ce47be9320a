/** docs/DEPLOYMENT.md "More than one process" shows the nginx upstream exactly as this suite runs it. */
import { readFileSync } from 'node:fs'
import { expect, it } from 'vitest'
import { renderUpstream } from './nginx-upstream'

it('docs/DEPLOYMENT.md shows the round-robin upstream the cluster suite runs', () => {
  const doc = readFileSync('docs/DEPLOYMENT.md', 'utf8')
  expect(doc).toContain(renderUpstream('80', [3000, 3001, 3002]).trim())
})
