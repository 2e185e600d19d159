/**
 * OpenFeature provider for `@openfeature/server-sdk` (a peer dependency),
 * backed by a server-mode Switchyard client: local evaluation, reasons and
 * error codes in OpenFeature's words, events READY / CONFIGURATION_CHANGED /
 * STALE / ERROR.
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
} from '@openfeature/server-sdk'
import { createClient } from '../index.js'
import type { ClientOptions, SwitchyardClient } from '../types.js'
import { asJson, toResolution, toSwitchyardContext } from './resolve.js'

/** Options of {@link SwitchyardProvider}. */
export interface SwitchyardProviderOptions {
  /** How long `initialize` waits for data before OpenFeature reports an error (default 10000). */
  readyTimeoutMs?: number
}

/**
 * Switchyard provider for OpenFeature server-side. Pass client options (the
 * provider creates and closes the client) or an existing client (you close it).
 */
export class SwitchyardProvider implements Provider {
  readonly metadata = { name: 'switchyard' } as const
  readonly runsOn = 'server' as const
  readonly events = new OpenFeatureEventEmitter()
  readonly hooks: Hook[] = []
  /** The underlying client (for `allFlags`, `appliedId`, …). */
  readonly client: SwitchyardClient
  private readonly owned: boolean
  private readonly readyTimeoutMs: number

  constructor(clientOrOptions: SwitchyardClient | ClientOptions, options: SwitchyardProviderOptions = {}) {
    this.owned = !('variationDetail' in clientOrOptions)
    this.client = this.owned
      ? createClient({ ...(clientOrOptions as ClientOptions), mode: 'server' })
      : (clientOrOptions as SwitchyardClient)
    this.readyTimeoutMs = options.readyTimeoutMs ?? 10000
    this.client.on('change', (flagsChanged) => this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged }))
    this.client.on('stale', () => this.events.emit(ProviderEvents.Stale, { message: 'flag data is stale' }))
    this.client.on('fresh', () => this.events.emit(ProviderEvents.Ready))
    this.client.on('error', (err) => {
      // Not PROVIDER_FATAL: OpenFeature would then serve defaults, while the client keeps its last data
      // and recovers by itself (READY again on `fresh`).
      if (err.fatal) this.events.emit(ProviderEvents.Error, { message: err.message, errorCode: ErrorCode.GENERAL })
    })
  }

  /** Resolves when the client has data (server, bootstrap or cache). */
  async initialize(): Promise<void> {
    await this.client.ready({ timeoutMs: this.readyTimeoutMs })
  }

  async onClose(): Promise<void> {
    if (this.owned) await this.client.close()
  }

  async resolveBooleanEvaluation(
    flagKey: string,
    defaultValue: boolean,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<boolean>> {
    return this.resolve(flagKey, defaultValue, context, 'boolean')
  }

  async resolveStringEvaluation(
    flagKey: string,
    defaultValue: string,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<string>> {
    return this.resolve(flagKey, defaultValue, context, 'string')
  }

  async resolveNumberEvaluation(
    flagKey: string,
    defaultValue: number,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<number>> {
    return this.resolve(flagKey, defaultValue, context, 'number')
  }

  async resolveObjectEvaluation<T extends OFJsonValue>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
  ): Promise<ResolutionDetails<T>> {
    return this.resolve(flagKey, defaultValue, context, 'object')
  }

  private resolve<T>(
    flagKey: string,
    defaultValue: T,
    context: EvaluationContext,
    type: 'boolean' | 'string' | 'number' | 'object',
  ): ResolutionDetails<T> {
    const d = this.client.variationDetail(flagKey, toSwitchyardContext(context), asJson(defaultValue))
    return toResolution(d, defaultValue, type) as ResolutionDetails<T>
  }
}
