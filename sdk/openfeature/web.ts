/**
 * OpenFeature provider for `@openfeature/web-sdk` (a peer dependency), backed
 * by a client-mode Switchyard client: one context's values, synchronous
 * resolution, `onContextChange` → `identify`, events READY /
 * CONFIGURATION_CHANGED / STALE / ERROR.
 */
import {
  ErrorCode,
  OpenFeatureEventEmitter,
  ProviderEvents,
  type EvaluationContext,
  type Hook,
  type JsonValue as OFJsonValue,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/web-sdk'
import { createClient } from '../browser.js'
import type { ClientOptions, Context, SwitchyardClient } from '../types.js'
import { asJson, toResolution, toSwitchyardContext } from './resolve.js'
import type { EvaluationDetail } from '../core/types.js'

/** Options of {@link SwitchyardWebProvider}: client options without `context` (OpenFeature's context is used). */
export interface SwitchyardWebProviderOptions extends Omit<ClientOptions, 'mode' | 'context' | 'signature'> {
  /**
   * The context signature your backend computed; called on every context change. It must cover `sent`, the
   * context exactly as Switchyard receives it (`targetingKey` becomes `key`): see signContext in `@switchyard/sdk/sign`.
   */
  signContext?: (context: EvaluationContext, sent: Context) => string | undefined | Promise<string | undefined>
  /** How long initialize / a context change wait for values (default 10000). */
  readyTimeoutMs?: number
}

const NOT_READY: EvaluationDetail = {
  value: null,
  variation: null,
  reason: { kind: 'ERROR', errorKind: 'PROVIDER_NOT_READY' },
}

function withTimeout(p: Promise<void>, ms: number, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no values within ${ms} ms`)), ms)
    p.then(
      () => {
        clearTimeout(t)
        resolve()
      },
      (e: unknown) => {
        clearTimeout(t)
        reject(e)
      },
    )
  })
}

/** Switchyard provider for OpenFeature in browsers. */
export class SwitchyardWebProvider implements Provider {
  readonly metadata = { name: 'switchyard-web' } as const
  readonly runsOn = 'client' as const
  readonly events = new OpenFeatureEventEmitter()
  readonly hooks: Hook[] = []
  private readonly options: SwitchyardWebProviderOptions
  private clientRef: SwitchyardClient | null = null

  constructor(options: SwitchyardWebProviderOptions) {
    this.options = options
  }

  /** The underlying client, once initialized. */
  get client(): SwitchyardClient | null {
    return this.clientRef
  }

  async initialize(context?: EvaluationContext): Promise<void> {
    const ctx = context ?? {}
    const sent = toSwitchyardContext(ctx)
    const signature = await this.options.signContext?.(ctx, sent)
    const client = createClient({
      ...this.options,
      mode: 'client',
      context: sent,
      ...(signature !== undefined && { signature }),
    })
    this.clientRef = client
    client.on('change', (flagsChanged) => this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged }))
    client.on('stale', () => this.events.emit(ProviderEvents.Stale, { message: 'flag values are stale' }))
    client.on('fresh', () => this.events.emit(ProviderEvents.Ready))
    client.on('error', (err) => {
      // Not PROVIDER_FATAL: OpenFeature would then serve defaults, while the client keeps its last data
      // and recovers by itself (READY again on `fresh`).
      if (err.fatal) this.events.emit(ProviderEvents.Error, { message: err.message, errorCode: ErrorCode.GENERAL })
    })
    await client.ready({ timeoutMs: this.options.readyTimeoutMs ?? 10000 })
  }

  /** OpenFeature calls this on `setContext`; it reconciles until the new context's values arrive. */
  async onContextChange(_old: EvaluationContext, next: EvaluationContext): Promise<void> {
    if (!this.clientRef) return
    const sent = toSwitchyardContext(next)
    const signature = await this.options.signContext?.(next, sent)
    await withTimeout(this.clientRef.identify(sent, signature), this.options.readyTimeoutMs ?? 10000, 'context change')
  }

  async onClose(): Promise<void> {
    await this.clientRef?.close()
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean): ResolutionDetails<boolean> {
    return this.resolve(flagKey, defaultValue, 'boolean')
  }

  resolveStringEvaluation(flagKey: string, defaultValue: string): ResolutionDetails<string> {
    return this.resolve(flagKey, defaultValue, 'string')
  }

  resolveNumberEvaluation(flagKey: string, defaultValue: number): ResolutionDetails<number> {
    return this.resolve(flagKey, defaultValue, 'number')
  }

  resolveObjectEvaluation<T extends OFJsonValue>(flagKey: string, defaultValue: T): ResolutionDetails<T> {
    return this.resolve(flagKey, defaultValue, 'object')
  }

  private resolve<T>(
    flagKey: string,
    defaultValue: T,
    type: 'boolean' | 'string' | 'number' | 'object',
  ): ResolutionDetails<T> {
    // Client mode holds the values of the context OpenFeature set; the per-call context is not re-evaluated.
    const d = this.clientRef ? this.clientRef.variationDetail(flagKey, undefined, asJson(defaultValue)) : NOT_READY
    return toResolution(d, defaultValue, type) as ResolutionDetails<T>
  }
}
