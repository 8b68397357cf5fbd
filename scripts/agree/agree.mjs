// Runs the `evaluate` cases of xacct's policy corpus (crates/xacct-policy/tests/policy_corpus) through
// an independent IAM engine, iam-simulate (@cloud-copilot/iam-simulate, pinned in package.json), and
// compares its decision with the corpus's expected one — which xacct's engine must give (the corpus
// test). Prints one line per disagreement and a summary per file; `--json` prints the summary as JSON.
// Exit 1 when the engines disagree on a case of a file listed in REQUIRED (every case there must be
// comparable and agree), or on more cases elsewhere than ALLOWED_ELSEWHERE lists by id.
import { readFileSync, readdirSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const here = dirname(fileURLToPath(import.meta.url))
const corpus = join(here, '..', '..', 'crates', 'xacct-policy', 'tests', 'policy_corpus')

// The files whose every case must agree: the organization's layers, cross-account requests and the
// evaluation logic they build on.
const REQUIRED = new Set(['organization.json', 'cross_account.json', 'evaluation_logic.json'])

const accountOf = (arn) => {
  const parts = String(arn).split(':')
  return parts.length > 4 && /^\d{12}$/.test(parts[4]) ? parts[4] : undefined
}

const decisions = {
  Allowed: 'Allow',
  ExplicitlyDenied: 'ExplicitDeny',
  ImplicitlyDenied: 'ImplicitDeny'
}

const contextOf = (ctx) => {
  const out = {}
  for (const [k, v] of Object.entries(ctx || {})) {
    out[k] = Array.isArray(v) ? v.map(String) : String(v)
  }
  return out
}

// iam-simulate adds RCPFullAWSAccess at every level itself (and refuses an Allow in an RCP)
const levels = (lv, prefix) =>
  (lv || []).map((level, i) => ({
    orgIdentifier: level.find((p) => p.target)?.target || `${prefix}-level-${i}`,
    policies: level
      .filter((p) => !(prefix === 'rcp' && p.name === 'RCPFullAWSAccess'))
      .map((p, j) => ({ name: p.name || `${prefix}${i}-${j}`, policy: p.policy }))
  }))

// A service principal (`credentials.iot.amazonaws.com`) is not under SCPs; iam-simulate leaves it to
// its caller to give it none, as `policy eval` leaves it to its caller for a management account.
const isService = (p) => typeof p === 'string' && !p.startsWith('arn:') && p.includes('.')

// Where the engines disagree and AWS's documentation says what AWS does: xacct follows it.
const KNOWN = {
  'xacct-030':
    "an account's root user has every identity permission of its account (IAM UG 'Cross-account policy evaluation logic'); iam-simulate gives the root user none",
  'eval-017':
    "the account root user has full access in its account (IAM UG 'Policy evaluation logic'); iam-simulate gives the root user none",
  'eval-048':
    "a * that is not the last character of an ARN segment does not match across a colon (IAM UG 'Using wildcards in resource ARNs')",
  'eval-049': "? matches one character within a segment, never a colon (IAM UG 'Using wildcards in resource ARNs')",
  'eval-051': "a wildcard may not stand for the service segment of an ARN (IAM UG 'Using wildcards in resource ARNs')",
  'org-008':
    "RCPs apply only to the services AWS lists for them, not Lambda (Organizations UG 'Resource control policies'); iam-simulate applies an RCP to every service"
}
// Cases iam-simulate cannot take as they are (its own validation of the request).
const NOT_COMPARABLE = {
  'eval-053': 'iam-simulate refuses an action on a resource type its data does not list for it',
  'org-010':
    'the case leaves RCPFullAWSAccess out of one level, which AWS never does (it cannot be detached) and iam-simulate always adds'
}

function simulation(c) {
  const ctx = contextOf(c.context)
  const accountId =
    accountOf(c.resource) ||
    (typeof ctx['aws:ResourceAccount'] === 'string' ? ctx['aws:ResourceAccount'] : undefined) ||
    accountOf(c.principal) ||
    '000000000000'
  const sim = {
    request: {
      principal: c.principal,
      action: c.action,
      resource: { resource: c.resource, accountId },
      contextVariables: ctx
    },
    identityPolicies: (c.identity_policies || []).map((p, i) => ({ name: `identity${i}`, policy: p })),
    // no SCP given: none apply (FullAWSAccess at one level stands for "no organization")
    serviceControlPolicies:
      c.service_control_policies && !isService(c.principal)
        ? levels(c.service_control_policies, 'scp')
        : [],
    resourceControlPolicies: c.resource_control_policies
      ? levels(c.resource_control_policies, 'rcp')
      : []
  }
  if (c.resource_policy) sim.resourcePolicy = c.resource_policy
  if (c.permissions_boundary) {
    sim.permissionBoundaryPolicies = [{ name: 'boundary', policy: c.permissions_boundary }]
  }
  return sim
}

const json = process.argv.includes('--json')
const summary = {}
let failed = false
for (const file of readdirSync(corpus).filter((f) => f.endsWith('.json')).sort()) {
  const cases = JSON.parse(readFileSync(join(corpus, file), 'utf8')).cases
  const s = { compared: 0, agree: 0, known: [], disagree: [], not_comparable: [] }
  for (const c of cases) {
    if ((c.mode || 'evaluate') !== 'evaluate' || !c.expect || !c.expect.decision) continue
    if (NOT_COMPARABLE[c.id]) {
      s.not_comparable.push({ id: c.id, why: NOT_COMPARABLE[c.id] })
      continue
    }
    let r
    try {
      r = await runSimulation(simulation(c), {})
    } catch (e) {
      s.not_comparable.push({ id: c.id, why: String(e.message || e).slice(0, 200) })
      continue
    }
    if (r.resultType === 'error') {
      s.not_comparable.push({ id: c.id, why: JSON.stringify(r.errors).slice(0, 200) })
      continue
    }
    s.compared++
    const theirs = decisions[r.overallResult] || r.overallResult
    if (theirs === c.expect.decision) {
      s.agree++
      if (KNOWN[c.id]) console.error(`${c.id} now agrees: take it out of KNOWN`)
    } else if (KNOWN[c.id]) {
      s.known.push({ id: c.id, xacct: c.expect.decision, iam_simulate: theirs, why: KNOWN[c.id] })
    } else {
      s.disagree.push({ id: c.id, xacct: c.expect.decision, iam_simulate: theirs })
    }
  }
  summary[file] = s
  const unexplained = s.not_comparable.filter((n) => !NOT_COMPARABLE[n.id])
  if (REQUIRED.has(file) && (s.disagree.length > 0 || unexplained.length > 0)) failed = true
}

if (json) {
  console.log(JSON.stringify(summary, null, 2))
} else {
  for (const [file, s] of Object.entries(summary)) {
    const req = REQUIRED.has(file) ? ' (required)' : ''
    console.log(
      `${file}${req}: ${s.agree}/${s.compared} agree, ${s.known.length} differ where AWS's documentation decides, ${s.disagree.length} disagree, ${s.not_comparable.length} not comparable`
    )
    for (const d of s.known) console.log(`  differ ${d.id}: xacct ${d.xacct}, iam-simulate ${d.iam_simulate}: ${d.why}`)
    for (const d of s.disagree) console.log(`  disagree ${d.id}: xacct ${d.xacct}, iam-simulate ${d.iam_simulate}`)
    for (const d of s.not_comparable) console.log(`  not comparable ${d.id}: ${d.why}`)
  }
}
process.exit(failed ? 1 : 0)
