/** What every page shares: who is signed in, the environments, the selected one, and the live-update tick. */
import { createContext } from 'preact'
import type { Environment, Me } from './api.js'

export interface Shared {
  me: Me
  envs: Environment[]
  env: string
  setEnv: (env: string) => void
  /** Increases whenever the audit log has a new entry (someone changed something): pages reload. */
  tick: number
  /** Shows a short message in the status line (announced to screen readers). */
  say: (msg: string) => void
}

export const SharedContext = createContext<Shared | null>(null)
