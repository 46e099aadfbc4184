// `spinet/sim`: the register-accurate chip simulators, for the virtual board, the tests and outside
// harnesses. Device dialect (they also run on Espruino).
export { W5500Sim } from './w5500.js'
export type { W5500SimOptions, W5500Faults, W5500Stats } from './w5500.js'
