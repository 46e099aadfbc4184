// `spinet/sim`: the register-accurate chip simulators, for the virtual board, the tests and outside
// harnesses. Device dialect (they also run on Espruino).
export { W5500Sim } from './w5500.js'
export type { W5500SimOptions, W5500Faults, W5500Stats } from './w5500.js'
export { Enc28j60Sim } from './enc28j60.js'
export type { Enc28j60SimOptions, Enc28j60Errata, Enc28j60Stats, Enc28j60Revision } from './enc28j60.js'
