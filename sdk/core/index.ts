/**
 * Switchyard evaluation engine: pure, synchronous; its one dependency is re2js
 * (linear-time regex matching for `matches`).
 * Rule language: docs/rules.md. Hashing contract: docs/hashing.md.
 */
export * from './types.js'
export {
  compile,
  compileFlag,
  compileSegment,
  compileIssues,
  applyFlag,
  removeFlag,
  applySegment,
  removeSegment,
  applySegmentDelta,
  type Compiled,
  type CompiledFlag,
  type CompiledSegment,
} from './compile.js'
export { affectedFlags, flagsUsing, clauseSegments, type Dependents, type FlagRefs } from './dependents.js'
export {
  evaluate,
  evaluateCounted,
  takeCounts,
  evaluateDetail,
  evaluateAll,
  evaluateAllValues,
  lastVariation,
  MAX_PREREQUISITE_DEPTH,
} from './evaluate.js'
export { bucket, hashSalted, murmur3, hashToBucket, BUCKETS, HASH_VERSION } from './hash.js'
export {
  validateFlagConfig,
  validateSegment,
  findPrerequisiteCycle,
  validateDefinition,
  validateFlagWrite,
  validateSegmentWrite,
  ISSUE,
  ISSUES,
  MAX_PATTERN_LENGTH,
  MAX_JSON_DEPTH,
  MAX_CONTEXT_DEPTH,
  deeperThan,
  type ValidationIssue,
  type DefinitionLike,
  type IssueCode,
  type EnvironmentView,
  type WritableConfig,
} from './validate.js'
export { toOpenFeatureReason } from './reasons.js'
export { parseSemVer, compareSemVer, type SemVer } from './semver.js'
export { parseDate, compilePattern, MAX_REGEX_INPUT, MAX_REGEX_PROGRAM } from './operators.js'
export { IdSet } from './id-set.js'
export { parseRulesText } from './member-lists.js'
