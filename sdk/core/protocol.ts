/**
 * The streaming protocol's vocabulary: the SSE event names the server writes
 * and the SDK reads, and each event's payload (the `data:` line, JSON). The
 * one definition both sides import (docs/streaming.md describes the
 * protocol). Types and constants only: nothing here runs, so importing it
 * costs the browser bundle a few bytes.
 */
import type { EvaluationDetail, JsonValue, Ruleset, RulesetFlag, SegmentDelta, SegmentPatch } from './types.js'

/** The `event:` names of the stream (server mode and client mode). */
export const SSE_EVENTS = {
  /** The whole document: a Ruleset (server mode) or ClientValues (client mode). */
  put: 'put',
  /** One changed flag or segment (server mode), or changed values (client mode). */
  patch: 'patch',
  /** A flag or segment is gone (server mode). */
  delete: 'delete',
  /** Members added to / removed from one list of a segment (server mode). */
  segmentDelta: 'segment-delta',
  /** Nothing changed for this stream, but the server is current with the event's id (client mode). */
  ack: 'ack',
} as const

/** One of the stream's event names. */
export type SseEventName = (typeof SSE_EVENTS)[keyof typeof SSE_EVENTS]

/** One evaluated value as the client-mode endpoints send it. */
export interface ClientFlagValue {
  value: JsonValue
  variation: number | null
  reason: EvaluationDetail['reason']
}

/** The client-mode document: evaluated values of one context. */
export interface ClientValues {
  flags: Record<string, ClientFlagValue>
}

/** Server-mode `patch`: a flag, or a segment (members only when that write replaced them). */
export type RulesPatch = { kind: 'flag'; flag: RulesetFlag } | { kind: 'segment'; segment: SegmentPatch }

/** Server-mode `delete`. */
export interface RulesDelete {
  kind: 'flag' | 'segment'
  key: string
}

/** Client-mode `patch`: the values that changed and the flags no longer served to this context. */
export interface ValuesPatch extends ClientValues {
  removed: string[]
}

/** Each event's payload in server mode (rules). */
export interface ServerModeEvents {
  put: Ruleset
  patch: RulesPatch
  delete: RulesDelete
  'segment-delta': SegmentDelta
}

/** Each event's payload in client mode (values). */
export interface ClientModeEvents {
  put: ClientValues
  patch: ValuesPatch
  ack: Record<string, never>
}
