// What the stack needs from an Ethernet chip driver. Device dialect.
import { FrameRing } from './frame-ring.js'

export interface DriverStats {
  /** Frames moved chip → RX ring and TX ring → chip. */
  rxFrames: number
  txFrames: number
  /** Frames the chip reported bad or that failed the driver's checks (dropped, counted). */
  rxErrors: number
  txErrors: number
  /** Times the driver had to repair the chip (each erratum workaround or fault recovery that fired). */
  recoveries: number
  /** Frames the chip dropped because its own buffer was full (as far as the chip tells). */
  chipOverflows: number
  /** Polls that stopped because the per-poll frame budget was used up. */
  budgetStops: number
}

export function newDriverStats(): DriverStats {
  return { rxFrames: 0, txFrames: 0, rxErrors: 0, txErrors: 0, recoveries: 0, chipOverflows: 0, budgetStops: 0 }
}

export interface EthernetDriver {
  readonly chip: 'enc28j60' | 'w5500'
  readonly stats: DriverStats
  /** Presence check, reset, MAC, filters, start of reception. Throws a clear Error when the chip is absent. */
  init(mac: Uint8Array): void
  /** Current link state from the PHY. */
  linkUp(): boolean
  /**
   * Moves at most `budget` received frames from the chip into `rx`; stops early when `rx` is full
   * (the frames stay in the chip). Also services the chip's interrupt causes. Returns frames moved.
   */
  receive(rx: FrameRing, budget: number): number
  /** Sends at most `budget` frames from `tx`. Returns frames handed to the chip. */
  transmit(tx: FrameRing, budget: number): number
  /** Accept frames for an Ethernet multicast group (in addition to own unicast and broadcast). */
  joinMulticast(mac: Uint8Array): void
  /** Accept everything on the wire (tests, sniffing). */
  setPromiscuous(on: boolean): void
}
