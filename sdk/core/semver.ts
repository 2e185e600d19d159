/**
 * A small semver.org 2.0.0 parser and comparator (no dependency).
 *
 * Accepted: `MAJOR.MINOR.PATCH[-prerelease][+build]` with numeric parts without
 * leading zeros; like LaunchDarkly, `1` and `1.2` are accepted and padded with
 * zeros (`1.2` = `1.2.0`). No `v` prefix, no surrounding spaces.
 * Build metadata is ignored when comparing (semver.org rule 10).
 */

/** A parsed version. */
export interface SemVer {
  major: number
  minor: number
  patch: number
  /** Prerelease identifiers: numbers for numeric identifiers, else strings. */
  pre: (string | number)[]
}

const RE =
  /^(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?)?(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/

/** Longest version string accepted (guards the regex and the parser). */
export const MAX_SEMVER_LENGTH = 256

/** Parses a version; null when `s` is not a valid version. */
export function parseSemVer(s: unknown): SemVer | null {
  if (typeof s !== 'string' || s.length > MAX_SEMVER_LENGTH) return null
  const m = RE.exec(s)
  if (m === null) return null
  const major = Number(m[1])
  const minor = m[2] === undefined ? 0 : Number(m[2])
  const patch = m[3] === undefined ? 0 : Number(m[3])
  if (!Number.isSafeInteger(major) || !Number.isSafeInteger(minor) || !Number.isSafeInteger(patch)) return null
  const pre: (string | number)[] = []
  if (m[4] !== undefined) {
    for (const id of m[4].split('.')) {
      if (/^\d+$/.test(id)) {
        const n = Number(id)
        // Numeric identifiers beyond 2^53 compare as strings of digits: keep exactness.
        pre.push(Number.isSafeInteger(n) ? n : id)
      } else pre.push(id)
    }
  }
  return { major, minor, patch, pre }
}

const DIGITS = /^\d+$/

function compareIds(a: string | number, b: string | number): number {
  const an = typeof a === 'number' || DIGITS.test(a)
  const bn = typeof b === 'number' || DIGITS.test(b)
  if (an && bn) {
    if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0
    // At least one identifier exceeds 2^53: compare digit strings (no leading zeros) by length, then text.
    const x = String(a)
    const y = String(b)
    if (x.length !== y.length) return x.length < y.length ? -1 : 1
    return x < y ? -1 : x > y ? 1 : 0
  }
  if (an) return -1 // numeric identifiers have lower precedence than alphanumeric ones
  if (bn) return 1
  return a < b ? -1 : a > b ? 1 : 0 // ASCII order
}

/** Precedence comparison: -1, 0 or 1. */
export function compareSemVer(a: SemVer, b: SemVer): number {
  if (a.major !== b.major) return a.major < b.major ? -1 : 1
  if (a.minor !== b.minor) return a.minor < b.minor ? -1 : 1
  if (a.patch !== b.patch) return a.patch < b.patch ? -1 : 1
  const ap = a.pre
  const bp = b.pre
  if (ap.length === 0) return bp.length === 0 ? 0 : 1 // a release outranks its prereleases
  if (bp.length === 0) return -1
  const n = Math.min(ap.length, bp.length)
  for (let i = 0; i < n; i++) {
    const c = compareIds(ap[i]!, bp[i]!)
    if (c !== 0) return c
  }
  return ap.length === bp.length ? 0 : ap.length < bp.length ? -1 : 1
}
